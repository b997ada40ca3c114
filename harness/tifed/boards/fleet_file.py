"""Fleet files: the physical (or remote) devices of a lab, in TOML.

    # lab.toml
    [defaults]                       # optional; any device key but name/port
    baud = 115200
    flash = "pyocd"

    [[device]]
    name = "nrf-a"                   # optional label (default BOARD@PORT)
    board = "nrf52840dk"             # nrf52840dk | stm32f4-nucleo; omit for a
                                     # port whose firmware you manage yourself
    port = "/dev/serial/by-id/usb-SEGGER_J-Link_000683000000-if00"
    probe = "683000000"              # probe serial / unique ID for the tool

    [[device]]
    board = "stm32f4-nucleo"
    port = "rfc2217://lab1:7001"     # a board on a lab machine, behind ser2net
    flash = "none"                   # flashed over there (or: probe = "remote:lab1:5555")

Keys: name, board, port (required), flash, reset (pyocd | openocd |
nrfjprog | none | a command as a list of strings with {elf} {hex} {bin}
{probe} {port}), probe, target, interface (OpenOCD), baud, timeout, chunk.
`reset` defaults to the flash tool when that is a known one, else none.
`tifed run --fleet FILE` runs one device per entry, or the first K with
--devices K. Link values: the entry's own, else [defaults], else --baud /
--timeout / --chunk, else the built-in defaults.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from tifed.boards.base import Board
from tifed.boards.flashing import NONE, TOOLS, FlashSettings, check_tool_setting
from tifed.boards.hw import HW_BOARDS, HwBoard
from tifed.boards.serial_port import SerialPortBoard, is_port_name
from tifed.errors import ConfigError
from tifed.links.settings import LinkSettings, check_link_values

DEVICE_KEYS = ("name", "board", "port", "flash", "reset", "probe", "target", "interface", "baud", "timeout", "chunk")
DEFAULT_KEYS = tuple(k for k in DEVICE_KEYS if k not in ("name", "port"))
TOP_KEYS = ("defaults", "device")


@dataclasses.dataclass(frozen=True)
class FleetDevice:
    label: str
    board: str | None  # a HW_BOARDS name, or None for a bare port
    port: str
    link: LinkSettings
    flash: FlashSettings

    def make_board(self) -> Board:
        if self.board is None:
            return SerialPortBoard(self.port, self.link)
        return HwBoard(self.board, self.port, link=self.link, flash=self.flash, label=self.label)


@dataclasses.dataclass(frozen=True)
class Fleet:
    path: str
    devices: tuple[FleetDevice, ...]

    def pick(self, k: int | None) -> tuple[FleetDevice, ...]:
        """All devices, or the first k (--devices k)."""
        if k is None:
            return self.devices
        if k > len(self.devices):
            raise ConfigError(f"--devices {k}, but fleet {self.path} names only {len(self.devices)} device(s)")
        return self.devices[:k]


def load_fleet(path: str | Path, link: LinkSettings | None = None) -> Fleet:
    """Read and check a fleet file; every problem is one ConfigError line.
    `link` holds the run's --baud/--timeout/--chunk, below the file's values."""
    path = str(path)
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"fleet {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"fleet {path}: unreadable ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"fleet {path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    return parse_fleet(doc, path, link or LinkSettings())


def parse_fleet(doc: dict[str, Any], path: str, link: LinkSettings) -> Fleet:
    _unknown_keys(doc, TOP_KEYS, f"fleet {path}")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"fleet {path}: [defaults] must be a table")
    _unknown_keys(defaults, DEFAULT_KEYS, f"fleet {path} [defaults]")
    entries = doc.get("device")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"fleet {path}: no devices; add at least one [[device]] table with a port")
    devices = []
    for number, entry in enumerate(entries, 1):
        devices.append(_device(defaults | entry, entry, f"fleet {path} device {number}", link))
    _no_duplicates(devices, path)
    return Fleet(path, tuple(devices))


def _unknown_keys(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(known)})")


def _text(values: dict[str, Any], key: str, where: str) -> str | None:
    value = values.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value.strip() if value is not None else None


def _device(values: dict[str, Any], own: dict[str, Any], where: str, link: LinkSettings) -> FleetDevice:
    _unknown_keys(own, DEVICE_KEYS, where)
    port = _text(own, "port", where)
    if port is None:
        raise ConfigError(f"{where}: port is required (a path like /dev/ttyACM0 or a URL like rfc2217://HOST:PORT)")
    if not is_port_name(port) and not port.startswith("/"):
        raise ConfigError(f"{where}: port {port!r} is neither a device path nor a pyserial URL")
    board = _text(values, "board", where)
    if board is not None and board not in HW_BOARDS:
        raise ConfigError(f"{where}: board must be one of {', '.join(HW_BOARDS)} (or left out for a bare port), "
                          f"not {board!r}")
    check_link_values(where, values.get("baud"), values.get("timeout"), values.get("chunk"))
    device_link = link.with_overrides(baud=values.get("baud"), timeout=values.get("timeout"), chunk=values.get("chunk"))
    label = _text(own, "name", where) or (f"{board}@{port}" if board else port)
    return FleetDevice(label=label, board=board, port=port, link=device_link,
                       flash=_flash_settings(values, board, where))


def _flash_settings(values: dict[str, Any], board: str | None, where: str) -> FlashSettings:
    flash = values.get("flash", NONE)
    reset = values.get("reset")
    if board is None:
        if flash != NONE or reset not in (None, NONE):
            raise ConfigError(f"{where}: flash/reset need a board (nrf52840dk or stm32f4-nucleo) to know the image")
        return FlashSettings()
    chip = HW_BOARDS[board].chip
    flash = check_tool_setting(flash, "flash", chip, where)
    if reset is None:
        reset = flash if isinstance(flash, str) and flash in TOOLS else NONE
    reset = check_tool_setting(reset, "reset", chip, where)
    return FlashSettings(flash=flash, reset=reset, probe=_text(values, "probe", where),
                         target=_text(values, "target", where), interface=_text(values, "interface", where))


def _no_duplicates(devices: list[FleetDevice], path: str) -> None:
    seen_ports: dict[str, str] = {}
    seen_labels: set[str] = set()
    for d in devices:
        if d.port in seen_ports:
            raise ConfigError(f"fleet {path}: port {d.port} is given to both {seen_ports[d.port]} and {d.label}")
        if d.label in seen_labels:
            raise ConfigError(f"fleet {path}: two devices are named {d.label!r}")
        seen_ports[d.port] = d.label
        seen_labels.add(d.label)
