"""Fleet files (harness/tifed/boards/fleet_file.py): what they may say, and the one-line
errors for what they may not."""
from __future__ import annotations

import pytest

from tifed.boards.hw import HwBoard
from tifed.boards.serial_port import SerialPortBoard
from tifed.errors import ConfigError
from tifed.boards.fleet_file import load_fleet
from tifed.links.settings import LinkSettings

LAB = """
[defaults]
flash = "pyocd"
baud = 115200

[[device]]
name = "nrf-a"
board = "nrf52840dk"
port = "/dev/serial/by-id/usb-SEGGER_J-Link_000683512345-if00"
probe = "683512345"

[[device]]
board = "stm32f4-nucleo"
port = "rfc2217://lab1:7001?ign_set_control"
flash = "none"
baud = 921600
timeout = 20
chunk = 512

[[device]]
port = "socket://lab2:7002"
flash = "none"
"""


def write(tmp_path, text):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_a_lab_fleet(tmp_path):
    fleet = load_fleet(write(tmp_path, LAB), LinkSettings(timeout=7.0))
    a, b, c = fleet.devices
    assert (a.label, a.board, a.flash.flash, a.flash.reset, a.flash.probe) == (
        "nrf-a", "nrf52840dk", "pyocd", "pyocd", "683512345")
    assert a.link == LinkSettings(baud=115200, timeout=7.0, chunk=None)  # --timeout fills what the file leaves
    assert (b.label, b.flash.flash, b.flash.reset) == ("stm32f4-nucleo@rfc2217://lab1:7001?ign_set_control", "none", "none")
    assert b.link == LinkSettings(baud=921600, timeout=20, chunk=512)  # the entry's own values win
    assert c.board is None and c.label == "socket://lab2:7002"
    boards = [d.make_board() for d in fleet.devices]
    assert isinstance(boards[0], HwBoard) and boards[0].name == "nrf52840dk" and boards[0].port == a.port
    assert isinstance(boards[2], SerialPortBoard) and boards[2].link.baud == 115200


def test_devices_picks_the_first_k(tmp_path):
    fleet = load_fleet(write(tmp_path, LAB))
    assert [d.label for d in fleet.pick(2)] == ["nrf-a", "stm32f4-nucleo@rfc2217://lab1:7001?ign_set_control"]
    assert len(fleet.pick(None)) == 3
    with pytest.raises(ConfigError, match="--devices 4, but fleet .* names only 3 device"):
        fleet.pick(4)


def test_custom_flash_command_and_reset_default(tmp_path):
    fleet = load_fleet(write(tmp_path, '[[device]]\nboard = "stm32f4-nucleo"\nport = "/dev/ttyACM3"\n'
                                       'flash = ["st-flash", "write", "{bin}", "0x08000000"]\n'))
    d = fleet.devices[0]
    assert d.flash.flash == ("st-flash", "write", "{bin}", "0x08000000") and d.flash.reset == "none"


@pytest.mark.parametrize("text, message", [
    ("", "no devices; add at least one \\[\\[device\\]\\]"),
    ("[[device]]\nboard = 'nrf52840dk'\n", "device 1: port is required"),
    ("[[device]]\nport = 'ttyACM0'\n", "port 'ttyACM0' is neither a device path nor a pyserial URL"),
    ("[[device]]\nport = '/dev/ttyACM0'\nbaudrate = 9600\n", "device 1: unknown key 'baudrate'"),
    ("[[device]]\nport = '/dev/ttyACM0'\nboard = 'nrf52832dk'\n", "board must be one of nrf52840dk, stm32f4-nucleo"),
    ("[[device]]\nport = '/dev/ttyACM0'\nbaud = 'fast'\n", "baud must be an integer"),
    ("[[device]]\nport = '/dev/ttyACM0'\ntimeout = 0\n", "timeout must be a number of seconds above 0"),
    ("[[device]]\nport = '/dev/ttyACM0'\nchunk = 8\n", "chunk must be an integer from 16"),
    ("[[device]]\nport = '/dev/ttyACM0'\nflash = 'pyocd'\n", "flash/reset need a board"),
    ("[[device]]\nport = '/dev/ttyACM0'\nboard = 'stm32f4-nucleo'\nflash = 'nrfjprog'\n", "nrfjprog programs only Nordic"),
    ("[[device]]\nport = '/dev/a'\n[[device]]\nport = '/dev/a'\n", "port /dev/a is given to both"),
    ("[[device]]\nport = '/dev/a'\nname = 'x'\n[[device]]\nport = '/dev/b'\nname = 'x'\n", "two devices are named 'x'"),
    ("[defaults]\nport = '/dev/a'\n[[device]]\nport = '/dev/b'\n", "\\[defaults\\]: unknown key 'port'"),
    ("[[devices]]\nport = '/dev/a'\n", "unknown key 'devices'"),
    ("[[device]\nport = 1", "not valid TOML"),
])
def test_bad_fleets_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_fleet(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_fleet_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_fleet(tmp_path / "nope.toml")
