"""`tifed run --resume DIR` after the server was killed (SIGKILL, no chance
to clean up): the resumed run ends with the same weights, accuracies and
bit-exactness as a run that was never interrupted. And every way a resume
can be asked for wrongly is one error line."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from tifed import cli

RUN = ["run", "--board", "host", "--devices", "2", "--mode", "full", "--dataset", "digits", "--model", "64-16-10",
       "--rounds", "6"]


def tifed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tifed.cli", *args], capture_output=True, text=True, timeout=300)


def kill_after_round(out, rnd: int) -> None:
    argv = [sys.executable, "-m", "tifed.cli", *RUN, "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # wait for the event: round `rnd` is on disk
            if line.startswith(f"round {rnd}/"):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL


def test_killed_server_resumes_to_the_same_result(tmp_path, host_image):
    whole = tifed(*RUN, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    kill_after_round(tmp_path / "cut", 3)
    cut = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert cut["final"]["complete"] is False and len(cut["rounds"]) >= 3
    resumed = tifed("run", "--resume", str(tmp_path / "cut"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after round 3" in resumed.stdout and "round 4/6" in resumed.stdout
    assert "round 3/6" not in resumed.stdout  # done rounds are not run again
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("whole", "cut"))
    assert b["final"]["complete"] is True and b["final"]["resumed_after_rounds"] == [3]
    assert [r["round"] for r in b["rounds"]] == list(range(1, 7))
    assert [r["test_accuracy"] for r in b["rounds"]] == [r["test_accuracy"] for r in a["rounds"]]
    assert b["final"]["test_accuracy"] == a["final"]["test_accuracy"] and b["final"]["bitexact_all"] is True
    with np.load(tmp_path / "whole" / "model.npz") as wa, np.load(tmp_path / "cut" / "model.npz") as wb:
        assert sorted(wa.files) == sorted(wb.files)
        assert all(np.array_equal(wa[k], wb[k]) for k in wa.files)
    assert b["config"] == a["config"] | {"out": str(tmp_path / "cut")}


def run_main(capsys, monkeypatch, *argv: str) -> tuple[int, list[str]]:
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main() would take over pytest's SIGTERM
    code = cli.main(list(argv))
    return code, capsys.readouterr().err.splitlines()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "done"
    done = tifed("run", "--board", "sim", "--devices", "2", "--mode", "full", "--dataset", "digits",
                 "--model", "64-32-10", "--rounds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("case, message", [
    ("missing", "not a directory"),
    ("empty", "no checkpoint.npz there"),
    ("corrupt", "checkpoint.npz is unreadable"),
    ("complete", "the run already finished all 2 rounds; nothing to resume"),
    ("extra option", "--resume takes every option from"),
])
def test_bad_resume_is_one_line(tmp_path, capsys, monkeypatch, finished, case, message):
    folder = {"missing": tmp_path / "nowhere", "empty": tmp_path, "complete": finished,
              "extra option": finished, "corrupt": tmp_path}[case]
    if case == "corrupt":
        (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    argv = ["run", "--resume", str(folder)] + (["--epochs", "3", "--model", "64-10-10"] if case == "extra option" else [])
    code, err = run_main(capsys, monkeypatch, *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("tifed: error: ") and message in err[0], err
    if case == "extra option":
        assert err[0].endswith("do not give --epochs, --model")
