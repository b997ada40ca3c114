"""The acceptance keywords (tifed.robot) can fail: each is called with a false
claim about a real `tifed` run (or a copy of its folder with one thing
broken) and must raise, and with the true claim and must not. Also
check_output's verdict on all-skipped and failing Robot runs."""
from __future__ import annotations

import dataclasses
import io
import json
import shutil
import textwrap

import pytest

pytest.importorskip("robot", reason="robotframework is not installed (pip install robotframework)")

from robot.api.exceptions import SkipExecution  # noqa: E402

from tifed.robot import TifedKeywords, check_output, results_check, step_case  # noqa: E402


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    """One tiny run on sim (2 devices, 2 rounds), shared by the tests that
    only read it."""
    keywords = TifedKeywords(workdir=str(tmp_path_factory.mktemp("sim")))
    keywords.run_federated_training("sim", 2, "full", rounds=2)
    return keywords


def _broken_copy(keywords: TifedKeywords, tmp_path, edit) -> TifedKeywords:
    """A library whose last run is a copy of `keywords`' run, changed by `edit(folder)`."""
    folder = tmp_path / "copy"
    shutil.copytree(keywords.last_run.out, folder)
    edit(folder)
    broken = TifedKeywords(workdir=str(tmp_path))
    broken.last_run = dataclasses.replace(keywords.last_run, out=folder)
    return broken


def _edit_json(change):
    def edit(folder):
        doc = json.loads((folder / "results.json").read_text())
        change(doc)
        (folder / "results.json").write_text(json.dumps(doc))

    return edit


# --- claims about a run ------------------------------------------------------------------


def test_true_claims_about_a_sim_run_pass(sim_run):
    sim_run.results_files_should_be_present_and_readable()
    sim_run.final_accuracy_should_be_at_least(0.05)
    sim_run.devices_should_have_run_on("sim", "sim")


def test_accuracy_above_what_the_run_reached_fails(sim_run):
    with pytest.raises(AssertionError, match=r"below 1\.01"):
        sim_run.final_accuracy_should_be_at_least(1.01)


def test_bit_exactness_of_a_reference_only_run_fails(sim_run):
    with pytest.raises(AssertionError, match="nothing to compare"):
        sim_run.all_updates_should_be_bit_exact()


def test_instructions_from_devices_that_count_none_fail(sim_run):
    with pytest.raises(AssertionError, match=r"round 1: device 0 \(sim\) reported None"):
        sim_run.every_round_should_report_device_instructions()


def test_a_finished_run_is_no_refusal(sim_run):
    with pytest.raises(AssertionError, match="not refused"):
        sim_run.the_run_should_be_refused_with("unknown board")


def test_other_boards_and_layers_than_the_run_had_fail(sim_run):
    with pytest.raises(AssertionError, match=r"ran on \['sim', 'sim'\], not \['host', 'sim'\]"):
        sim_run.devices_should_have_run_on("host", "sim")
    with pytest.raises(AssertionError, match="devices per layer"):
        sim_run.each_layer_should_be_trained_by("1")  # full mode: no device has a layer


@pytest.mark.parametrize("edit, complaint", [
    (lambda f: (f / "accuracy.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"), "accuracy.png does not decode"),
    (lambda f: (f / "accuracy.png").unlink(), "accuracy.png is unreadable"),
    (lambda f: (f / "rounds.csv").write_text((f / "rounds.csv").read_text().rsplit("\n", 2)[0] + "\n"),
     "rounds.csv has 1 rows, results.json 2 rounds"),
    (_edit_json(lambda d: d.update(schema=2)), "schema is 2"),
    (_edit_json(lambda d: d["rounds"][1].update(round=3)), r"rounds\[1\] is numbered 3"),
    (_edit_json(lambda d: d["final"].update(test_accuracy=0.99)), "not the last round's"),
    (_edit_json(lambda d: d["devices"].pop()), "config says 2 devices, devices lists 1"),
    (_edit_json(lambda d: d["config"].pop("lr_inv")), "config has no 'lr_inv'"),
])
def test_a_broken_results_folder_fails(sim_run, tmp_path, edit, complaint):
    broken = _broken_copy(sim_run, tmp_path, edit)
    with pytest.raises(AssertionError, match=complaint):
        broken.results_files_should_be_present_and_readable()


def test_a_run_without_validation_is_not_bit_exact(tmp_path):
    keywords = TifedKeywords(workdir=str(tmp_path))
    keywords.run_federated_training("sim", 2, "single", rounds=1, validate=False)
    keywords.results_files_should_be_present_and_readable()  # bitexact null is valid when not validating
    keywords.each_layer_should_be_trained_by("1")
    with pytest.raises(AssertionError, match="did not validate"):
        keywords.all_updates_should_be_bit_exact()


def test_host_run_is_bit_exact_until_a_round_says_otherwise(tmp_path, host_image):
    keywords = TifedKeywords(workdir=str(tmp_path))
    keywords.run_federated_training("host", 2, "full", rounds=1)
    keywords.all_updates_should_be_bit_exact()
    broken = _broken_copy(keywords, tmp_path, _edit_json(lambda d: d["rounds"][0].update(bitexact=False)))
    with pytest.raises(AssertionError, match="1 of 1 rounds not bit-exact"):
        broken.all_updates_should_be_bit_exact()


# --- refusals ------------------------------------------------------------------------------


def test_a_refusal_must_say_what_was_claimed(tmp_path):
    keywords = TifedKeywords(workdir=str(tmp_path))
    keywords.try_to_run_federated_training("no-such-board", 2, "full")
    keywords.the_run_should_be_refused_with("unknown board 'no-such-board'")
    with pytest.raises(AssertionError, match="does not say 'model too big'"):
        keywords.the_run_should_be_refused_with("model too big")
    with pytest.raises(AssertionError, match="the run failed"):
        keywords.run_federated_training("no-such-board", 2, "full")


def test_a_bad_option_value_reaches_tifed_and_is_refused(tmp_path):
    keywords = TifedKeywords(workdir=str(tmp_path))
    keywords.try_to_run_federated_training("sim", "2", "full", rounds="x")
    keywords.the_run_should_be_refused_with("argument --rounds: 'x' is not an integer")


# --- devices -------------------------------------------------------------------------------


def test_a_host_device_reports_host_not_another_board(tmp_path, host_image):
    keywords = TifedKeywords(workdir=str(tmp_path))
    keywords.start_a_fleet("host", "1")
    device = keywords.fleet.devices[0]
    try:
        keywords.a_device_should_report_its_board_and_ram()
        assert keywords.ram_arena_reported_by_device("0") > 0
        with pytest.raises(AssertionError, match="says it is board 'host', not 'qemu-microbit'"):
            keywords.a_device_should_report_its_board_and_ram(board="qemu-microbit")
        with pytest.raises(AssertionError, match="no device 1"):
            keywords.ram_arena_reported_by_device("1")
    finally:
        keywords.ROBOT_LIBRARY_LISTENER.end_test(None, None)  # what Robot calls when a test ends
    assert not device.alive()
    with pytest.raises(AssertionError, match="no device is running"):
        keywords.a_device_should_report_its_board_and_ram()


def test_sim_has_no_device_to_start(tmp_path):
    with pytest.raises(AssertionError, match="no device to start"):
        TifedKeywords(workdir=str(tmp_path)).start_a_fleet("sim", "1")


def test_a_board_that_cannot_run_here_skips_with_the_reason(tmp_path, monkeypatch):
    from tifed.boards import host

    monkeypatch.setattr(host.build, "missing_build_tools", lambda board: ["gcc"])
    monkeypatch.setattr(host.build, "needs_build", lambda board, image: True)
    with pytest.raises(SkipExecution, match="host cannot run here: gcc missing"):
        TifedKeywords(workdir=str(tmp_path)).skip_unless_board_can_run("host")
    with pytest.raises(SkipExecution, match="unknown board"):
        TifedKeywords(workdir=str(tmp_path)).skip_unless_board_can_run("no-such-board")


# --- tifed step -------------------------------------------------------------------------------


def test_step_needs_two_engines_that_both_run(tmp_path):
    keywords = TifedKeywords(workdir=str(tmp_path))
    with pytest.raises(AssertionError, match="at least two engines"):
        keywords.step_results_should_be_identical_for_engines("reference")
    with pytest.raises(AssertionError, match="engine no-such-board failed"):
        keywords.step_results_should_be_identical_for_engines("reference", "no-such-board", samples=10)


def test_step_comparison_finds_one_changed_value():
    case = step_case.make_case("6-4-3", 10, batch=5, epochs=1, lr_inv=16, layer=-1, seed=3)
    other = {k: v.copy() for k, v in case.items()}
    other["w1"][2, 1] += 1
    assert step_case.first_difference(case, case) is None
    assert step_case.first_difference(case, other).startswith("w1[2, 1]:")
    assert step_case.trained_keys(case, other) == ["w1"]


def test_results_check_accepts_nothing_but_a_folder(tmp_path):
    assert results_check.problems(tmp_path) == ["results.json is unreadable (No such file or directory)"]


# --- check_output -------------------------------------------------------------------------------


def _robot_output(tmp_path, body: str):
    import robot

    suite = tmp_path / "suite.robot"
    suite.write_text("*** Test Cases ***\n" + textwrap.dedent(body))
    robot.run(str(suite), outputdir=str(tmp_path), report="NONE", log="NONE", stdout=io.StringIO())
    return str(tmp_path / "output.xml")


@pytest.mark.parametrize("body, code, counts", [
    ("Passes\n    No Operation\nIs skipped\n    Skip    no emulator\n", 0, "1 passed, 0 failed, 1 skipped"),
    ("Is skipped\n    Skip    no emulator\n", 1, "0 passed, 0 failed, 1 skipped"),
    ("Passes\n    No Operation\nFails\n    Fail    wrong\n", 1, "1 passed, 1 failed, 0 skipped"),
])
def test_check_output_wants_a_pass_and_no_failure(tmp_path, capsys, body, code, counts):
    assert check_output.main([_robot_output(tmp_path, body)]) == code
    assert f"acceptance: {counts}" in capsys.readouterr().out


def test_check_output_without_output_fails(tmp_path, capsys):
    assert check_output.main([str(tmp_path / "output.xml")]) == 2
    assert "did robot run?" in capsys.readouterr().err


def test_check_output_fail_on_skip_refuses_a_skipped_test(tmp_path, capsys):
    output = _robot_output(tmp_path, "Passes\n    No Operation\nIs skipped\n    Skip    no emulator\n")
    assert check_output.main([output, "--label", "renode acceptance"]) == 0
    assert check_output.main([output, "--label", "renode acceptance", "--fail-on-skip"]) == 1
    assert "renode acceptance: error: 1 skipped" in capsys.readouterr().err
