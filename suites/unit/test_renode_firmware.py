"""Both Renode board images build with `tifed build` and are laid out for the
memory map of the Renode platform they run on, as the ELF itself says
(section headers, symbols, the vector table's bytes). Needs make and
arm-none-eabi-gcc/binutils; no Renode."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tifed.boards import renode_script as rs
from tifed.boards.registry import get_board

KIB = 1024
# (flash origin, flash bytes the image may use, RAM origin, RAM bytes the image
# uses). Renode: platforms/cpus/nrf52840.repl (flash 1 MiB at 0, RAM 256 KiB)
# and platforms/cpus/stm32f4.repl (flash at 0x08000000, SRAM at 0x20000000,
# 256 KiB mapped; the image keeps to the F407's 128 KiB SRAM1+2).
MEMORY = {
    "renode-nrf52840": (0x0000_0000, 1024 * KIB, 0x2000_0000, 256 * KIB),
    "renode-stm32f4": (0x0800_0000, 1024 * KIB, 0x2000_0000, 128 * KIB),
}
IRQS = {"renode-nrf52840": 48, "renode-stm32f4": 82}
TOOLS = ("make", "arm-none-eabi-gcc", "arm-none-eabi-readelf", "arm-none-eabi-nm", "arm-none-eabi-objdump")

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="needs make and the Arm GNU toolchain (apt-get install make gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi)",
)


@pytest.fixture(scope="module", params=sorted(MEMORY))
def built(request):
    """(board, image path printed by `tifed build`)."""
    board = request.param
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tifed.cli import main; sys.exit(main())", "build", "--board", board],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return board, Path(done.stdout.strip().splitlines()[-1])


def _sections(elf: Path) -> dict[str, tuple[int, int, int, str]]:
    """name -> (address, file offset, size, flags) from the section headers."""
    out = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(elf)], capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s+([0-9a-f]{6,})\s+([0-9a-f]{6,})\s+\S+\s+(\S*)", line)
        if m:
            sections[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16), m.group(5))
    return sections


def _symbols(elf: Path) -> dict[str, tuple[int, int | None]]:
    """name -> (value, size or None) from nm."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            symbols[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            symbols[parts[2]] = (int(parts[0], 16), None)
    return symbols


def test_tifed_build_prints_the_image_the_renode_scripts_load(built):
    board, image = built
    assert image == get_board(board).image_path()
    assert image.is_file() and image.read_bytes()[:4] == b"\x7fELF"
    resc = (rs.scripts_dir() / f"{board}.resc").read_text()
    default = re.search(r"^\$elf\?=\$ORIGIN/(\S+)$", resc, re.MULTILINE).group(1)
    assert (rs.scripts_dir() / default).resolve() == image.resolve()


def test_vector_table_sits_at_the_flash_base_and_points_into_ram(built):
    board, image = built
    flash, flash_size, ram, ram_size = MEMORY[board]
    sections, symbols = _sections(image), _symbols(image)
    text_addr, text_offset, text_size, _ = sections[".text"]
    # Renode's CortexM guesses VTOR as the lowest loaded address, and the
    # reset handler sets VTOR to the table: both must be the flash base.
    assert text_addr == flash and symbols["cortex_m_vectors"][0] == flash
    assert symbols["cortex_m_vectors"][1] == 4 * (16 + IRQS[board])
    assert text_addr + text_size <= flash + flash_size
    initial_sp, reset = struct.unpack_from("<II", image.read_bytes(), text_offset)
    assert initial_sp == symbols["__stack_top"][0]
    assert ram < initial_sp <= ram + ram_size
    assert reset == symbols["Reset_Handler"][0] | 1  # a Thumb address


def test_ram_sections_and_arena_fit_the_platform_ram(built):
    board, image = built
    _, _, ram, ram_size = MEMORY[board]
    sections, symbols = _sections(image), _symbols(image)
    ram_sections = {name: s for name, s in sections.items() if "A" in s[3] and "W" in s[3]}
    assert {".stack", ".data", ".bss"} <= set(ram_sections)
    for name, (addr, _, size, _) in ram_sections.items():
        assert ram <= addr and addr + size <= ram + ram_size, f"{name} at 0x{addr:08x}+{size} outside RAM"
    bss_end = sections[".bss"][0] + sections[".bss"][2]
    arena_start, arena_end = symbols["__arena_start"][0], symbols["__arena_end"][0]
    assert bss_end <= arena_start < arena_end == ram + ram_size
    assert arena_end - arena_start == get_board(board).ram_arena_bytes()
    assert arena_end - arena_start >= ram_size // 2  # the model gets most of the RAM


def test_image_names_its_board_uses_the_dwt_and_no_semihosting(built):
    board, image = built
    data = image.read_bytes()
    assert board.encode() + b"\0" in data  # board_name(), reported by IDENTIFY
    sections = _sections(image)
    _, offset, size, _ = sections[".text"]
    text = data[offset : offset + size]
    assert struct.pack("<I", 0xE0001000) in text  # the DWT (CYCCNT is at +4) is used
    disassembly = subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(image)], capture_output=True, text=True, check=True
    ).stdout
    # Renode's platforms have no semihosting handler: BKPT 0xAB would only log.
    assert not re.search(r"\bbkpt\s+0x00ab\b", disassembly)
    assert "tifed_fatal_line" in _symbols(image)
