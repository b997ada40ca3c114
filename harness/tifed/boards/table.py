"""`tifed boards`: the rows of boards.registry.describe_boards() as a table."""
from __future__ import annotations

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
