"""harness/tifed/boards/qemu.py without QEMU: what it reads from board.mk, what it
says when tools are missing, and the ELF symbol reader behind
ram_arena_bytes(). The emulated suite runs the real thing."""
from __future__ import annotations

import stat
import struct

import pytest

from tifed.boards import qemu
from tifed.firmware.elf_symbols import read_symbols
from tifed.boards.qemu import QemuBoard, board_settings
from tifed.errors import BuildError, DeviceError


def test_board_settings_come_from_board_mk():
    assert board_settings("qemu-mps2-an386") == ("mps2-an386", 8)
    assert board_settings("qemu-netduinoplus2") == ("netduinoplus2", 8)
    assert board_settings("qemu-microbit") == ("microbit", 8)


def _fake_tools(directory, **scripts):
    for name, body in scripts.items():
        path = directory / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_missing_tools_are_named_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    got = QemuBoard("qemu-microbit").availability()
    assert not got.buildable and not got.runnable
    assert {"arm-none-eabi-gcc", "qemu-system-arm"} <= set(got.missing)
    assert got.install_hint.startswith("apt-get install ")
    assert "gcc-arm-none-eabi" in got.install_hint and "qemu-system-arm" in got.install_hint
    with pytest.raises(DeviceError, match="qemu-system-arm not found"):
        QemuBoard("qemu-microbit").start(0)


def test_a_qemu_without_the_machine_is_not_enough(tmp_path, monkeypatch):
    _fake_tools(tmp_path, make="exit 0", **{"arm-none-eabi-gcc": "exit 0",
                "qemu-system-arm": 'echo "Supported machines are:"; echo "virt  QEMU 7.2 ARM Virtual Machine"'})
    monkeypatch.setenv("PATH", str(tmp_path))
    qemu._qemu_machines.cache_clear()
    try:
        got = QemuBoard("qemu-mps2-an386").availability()
    finally:
        qemu._qemu_machines.cache_clear()
    assert got.buildable and not got.runnable
    assert got.missing == ("qemu-system-arm with machine mps2-an386",)
    assert "QEMU 7.2 or newer" in got.install_hint


def _elf32(symbols: dict[str, int]) -> bytes:
    """A minimal little-endian ELF32: header, .strtab, .symtab, section table."""
    strtab = b"\0" + b"".join(name.encode() + b"\0" for name in symbols)
    syms = [b"\0" * 16]
    offset = 1
    for name, value in symbols.items():
        syms.append(struct.pack("<IIIBBH", offset, value, 0, 0x10, 0, 0xFFF1))
        offset += len(name) + 1
    symtab = b"".join(syms)
    str_at = 52
    sym_at = str_at + len(strtab)
    sh_at = sym_at + len(symtab)
    header = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack(
        "<HHIIIIIHHHHHH", 2, 0x28, 1, 0, 0, sh_at, 0, 52, 0, 0, 40, 3, 0)
    sections = [
        b"\0" * 40,
        struct.pack("<IIIIIIIIII", 0, 3, 0, 0, str_at, len(strtab), 0, 0, 1, 0),
        struct.pack("<IIIIIIIIII", 0, 2, 0, 0, sym_at, len(symtab), 1, 1, 4, 16),
    ]
    return header + strtab + symtab + b"".join(sections)


def test_elf_symbols_are_read_without_binutils(tmp_path):
    image = tmp_path / "fw.elf"
    image.write_bytes(_elf32({"__arena_start": 0x20000908, "other": 7, "__arena_end": 0x20004000}))
    assert read_symbols(image, {"__arena_start", "__arena_end", "absent"}) == {
        "__arena_start": 0x20000908, "__arena_end": 0x20004000}


def test_a_file_that_is_not_elf_is_one_clear_error(tmp_path):
    image = tmp_path / "fw.elf"
    image.write_bytes(b"not an image")
    with pytest.raises(BuildError, match="not a 32-bit little-endian ELF"):
        read_symbols(image, {"__arena_start"})
    image.write_bytes(_elf32({"x": 1})[:60])
    with pytest.raises(BuildError, match="truncated or corrupt"):
        read_symbols(image, {"x"})
    with pytest.raises(BuildError, match="cannot read"):
        read_symbols(tmp_path / "missing.elf", {"x"})
