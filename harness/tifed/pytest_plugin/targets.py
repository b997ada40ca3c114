"""Which boards the tests run on: the --tifed-board / --tifed-fleet values
resolved to board plug-ins (the names, ports, URLs and fleet entries `tifed
run` takes, through the same registry and fleet-file reader), and the two
markers that narrow a test down: `tifed_boards` (by name) and
`tifed_requires` (by what the device reports about itself)."""
from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

from tifed.boards.base import Board
from tifed.errors import ConfigError

DEFAULT_BOARD = "host"

# tifed_requires("...") capabilities: the IDENTIFY counter_kind values
# (PROTOCOL.md) that have them, and what they are called in a skip.
COUNTERS = {
    "counter": ((1, 2), "instruction or cycle counter"),
    "instructions": ((1,), "instruction counter"),
    "cycles": ((2,), "cycle counter"),
}
# tifed_requires(key=N): the device reports at least N.
AT_LEAST = ("arena_bytes", "max_payload")


class Target:
    """One board the tests are parametrized over."""

    def __init__(self, label: str, board: Board):
        self.label = label  # what was given (or the fleet entry's name): the test id and tifed_device.board
        self.board = board

    def __repr__(self) -> str:
        return f"Target({self.label!r})"

    @property
    def names(self) -> set[str]:
        """What a tifed_boards marker may call it: the value given, the
        firmware's board name (nrf52840dk for nrf52840dk@/dev/ttyACM0) or its
        family (host, qemu, renode, hw, serial)."""
        return {self.label, self.board.name, self.board.family}

    @functools.cached_property
    def why_not_runnable(self) -> str | None:
        available = self.board.availability()
        return None if available.runnable else available.why_not(self.label)

    def excluded_by(self, wanted: Sequence[str]) -> str | None:
        """Why a test marked tifed_boards(*wanted) does not run on this board; None if it does."""
        if self.names & set(wanted):
            return None
        return f"{self.label}: the test is only for {', '.join(wanted)} (tifed_boards)"


def resolve_targets(board_values: Sequence[str], fleet_path: str | None) -> list[Target]:
    """The boards of the session: each --tifed-board value (a fleet entry's
    name when a fleet file is given, else anything `tifed run --board` takes),
    else every entry of the fleet file, else the host board."""
    from tifed.boards.fleet_file import load_fleet
    from tifed.boards.registry import get_board

    fleet = {d.label: d for d in load_fleet(fleet_path).devices} if fleet_path else {}
    values = list(dict.fromkeys(v.strip() for v in board_values)) or list(fleet) or [DEFAULT_BOARD]
    targets = []
    for value in values:
        if value in fleet:
            board = fleet[value].make_board()
        else:
            try:
                board = get_board(value)
            except ConfigError as exc:
                raise ConfigError(f"--tifed-board {value}: {exc}") from None
        if not board.has_device:
            raise ConfigError(f"--tifed-board {value}: {value} is the reference alone, with no device to start "
                              "(compare a device against the tifed_reference fixture instead)")
        targets.append(Target(value, board))
    return targets


def check_boards(args: Sequence[Any]) -> None:
    """A tifed_boards marker's arguments, checked at collection."""
    if not args or not all(isinstance(a, str) and a for a in args):
        raise ConfigError(f"tifed_boards{tuple(args)!r}: give one or more board names, e.g. "
                          "tifed_boards(\"qemu\", \"nrf52840dk\")")


def check_requirements(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """A tifed_requires marker's arguments, checked at collection."""
    for need in args:
        if need not in COUNTERS:
            raise ConfigError(f"tifed_requires: unknown capability {need!r}; known: {', '.join(COUNTERS)}, "
                              f"{', '.join(k + '=N' for k in AT_LEAST)}")
    for key, value in kwargs.items():
        if key not in AT_LEAST or not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"tifed_requires: {key}={value!r}; known: {', '.join(k + '=N' for k in AT_LEAST)} "
                              "with N an integer")


def unmet_requirement(label: str, info: Mapping[str, Any], args: Sequence[str],
                      kwargs: Mapping[str, int]) -> str | None:
    """Why a device that identified itself as `info` (tifed_device.identify())
    cannot run a test marked tifed_requires(*args, **kwargs); None if it can."""
    for need in args:
        kinds, what = COUNTERS[need]
        if info["counter_kind"] not in kinds:
            return f"{label} has no {what} (it reports counter: {info['counter']}) (tifed_requires)"
    for key, least in kwargs.items():
        if info[key] < least:
            return f"{label} has {key} {info[key]}, the test needs at least {least} (tifed_requires)"
    return None
