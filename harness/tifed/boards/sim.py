"""`sim`: the reference-only board. There is no firmware and no device: the
server trains with tifed_models in place of a device (Board.has_device is
False), which makes it the baseline every firmware board must match."""
from __future__ import annotations

from tifed.boards.base import Availability, Board, RunningDevice
from tifed.errors import ConfigError


class SimBoard(Board):
    name = "sim"
    family = "sim"
    has_device = False

    def availability(self) -> Availability:
        return Availability(buildable=True, runnable=True)

    def start(self, index: int) -> RunningDevice:
        raise ConfigError("board sim has no device to start: the server runs the reference in its place")
