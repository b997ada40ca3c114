"""Reading what a pyserial link has already received, whatever its kind
(the client's exchange and the line-rate model both need it)."""
from __future__ import annotations

from typing import Any

from serial.urlhandler.protocol_socket import Serial as SocketPort


def read_available(port: Any, poll: float) -> bytes:
    """Everything `port` has already received, without blocking (`poll`:
    the read timeout to put back). pyserial's socket handlers report
    in_waiting as 0 or 1, so reading in_waiting bytes would take a frame
    byte by byte; a read with timeout 0 takes all. Other ports (a tty,
    rfc2217://, loop://) count their bytes exactly, and setting their
    timeout reconfigures the port: for RFC2217 a COM port negotiation with
    the server each time (~0.3 s per read with ser2net), so they are read by
    count."""
    if not isinstance(port, SocketPort):
        return port.read(getattr(port, "in_waiting", 0))
    port.timeout = 0
    try:
        return port.read(1 << 16)
    finally:
        port.timeout = poll

