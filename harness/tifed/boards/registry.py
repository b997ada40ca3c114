"""--board names -> Board plug-ins (interfaces.md lists the names)."""
from __future__ import annotations

import dataclasses
import importlib

from tifed.boards.base import Board
from tifed.boards.host import HostBoard
from tifed.boards.hw import HW_BOARDS, HwBoard, split_board_at_port
from tifed.boards.serial_port import SerialPortBoard, is_port_name
from tifed.boards.sim import SimBoard
from tifed.errors import ConfigError
from tifed.links.settings import LinkSettings

QEMU_BOARDS = ("qemu-mps2-an386", "qemu-netduinoplus2", "qemu-microbit")
RENODE_BOARDS = ("renode-nrf52840", "renode-stm32f4")
# Physical boards: built here, run as BOARD@PORT or from a fleet file (hw.py).
PHYSICAL_BOARDS = tuple(HW_BOARDS)
BOARD_NAMES = ("sim", "host", *QEMU_BOARDS, *RENODE_BOARDS, *PHYSICAL_BOARDS)

# Emulator plug-ins live in their own modules, imported only when asked for,
# so a machine (or a checkout) without them still runs the other boards.
_PLUGINS = {
    "qemu": ("tifed.boards.qemu", "QemuBoard", QEMU_BOARDS),
    "renode": ("tifed.boards.renode", "RenodeBoard", RENODE_BOARDS),
}


def all_board_names() -> list[str]:
    return list(BOARD_NAMES)


def _plugin_class(family: str, name: str):
    module_name, class_name, _ = _PLUGINS[family]
    return getattr(importlib.import_module(module_name), class_name)


def get_board(name: str, link: LinkSettings | None = None) -> Board:
    """The Board for a --board value: a name from BOARD_NAMES, a physical
    board at a port (nrf52840dk@/dev/ttyACM0), or a serial port or pyserial
    URL (/dev/ttyACM0, socket://HOST:PORT, rfc2217://...). `link` (baud,
    timeout, chunk) applies to the last two kinds only."""
    name = str(name).strip()
    at_port = split_board_at_port(name)
    if at_port is not None:
        return HwBoard(at_port[0], at_port[1], link=link)
    if name in HW_BOARDS:
        return HwBoard(name, link=link)  # builds; runs only with a port
    if name == "sim":
        return SimBoard()
    if name == "host":
        return HostBoard()
    for family, (_, _, names) in _PLUGINS.items():
        if name in names:
            return _plugin_class(family, name)(name)
    if is_port_name(name):
        return SerialPortBoard(name, link)
    raise ConfigError(
        f"unknown board {name!r}; valid: {', '.join(BOARD_NAMES)}, BOARD@PORT for a physical board, "
        "or a serial port or URL (/dev/ttyACM0, socket://HOST:PORT, rfc2217://HOST:PORT)"
    )


@dataclasses.dataclass(frozen=True)
class BoardRow:
    """One line of `tifed boards`."""

    name: str
    family: str
    buildable: bool
    runnable: bool
    missing: tuple[str, ...]
    install_hint: str


def describe_boards() -> list[BoardRow]:
    """What can be built and run here, and why not, for every named board
    plus one row for serial ports and URLs."""
    rows = []
    for name in BOARD_NAMES:
        board = get_board(name)
        available = board.availability()
        rows.append(BoardRow(name, board.family, available.buildable, available.runnable,
                             tuple(available.missing), available.install_hint))
    rows.append(BoardRow(
        "PORT or URL", "serial", False, True, (),
        "flash the board's image yourself; pass /dev/ttyACM0, socket://HOST:PORT or rfc2217://HOST:PORT",
    ))
    return rows
