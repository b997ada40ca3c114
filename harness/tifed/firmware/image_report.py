"""What a firmware image takes of its board, for `tifed build`: flash and
static RAM (arm-none-eabi-size), the board's flash and RAM (the MEMORY
regions the linker printed into the image's .map file) and the RAM arena
left for the model (the image's __arena_start/__arena_end symbols)."""
from __future__ import annotations

import re
from pathlib import Path

from tifed.firmware.elf_symbols import read_symbols
from tifed.firmware.build import firmware_info
from tifed.errors import BuildError

_REGION = re.compile(r"^(\w+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)", re.MULTILINE)


def memory_regions(map_text: str) -> dict[str, tuple[int, int]]:
    """{name: (origin, length)} from a GNU ld map file's "Memory
    Configuration" table (*default* left out)."""
    start = map_text.find("Memory Configuration")
    end = map_text.find("Linker script and memory map", start)
    if start < 0:
        return {}
    table = map_text[start:end if end > 0 else None]
    return {m.group(1): (int(m.group(2), 16), int(m.group(3), 16)) for m in _REGION.finditer(table)}


def _map_file(image: Path) -> Path | None:
    maps = sorted(image.parent.glob("*.map"))
    return maps[0] if len(maps) == 1 else None


def describe_image(image: Path | str) -> str:
    """One line, or "" when the image's size cannot be read."""
    image = Path(image)
    try:
        info = firmware_info(image)
    except BuildError:
        return ""
    board = image.stem.removeprefix("tifed-")
    map_path = _map_file(image)
    regions = memory_regions(map_path.read_text(errors="replace")) if map_path else {}
    if "FLASH" not in regions or "RAM" not in regions:
        return f"{board}: code and data {info.flash_bytes:,} bytes, static RAM {info.ram_bytes:,} bytes"
    flash_total, ram_total = regions["FLASH"][1], regions["RAM"][1]
    text = (f"{board}: flash {info.flash_bytes:,} of {flash_total:,} bytes ({100 * info.flash_bytes / flash_total:.1f}%), "
            f"RAM {info.ram_bytes:,} static of {ram_total:,} bytes")
    try:
        symbols = read_symbols(image, {"__arena_start", "__arena_end"})
    except BuildError:
        symbols = {}
    if len(symbols) == 2:
        text += f", {symbols['__arena_end'] - symbols['__arena_start']:,} left for the model arena"
    return text
