"""Opening the byte link to a device. Every link (a pty of a host process, a
TCP socket of QEMU, Renode or ser2net, an RFC2217 port, a USB serial adapter)
goes through pyserial's `serial_for_url`, so URL options such as
`socket://host:port?logging=debug` or `rfc2217://host:port?ign_set_control`
pass through unchanged."""
from __future__ import annotations

from typing import Any

import serial

from tifed.errors import LinkError

# What a broken link raises: pyserial's errors, the OS's, and on a tty whose
# other side has closed, termios.error from tcsetattr (not an OSError).
LINK_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError)
try:
    import termios

    LINK_ERRORS += (termios.error,)
except ImportError:  # not POSIX
    pass

DEFAULT_BAUDRATE = 115200
DEFAULT_TIMEOUT = 0.1  # seconds; DeviceClient sets its own poll interval anyway


def open_link(url: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any):
    """Open `url` (a path like /dev/ttyACM0 or /dev/pts/3, or socket://,
    rfc2217://, loop://, fault://<url>#<faults> (tifed.links.faults), ...) and
    return the pyserial object."""
    from tifed.links.faults import register

    register()  # fault:// wraps any of the others in a fault injector
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, **kwargs)
    except (*LINK_ERRORS, ValueError) as exc:
        raise LinkError(f"cannot open {url}: {_reason(exc)}{_hint(url, exc)}") from None


def _hint(url: str, exc: Exception) -> str:
    """ser2net leaves pyserial's modem-control request (DTR/RTS) unanswered
    when the serial side cannot set those lines (a pty, some adapters)."""
    if url.startswith("rfc2217://") and "option 'control'" in str(exc) and "ign_set_control" not in url:
        return " (the RFC2217 server did not confirm DTR/RTS; add ?ign_set_control to the URL)"
    return ""


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
