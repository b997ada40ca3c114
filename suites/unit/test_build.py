"""Firmware build bookkeeping: staleness, missing tools, image sizes."""
from __future__ import annotations

import os

import pytest

from tifed.firmware import build
from tifed.errors import BuildError


@pytest.fixture
def firmware(tmp_path, monkeypatch):
    for folder in ("core", "protocol", "app", "boards/host", "boards/other", "tests"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.c").write_text("int x;\n")
    (tmp_path / "Makefile").write_text("all:\n")
    monkeypatch.setenv("TIFED_FIRMWARE_DIR", str(tmp_path))
    image = tmp_path / "build" / "host" / "tifed-host"
    image.parent.mkdir(parents=True)
    return tmp_path, image


def age(path, seconds):
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_missing_image_needs_build(firmware):
    _, image = firmware
    assert build.needs_build("host", image)


def test_image_older_than_a_source_needs_build(firmware):
    root, image = firmware
    image.write_bytes(b"")
    assert not build.needs_build("host", image)
    age(image, 100)
    assert build.needs_build("host", image)


def test_other_boards_and_tests_do_not_make_host_stale(firmware):
    root, image = firmware
    image.write_bytes(b"")
    for src in ("core", "protocol", "app", "boards/host"):
        age(root / src / "x.c", 200)
    age(root / "Makefile", 200)
    age(image, 100)
    assert not build.needs_build("host", image)  # boards/other and tests/ are newer, but not ours
    (root / "boards" / "host" / "x.c").touch()
    assert build.needs_build("host", image)


def test_missing_tools_name_the_apt_package(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda tool: None)
    with pytest.raises(BuildError) as info:
        build.run_make("qemu-mps2-an386")
    message = str(info.value)
    assert "make, arm-none-eabi-gcc not found" in message
    assert "apt-get install" in message and "gcc-arm-none-eabi" in message


def test_parse_size_output():
    text = "   text    data     bss     dec     hex filename\n  12000     300    4000   16300    3fac fw.elf\n"
    info = build.parse_size_output(text)
    assert (info.flash_bytes, info.ram_bytes) == (12300, 4300)
    with pytest.raises(BuildError, match="cannot read the size"):
        build.parse_size_output("garbage")


def test_firmware_info_of_a_native_binary(tmp_path):
    info = build.firmware_info(os.path.realpath("/bin/true"))
    assert info.flash_bytes > 0 and info.ram_bytes > 0
    (tmp_path / "notelf").write_text("hello")
    with pytest.raises(BuildError, match="not an ELF image"):
        build.firmware_info(tmp_path / "notelf")
