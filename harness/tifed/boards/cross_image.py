"""The cross-compiled image of a Cortex-M board (QEMU, Renode, physical):
where `make BOARD=...` puts it, building it when it is missing or stale, and
what the harness reads from it before a device starts (flash/RAM figures, the
arena size that decides whether a model fits)."""
from __future__ import annotations

from pathlib import Path

from tifed.firmware import build
from tifed.firmware.build import FirmwareInfo
from tifed.firmware.elf_symbols import read_symbols
from tifed.errors import BuildError

ARENA_SYMBOLS = frozenset({"__arena_start", "__arena_end"})


class CrossImage:
    """Mixin for a Board whose `name` is its firmware board (make BOARD=name)."""

    name: str

    def image_path(self) -> Path:
        # firmware/boards/cortex-m/cortex-m.mk: IMAGE := $(BUILD)/tifed-$(BOARD).elf
        return build.build_dir(self.name) / f"tifed-{self.name}.elf"

    def _fresh_image(self) -> Path | None:
        """The image, built first if it is missing or stale and the tools
        are here; None when there is none to be had."""
        image = self.image_path()
        if build.needs_build(self.name, image) and not build.missing_build_tools(self.name):
            build.ensure_built(self.name, image)
        return image if image.is_file() else None

    def firmware_info(self) -> FirmwareInfo | None:
        try:
            image = self._fresh_image()
            return build.firmware_info(image) if image else None
        except BuildError:
            return None

    def ram_arena_bytes(self) -> int | None:
        """The arena the firmware will report in IDENTIFY, from the linker
        symbols that bound it, so a model too big for the board is refused
        before anything starts or is flashed."""
        image = self._fresh_image()
        if image is None:
            return None
        symbols = read_symbols(image, ARENA_SYMBOLS)
        if set(symbols) != ARENA_SYMBOLS:
            raise BuildError(f"{image} has no __arena_start/__arena_end symbols")
        return symbols["__arena_end"] - symbols["__arena_start"]
