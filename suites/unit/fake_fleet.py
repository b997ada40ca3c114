"""Boards for testing the FL server without firmware: each device is a
FakeDevice (fake_device.py, the reference behind PROTOCOL.md on a local
socket), so the server's real DeviceWorker/DeviceClient path runs."""
from __future__ import annotations

import struct

import tifed_models
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.firmware.build import FirmwareInfo
from tifed.protocol.payloads import Command, Status

from fake_device import FakeDevice


class SeededFakeDevice(FakeDevice):
    """FakeDevice plus SET_FEEDBACK_SEED; `corrupt_after_train` adds
    `corrupt_by` (1) to W_0[0, 0] after every TRAIN (a firmware bug the
    validation must catch, or with a big value a poisoned update)."""

    corrupt_after_train = False
    corrupt_by = 1

    def _execute(self, code, p):
        if code == Command.SET_FEEDBACK_SEED and self._dims is not None:
            (seed,) = struct.unpack("<I", p)
            self.feedback = [f.copy() for f in tifed_models.feedback_matrices(self._dims, seed)]
            return Status.OK, b""
        status, body = super()._execute(code, p)
        if code == Command.TRAIN and self.corrupt_after_train:
            self.model.weights[0][0, 0] += self.corrupt_by
        return status, body


class FakeRunning(RunningDevice):
    def __init__(self, device: SeededFakeDevice, client_options=None):
        self.device = device
        self.url = device.url
        self.kwargs = {}
        self.client_options = client_options or {}
        self.stopped = False

    def alive(self) -> bool:
        return not self.stopped

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.device.close()

    def describe_exit(self) -> str:
        return "fake device closed"


class FakeBoard(Board):
    """`configure(index, device)` may set faults on device `index` before it runs."""

    family = "fake"

    def __init__(self, name="fake", arena=None, runnable=True, configure=None, max_payload=256, client_options=None,
                 protocol=1):
        """`client_options` go to every device's DeviceClient (timeout,
        retries); `protocol` is the version the devices speak."""
        self.client_options = client_options
        self.protocol = protocol
        self.name = name
        self.arena = arena
        self.runnable = runnable
        self.configure = configure
        self.max_payload = max_payload
        self.started: list[FakeRunning] = []

    def availability(self) -> Availability:
        if self.runnable:
            return Availability(buildable=True, runnable=True)
        return Availability(buildable=False, runnable=False, missing=("fake-tool",), install_hint="apt-get install fake")

    def ram_arena_bytes(self):
        return self.arena

    def firmware_info(self):
        return FirmwareInfo(flash_bytes=1000, ram_bytes=2000)

    def start(self, index: int) -> RunningDevice:
        device = SeededFakeDevice(max_payload=self.max_payload, protocol=self.protocol)
        if self.configure is not None:
            self.configure(index, device)
        running = FakeRunning(device, self.client_options)
        self.started.append(running)
        return running


def patch_boards(monkeypatch, boards: dict[str, Board]) -> None:
    """Let config.prepare resolve these names (others still go to the registry)."""
    import tifed.plan
    from tifed.boards.registry import get_board

    monkeypatch.setattr(tifed.plan, "get_board",
                        lambda name, *args, **kwargs: boards[name] if name in boards else get_board(name, *args, **kwargs))

