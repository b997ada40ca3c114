"""Renode's `Execute Command` and `Start Emulation`, re-implemented over the
host build of the firmware, so the Robot suites in renode/robot/ really run
here: `Start Emulation` puts the host build behind a pseudo-terminal at the
path the suite gave as `$uart`, as the board's .resc does under Renode, and
the suites' own UART keywords (renode/robot/TifedUart.py) send their
precomputed frames to it and match the answers, unchanged.

Used by suites/unit/test_renode_robot.py through renode_on_host.resource as
${RENODEKEYWORDS}. Differences from Renode, on purpose: no machine (the
`include` of the board's .resc is only checked to exist), and the ready byte
(0x00) that the Renode boards send at start is written here, since the host
build does not send one.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import tty
from pathlib import Path

from robot.libraries.BuiltIn import BuiltIn


class renode_on_host:  # noqa: N801 - Robot library named like its file
    ROBOT_LIBRARY_SCOPE = "TEST"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self):
        self.ROBOT_LIBRARY_LISTENER = self
        self._proc: subprocess.Popen | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._link: Path | None = None
        self.variables: dict[str, str] = {}

    # --- Renode keywords ---------------------------------------------------------

    def execute_command(self, command, machine=None):
        if m := re.fullmatch(r"\$(\w+)=(.*)", command):
            self.variables[m.group(1)] = m.group(2)
            return ""
        if m := re.fullmatch(r"include @(\S+)", command):
            board = BuiltIn().get_variable_value("${BOARD}")
            if str(board).startswith("renode-") and not Path(m.group(1)).is_file():
                raise AssertionError(f"include: no such script {m.group(1)}")
            return ""
        raise AssertionError(f"command not emulated on the host: {command}")

    def start_emulation(self):
        self._link = Path(self.variables["uart"].strip('"'))
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self._link.unlink(missing_ok=True)
        self._link.symlink_to(os.ttyname(self._slave))
        image = BuiltIn().get_variable_value("${HOST_IMAGE}")
        self._proc = subprocess.Popen([image], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        os.write(self._master, b"\x00")  # the Renode boards' ready byte
        threading.Thread(target=self._pump, args=(self._proc.stdout.read, self._to_uart), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._from_uart, self._proc.stdin.write), daemon=True).start()

    # --- plumbing -------------------------------------------------------------------

    def _to_uart(self, data: bytes) -> None:
        os.write(self._master, data)

    def _from_uart(self, size: int) -> bytes:
        try:
            return os.read(self._master, size)
        except OSError:  # closed at the end of the test
            return b""

    @staticmethod
    def _pump(read, write) -> None:
        try:
            for chunk in iter(lambda: read(4096), b""):
                write(chunk)
        except (OSError, ValueError):
            pass

    def _close(self):
        if self._proc is not None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None
        for fd in (self._slave, self._master):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self._link is not None:
            self._link.unlink(missing_ok=True)

    def end_test(self, data, result):
        self._close()
