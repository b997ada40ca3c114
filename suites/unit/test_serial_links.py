"""Boards behind serial lines: a pseudo-terminal pair stands in for a USB
serial port (`--board PATH`), pyserial URLs and their options reach
serial_for_url unchanged, and --baud / --timeout / --chunk take effect."""
from __future__ import annotations

import json

import pytest
import serial

import tifed.links.transport
from fake_device import FakeDevice
from fake_fleet import SeededFakeDevice
from pty_pair import PtyPair
from tifed.boards.registry import get_board
from tifed.boards.serial_port import SerialPortBoard, is_port_name
from tifed.cli import main
from tifed.links.settings import LinkSettings, line_bytes_per_second

RUN = ["--devices", "1", "--mode", "full", "--dataset", "digits", "--model", "64-16-10",
       "--rounds", "2", "--buffer-len", "20", "--batch", "10"]


def _run(out, *args):
    code = main(["run", *args, *RUN, "--out", str(out)])
    return code, json.loads((out / "results.json").read_text())


@pytest.fixture
def host_behind_pty(tmp_path, host_image):
    pair = PtyPair(tmp_path)
    pair.run_firmware(host_image)
    yield pair
    pair.stop()


def test_host_firmware_behind_a_pty_pair_is_bitexact(tmp_path, host_behind_pty):
    port = str(host_behind_pty.port)  # a symlink to /dev/pts/N, not under /dev
    assert is_port_name(port)
    code, doc = _run(tmp_path / "out", "--board", port)
    assert code == 0, doc["final"].get("error")
    assert doc["final"]["bitexact_all"] is True and doc["final"]["rounds"] == 2
    device = doc["devices"][0]
    assert device["board"] == port
    assert device["link"]["transfer_bytes"] > 0 and device["link"]["bytes_per_second"] > 0
    assert device["link"]["line_bytes_per_second"] is None  # a pty has no line rate
    assert host_behind_pty.firmware.poll() is None  # the device outlives the run; the pair stops it


def test_chunk_splits_transfers_into_smaller_frames(tmp_path, host_behind_pty):
    port = str(host_behind_pty.port)
    code, whole = _run(tmp_path / "whole", "--board", port)
    assert code == 0
    code, small = _run(tmp_path / "small", "--board", port, "--chunk", "80", "--timeout", "5")
    assert code == 0 and small["final"]["bitexact_all"] is True
    assert small["config"]["chunk"] == 80 and small["config"]["timeout"] == 5.0
    # The same model and data in more, smaller frames: more framing bytes.
    assert small["final"]["wire_bytes"] > whole["final"]["wire_bytes"]


def test_chunk_smaller_than_a_sample_is_refused_before_starting(tmp_path, capsys):
    code = main(["run", "--board", "/dev/null", *RUN, "--chunk", "40", "--out", str(tmp_path)])
    assert code == 2
    assert "--chunk 40 is too small: one sample of model 64-16-10 takes a 69-byte payload" in capsys.readouterr().err


@pytest.fixture
def recorded_opens(monkeypatch):
    """serial_for_url as the harness calls it, recorded; the link really
    goes to a fake device on a local socket."""
    device = SeededFakeDevice(max_payload=256)
    calls = []
    real = serial.serial_for_url

    def fake_serial_for_url(url, *args, **kwargs):
        calls.append((url, kwargs))
        return real(device.url, *args, **kwargs)

    monkeypatch.setattr(tifed.links.transport.serial, "serial_for_url", fake_serial_for_url)
    yield calls
    device.close()


def test_url_options_reach_pyserial_unchanged(tmp_path, recorded_opens):
    url = "rfc2217://lab1.example:7001?ign_set_control&timeout=3&logging=debug"
    code, doc = _run(tmp_path / "out", "--board", url, "--baud", "57600")
    assert code == 0 and doc["final"]["bitexact_all"] is True
    assert recorded_opens and all(u == url for u, _ in recorded_opens)
    assert all(kw["baudrate"] == 57600 for _, kw in recorded_opens)
    link = doc["devices"][0]["link"]
    assert link["url"] == url and link["baud"] == 57600
    assert link["line_bytes_per_second"] == 5760.0  # RFC2217: the remote UART's rate


def test_serial_board_carries_link_settings():
    board = get_board("socket://127.0.0.1:9?logging=info", LinkSettings(baud=9600, timeout=2.5, chunk=128))
    assert isinstance(board, SerialPortBoard)
    device = board.start(0)
    try:
        assert device.url == "socket://127.0.0.1:9?logging=info"
        assert device.kwargs == {"baudrate": 9600}
        assert dict(device.client_options) == {"timeout": 2.5, "chunk": 128}
    finally:
        device.stop()


@pytest.mark.parametrize("url, rate", [
    ("rfc2217://h:1", 11520.0), ("/dev/ttyACM7", 11520.0), ("socket://h:1", None), ("loop://", None),
])
def test_line_rate_applies_where_a_baud_rate_rules_the_wire(url, rate):
    assert line_bytes_per_second(url, 115200) == rate


def test_client_chunk_caps_the_payload():
    from tifed.protocol.client import DeviceClient

    device = FakeDevice(max_payload=256)
    try:
        port = serial.serial_for_url(device.url, timeout=1)
        client = DeviceClient(port, chunk=64)
        assert client.max_payload == 64  # min(--chunk, the device's 256)
        assert DeviceClient(port, chunk=1000, first_seq=50).max_payload == 256
        port.close()
    finally:
        device.close()
