"""The board layers by themselves, with the counter probe as main()
(firmware/boards/cortex-m/probe/counter_probe.c): the instruction counter is
exact to the instruction, a burst of bytes crosses the UART intact, a
HardFault reaches the harness as a readable line, and no QEMU survives the
harness, whichever way the harness ends."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap

import pytest

from pids import pid_gone
from qemu_support import QEMU_BOARDS
from tifed.boards.qemu import QemuDevice, board_settings
from tifed.errors import DeviceGone
from tifed.links.transport import open_link

pytestmark = pytest.mark.emulated


def start_probe(name: str, image, index: int = 0) -> QemuDevice:
    machine, shift = board_settings(name)
    return QemuDevice(name, index, image, machine, shift)


@pytest.fixture(scope="module", params=QEMU_BOARDS)
def probe(request, probe_images):
    device = start_probe(request.param, probe_images[request.param])
    port = open_link(device.url, timeout=30)
    yield port
    port.close()
    device.stop()


def read_exactly(port, n: int) -> bytes:
    data = port.read(n)
    assert len(data) == n, f"got {len(data)} of {n} bytes"
    return data


def counted(port, n: int) -> int:
    """Instructions the board's counter saw around a loop of 2n + 1."""
    port.write(b"c" + struct.pack("<I", n))
    return struct.unpack("<Q", read_exactly(port, 8))[0]


def test_counter_is_exact_to_the_instruction(probe):
    base = counted(probe, 1)
    for n in (2, 3, 1000, 123_457, 3_000_000):
        assert counted(probe, n) - base == 2 * (n - 1), f"loop of {2 * n + 1} instructions"
    assert counted(probe, 1) == base  # and the same again after all that


def test_burst_of_bytes_crosses_the_uart_intact(probe):
    payload = os.urandom(8192)
    probe.write(b"e" + struct.pack("<I", len(payload)) + payload)
    assert read_exactly(probe, len(payload)) == payload


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_hardfault_is_reported(name, probe_images):
    device = start_probe(name, probe_images[name], 1)
    try:
        port = open_link(device.url)
        port.write(b"f")
        assert pid_gone(device.pid, 20)
        port.close()
        reason = device.describe_exit()
        assert "exited with status 1: tifed firmware: HardFault pc=0x" in reason, reason
    finally:
        device.stop()


def test_qemu_that_cannot_start_is_reported(tmp_path):
    machine, shift = board_settings("qemu-mps2-an386")
    with pytest.raises(DeviceGone, match="did not start: .*exited with status 1: .*Could not load kernel"):
        QemuDevice("qemu-mps2-an386", 0, tmp_path / "missing.elf", machine, shift)
    garbage = tmp_path / "garbage.elf"  # not ELF: QEMU runs it as raw code and locks up
    garbage.write_text("no ELF here\n")
    with pytest.raises(DeviceGone, match="did not start: .*killed by SIGABRT: qemu: fatal: Lockup"):
        QemuDevice("qemu-mps2-an386", 0, garbage, machine, shift)


HARNESS = textwrap.dedent(
    """
    import os, signal, sys
    from tifed.boards.qemu import QemuDevice, board_settings
    name, image, how = sys.argv[1:]
    device = QemuDevice(name, 0, image, *board_settings(name))
    print(device.pid, flush=True)
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "interrupted":
        raise KeyboardInterrupt
    sys.exit(0)  # "forgot": never calls device.stop()
    """
)


@pytest.mark.parametrize("how", ["forgot", "interrupted", "killed"])
def test_no_qemu_outlives_the_harness(how, probe_images):
    name = "qemu-microbit"
    done = subprocess.run([sys.executable, "-c", HARNESS, name, str(probe_images[name]), how],
                          capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    assert pid_gone(pid, 20), f"QEMU {pid} still runs after the harness {how}"
