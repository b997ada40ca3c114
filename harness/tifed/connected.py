"""One started device with its link open and a DeviceClient on it: what
talks to a device outside a federation (`tifed step`, the Robot keywords,
the pytest plugin). The federation's workers keep their own link, since they
also reconnect and put fault injectors in between."""
from __future__ import annotations

from typing import Any

from tifed.boards.base import Board, RunningDevice
from tifed.links.transport import open_link
from tifed.protocol.client import DeviceClient


class ConnectedDevice:
    def __init__(self, running: RunningDevice, name: str):
        """Open `running`'s link and put a client on it. Takes ownership of
        `running`: stopped here if the link cannot be opened, by close() after."""
        self.running = running
        self.link: Any = None
        try:
            self.link = open_link(running.url, **running.kwargs)
            self.client = DeviceClient(self.link, name=name, device=running, **dict(running.client_options))
        except BaseException:
            self.close()
            raise

    @classmethod
    def start(cls, board: Board, index: int = 0, name: str | None = None) -> "ConnectedDevice":
        """Start device `index` of `board` (building its image if stale) and connect to it."""
        return cls(board.start(index), name or f"{board.name} device {index}")

    def close(self) -> None:
        """Close the link and stop the device; both are tried even when the
        first fails, whose error is raised after. Safe to call twice."""
        link, self.link = self.link, None
        try:
            if link is not None:
                link.close()
        finally:
            self.running.stop()

    def __enter__(self) -> "ConnectedDevice":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
