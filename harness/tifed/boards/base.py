"""The board plug-in interface: one small class per backend (host process,
QEMU, Renode, a serial port), all giving the server the same thing, a pyserial
URL to talk to, so the server never knows which backend it got."""
from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from tifed.errors import BuildError, DeviceError
from tifed.firmware import build
from tifed.firmware.build import FirmwareInfo


@dataclasses.dataclass(frozen=True)
class Availability:
    """Whether a board can be built and run on this machine, and if not why."""

    buildable: bool
    runnable: bool
    missing: tuple[str, ...] = ()  # e.g. ("arm-none-eabi-gcc",)
    install_hint: str = ""  # the command that installs what is missing

    def why_not(self, who: str) -> str:
        """The one line that says why `who` cannot run here (for an error or a skip)."""
        hint = f" (install: {self.install_hint})" if self.install_hint else ""
        return f"{who} cannot run here: {', '.join(self.missing) or 'a requirement'} missing{hint}"


class RunningDevice(abc.ABC):
    """One started device: a process (host, QEMU), a machine in a Renode
    emulation, or a physical board. `url` goes to serial.serial_for_url."""

    url: str
    kwargs: dict  # extra keyword arguments for serial_for_url (baudrate, ...)
    # Extra keyword arguments for the DeviceClient on this link (timeout,
    # chunk; see tifed/link.py): serial and physical boards set them from
    # --timeout/--chunk or a fleet file; empty means the client's defaults.
    client_options: Mapping[str, Any] = MappingProxyType({})

    @abc.abstractmethod
    def alive(self) -> bool:
        """False once the device's process has exited (or the board vanished)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the device and release every resource; safe to call twice."""

    def describe_exit(self) -> str:
        """One line on why the device is gone (exit code, last stderr line)."""
        return "device stopped"

    def wait_gone(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the device to be gone; True if it
        is. The client calls it when the link breaks: a process's descriptors
        close an instant before its exit status exists. Backends with a
        process override it with a real wait."""
        return not self.alive()

    def may_return(self) -> bool:
        """After its link broke: may the device come back behind `url`?
        Yes while it is alive or being power-cycled, and for a board the
        harness does not run (a port or URL: a board that reset, a cable
        plugged back in); no for a process that exited by itself."""
        return self.alive()

    def power_cycle(self, off_seconds: float) -> None:
        """Cut the device's power now (it loses its RAM and its link) and
        give it back after `off_seconds`, behind the same `url`; returns at
        once. For the reset fault of fault:// (tifed.links.faults)."""
        raise DeviceError(f"{self.url}: this device cannot be power-cycled by the harness")

    def instructions(self) -> int | None:
        """Instructions the device has executed so far, as its emulator counts
        them from outside (Renode: `sysbus.cpu ExecutedInstructions`), or None
        where nothing outside the firmware counts. The difference across a
        TRAIN bounds the firmware's own TRAIN counter from above."""
        return None


class Board(abc.ABC):
    """A kind of board: knows how to build its firmware and start devices."""

    name: str  # as given to --board
    family: str  # "sim", "host", "qemu", "renode", "serial"
    # False only for `sim`: no firmware, no device; the server runs the
    # reference (tifed_models) itself in place of a device.
    has_device: bool = True
    # Its devices implement RunningDevice.power_cycle (the reset fault).
    can_power_cycle: bool = False

    @abc.abstractmethod
    def availability(self) -> Availability: ...

    def image_path(self) -> Path | None:
        """The firmware image this board runs (None for sim and serial URLs)."""
        return None

    def build(self) -> Path:
        """`tifed build`: make this board's image (make skips what is up to date)."""
        image = self.image_path()
        if image is None:
            raise BuildError(f"board {self.name} has no firmware to build")
        return build.build(self.name, image)

    def firmware_info(self) -> FirmwareInfo | None:
        return None

    def ram_arena_bytes(self) -> int | None:
        """Bytes the firmware has for the model (PROTOCOL.md arena), known
        without starting a device; None when only the device can tell."""
        return None

    @abc.abstractmethod
    def start(self, index: int) -> RunningDevice:
        """Start device number `index` of the fleet (build first if needed)."""

    def start_many(self, indices: list[int]) -> list[RunningDevice]:
        """Start several devices of this board. Backends that run a whole
        fleet in one process (Renode: K machines, one emulation) override it."""
        started: list[RunningDevice] = []
        try:
            for i in indices:
                started.append(self.start(i))
        except BaseException:
            for dev in started:
                dev.stop()
            raise
        return started

    def start_group(self) -> object:
        """Devices of boards with the same start group are started by one
        start_together call. By default a board is its own group; Renode
        boards share one, so a mixed Renode fleet is one emulation."""
        return id(self)

    @classmethod
    def start_together(cls, members: list[tuple["Board", int]]) -> list[RunningDevice]:
        """Start the devices (board, index) of one start group, in order."""
        board = members[0][0]
        return board.start_many([i for _, i in members])


def start_in_groups(devices: Iterable[tuple[int, Board]]) -> Iterator[list[tuple[int, RunningDevice]]]:
    """Start (index, board) devices group by group (Board.start_group),
    yielding each group's (index, running device) as it comes up, so the
    caller can register them before a later group fails."""
    groups: dict[object, list[tuple[Board, int]]] = {}
    for index, board in devices:
        groups.setdefault(board.start_group(), []).append((board, index))
    for members in groups.values():
        running = type(members[0][0]).start_together(members)
        yield [(index, device) for (_, index), device in zip(members, running)]
