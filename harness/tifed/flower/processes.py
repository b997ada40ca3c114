"""Flower's own programs as children of `tifed serve` / `tifed node`:
flower-superlink, flower-supernode and the `flwr` CLI.

Each is spawned with tifed.boards.process.spawn, so it dies with the tifed
process that started it (even on SIGKILL), and stopped with SIGTERM first so
a SuperNode can sign off at its SuperLink. Their output is read line by line
on a thread: echoed (or not), the last lines kept for error messages, and
handed to a callback that waits for the line it cares about (a readiness
event, never a sleep). Children get a private FLWR_HOME (Flower's state and
installed apps; the user's ~/.flwr is left alone), telemetry off, and this
interpreter's bin directory first on PATH, because the SuperLink starts
`flower-superexec` and `flwr-serverapp` by name.
"""
from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from tifed.boards.process import spawn, terminate
from tifed.errors import ConfigError, TifedError

STOP_TIMEOUT = 10.0  # seconds from SIGTERM to SIGKILL (a SuperNode signs off at its SuperLink first)


class FlowerProcessError(TifedError):
    """A Flower program failed to start or exited early."""


def flower_env(flwr_home: str | os.PathLike) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["FLWR_HOME"] = str(flwr_home)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def program(name: str) -> str:
    """The path of a Flower program next to this interpreter (or on PATH);
    a path (this interpreter, for a launcher of ours) as it is."""
    if os.path.isabs(name):
        return name
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    from shutil import which

    found = which(name)
    if found is None:
        raise ConfigError(f"{name} not found: install Flower with pip install 'tifed-hil[flower]'")
    return found


def split_address(text: str, what: str) -> tuple[str, int]:
    """'HOST:PORT' or '[v6]:PORT' -> (host, port), or one ConfigError line."""
    host, sep, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} must be HOST:PORT (e.g. 127.0.0.1:9093), got {text!r}")
    return host, int(port)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free at this moment (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class FlowerProcess:
    """One Flower program running as our child."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], *, echo: TextIO | None = None,
                 on_line: Callable[[str], None] | None = None):
        self.name = name
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._echo = echo
        self._on_line = on_line
        try:
            self.proc = spawn([program(args[0]), *args[1:]], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
        except OSError as exc:
            raise FlowerProcessError(f"cannot start {name}: {exc.strerror or exc}") from None
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.tail.append(line)
            if self._echo is not None:
                try:
                    print(line, file=self._echo, flush=True)
                except (OSError, ValueError):  # our own output closed: keep draining the pipe
                    self._echo = None
            if self._on_line is not None:
                self._on_line(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout=5)  # the last lines are in `tail` once the pipe is drained
        return code

    def describe_exit(self) -> str:
        code = self.proc.poll()
        self._reader.join(timeout=2)
        how = "is still running" if code is None else f"exited with code {code}"
        said = last_words(list(self.tail))
        return f"{self.name} {how}" + (f": {said}" if said else "")

    def stop(self) -> None:
        terminate(self.proc, timeout=STOP_TIMEOUT)
        self._reader.join(timeout=5)


def wait_for_port(host: str, port: int, proc: FlowerProcess, timeout: float) -> None:
    """Until `port` accepts connections (the server is up), `proc` exits
    (an error with its last output) or `timeout` passes."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise FlowerProcessError(proc.describe_exit())
        try:
            with socket.create_connection((target, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise FlowerProcessError(f"{proc.name} did not open port {port} within {timeout:g} s")
        time.sleep(0.1)  # polling a port: there is no event to wait on


def last_words(lines: list[str]) -> str:
    """What a Flower program said last, in one line: from its last ERROR
    line on (Flower explains an exit code over a few lines), or else its
    last line; without colours and the documentation link."""
    lines = [plain(l) for l in lines if plain(l)]
    errors = [i for i, l in enumerate(lines) if l.startswith("ERROR")]
    if not errors:
        return lines[-1][:400] if lines else ""
    said = [lines[errors[-1]]]
    for line in lines[errors[-1] + 1:]:
        if line.startswith(("INFO", "WARNING", "DEBUG", "For more information")):
            break
        said.append(line)
    return " ".join(said)[:400]


def plain(line: str) -> str:
    """A log line without ANSI colours (Flower colours its levels)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
