"""A board reached through a pyserial port or URL: a physical board on
/dev/ttyACM0, a remote one behind ser2net (socket://, rfc2217://), a
pseudo-terminal (a socat link such as /tmp/lab/board0), or loop:// for
tests. Its firmware is built and flashed by the user; the harness only
talks to it. URL options (`rfc2217://host:port?ign_set_control`) go to
pyserial unchanged."""
from __future__ import annotations

import os
import stat
import threading

from tifed.boards.base import Availability, Board, RunningDevice
from tifed.errors import ConfigError
from tifed.links.settings import LinkSettings, is_local_path

_in_use: set[str] = set()  # one device per physical port, process-wide
_in_use_lock = threading.Lock()


def claim_port(url: str) -> None:
    """Reserve a port for one device of this process (ConfigError if taken)."""
    with _in_use_lock:
        if url in _in_use:
            raise ConfigError(f"port {url} already serves a device; give one --board per physical board")
        _in_use.add(url)


def release_port(url: str) -> None:
    with _in_use_lock:
        _in_use.discard(url)


def port_exists(path: str) -> bool:
    return os.path.exists(path)


def _is_char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def is_port_name(name: str) -> bool:
    """Does a --board value name a port or URL rather than a board kind?
    /dev/..., any URL, COMn, or a path to a character device (a symlink
    such as socat's `link=` to a pseudo-terminal)."""
    if name.startswith("/dev/") or "://" in name or (name.upper().startswith("COM") and name[3:].isdigit()):
        return True
    return os.sep in name and _is_char_device(name)


class SerialDevice(RunningDevice):
    def __init__(self, url: str, kwargs: dict, client_options: dict | None = None):
        self.url = url
        self.kwargs = kwargs
        self.client_options = client_options or {}
        self._stopped = False

    def alive(self) -> bool:
        # A USB adapter that was unplugged loses its device node; for network
        # URLs only the link itself can tell (the client reports DeviceGone).
        if self._stopped:
            return False
        return port_exists(self.url) if is_local_path(self.url) else True

    def may_return(self) -> bool:
        # A board the harness does not run may come back after a reset or
        # a USB re-enumeration (/dev/ttyACM0 gone for a second).
        return not self._stopped

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            release_port(self.url)

    def describe_exit(self) -> str:
        if is_local_path(self.url) and not port_exists(self.url):
            return f"{self.url} disappeared (board unplugged?)"
        return f"link to {self.url} closed"


class SerialPortBoard(Board):
    family = "serial"

    def __init__(self, url: str, link: LinkSettings | None = None):
        self.name = url
        self.url = url
        self.link = link or LinkSettings()

    @property
    def baudrate(self) -> int:
        return self.link.baud

    def availability(self) -> Availability:
        if is_local_path(self.url) and not port_exists(self.url):
            return Availability(buildable=False, runnable=False, missing=(self.url,),
                                install_hint="connect the board, or check the port name")
        return Availability(buildable=False, runnable=True)

    def start(self, index: int) -> RunningDevice:
        claim_port(self.url)
        return SerialDevice(self.url, self.link.serial_kwargs(), self.link.client_options())
