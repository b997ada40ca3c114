"""`tifed` end to end on board sim (small and fast), and bad input: a
non-zero exit with exactly one line on stderr."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

RUN = ["run", "--board", "sim", "--devices", "2", "--mode", "full", "--dataset", "digits", "--model", "64-32-10"]


def tifed(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tifed.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("mode", ["full", "single"])
def test_run_on_sim_writes_results(tmp_path, mode):
    out = tmp_path / "run"
    args = list(RUN)
    args[args.index("full")] = mode
    done = tifed(*args, "--rounds", "7", "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "results.json").read_text())
    assert set(doc) == {"schema", "config", "devices", "rounds", "final"} and doc["schema"] == 1
    c = doc["config"]
    assert (c["mode"], c["devices"], c["model"], c["rounds"], c["buffer_len"], c["batch"], c["epochs"], c["lr_inv"]) == (
        mode, 2, "64-32-10", 7, 50, 25, 5, 2048)
    assert [r["round"] for r in doc["rounds"]] == list(range(1, 8))
    assert [r["buffer"] for r in doc["rounds"]] == [0] * 5 + [1] * 2
    assert all(r["bitexact"] is True for r in doc["rounds"])
    # --eval-every buffer (the default): after the first round, the buffer's last (5) and the run's (7);
    # every other round carries the last measured accuracy and names its round
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in doc["rounds"])
    assert [r.get("test_accuracy_round", r["round"]) for r in doc["rounds"]] == [1, 1, 1, 1, 5, 5, 7]
    assert doc["rounds"][3]["test_accuracy"] == doc["rounds"][0]["test_accuracy"]
    assert (c["eval_every"], c["eval_every_rounds"]) == ("buffer", 5)
    assert [d["layer"] for d in doc["devices"]] == ([None, None] if mode == "full" else [0, 1])
    final = doc["final"]
    assert final["rounds"] == 7 and final["bitexact_all"] is True and final["complete"] is True
    assert final["test_accuracy"] == doc["rounds"][-1]["test_accuracy"]
    for name in ("rounds.csv", "model.npz", "accuracy.png"):
        assert (out / name).is_file()
    assert f"results: {out / 'results.json'}" in done.stdout  # the summary names the file
    assert "round 7/7" in done.stdout  # not a tty: one plain line per round


@pytest.mark.parametrize("every, measured", [("round", [1, 2, 3, 4]), ("3", [1, 3, 4]), ("buffer", [1, 4])])
def test_eval_every_says_which_rounds_measure_test_accuracy(tmp_path, every, measured):
    done = tifed(*RUN, "--rounds", "4", "--eval-every", every, "--out", str(tmp_path / every))
    assert done.returncode == 0, done.stderr
    rounds = json.loads((tmp_path / every / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds if "test_accuracy_round" not in r] == measured
    assert all(isinstance(r["test_accuracy"], float) and isinstance(r["saturation"], float) for r in rounds)
    from tifed.robot.results_check import problems

    assert problems(tmp_path / every) == []  # the acceptance suite's check of the whole folder


def test_no_validate_gives_null_bitexact(tmp_path):
    done = tifed(*RUN, "--rounds", "2", "--no-validate", "--out", str(tmp_path / "nv"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "nv" / "results.json").read_text())
    assert [r["bitexact"] for r in doc["rounds"]] == [None, None] and doc["final"]["bitexact_all"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--board", "pdp11"], "unknown board 'pdp11'"),
        (["--model", "64-x-10"], "malformed model spec"),
        (["--mode", "single", "--devices", "3"], "multiple of the number of layers"),
        (["--batch", "80"], "--batch 80 is larger than --buffer-len 50"),
        (["--buffers", "2", "--rounds", "3"], "not allowed with argument"),
        (["--dataset", "idx:/nonexistent/dir"], "not a readable directory"),
        (["--devices", "zero"], "'zero' is not an integer"),
        (["--eval-every", "0"], "--eval-every must be buffer, round or a number of rounds >= 1"),
        (["--eval-every", "epoch"], "--eval-every must be buffer, round or a number of rounds >= 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    argv = list(RUN) + ["--out", str(tmp_path / "bad")]
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    done = tifed(*argv)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tifed: error: ") and message in lines[0], done.stderr
    assert not (tmp_path / "bad").exists()  # refused before anything was started or written


def test_missing_option_is_one_line():
    done = tifed("run", "--board", "sim")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "required" in done.stderr


def test_sigterm_stops_the_run_and_keeps_results(tmp_path):
    out = tmp_path / "term"
    # small buffers, many epochs: 35 buffers x 50 rounds, far longer than it takes to react
    argv = [sys.executable, "-m", "tifed.cli", *RUN, "--buffer-len", "10", "--batch", "5", "--epochs", "50",
            "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # wait for the event: a round has been written
            if line.startswith("round 1/"):
                break
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert err.splitlines() == ["tifed: terminated; devices stopped, results so far kept"]
    doc = json.loads((out / "results.json").read_text())
    assert doc["final"]["complete"] is False and doc["final"]["error"] == "terminated (SIGTERM)"
    assert 1 <= len(doc["rounds"]) < 1750


def with_options(tmp_path, args: list[str]) -> list[str]:
    argv = list(RUN) + ["--out", str(tmp_path / "bad")]
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def write_idx(folder, images_magic: bytes = b"\x00\x00\x08\x03", labels: int = 3) -> None:
    """A tiny IDX data set (3 train and 3 test 2x2 images); a wrong magic or
    a label count that disagrees makes it malformed."""
    import struct

    folder.mkdir()
    for stem in ("train", "t10k"):
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(images_magic + struct.pack(">III", 3, 2, 2) + bytes(12))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", labels) + bytes(labels))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--faults", "noise=1"], "--faults: unknown key 'noise'"),
        (["--faults", "drop=2"], "--faults: drop is a probability between 0 and 1, got 2"),
        (["--faults", "chunk=20"], "--faults chunk 20 is too small: one sample of model 64-32-10 takes a 69-byte payload"),
        (["--quorum", "3"], "--quorum must be between 1 and the number of devices (2), got 3"),
        (["--quorum", "0"], "argument --quorum: 0 must be at least 1"),
        (["--round-timeout", "0"], "argument --round-timeout: 0 must be above 0"),
        (["--round-timeout", "soon"], "argument --round-timeout: 'soon' is not a number of seconds"),
        (["--lr-inv", "0"], "argument --lr-inv: 0 must be at least 1"),
        (["--seed", "-1"], "argument --seed: -1 must not be negative"),
        (["--epochs", "1.5"], "argument --epochs: '1.5' is not an integer"),
        (["--model", "64"], "malformed model spec '64'"),
        (["--dataset", "cifar"], "unknown data set 'cifar'"),
        (["--buffer-len", "5000"], "less than one buffer of 5000"),
        (["--timeout", "-1"], "argument --timeout: -1 must be above 0"),
        (["--chunk", "8"], "chunk must be an integer from 16 to 65535 bytes, got 8"),
        (["--mode", "half"], "argument --mode: invalid choice: 'half'"),
    ],
)
def test_more_bad_options_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    from tifed import cli

    monkeypatch.setattr("signal.signal", lambda *a: None)  # main() would take over pytest's SIGTERM
    assert cli.main(with_options(tmp_path, args)) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tifed: error: ") and message in lines[0], lines
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("bad magic", "not an IDX file (bad magic 0x12340803)"),
        ("counts disagree", "3 train images but 2 labels"),
        ("bad fleet", "device 1: port is required"),
        ("missing case", "no such file"),
        ("bad case", "unreadable"),
    ],
)
def test_bad_data_files_are_one_line(tmp_path, capsys, monkeypatch, case, message):
    from tifed import cli

    monkeypatch.setattr("signal.signal", lambda *a: None)
    if case in ("bad magic", "counts disagree"):
        write_idx(tmp_path / "idx", **({"images_magic": b"\x12\x34\x08\x03"} if case == "bad magic" else {"labels": 2}))
        argv = with_options(tmp_path, ["--dataset", f"idx:{tmp_path / 'idx'}", "--model", "4-2"])
    elif case == "bad fleet":
        (tmp_path / "fleet.toml").write_text("[[device]]\nboard = \"nrf52840dk\"\n")
        argv = ["run", "--fleet", str(tmp_path / "fleet.toml"), "--mode", "full", "--dataset", "digits",
                "--model", "64-32-10", "--out", str(tmp_path / "bad")]
    else:
        case_file = tmp_path / "case.npz"
        if case == "bad case":
            case_file.write_bytes(b"this is not an npz file")
        argv = ["step", "--engine", "reference", "--in", str(case_file), "--out", str(tmp_path / "r.npz")]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tifed: error: ") and message in lines[0], lines
    assert not (tmp_path / "bad").exists() and not (tmp_path / "r.npz").exists()
