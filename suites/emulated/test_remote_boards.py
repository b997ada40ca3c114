"""Boards reached the way physical ones are (docs/BOARD_FARM.md), without
hardware: a QEMU board's UART on a pseudo-terminal stands in for a USB
serial port, and ser2net publishes it as RFC2217 like a lab machine would.

- `tifed run --board rfc2217://127.0.0.1:PORT?ign_set_control` is
  bit-exact, and results.json reports the link's throughput against the
  line rate;
- the stm32f4-nucleo image (the real board's firmware) runs on QEMU's
  netduinoplus2 (STM32F405: same USART2, same SRAM base) through a fleet
  file, bit-exact; QEMU has no RCC, so this exercises the clock set-up's
  fallbacks, not the 180 MHz path.
"""
from __future__ import annotations

import json
import shutil

import pytest

from serial_lab import QemuOnPty, Ser2net
from tifed.cli import main
from tifed.errors import LinkError
from tifed.links.transport import open_link

pytestmark = pytest.mark.emulated

RUN = ["--devices", "1", "--mode", "full", "--dataset", "digits", "--model", "64-16-10",
       "--rounds", "2", "--buffer-len", "20", "--batch", "10"]


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.fixture
def mps2_on_pty(images):
    qemu = QemuOnPty("mps2-an386", images["qemu-mps2-an386"])
    yield qemu
    qemu.stop()


@pytest.mark.skipif(shutil.which("ser2net") is None, reason="ser2net not installed (apt-get install ser2net)")
def test_qemu_board_behind_ser2net_rfc2217_is_bitexact(tmp_path, mps2_on_pty):
    server = Ser2net(mps2_on_pty.pty, tmp_path)
    try:
        # Without the option, pyserial waits for an answer ser2net never sends
        # (URL option timeout=1: pyserial's network timeout, passed through).
        with pytest.raises(LinkError, match=r"did not confirm DTR/RTS; add \?ign_set_control to the URL"):
            open_link(f"rfc2217://127.0.0.1:{server.port}?timeout=1")
        # ser2net cannot set DTR/RTS on a pty and leaves pyserial's SET_CONTROL
        # unanswered; ?ign_set_control (a pyserial URL option) goes through as is.
        url = f"rfc2217://127.0.0.1:{server.port}?ign_set_control"
        code = main(["run", "--board", url, *RUN, "--baud", "115200", "--out", str(tmp_path / "out")])
        doc = _results(tmp_path / "out")
        assert code == 0, doc["final"].get("error")
    finally:
        server.stop()
    assert server.proc.returncode is not None  # stopped and reaped
    assert doc["final"]["bitexact_all"] is True and doc["final"]["rounds"] == 2
    link = doc["devices"][0]["link"]
    assert doc["devices"][0]["board"] == url and link["url"] == url
    assert link["line_bytes_per_second"] == 11520.0  # 115200 baud, 10 bits a byte
    assert link["transfer_bytes"] > 0 and link["bytes_per_second"] > 0
    assert link["line_utilisation"] == pytest.approx(link["bytes_per_second"] / 11520.0, rel=1e-3)


@pytest.fixture(scope="module")
def nucleo_image():
    from tifed.boards.registry import get_board

    return get_board("stm32f4-nucleo").build()


def test_stm32f4_nucleo_image_runs_from_a_fleet_file(tmp_path, nucleo_image):
    qemu = QemuOnPty("netduinoplus2", nucleo_image, serial_index=1)  # USART2 is QEMU's second serial
    try:
        fleet = tmp_path / "fleet.toml"
        fleet.write_text(
            "[[device]]\n"
            'name = "nucleo-in-qemu"\n'
            'board = "stm32f4-nucleo"\n'
            f'port = "{qemu.pty}"\n'
            'flash = "none"\n'
            "chunk = 200\n"
        )
        code = main(["run", "--fleet", str(fleet), *RUN[2:], "--out", str(tmp_path / "out")])
        doc = _results(tmp_path / "out")
        assert code == 0, doc["final"].get("error")
    finally:
        qemu.stop()
    assert doc["final"]["bitexact_all"] is True
    device = doc["devices"][0]
    assert device["board"] == "stm32f4-nucleo" and device["firmware"]["flash_bytes"] > 0
    assert doc["config"]["boards"] == ["nucleo-in-qemu"] and doc["config"]["devices"] == 1
    assert device["link"]["line_bytes_per_second"] is None  # a pty: no baud rate rules it
