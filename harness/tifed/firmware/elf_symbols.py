"""Symbol values from a 32-bit little-endian ELF image (a Cortex-M firmware),
read with the standard library alone: the harness needs a few linker symbols
(the RAM arena's bounds) before it starts a device, and binutils may not be
installed where a prebuilt image runs."""
from __future__ import annotations

import struct
from pathlib import Path

from tifed.errors import BuildError

_SHT_SYMTAB = 2


def read_symbols(elf: Path | str, names: set[str] | frozenset[str]) -> dict[str, int]:
    """{name: value} for those of `names` that the image's symbol table has."""
    elf = Path(elf)
    try:
        data = elf.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read {elf}: {exc.strerror or exc}") from None
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise BuildError(f"{elf} is not a 32-bit little-endian ELF image")
    try:
        return _symbols(data, names)
    except (struct.error, IndexError, ValueError):
        raise BuildError(f"{elf} is a truncated or corrupt ELF image") from None


def _symbols(data: bytes, names: set[str] | frozenset[str]) -> dict[str, int]:
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    sections = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    found: dict[str, int] = {}
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != _SHT_SYMTAB or entsize == 0:
            continue
        str_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            st_name, st_value = struct.unpack_from("<II", data, pos)
            end = data.index(b"\0", str_offset + st_name)
            name = data[str_offset + st_name : end].decode("ascii", errors="replace")
            if name in names:
                found[name] = st_value
    return found
