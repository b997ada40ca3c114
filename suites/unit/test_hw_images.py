"""The physical boards' images: they build and link for both families,
`tifed build` reports their flash and RAM, the vector table sits at the
flash base and every section inside the chip's real memory map (checked
with arm-none-eabi-readelf/objdump, independently of the linker script),
and the .hex/.bin for the flash tools match the ELF."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tifed.boards.hw import HW_BOARDS, HwBoard
from tifed.cli import main

TOOLS = ("make", "arm-none-eabi-gcc", "arm-none-eabi-readelf", "arm-none-eabi-objdump")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="the Arm toolchain is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)",
)
BOARDS = sorted(HW_BOARDS)


@pytest.fixture(scope="module")
def built():
    """{board: (image, the line `tifed build` printed before the path)}."""
    import contextlib
    import io

    out = {}
    for name in BOARDS:
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            assert main(["build", "--board", name]) == 0
        *summary, path = text.getvalue().strip().splitlines()
        out[name] = (HwBoard(name).image_path(), summary)
        assert path == str(out[name][0])
    return out


def tool(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def symbols(image):
    table = {}
    for line in tool("arm-none-eabi-readelf", "-s", "-W", str(image)).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0][:-1].isdigit() and f[0].endswith(":"):
            table[f[7]] = int(f[1], 16)
    return table


def inside(addr, size, region):
    origin, length = region
    return origin <= addr and addr + size <= origin + length


@pytest.mark.parametrize("name", BOARDS)
def test_build_reports_flash_and_ram(built, name):
    image, summary = built[name]
    spec = HW_BOARDS[name]
    assert len(summary) == 1
    m = re.fullmatch(rf"{name}: flash ([\d,]+) of ([\d,]+) bytes \([\d.]+%\), RAM ([\d,]+) static of ([\d,]+) bytes, "
                     r"([\d,]+) left for the model arena", summary[0])
    assert m, summary[0]
    flash, flash_total, ram, ram_total, arena = (int(g.replace(",", "")) for g in m.groups())
    assert (flash_total, ram_total) == (spec.flash[1], spec.ram[1])  # the real chip's, from the link map
    assert 0 < flash < flash_total and 0 < ram < ram_total
    assert arena == HwBoard(name).ram_arena_bytes() and ram + arena <= ram_total


@pytest.mark.parametrize("name", BOARDS)
def test_vector_table_at_the_flash_base(built, name):
    image, _ = built[name]
    spec = HW_BOARDS[name]
    sym = symbols(image)
    assert sym["cortex_m_vectors"] == spec.flash[0]
    base = spec.flash[0]
    dump = tool("arm-none-eabi-objdump", "-s", "-j", ".text", f"--start-address={base:#x}",
                f"--stop-address={base + 8:#x}", str(image))
    words = re.search(rf"^ {base:04x} ([0-9a-f]{{8}}) ([0-9a-f]{{8}})", dump, re.MULTILINE)
    assert words, dump
    sp, reset = (int.from_bytes(bytes.fromhex(w), "little") for w in words.groups())
    assert sp == sym["__stack_top"] and inside(sp - 8, 8, spec.ram)  # initial SP: top of the stack, in RAM
    assert reset == sym["Reset_Handler"] | 1 and inside(reset & ~1, 2, spec.flash)  # Thumb entry, in flash


@pytest.mark.parametrize("name", BOARDS)
def test_sections_inside_the_real_memory_map(built, name):
    image, _ = built[name]
    spec = HW_BOARDS[name]
    for line in tool("arm-none-eabi-readelf", "-S", "-W", str(image)).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)A", line)
        if not m:
            continue
        section, addr, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
        assert inside(addr, size, spec.flash) or inside(addr, size, spec.ram), (section, hex(addr), size)
    # What gets programmed (load addresses of the LOAD segments with file
    # contents: .text and .data's initial values) lies in flash.
    for line in tool("arm-none-eabi-readelf", "-l", "-W", str(image)).splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and int(f[4], 16) > 0:
            assert inside(int(f[3], 16), int(f[4], 16), spec.flash), line


@pytest.mark.parametrize("name", BOARDS)
def test_hex_and_bin_match_the_elf(built, name):
    image, _ = built[name]
    spec = HW_BOARDS[name]
    info = HwBoard(name).firmware_info()
    assert image.with_suffix(".bin").stat().st_size == info.flash_bytes  # text + data, from the flash base
    hex_lines = image.with_suffix(".hex").read_text().split()
    # An extended linear address record (04) then the first data record: the flash base.
    upper = int(hex_lines[0][9:13], 16) if hex_lines[0][7:9] == "04" else 0
    first = next(line for line in hex_lines if line[7:9] == "00")
    assert (upper << 16) + int(first[3:7], 16) == spec.flash[0]
