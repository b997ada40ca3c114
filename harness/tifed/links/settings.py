"""Link settings of a device reached through a serial port or URL (baud
rate, answer timeout, frame payload size) and the throughput the harness
measures on it.

`--baud`, `--timeout` and `--chunk` set them for every serial device of a
run; a fleet file's device entry overrides them for its device. Emulated
boards (host, QEMU, Renode) pick their own and ignore these.
"""
from __future__ import annotations

import dataclasses
import os
import stat
from typing import Any

DEFAULT_BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: a start bit, 8 data bits, a stop bit
MIN_CHUNK = 16  # the smallest max_payload the client accepts from a device
PTY_MAJORS = range(136, 144)  # Linux Unix98 pty slaves: a baud rate means nothing there


@dataclasses.dataclass(frozen=True)
class LinkSettings:
    baud: int = DEFAULT_BAUD
    timeout: float | None = None  # seconds to wait for one answer; None: the client's default
    chunk: int | None = None  # largest frame payload to send or ask for; None: the device's max_payload

    def serial_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for serial_for_url (RunningDevice.kwargs)."""
        return {"baudrate": self.baud}

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for DeviceClient (RunningDevice.client_options)."""
        options: dict[str, Any] = {}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        if self.chunk is not None:
            options["chunk"] = self.chunk
        return options

    def with_overrides(self, **values: Any) -> "LinkSettings":
        """A copy with the given fields replaced, None meaning 'keep'."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_link_values(where: str, baud: Any = None, timeout: Any = None, chunk: Any = None) -> None:
    """One ConfigError line for a value out of range (CLI and fleet file)."""
    from tifed.errors import ConfigError

    if baud is not None and (not _is_int(baud) or not 50 <= baud <= 20_000_000):
        raise ConfigError(f"{where}: baud must be an integer from 50 to 20000000, got {baud!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= 3600):
        raise ConfigError(f"{where}: timeout must be a number of seconds above 0 and at most 3600, got {timeout!r}")
    if chunk is not None and (not _is_int(chunk) or not MIN_CHUNK <= chunk <= 65535):
        raise ConfigError(f"{where}: chunk must be an integer from {MIN_CHUNK} to 65535 bytes, got {chunk!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_local_path(url: str) -> bool:
    """A port given as a file path (/dev/ttyACM0, a socat pty link), not a URL."""
    return "://" not in url


def line_bytes_per_second(url: str, baud: int | None) -> float | None:
    """What the wire can carry, in bytes per second, where a baud rate
    rules it: a local serial port, or a remote one behind RFC2217. None for
    TCP sockets (socket://, emulators), loop:// and pseudo-terminals."""
    if baud is None:
        return None
    if url.startswith("rfc2217://"):
        return baud / BITS_PER_BYTE
    if not is_local_path(url):
        return None
    try:
        info = os.stat(url)
    except OSError:
        return baud / BITS_PER_BYTE
    if stat.S_ISCHR(info.st_mode) and os.major(info.st_rdev) in PTY_MAJORS:
        return None
    return baud / BITS_PER_BYTE


@dataclasses.dataclass(frozen=True)
class WireOptions:
    """How models cross every device's link (tifed run --protocol,
    --full-readback, --line-rate; server/model_link.py, links/line_rate.py)."""

    protocol: int | None = None  # the newest protocol to use; None: the newest the device speaks
    full_readback: bool = False  # read every trained tensor whole, even where a digest would do
    line_rate: int | None = None  # pace every link like a UART of this many baud


def check_line_rate(where: str, line_rate: Any) -> None:
    from tifed.errors import ConfigError

    if line_rate is not None and (not _is_int(line_rate) or not 50 <= line_rate <= 20_000_000):
        raise ConfigError(f"{where}: the line rate must be an integer from 50 to 20000000 baud, got {line_rate!r}")


@dataclasses.dataclass
class Throughput:
    """Bytes moved and seconds spent moving them (model, samples and
    trained weights; not TRAIN itself), summed over a run's rounds."""

    bytes: int = 0
    seconds: float = 0.0

    def add(self, nbytes: int, seconds: float) -> None:
        self.bytes += int(nbytes)
        self.seconds += float(seconds)

    def report(self, url: str, baud: int | None) -> dict[str, Any]:
        """results.json devices[].link."""
        rate = self.bytes / self.seconds if self.seconds > 0 else None
        line = line_bytes_per_second(url, baud)
        return {
            "url": url,
            "baud": baud,
            "line_bytes_per_second": line,
            "transfer_bytes": self.bytes,
            "transfer_seconds": round(self.seconds, 4),
            "bytes_per_second": None if rate is None else round(rate, 1),
            "line_utilisation": None if rate is None or line is None else round(rate / line, 4),
        }
