"""Board names -> plug-ins, `tifed boards` rows, serial-port boards, links."""
from __future__ import annotations

import io
import sys

import pytest

import tifed_models

from tifed.boards.registry import BOARD_NAMES, all_board_names, describe_boards, get_board
from tifed.boards.serial_port import SerialPortBoard
from tifed.errors import ConfigError, LinkError
from tifed.links.transport import open_link


def test_unknown_board_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        get_board("qemu-nonesuch")
    message = str(info.value)
    for name in BOARD_NAMES:
        assert name in message
    assert "socket://" in message


def test_interface_names_are_all_known():
    assert all_board_names() == [
        "sim", "host", "qemu-mps2-an386", "qemu-netduinoplus2", "qemu-microbit",
        "renode-nrf52840", "renode-stm32f4", "nrf52840dk", "stm32f4-nucleo",
    ]


@pytest.mark.parametrize("name", ["qemu-mps2-an386", "renode-nrf52840"])
def test_emulator_boards_load_lazily(name):
    module = "tifed.boards." + name.split("-")[0]
    sys.modules.pop(module, None)
    board = get_board(name)
    assert board.name == name and module in sys.modules


def test_sim_and_host():
    sim = get_board("sim")
    assert sim.has_device is False and sim.availability().runnable
    with pytest.raises(ConfigError, match="no device"):
        sim.start(0)
    host = get_board("host")
    assert host.family == "host" and host.image_path().name == "tifed-host"


@pytest.mark.parametrize("url", ["/dev/ttyACM0", "socket://127.0.0.1:4000", "rfc2217://h:1?ign_set_control", "loop://"])
def test_ports_and_urls_are_serial_boards(url):
    board = get_board(url)
    assert isinstance(board, SerialPortBoard) and board.url == url


def test_one_port_serves_one_device():
    board = get_board("loop://")
    device = board.start(0)
    assert device.url == "loop://"
    with pytest.raises(ConfigError, match="already serves a device"):
        board.start(1)
    device.stop()
    device.stop()  # safe twice
    board.start(2).stop()  # free again after stop


def test_missing_port_is_not_runnable():
    available = get_board("/dev/ttyNONESUCH9").availability()
    assert not available.runnable and available.missing == ("/dev/ttyNONESUCH9",)


def test_describe_boards_has_a_row_per_name():
    rows = describe_boards()
    assert [r.name for r in rows][: len(BOARD_NAMES)] == list(BOARD_NAMES)
    for row in rows:
        assert row.runnable or row.missing, f"{row.name}: not runnable but nothing named missing"


def test_links_open_through_serial_for_url():
    port = open_link("loop://?logging=debug", timeout=0.5)  # URL options pass through
    port.write(b"\x01\x02")
    assert port.read(2) == b"\x01\x02"
    port.close()
    with pytest.raises(LinkError, match="cannot open /dev/ttyNONESUCH9"):
        open_link("/dev/ttyNONESUCH9")
    with pytest.raises(LinkError, match="protocol 'bogus' not known"):
        open_link("bogus://x")



def test_capacity_table_names_the_largest_model_per_width_and_buffer():
    from tifed.boards.table import capacity_rows, print_capacity

    rows = {r.board: r for r in capacity_rows({"f405": 188_792, "tiny": 12_928, "unbuilt": None})}
    f405 = rows["f405"].largest
    assert f405 == {("int32", 50): 43, ("int32", 25): 49, ("int16", 50): 80, ("int16", 25): 92}
    for (weights, buffer), h in f405.items():
        bits = 16 if weights == "int16" else 32
        assert tifed_models.arena_bytes((784, h, 10), buffer, 25, bits) <= 188_792
        assert tifed_models.arena_bytes((784, h + 1, 10), buffer, 25, bits) > 188_792
    assert set(rows["tiny"].largest.values()) == {0} and rows["unbuilt"].largest == {}
    out = io.StringIO()
    print_capacity(out, {"f405": 188_792, "unbuilt": None})
    text = out.getvalue()
    assert "188,792" in text and "H = 80" in text and "no image" in text
