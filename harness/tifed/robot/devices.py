"""Devices started by the acceptance keywords themselves (not by `tifed
run`), to ask them things through the real client: the board's plug-in
starts them, pyserial opens their links, DeviceClient talks PROTOCOL.md."""
from __future__ import annotations

from tifed.connected import ConnectedDevice
from tifed.boards.registry import get_board
from tifed.protocol.client import DeviceClient


class Fleet:
    def __init__(self, board_name: str, count: int):
        self.board = get_board(board_name)
        if not self.board.has_device:
            raise AssertionError(f"board {board_name} has no device to start (it is the reference alone)")
        if count < 1:
            raise AssertionError(f"a fleet needs at least one device, not {count}")
        self.devices = []
        self.connected: list[ConnectedDevice] = []
        try:
            self.devices = self.board.start_many(list(range(count)))
            for i, device in enumerate(self.devices):
                self.connected.append(ConnectedDevice(device, f"{board_name} device {i}"))
        except BaseException:
            self.stop()
            raise

    @property
    def clients(self) -> list[DeviceClient]:
        return [c.client for c in self.connected]

    def stop(self) -> None:
        """Close every link and stop every device, even when one of them
        fails to stop; the first failure is raised after all were tried."""
        failure: BaseException | None = None
        for action in [c.close for c in self.connected] + [device.stop for device in self.devices]:
            try:
                action()
            except Exception as exc:  # keep stopping the others
                failure = failure or exc
        self.connected, self.devices = [], []
        if failure is not None:
            raise failure
