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

import re
from pathlib import Path

from robot.libraries.BuiltIn import BuiltIn

from pty_device import PtyDevice


class renode_on_host:  # noqa: N801 - Robot library named like its file
    ROBOT_LIBRARY_SCOPE = "TEST"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self):
        self.ROBOT_LIBRARY_LISTENER = self
        self._device: PtyDevice | None = None
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
        self._device = PtyDevice(Path(self.variables["uart"].strip('"')))
        self._device.write(b"\x00")  # the Renode boards' ready byte
        self._device.run(BuiltIn().get_variable_value("${HOST_IMAGE}"))

    def end_test(self, data, result):
        if self._device is not None:
            self._device.close()
            self._device = None
