"""Physical boards (`nrf52840dk`, `stm32f4-nucleo`): firmware built here
(firmware/boards/<board>/), flashed and reset by a tool (flashing.py), and
reached through a serial port or URL, e.g. the probe's virtual COM port
/dev/ttyACM0 or a lab machine's ser2net at rfc2217://lab:7000.

A board name alone says which firmware, not where the board is: it builds
(`tifed build --board nrf52840dk`) but does not run. A device is a board
at a port: `--board nrf52840dk@/dev/ttyACM0` (nothing flashed: the board
runs the image already), or an entry of a fleet file (fleet.py), which
also says how to flash and reset it.

Starting a device: claim the port, build the image if stale, open the port,
flash (the tool resets the chip) or only reset, as configured, and wait for
the firmware's boot delimiter, the single 0x00 every board sends once its
UART listens. The port is opened before the reset so that byte cannot be
missed. Nothing flashed or reset: nothing to wait for.
"""
from __future__ import annotations

import dataclasses
import time

from tifed.firmware import build
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.boards.cross_image import CrossImage
from tifed.boards.flashing import (INSTALL_HINTS, ChipFacts, FlashSettings, Images, flash_command, missing_tools,
                                   reset_command, run_tool)
from tifed.boards.serial_port import SerialDevice, claim_port, port_exists, release_port
from tifed.errors import ConfigError, DeviceError, LinkError
from tifed.links.settings import LinkSettings, is_local_path
from tifed.links.transport import open_link

READY_BYTE = b"\x00"
READY_TIMEOUT = 5.0  # seconds from the end of the flash/reset command to the boot delimiter


@dataclasses.dataclass(frozen=True)
class HwBoardSpec:
    name: str
    description: str
    flash: tuple[int, int]  # origin, bytes (the linker script's MEMORY)
    ram: tuple[int, int]
    chip: ChipFacts


HW_BOARDS: dict[str, HwBoardSpec] = {
    "nrf52840dk": HwBoardSpec(
        "nrf52840dk", "Nordic nRF52840 DK (J-Link OB VCP, UARTE0 P0.06/P0.08)",
        flash=(0x00000000, 1024 * 1024), ram=(0x20000000, 256 * 1024),
        chip=ChipFacts(pyocd_target="nrf52840", openocd_interface="interface/jlink.cfg",
                       openocd_target="target/nrf52.cfg", nrfjprog_family="NRF52"),
    ),
    "stm32f4-nucleo": HwBoardSpec(
        "stm32f4-nucleo", "ST NUCLEO-F446RE (ST-LINK/V2-1 VCP, USART2 PA2/PA3)",
        flash=(0x08000000, 512 * 1024), ram=(0x20000000, 128 * 1024),
        chip=ChipFacts(pyocd_target="stm32f446retx", openocd_interface="interface/stlink.cfg",
                       openocd_target="target/stm32f4x.cfg", nrfjprog_family=None),
    ),
}


def split_board_at_port(value: str) -> tuple[str, str] | None:
    """'nrf52840dk@/dev/ttyACM0' -> ('nrf52840dk', '/dev/ttyACM0'); None when
    the part before the first '@' is not a physical board's name."""
    kind, sep, port = value.partition("@")
    if not sep or kind not in HW_BOARDS:
        return None
    if not port:
        raise ConfigError(f"--board {value}: give the port after '@', e.g. {kind}@/dev/ttyACM0")
    return kind, port


class HwDevice(SerialDevice):
    """A flashed physical board on its serial port: a SerialDevice that
    names the board in what it says about its exit."""

    def __init__(self, board: "HwBoard", index: int, url: str, link: LinkSettings):
        super().__init__(url, link.serial_kwargs(), link.client_options())
        self.board = board
        self.index = index

    def describe_exit(self) -> str:
        if is_local_path(self.url) and not port_exists(self.url):
            return f"{self.board.name} at {self.url}: the port disappeared (board unplugged?)"
        return f"{self.board.name} at {self.url}: link closed"


class HwBoard(CrossImage, Board):
    family = "hw"

    def __init__(self, kind: str, port: str | None = None, *, link: LinkSettings | None = None,
                 flash: FlashSettings | None = None, label: str | None = None,
                 ready_timeout: float = READY_TIMEOUT):
        if kind not in HW_BOARDS:
            raise ConfigError(f"unknown physical board {kind!r}; known: {', '.join(HW_BOARDS)}")
        self.spec = HW_BOARDS[kind]
        self.name = kind  # the firmware's board name (make BOARD=..., results.json devices[].board)
        self.port = port
        self.link = link or LinkSettings()
        self.flash = flash or FlashSettings()
        self.label = label or (f"{kind}@{port}" if port else kind)
        self.ready_timeout = ready_timeout

    # --- running (the image and its figures: CrossImage) ------------------------

    def availability(self) -> Availability:
        build_missing = list(build.missing_build_tools(self.name))
        run_missing: list[str] = []
        hints: list[str] = []
        if build_missing:
            hints.append(build.install_hint(build_missing))
        if self.port is None:
            run_missing.append("a port")
            hints.append(f"use --board {self.name}@PORT or a fleet file (--fleet FILE)")
        elif is_local_path(self.port) and not port_exists(self.port):
            run_missing.append(self.port)
            hints.append("connect the board, or check the port name (`tifed boards` lists the ports)")
        tools = missing_tools(self.flash)
        if tools:
            run_missing += tools
            hints += [INSTALL_HINTS.get(t, f"install {t}") for t in tools]
        has_image = build_missing == [] or self.image_path().is_file()
        return Availability(buildable=not build_missing, runnable=not run_missing and has_image,
                            missing=tuple(build_missing + run_missing), install_hint="; ".join(h for h in hints if h))

    def start(self, index: int) -> RunningDevice:
        if self.port is None:
            raise ConfigError(f"board {self.name} has no port: use --board {self.name}@PORT or a fleet file")
        claim_port(self.port)
        try:
            if self.flash.flashes or self.flash.resets:
                image = build.ensure_built(self.name, self.image_path())
                self._flash_or_reset(Images.next_to(image))
            return HwDevice(self, index, self.port, self.link)
        except BaseException:
            release_port(self.port)
            raise

    def _flash_or_reset(self, images: Images) -> None:
        who = f"{self.label} (device {self.name})"
        try:
            port = open_link(self.port, timeout=0.1, **self.link.serial_kwargs())
        except LinkError as exc:
            raise DeviceError(f"{who}: {exc}") from None
        try:
            port.reset_input_buffer()
            if self.flash.flashes:
                run_tool(flash_command(self.spec.chip, self.flash, images, self.port), f"flashing {who}")
            else:
                run_tool(reset_command(self.spec.chip, self.flash, images, self.port), f"resetting {who}")
            self._await_ready(port, who)
        finally:
            port.close()

    def _await_ready(self, port, who: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if READY_BYTE in port.read(64):
                return
        raise DeviceError(
            f"{who}: no boot byte from the firmware within {self.ready_timeout:g} s after the reset "
            f"(wrong port, or --baud {self.link.baud} not the image's LINK_BAUD?)"
        )
