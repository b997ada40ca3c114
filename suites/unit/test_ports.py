"""`tifed boards`' port listing: VID:PID and the debug probe behind it."""
from __future__ import annotations

import io
from types import SimpleNamespace

from tifed.boards.ports import list_serial_ports, recognise
from tifed.boards.table import print_ports


def port(device, vid=None, pid=None, description="n/a", serial_number=None):
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description, serial_number=serial_number)


FAKE = [
    port("/dev/ttyACM1", 0x0483, 0x374B, "STM32 STLink", "066DFF555185754867"),
    port("/dev/ttyACM0", 0x1366, 0x1015, "J-Link - CDC", "000683512345"),
    port("/dev/ttyACM2", 0x0D28, 0x0204, "DAPLink CMSIS-DAP"),
    port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART Bridge Controller"),
    port("/dev/ttyACM3", 0x1234, 0x5678, "Mystery"),
    port("/dev/ttyS0"),
]


def test_probes_are_recognised_by_vid_pid():
    assert recognise(0x1366, 0x0105)[0].startswith("SEGGER J-Link")  # any J-Link PID
    for pid in (0x3748, 0x374B, 0x374E, 0x3752):
        assert recognise(0x0483, pid)[0].startswith(("ST-LINK", "STLINK"))
    assert recognise(0x0483, 0x5740) == ("", "")  # an STM32's own USB CDC, not a probe
    assert "DAPLink" in recognise(0x0D28, 0x0204)[0]
    assert recognise(None, None) == ("", "")


def test_ports_are_listed_sorted_with_what_is_behind_them():
    rows = list_serial_ports(FAKE)
    assert [r.device for r in rows] == sorted(p.device for p in FAKE)
    by = {r.device: r for r in rows}
    assert by["/dev/ttyACM0"].usb_id == "1366:1015" and "J-Link" in by["/dev/ttyACM0"].probe
    assert by["/dev/ttyACM0"].serial_number == "000683512345"
    assert "nrfjprog" in by["/dev/ttyACM0"].tools
    assert by["/dev/ttyACM1"].usb_id == "0483:374b" and "V2-1" in by["/dev/ttyACM1"].probe
    assert "CP210x" in by["/dev/ttyUSB0"].probe and by["/dev/ttyUSB0"].tools == ""
    assert by["/dev/ttyACM3"].probe == "" and by["/dev/ttyS0"].usb_id == "" and by["/dev/ttyS0"].description == ""


def test_tifed_boards_prints_the_ports():
    out = io.StringIO()
    print_ports(out, FAKE)
    text = out.getvalue()
    assert "/dev/ttyACM0" in text and "1366:1015" in text and "SEGGER J-Link" in text
    assert "0483:374b" in text and "ST-LINK/V2-1" in text


def test_no_ports_says_so():
    out = io.StringIO()
    print_ports(out, [])
    assert "No serial ports found" in out.getvalue()
