"""`tifed boards`: the rows of boards.registry.describe_boards() as a table,
each board's RAM arena with the largest model it trains, and the serial
ports."""
from __future__ import annotations

import dataclasses
import sys

from rich.console import Console
from rich.table import Table


def _mark(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def print_boards(file=None) -> None:
    from tifed.boards.registry import describe_boards

    table = Table(title="TIFeD boards on this machine")
    for column in ("board", "family", "buildable", "runnable", "missing", "how to fix"):
        table.add_column(column, overflow="fold")
    for row in describe_boards():
        table.add_row(row.name, row.family, _mark(row.buildable), _mark(row.runnable),
                      ", ".join(row.missing), row.install_hint)
    # Not a terminal (a pipe, a log): plain text, wide enough not to cut hints.
    stream = file if file is not None else sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    Console(file=stream, width=None if tty else 160, no_color=not tty).print(table)


# The capacity table: the paper's input and output sizes, batch 25, buffers
# of 50 (the paper's) and 25 (one mini-batch), both weight widths.
CAPACITY_INPUTS, CAPACITY_CLASSES, CAPACITY_BATCH = 784, 10, 25
CAPACITY_BUFFERS = (50, 25)
CAPACITY_WIDTHS = (("int32", 32), ("int16", 16))


@dataclasses.dataclass(frozen=True)
class CapacityRow:
    board: str
    arena_bytes: int | None  # None: unknown until the image is built
    largest: dict[tuple[str, int], int]  # (weights, buffer) -> H of the largest 784-H-10 (0: none fits)


def capacity_rows(arenas: dict[str, int | None]) -> list[CapacityRow]:
    """Per board (name -> RAM arena bytes, None if unknown) the largest
    784-H-10 per width and buffer (tifed_models.largest_hidden)."""
    import tifed_models

    rows = []
    for name, arena in arenas.items():
        largest = {}
        if arena is not None:
            for weights, bits in CAPACITY_WIDTHS:
                for buffer in CAPACITY_BUFFERS:
                    largest[(weights, buffer)] = tifed_models.largest_hidden(
                        CAPACITY_INPUTS, CAPACITY_CLASSES, arena, buffer, CAPACITY_BATCH, bits)
        rows.append(CapacityRow(name, arena, largest))
    return rows


def board_arenas() -> dict[str, int | None]:
    """The arena of every board with an image, from the built image's
    linker symbols (None: not built yet). sim has no arena and the host
    process takes as much as it is told (--arena), so neither is listed."""
    from tifed.boards.registry import BOARD_NAMES, get_board
    from tifed.errors import TifedError

    out: dict[str, int | None] = {}
    for name in BOARD_NAMES:
        board = get_board(name)
        if board.family in ("sim", "host"):
            continue
        try:
            out[name] = board.ram_arena_bytes()
        except TifedError:
            out[name] = None
    return out


def print_capacity(file=None, arenas: dict[str, int | None] | None = None) -> None:
    rows = capacity_rows(board_arenas() if arenas is None else arenas)
    stream = file if file is not None else sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    table = Table(title=f"Largest {CAPACITY_INPUTS}-H-{CAPACITY_CLASSES} each board trains "
                        f"(batch {CAPACITY_BATCH}; --weights and --buffer-len)")
    table.add_column("board")
    table.add_column("RAM arena B", justify="right")
    for weights, _ in CAPACITY_WIDTHS:
        for buffer in CAPACITY_BUFFERS:
            table.add_column(f"{weights}, buffer {buffer}", justify="right")
    for r in rows:
        if r.arena_bytes is None:
            table.add_row(r.board, "no image", *["-"] * (len(CAPACITY_WIDTHS) * len(CAPACITY_BUFFERS)))
            continue
        cells = [f"H = {h}" if h else "none" for h in r.largest.values()]
        table.add_row(r.board, f"{r.arena_bytes:,}", *cells)
    console = Console(file=stream, width=None if tty else 160, no_color=not tty)
    console.print(table)
    if any(r.arena_bytes is None for r in rows):
        console.print("A board's arena is read from its image, which needs the board's build tools (above).")


def print_ports(file=None, ports=None) -> None:
    """The serial ports seen here, with the debug probe behind each
    (`ports`: list_ports.comports() results, for tests)."""
    from tifed.boards.ports import list_serial_ports

    rows = list_serial_ports(ports)
    stream = file if file is not None else sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    console = Console(file=stream, width=None if tty else 160, no_color=not tty)
    if not rows:
        console.print("No serial ports found (a board's probe shows up as /dev/ttyACM* or /dev/ttyUSB*).")
        return
    table = Table(title="Serial ports on this machine (use as --board PORT, BOARD@PORT, or in a fleet file)")
    for column in ("port", "VID:PID", "description", "serial number", "probe", "flash with"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r.device, r.usb_id, r.description, r.serial_number, r.probe or "-", r.tools or "-")
    console.print(table)
