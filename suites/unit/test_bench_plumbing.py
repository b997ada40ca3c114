"""The bench's measuring machinery without QEMU: the accuracy loop is the
server's schedule, TimedFederation times real rounds (fake devices behind
the real DeviceClient), and `tifed bench` writes its files or fails with
one line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tifed_models
from tifed.training import datasets
from tifed.bench import accuracy, line_rate, report, runner
from tifed.bench import fleet_scaling as fleet
from tifed.bench.machine import one_blas_thread
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.server.federation import Federation

from fake_fleet import FakeBoard


def patch_boards(monkeypatch, boards):
    """config resolves these names to the given boards (whatever else
    get_board is passed: its signature is not this test's business)."""
    import tifed.plan

    real = tifed.plan.get_board
    monkeypatch.setattr(tifed.plan, "get_board",
                        lambda name, *args, **kwargs: boards[name] if name in boards else real(name, *args, **kwargs))


@pytest.mark.parametrize("mode", ["full", "single"])
def test_accuracy_loop_ends_where_tifed_run_on_sim_ends(tmp_path, mode):
    seed, rounds = 3, 7
    config = RunConfig.of(boards=("sim",), devices=4, mode=mode, dataset="digits", model="64-16-10",
                       out=str(tmp_path / mode), rounds=rounds, seed=seed, validate=False)
    fed = Federation(prepare(config))
    with one_blas_thread():  # K threads of multi-threaded BLAS crawl on a small machine
        fed.run()
    data = datasets.load("digits", seed)
    ours = accuracy.federated_run(data, (64, 16, 10), mode, 2048, seed, devices=4, data_seed=seed, rounds=rounds)
    assert ours.equal(fed.global_model)
    assert not ours.equal(tifed_models.Model.zeros((64, 16, 10)))


def test_model_for_and_paper_set():
    assert accuracy.model_for(datasets.load("digits", 0)) == (64, 32, 10)
    assert accuracy.paper_set("idx:/data/fashion-mnist") == "Fashion-MNIST"
    assert accuracy.paper_set("mnist5k") == "MNIST" and accuracy.paper_set("digits") is None


def test_repeated_dataset_reaches_the_size_and_keeps_the_test_set():
    data = datasets.load("digits", 0)
    big = fleet.repeated(data, 4000)
    assert big.x_train.shape[0] >= 4000 and big.x_train.shape[0] % data.x_train.shape[0] == 0
    assert np.array_equal(big.x_train[: data.x_train.shape[0]], data.x_train)
    assert big.x_test is data.x_test and fleet.repeated(data, 10) is data


def test_fleet_plan_repeats_the_data_for_a_big_fleet(monkeypatch, tmp_path):
    patch_boards(monkeypatch, {"fake": FakeBoard()})
    plan = fleet.make_plan("fake", 30, str(tmp_path), model="64-8-10", dataset="digits")
    assert plan.data.name == "digits x2" and len(plan.shards) == 30
    assert all(x.shape[0] >= 50 for x, _ in plan.shards) and len(plan.schedule) == 5  # one buffer each


def test_fleet_row_times_rounds_with_fake_devices(monkeypatch):
    board = FakeBoard()
    patch_boards(monkeypatch, {"fake": board})
    monkeypatch.setattr(fleet, "FLEET_MODEL", "64-8-10")
    row = fleet.fleet_row("fake", 6)
    assert report._check_object(row, report.CONTRACT["fleet"], "row") == []
    assert row["devices"] == 6 and row["rounds_measured"] == [2, 3, 4, 5]
    assert 0.0 <= row["server_overhead_fraction"] <= 1.0 and row["round_seconds"] > 0
    assert row["wire_bytes_per_device_round"] > 2 * 4 * (64 * 8 + 8 * 10)  # the model down and up, framed
    assert len(board.started) == 6 and all(r.stopped for r in board.started)


def test_timed_federation_sees_every_train(monkeypatch):
    patch_boards(monkeypatch, {"fake": FakeBoard()})
    fed = fleet.run_timed("fake", 3, model="64-8-10", dataset="digits")
    assert [t.number for t in fed.timings] == [1, 2, 3, 4, 5]
    for t in fed.timings:
        assert 0 < t.train_seconds <= t.link_seconds <= t.seconds
        assert t.overhead_fraction == pytest.approx(t.link_only_fraction + t.server_only_fraction)
    # the server counts each round's bytes; the timings carry them over unchanged
    assert [t.wire_bytes for t in fed.timings] == [r["wire_bytes"] for r in fed.results.rounds]
    assert all(t.wire_bytes > 0 for t in fed.timings)


def test_wire_row_full_and_single(monkeypatch):
    patch_boards(monkeypatch, {"fake": FakeBoard(max_payload=1024), "fake2": FakeBoard(max_payload=1024, protocol=2)})
    full = fleet.wire_row(fleet.WireCase("fake", "64-8-10", "digits", "full", buffers=2, devices=4))
    single = fleet.wire_row(fleet.WireCase("fake", "64-8-10", "digits", "single", buffers=2, devices=4))
    compact = fleet.wire_row(fleet.WireCase("fake2", "64-8-10", "digits", "full", buffers=2, devices=4))
    loose = fleet.wire_row(fleet.WireCase("fake2", "64-8-10", "digits", "full", False, buffers=2, devices=4))
    for row in (full, single, compact, loose):
        assert report._check_object(row, report.CONTRACT["wire"], "row") == []
        assert row["rounds_measured"] == list(range(2, 11)) and row["max_payload"] == 1024
    assert full["raw_int32_bytes"] == 2 * 4 * (64 * 8 + 8 + 8 * 10 + 10)
    # framing (its extra delimiters too), commands, the session check and samples on top of the bare model
    assert 1.0 < full["ratio_to_raw"] < 1.25
    assert single["bytes_per_device_round"] < full["bytes_per_device_round"]
    assert (full["protocol"], compact["protocol"], loose["validate"]) == (1, 2, False)
    assert compact["ratio_to_raw"] < loose["ratio_to_raw"] < full["ratio_to_raw"] / 2


def test_a_case_that_cannot_run_is_skipped_with_its_reason_and_the_next_runs(monkeypatch):
    patch_boards(monkeypatch, {"fake": FakeBoard(max_payload=1024)})
    lines = []
    rows, skipped = fleet.measure_wire([fleet.WireCase("no-such-board", "64-8-10", "digits", "full", buffers=2),
                                        fleet.WireCase("fake", "64-8-10", "digits", "full", buffers=2)],
                                       log=lines.append)
    assert [row["board"] for row in rows] == ["fake"]
    assert [(s.section, s.what) for s in skipped] == [("wire", "no-such-board 64-8-10 digits full")]
    assert "no-such-board" in skipped[0].reason and "\n" not in skipped[0].reason
    assert lines == [f"  wire fake 64-8-10 digits full: {rows[0]['bytes_per_device_round']:,} B per device-round "
                     f"({rows[0]['ratio_to_raw']:.3f} x raw int32)"]


def test_line_rate_row_projects_a_board_round(monkeypatch):
    patch_boards(monkeypatch, {"fake2": FakeBoard(max_payload=1024, protocol=2)})
    firmware = [{"board": "qemu-mps2-an386", "model": "64-32-10", "instructions_per_mac": 3.0,
                 "instructions_per_sample": 16_000}]
    row = line_rate.line_row(line_rate.LineCase("64-8-10", "digits", 115200, devices=2, board="fake2"), firmware)
    assert row["board_train_instructions"] == int(line_rate.macs_per_sample((64, 8, 10)) * 50 * 3.0)
    assert row["board_train_source"] == "estimated at 3.00 instructions/MAC of 64-32-10"
    assert row["projected_round_seconds"] == pytest.approx(
        row["round_seconds"] - row["host_train_seconds"] + row["board_train_instructions"] / 64e6, abs=1e-3)
    assert row["round_seconds"] >= row["line_seconds_per_device_round"] * 0.99  # the line rate held
    assert row["v1_round_seconds"] > row["round_seconds"]


def test_line_rate_counts_a_round_with_the_int32_firmware_row_whatever_the_order():
    int32 = {"board": "qemu-mps2-an386", "model": "784-200-10", "weights": "int32",
             "instructions_per_sample": 651_488, "instructions_per_mac": 2.04}
    int16 = dict(int32, weights="int16", instructions_per_sample=359_835, instructions_per_mac=1.13)
    for rows in ([int16, int32], [int32, int16]):
        assert line_rate.board_instructions((784, 200, 10), 50, rows) == (651_488 * 50, "measured (qemu-mps2-an386)")
    count, source = line_rate.board_instructions((784, 64, 10), 50, [int16, int32])
    assert source == "estimated at 2.04 instructions/MAC of 784-200-10"
    assert count == int(line_rate.macs_per_sample((784, 64, 10)) * 50 * 2.04)
    assert line_rate.board_instructions((784, 200, 10), 50, [int16]) == (None, "not measured")


def test_runner_writes_json_markdown_and_plots(tmp_path):
    plan = runner.Plan(accuracy_sets=(("digits", 2, None),))
    doc = runner.run(tmp_path, only=["accuracy"], plan=plan, log=lambda *_: None)
    on_disk = json.loads((tmp_path / "bench.json").read_text())
    assert report.check_document(on_disk) == [] and on_disk["run"]["sections"] == ["accuracy"]
    assert len(on_disk["accuracy"]) == 6 and all(len(r["test_accuracies"]) == 2 for r in on_disk["accuracy"])
    assert on_disk["reference"] is None and on_disk["firmware"] == [] and doc["run"]["blas_threads"] in (1, None)
    assert (tmp_path / "accuracy_digits.png").stat().st_size > 1000
    assert "| digits | 64-32-10 | int32 | – | full | 2048 |" in (tmp_path / "bench.md").read_text()


def test_quick_plan_shortens_fashion_mnist_and_says_so():
    name, seeds, buffers = runner.QUICK.accuracy_sets[0]
    assert (name, seeds) == ("fashion-mnist", 3) and buffers is not None
    full = {n: (s, b) for n, s, b in runner.FULL.accuracy_sets}
    assert full["fashion-mnist"] == (10, None)  # the paper's protocol, >= 10 seeds


def test_a_missing_data_set_is_listed_not_measured(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path / "nowhere"))
    doc = runner.run(tmp_path / "out", only=["accuracy"], plan=runner.Plan(accuracy_sets=(("fashion-mnist", 1, 1),)),
                     log=lambda *_: None)
    assert doc["accuracy"] == []
    [skip] = doc["skipped"]
    assert skip["what"] == "fashion-mnist" and "apt-get install dataset-fashion-mnist" in skip["reason"]
    assert "apt-get install dataset-fashion-mnist" in (tmp_path / "out" / "bench.md").read_text()


@pytest.mark.skipif(not datasets.FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_rows_on_a_shortened_protocol_are_not_set_against_the_paper(tmp_path):
    rows = accuracy.measure(["fashion-mnist"], 2, log=lambda *_: None, buffers=1)
    assert len(rows) == 6 and {r["comparable"] for r in rows} == {False}
    assert {(r["buffers"], r["buffers_total"], r["rounds"]) for r in rows} == {(1, 150, 5)}
    assert rows[0]["seeds"] == [0, 1] and rows[0]["paper_median"] == 0.832 and rows[0]["train_samples"] == 60000
    first = rows[0]["test_accuracies"]  # full, 1/lr 2048: learning after 5 rounds, and the seed matters
    assert min(first) > 0.2 and first[0] != first[1]


def tifed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tifed.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, words", [
    (["--only", "speed"], "invalid choice"),
    (["--idx", "/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--seeds", "0"], "at least 1"),
])
def test_bench_bad_input_is_one_line(tmp_path, args, words):
    done = tifed("bench", "--out", str(tmp_path / "b"), *args)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("tifed: error:") and words in done.stderr
    assert not (tmp_path / "b" / "bench.json").exists()


def _write_idx(folder, n_train=800, n_test=100, side=8):
    """A small IDX set: 8x8 images whose brightest quarter tells the label."""
    import struct

    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 4, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, side, side)).astype(np.uint8)
        for i, c in enumerate(labels):
            r, q = divmod(int(c), 2)
            images[i, r * 4:(r + 1) * 4, q * 4:(q + 1) * 4] = 250
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, n, side, side) + images.tobytes())
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, n) + labels.tobytes())


def test_runner_accuracy_on_idx_files(tmp_path):
    _write_idx(tmp_path / "fashion-small")
    doc = runner.run(tmp_path / "out", only=["accuracy"], plan=runner.Plan(accuracy_sets=()),
                     idx_dirs=[str(tmp_path / "fashion-small")], seeds=1, log=lambda *_: None)
    rows = doc["accuracy"]
    assert [r["dataset"] for r in rows] == [f"idx:{tmp_path / 'fashion-small'}"] * 6
    assert rows[0]["model"] == "64-32-4" and rows[0]["train_samples"] == 800
    assert {r["paper_set"] for r in rows} == {"Fashion-MNIST"} and rows[0]["paper_median"] == 0.832
    assert max(r["median"] for r in rows) > 0.5  # four easy classes: learned far above chance (0.25)
    plots = [p.name for p in (tmp_path / "out").glob("accuracy_*.png")]
    assert plots == ["accuracy_idx_fashion_small.png"]
