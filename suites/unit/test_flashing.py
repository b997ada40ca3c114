"""The command lines built for each flash tool (pyOCD, OpenOCD, nrfjprog,
a custom command), and how a failing tool is reported."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tifed.boards import flashing
from tifed.boards.flashing import FlashSettings, Images, check_tool_setting, flash_command, reset_command, run_tool
from tifed.boards.hw import HW_BOARDS
from tifed.errors import ConfigError, DeviceError

NRF = HW_BOARDS["nrf52840dk"].chip
STM = HW_BOARDS["stm32f4-nucleo"].chip
IMAGES = Images.next_to(Path("/fw/build/nrf52840dk/tifed-nrf52840dk.elf"))


@pytest.fixture(autouse=True)
def pyocd_on_path(monkeypatch):
    monkeypatch.setattr(flashing, "tool_program", lambda tool: [tool])


def test_images_sit_next_to_the_elf():
    assert IMAGES.hex == Path("/fw/build/nrf52840dk/tifed-nrf52840dk.hex")
    assert IMAGES.bin == Path("/fw/build/nrf52840dk/tifed-nrf52840dk.bin")


def test_pyocd_flash_and_reset():
    s = FlashSettings(flash="pyocd", reset="pyocd", probe="000683512345")
    assert flash_command(NRF, s, IMAGES) == [
        "pyocd", "load", "--target", "nrf52840", "--uid", "000683512345", str(IMAGES.elf)]
    assert reset_command(NRF, s, IMAGES) == ["pyocd", "reset", "--target", "nrf52840", "--uid", "000683512345"]
    # No probe named: pyOCD takes the only one connected.
    assert flash_command(STM, FlashSettings(flash="pyocd"), IMAGES) == [
        "pyocd", "load", "--target", "stm32f446retx", str(IMAGES.elf)]


def test_pyocd_remote_probe_and_target_override():
    s = FlashSettings(flash="pyocd", probe="remote:lab1:5555", target="stm32f446xe")
    assert flash_command(STM, s, IMAGES)[2:6] == ["--target", "stm32f446xe", "--uid", "remote:lab1:5555"]


def test_openocd_on_the_nrf52840dk_jlink():
    s = FlashSettings(flash="openocd", reset="openocd", probe="683512345")
    adapter = ["-f", "interface/jlink.cfg", "-c", "transport select swd", "-c", "adapter serial 683512345",
               "-f", "target/nrf52.cfg"]
    assert flash_command(NRF, s, IMAGES) == ["openocd", *adapter, "-c", f"program {{{IMAGES.elf}}} verify reset exit"]
    assert reset_command(NRF, s, IMAGES) == ["openocd", *adapter, "-c", "init", "-c", "reset run", "-c", "shutdown"]


def test_openocd_on_the_nucleo_stlink_chooses_no_transport():
    cmd = flash_command(STM, FlashSettings(flash="openocd"), IMAGES)
    assert cmd == ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg",
                   "-c", f"program {{{IMAGES.elf}}} verify reset exit"]


def test_openocd_interface_override():
    cmd = flash_command(NRF, FlashSettings(flash="openocd", interface="interface/cmsis-dap.cfg"), IMAGES)
    assert cmd[1:5] == ["-f", "interface/cmsis-dap.cfg", "-c", "transport select swd"]


def test_nrfjprog_programs_the_hex():
    s = FlashSettings(flash="nrfjprog", reset="nrfjprog", probe="683512345")
    assert flash_command(NRF, s, IMAGES) == [
        "nrfjprog", "-f", "NRF52", "--program", str(IMAGES.hex), "--sectorerase", "--verify", "--reset",
        "--snr", "683512345"]
    assert reset_command(NRF, s, IMAGES) == ["nrfjprog", "-f", "NRF52", "--reset", "--snr", "683512345"]


def test_nrfjprog_is_refused_for_an_stm32():
    with pytest.raises(ConfigError, match="nrfjprog programs only Nordic chips"):
        check_tool_setting("nrfjprog", "flash", STM, "fleet f device 1")


def test_custom_command_fills_placeholders():
    s = FlashSettings(flash=("st-flash", "--serial", "{probe}", "write", "{bin}", "0x08000000"),
                      reset=("my-reset", "{port}"), probe="066DFF")
    assert flash_command(STM, s, IMAGES, "/dev/ttyACM1") == [
        "st-flash", "--serial", "066DFF", "write", str(IMAGES.bin), "0x08000000"]
    assert reset_command(STM, s, IMAGES, "/dev/ttyACM1") == ["my-reset", "/dev/ttyACM1"]


@pytest.mark.parametrize("value, message", [
    ("jlink", "flash must be one of pyocd, openocd, nrfjprog, none"),
    ([], "non-empty list of strings"),
    (["flash", 3], "non-empty list of strings"),
    (["flash", "{image}"], "unknown placeholder {image}"),
])
def test_bad_tool_settings(value, message):
    with pytest.raises(ConfigError, match=message):
        check_tool_setting(value, "flash", NRF, "fleet f device 1")


def test_tool_failure_is_one_line_with_its_last_words():
    script = ("import sys; print('connecting', flush=True); "
              "print('Error: no probe found', file=sys.stderr); sys.exit(3)")
    with pytest.raises(DeviceError) as info:
        run_tool([sys.executable, "-c", script], "flashing nrf-a")
    assert str(info.value) == f"flashing nrf-a: {sys.executable} -c ... failed (exit 3): Error: no probe found"


def test_missing_tool_names_its_install(monkeypatch):
    with pytest.raises(DeviceError, match=r"flashing x: nrfjprog-nonesuch not found"):
        run_tool(["nrfjprog-nonesuch", "--version"], "flashing x")
    monkeypatch.setattr(flashing.shutil, "which", lambda name: None)
    assert flashing.missing_tools(FlashSettings(flash="openocd", reset="openocd")) == ["openocd"]
