"""The serial ports this machine sees (pyserial's list_ports), with the
debug probe or USB-serial bridge behind each one recognised by its USB
VID:PID, for `tifed boards`."""
from __future__ import annotations

import dataclasses
from typing import Iterable

# (VID, PID or None for any PID of that vendor, what it is, the flash tools
# that drive it: "" for a plain USB-serial bridge that flashes nothing).
PROBES: tuple[tuple[int, int | None, str, str], ...] = (
    (0x1366, None, "SEGGER J-Link (e.g. the nRF52840 DK's on-board J-Link OB)", "pyocd, openocd, nrfjprog"),
    (0x0483, 0x3748, "ST-LINK/V2", "pyocd, openocd"),
    (0x0483, 0x374B, "ST-LINK/V2-1 (Nucleo-64, Discovery)", "pyocd, openocd"),
    (0x0483, 0x374D, "STLINK-V3 loader", "pyocd, openocd"),
    (0x0483, 0x374E, "STLINK-V3E (Nucleo-144, newer Nucleo-64)", "pyocd, openocd"),
    (0x0483, 0x374F, "STLINK-V3SET", "pyocd, openocd"),
    (0x0483, 0x3752, "ST-LINK/V2-1 without mass storage", "pyocd, openocd"),
    (0x0483, 0x3753, "STLINK-V3 with two VCPs", "pyocd, openocd"),
    (0x0483, 0x3754, "STLINK-V3 without mass storage", "pyocd, openocd"),
    (0x0483, 0x3757, "STLINK-V3PWR", "pyocd, openocd"),
    (0x0D28, 0x0204, "Arm DAPLink / CMSIS-DAP (micro:bit, mbed boards)", "pyocd, openocd"),
    (0x2E8A, 0x000C, "Raspberry Pi Debug Probe (CMSIS-DAP)", "pyocd, openocd"),
    (0x2E8A, 0x0004, "Raspberry Pi picoprobe (CMSIS-DAP)", "pyocd, openocd"),
    (0x1FC9, 0x0143, "NXP MCU-Link (CMSIS-DAP)", "pyocd, openocd"),
    (0x1FC9, 0x0090, "NXP LPC-Link2 (CMSIS-DAP)", "pyocd, openocd"),
    (0x03EB, 0x2141, "Microchip EDBG (CMSIS-DAP)", "pyocd, openocd"),
    (0x1D50, 0x6018, "Black Magic Probe", "gdb (the probe is its own GDB server)"),
    (0x0451, 0xBEF3, "TI XDS110", "openocd"),
    (0x1915, 0x520F, "Nordic nRF52840 Dongle / USB CDC (Nordic VID)", ""),
    (0x0403, 0x6001, "FTDI FT232R USB-serial", ""),
    (0x0403, 0x6010, "FTDI FT2232 (USB-serial or JTAG)", "openocd"),
    (0x0403, 0x6014, "FTDI FT232H (USB-serial or JTAG)", "openocd"),
    (0x0403, 0x6015, "FTDI FT230X USB-serial", ""),
    (0x10C4, 0xEA60, "Silicon Labs CP210x USB-serial", ""),
    (0x1A86, 0x7523, "WCH CH340 USB-serial", ""),
    (0x067B, 0x2303, "Prolific PL2303 USB-serial", ""),
)


@dataclasses.dataclass(frozen=True)
class PortRow:
    device: str  # /dev/ttyACM0, COM3
    usb_id: str  # "1366:1015", or "" for a port that is not USB
    description: str  # what the OS / pyserial says
    serial_number: str
    probe: str  # what the VID:PID is, or ""
    tools: str  # flash tools that drive that probe


def recognise(vid: int | None, pid: int | None) -> tuple[str, str]:
    """(what the probe is, its tools), or ("", "") when unknown."""
    if vid is None:
        return "", ""
    for p_vid, p_pid, name, tools in PROBES:
        if vid == p_vid and (p_pid is None or pid == p_pid):
            return name, tools
    return "", ""


def list_serial_ports(ports: Iterable | None = None) -> list[PortRow]:
    """One row per port (`ports`: list_ports.comports() results, for tests)."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    rows = []
    for p in sorted(ports, key=lambda p: p.device):
        vid, pid = getattr(p, "vid", None), getattr(p, "pid", None)
        usb_id = f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else ""
        probe, tools = recognise(vid, pid)
        description = p.description if p.description and p.description != "n/a" else ""
        rows.append(PortRow(p.device, usb_id, description, getattr(p, "serial_number", None) or "", probe, tools))
    return rows
