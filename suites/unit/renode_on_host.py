"""Renode's UART keywords, re-implemented over the host build of the firmware
(stdin/stdout pipes), so the Robot suites in renode/robot/ really run here:
their precomputed frames go to real firmware and the answers are matched
the way Renode's binary-mode TerminalTester matches them (regex over the
bytes as Latin-1 text, dot matches newline, `matchStart` anchors at the
first unconsumed byte, a match consumes everything up to its end).

Used by suites/unit/test_renode_robot.py through renode_on_host.resource as
${RENODEKEYWORDS}. Differences from Renode, on purpose: no machine (the
`include` of the board's .resc is only checked to exist), real-time
timeouts, and the ready byte (0x00) that the Renode boards send at start is
put into the buffer here, since the host build does not send one.
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
from types import SimpleNamespace

from robot.libraries.BuiltIn import BuiltIn


class renode_on_host:  # noqa: N801 - Robot library named like its file
    ROBOT_LIBRARY_SCOPE = "TEST"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self):
        self.ROBOT_LIBRARY_LISTENER = self
        self._proc: subprocess.Popen | None = None
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._tester = False
        self.variables: dict[str, str] = {}

    # --- Renode keywords ---------------------------------------------------------

    def execute_command(self, command, machine=None):
        if m := re.fullmatch(r"\$(\w+)=(.*)", command):
            self.variables[m.group(1)] = m.group(2)
            return ""
        if m := re.fullmatch(r"include @(\S+)", command):
            board = BuiltIn().get_variable_value("${BOARD}")
            if str(board).startswith("renode-"):
                from pathlib import Path

                if not Path(m.group(1)).is_file():
                    raise AssertionError(f"include: no such script {m.group(1)}")
            return ""
        if re.fullmatch(r"connector Disconnect \S+ uart", command):
            return ""
        raise AssertionError(f"command not emulated on the host: {command}")

    def create_terminal_tester(self, uart, timeout=None, machine=None, endLineOption=None, defaultPauseEmulation=None,
                               defaultWaitForEcho=None, defaultMatchNextLine=None, binaryMode=False):
        if str(binaryMode).lower() != "true":
            raise AssertionError("the TIFeD suites use binary-mode testers")
        self._tester = True
        return 0

    def start_emulation(self):
        image = BuiltIn().get_variable_value("${HOST_IMAGE}")
        self._proc = subprocess.Popen([image], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        with self._cond:
            self._buffer[:] = b"\x00"  # the Renode boards' ready byte
        threading.Thread(target=self._read, daemon=True).start()

    def send_key_to_uart(self, c, testerId=None):
        self._proc.stdin.write(bytes([int(str(c), 0)]))  # "0x1b" as Renode's suites write it, or 27

    def wait_for_bytes_on_uart(self, content, timeout=None, testerId=None, treatAsRegex=False, pauseEmulation=None,
                               matchStart=False):
        if not self._tester:
            raise AssertionError("no terminal tester")
        regex = str(treatAsRegex).lower() == "true"
        pattern = content if regex else re.escape(bytes.fromhex(content.replace(" ", "")).decode("latin-1"))
        compiled = re.compile(pattern, re.DOTALL)
        anchored = str(matchStart).lower() == "true"
        if timeout is None:  # Renode's default is 8 s; tests of failures shorten it
            timeout = BuiltIn().get_variable_value("${HOST_UART_TIMEOUT}", 8)
        deadline = time.monotonic() + float(timeout)
        with self._cond:
            while True:
                text = self._buffer.decode("latin-1")
                match = compiled.match(text) if anchored else compiled.search(text)
                if match:
                    del self._buffer[: match.end()]
                    return SimpleNamespace(Content=match.group(0).encode("latin-1"), Groups=[])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Terminal tester failed! No match for {content!r} in {bytes(self._buffer)!r}")
                self._cond.wait(left)

    # --- plumbing -------------------------------------------------------------------

    def _read(self):
        for chunk in iter(lambda: self._proc.stdout.read(4096), b""):
            with self._cond:
                self._buffer += chunk
                self._cond.notify_all()

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

    def end_test(self, data, result):
        self._close()
