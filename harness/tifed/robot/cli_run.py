"""Running `tifed` the way a user does: the installed command as a child
process, its exit code and both output streams kept for the checks."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_GRACE = 30.0  # seconds `tifed` gets after SIGTERM to stop its devices


@dataclasses.dataclass
class CliRun:
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    out: Path | None = None  # the --out folder, for `tifed run`

    @property
    def command(self) -> str:
        return "tifed " + " ".join(self.args)

    def stderr_tail(self, lines: int = 3) -> str:
        tail = [line for line in self.stderr.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) if tail else "(nothing on stderr)"

    def describe(self) -> str:
        return f"`{self.command}` exited {self.exit_code}: {self.stderr_tail()}"


def tifed_command() -> list[str]:
    """The `tifed` installed beside this Python (the tox env's or the venv's),
    else the one on PATH, else the module itself."""
    beside = Path(sys.executable).with_name("tifed")  # not resolved: a venv's python is a symlink
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    on_path = shutil.which("tifed")
    if on_path:
        return [on_path]
    return [sys.executable, "-m", "tifed.cli"]


def run_tifed(args: list[str], *, timeout: float, out: Path | None = None) -> CliRun:
    """Run `tifed ARGS`. A run past `timeout` gets SIGTERM (tifed then stops
    its devices and keeps its results), then SIGKILL, and fails the keyword."""
    command = tifed_command() + [str(a) for a in args]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop(proc)
        raise AssertionError(
            f"`tifed {' '.join(map(str, args))}` did not finish within {timeout:g} s and was stopped; "
            f"last stderr: {stderr.strip().splitlines()[-1:] or '(none)'}"
        ) from None
    except BaseException:  # Robot stopped (Ctrl-C, test timeout): leave no tifed behind
        _stop(proc)
        raise
    return CliRun([str(a) for a in args], proc.returncode, stdout, stderr, time.monotonic() - started, out)


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
