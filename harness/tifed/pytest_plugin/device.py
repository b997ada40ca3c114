"""What the fixtures hand a test: `tifed_device`, one running device of a
board, and `tifed_reference`, the NumPy reference, both with the same
`step(case)`. A case goes through tifed.step exactly as a `tifed step` case
file does (validate_case, then device_step or reference_step), so the two
can never disagree about what a case means."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from tifed.pytest_plugin.targets import Target


class TifedDevice:
    """One device of a board, started once per test session: its image built
    if stale, its process or emulator started, its link opened and the
    firmware asked to IDENTIFY itself."""

    def __init__(self, target: Target):
        self.target = target
        self.board = target.label  # the name given to --tifed-board (or the fleet entry's)
        self.last_counter: int | None = None  # the device's counter over the last step's TRAIN
        self._connected: Any = None  # tifed.connected.ConnectedDevice
        self.info: dict[str, Any] | None = None  # identify() at start

    def __repr__(self) -> str:
        return f"<tifed_device {self.board}>"

    def start(self) -> None:
        from tifed.connected import ConnectedDevice

        self._connected = ConnectedDevice.start(self.target.board, 0, f"{self.board} device")
        try:
            self.info = self.identify()  # a device that does not answer did not start
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close the link and stop the device (process or emulator reaped); safe to call twice."""
        connected, self._connected = self._connected, None
        if connected is not None:
            connected.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def client(self):
        """The tifed.protocol.client.DeviceClient on the device's link, for
        tests that send their own requests (client.request, client.transact)."""
        if self._connected is None:
            raise RuntimeError(f"{self.board}: the device is not running")
        return self._connected.client

    @property
    def running(self):
        """The board plug-in's RunningDevice (url, alive(), describe_exit())."""
        if self._connected is None:
            raise RuntimeError(f"{self.board}: the device is not running")
        return self._connected.running

    def alive(self) -> bool:
        return self._connected is not None and self._connected.running.alive()

    def describe_exit(self) -> str:
        return self._connected.running.describe_exit() if self._connected is not None else "not started"

    def identify(self) -> dict[str, Any]:
        """IDENTIFY: board (the firmware's own name), max_payload, arena_bytes,
        counter_kind and counter (none | instructions | cycles), fw_version, proto."""
        info = self.client.identify()
        return {**dataclasses.asdict(info), "counter": info.counter_name}

    def step(self, case: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """`tifed step --engine BOARD` in memory: `case` holds the arrays of a
        CASE.npz, the result those of a RESULT.npz (interfaces.md)."""
        from tifed.step import device_result

        result, self.last_counter = device_result(self.client, case, f"{self.board}: step case")
        return result


class ReferenceEngine:
    """`tifed_reference`: the NumPy integer reference (tifed_models)."""

    board = "reference"

    def __repr__(self) -> str:
        return "<tifed_reference>"

    def step(self, case: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """`tifed step --engine reference` in memory (see TifedDevice.step)."""
        from tifed.step import reference_result

        return reference_result(case, "reference: step case")
