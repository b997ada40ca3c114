"""A board reached through a pyserial port or URL: a physical board on
/dev/ttyACM0, a remote one behind ser2net (socket://, rfc2217://), or
loop:// for tests. Its firmware is built and flashed by the user; the harness
only talks to it."""
from __future__ import annotations

import os
import threading

from tifed.boards.base import Availability, Board, RunningDevice
from tifed.errors import ConfigError
from tifed.transport import DEFAULT_BAUDRATE

_in_use: set[str] = set()  # one device per physical port, process-wide
_in_use_lock = threading.Lock()


def is_port_name(name: str) -> bool:
    """Does a --board value name a port or URL rather than a board kind?"""
    return name.startswith("/dev/") or "://" in name or (name.upper().startswith("COM") and name[3:].isdigit())


class SerialDevice(RunningDevice):
    def __init__(self, url: str, kwargs: dict):
        self.url = url
        self.kwargs = kwargs
        self._stopped = False

    def alive(self) -> bool:
        # A USB adapter that was unplugged loses its device node; for network
        # URLs only the link itself can tell (the client reports DeviceGone).
        if self._stopped:
            return False
        return os.path.exists(self.url) if self.url.startswith("/dev/") else True

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            with _in_use_lock:
                _in_use.discard(self.url)

    def describe_exit(self) -> str:
        if self.url.startswith("/dev/") and not os.path.exists(self.url):
            return f"{self.url} disappeared (board unplugged?)"
        return f"link to {self.url} closed"


class SerialPortBoard(Board):
    family = "serial"

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUDRATE):
        self.name = url
        self.url = url
        self.baudrate = baudrate

    def availability(self) -> Availability:
        if self.url.startswith("/dev/") and not os.path.exists(self.url):
            return Availability(buildable=False, runnable=False, missing=(self.url,),
                                install_hint="connect the board, or check the port name")
        return Availability(buildable=False, runnable=True)

    def start(self, index: int) -> RunningDevice:
        with _in_use_lock:
            if self.url in _in_use:
                raise ConfigError(f"port {self.url} already serves a device; give one --board per physical board")
            _in_use.add(self.url)
        return SerialDevice(self.url, {"baudrate": self.baudrate})
