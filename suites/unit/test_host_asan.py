"""The host firmware under AddressSanitizer and UBSan
(firmware/boards/host-asan), driven through the harness the way a bad link
drives a real device: garbage, oversized, truncated and wrong-version
frames, then a federated run through the fault injector. A sanitizer
report ends the device process, which the client would raise as
DeviceGone with the report's last line; so these pass only if the firmware
never reads or writes out of bounds or hits undefined behaviour."""
from __future__ import annotations

import random
import time

import pytest

from fake_fleet import patch_boards
from tifed.firmware import build
from tifed.boards.host import HostBoard, HostDevice
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import Command, Status
from tifed.protocol.frames import NAK_CODE, FrameDecoder, encode_frame
from tifed.server.federation import Federation
from tifed.links.transport import open_link


@pytest.fixture(scope="module")
def asan_image():
    if not (build.firmware_dir() / "boards" / "host-asan" / "board.mk").is_file():
        pytest.skip("firmware/boards/host-asan is not in this checkout")
    build.run_make("host-asan")  # make itself knows what is up to date
    return build.build_dir("host-asan") / "tifed-host"


class AsanHostBoard(HostBoard):
    def image_path(self):
        return build.build_dir("host-asan") / "tifed-host"

    def start(self, index):
        return HostDevice(self.image_path(), index, self.arena_bytes, self.start_timeout)


def test_bad_frames_leave_the_device_answering(asan_image):
    device = AsanHostBoard().start(0)
    port = open_link(device.url)
    try:
        client = DeviceClient(port, name="asan", device=device, timeout=5)
        client.configure((8, 4, 3), buffer_cap=4, batch_cap=2)
        rng = random.Random(7)
        good = encode_frame(200, Command.STATS)
        junk = [
            bytes(rng.randrange(256) for _ in range(5000)),  # noise, zeros included
            b"\x01" * 3000 + b"\x00",  # longer than the receive buffer
            good[: len(good) // 2] + b"\x00",  # truncated
            b"\x02\x01\x00",  # too short for a header and CRC
            encode_frame(201, Command.IDENTIFY, version=7),  # wrong version
            encode_frame(202, Command.WRITE_TENSOR, b"\x00" * 1100),  # payload over max_payload
            encode_frame(203, Command.READ_TENSOR, b"\x00\x00\x00\x00\x00\xff\xff"),  # count past the tensor
            encode_frame(204, Command.WRITE_SAMPLES, b"\xff\xff\x01\x00" + b"\x00" * 9),  # first past the buffer
        ]
        for chunk in junk:
            port.write(chunk)
        # The device answers in order: once the marker's answer is in, so are the junk's.
        port.write(b"\x00" + encode_frame(250, Command.IDENTIFY))
        answers, decoder, deadline = [], FrameDecoder(), time.monotonic() + 30
        while not any(f.seq == 250 for f in answers):
            assert time.monotonic() < deadline, "no answer to the marker"
            answers += decoder.feed(port.read(4096))
        naks = [f.payload[0] for f in answers if f.code == NAK_CODE]
        assert Status.BAD_CRC in naks and Status.TOO_LARGE in naks
        statuses = {f.seq: f.payload[0] for f in answers if f.code != NAK_CODE}
        assert statuses[201] == Status.BAD_VERSION and statuses[203] == statuses[204] == Status.BAD_ARGUMENT
        stats = client.stats()
        assert stats.frames_bad == len(naks) and stats.arena_used > 0  # the model survived
        assert client.identify().board == "host"
        assert device.alive()
    finally:
        port.close()
        device.stop()


def test_federated_run_through_faults_on_the_sanitized_firmware(tmp_path, monkeypatch, asan_image):
    board = AsanHostBoard()
    patch_boards(monkeypatch, {"host-asan": board})
    config = RunConfig.of(boards=("host-asan",), devices=2, mode="full", dataset="digits", model="64-16-10",
                       out=str(tmp_path / "asan"), rounds=2,
                       faults="corrupt=0.005,drop=0.01,dup=0.02,delay=0.02,seed=4,chunk=200,retries=40")
    fed = Federation(prepare(config))
    final = fed.run()
    assert final["bitexact_all"] is True and final["complete"] is True and final["dropped_devices"] == []
    assert final["retransmissions"] > 0
