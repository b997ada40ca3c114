"""The host board: a firmware process on a pty, started, talked to, stopped."""
from __future__ import annotations

import os
import signal

import pytest

import tifed_models
from tifed.boards.host import HostBoard
from tifed.errors import DeviceGone, NoRoomError
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import PROTOCOL_VERSION
from tifed.links.transport import open_link
from tifed.server.device_link import DeviceLink


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # no such child: already waited for, so no zombie
    return False


@pytest.fixture
def started(host_image):
    device = HostBoard().start(0)
    port = open_link(device.url)
    yield device, DeviceClient(port, name="host device 0", device=device, timeout=5)
    port.close()
    device.stop()


def test_start_identify_stop(started):
    device, client = started
    assert os.path.realpath(device.url).startswith("/dev/pts/")  # a stable name for the pty
    info = client.identify()
    assert info.proto == PROTOCOL_VERSION and info.board == "host" and info.max_payload >= 16
    pid = device.pid
    device.stop()
    device.stop()  # safe twice
    assert not device.alive() and reaped(pid)
    assert "host device 0" in device.describe_exit()
    assert not os.path.exists(device.url)


def test_power_cycle_loses_ram_and_link_and_comes_back_behind_the_same_name(started):
    device, client = started
    client.identify()
    assert client.session(77) == 77
    old_pid, name = device.pid, device.url
    device.power_cycle(0.3)
    assert device.alive() and device.may_return()  # off, but coming back
    assert not os.path.exists(name)  # the port is gone while the device is off
    with pytest.raises(DeviceGone, match="device gone"):
        client.stats()
    keeper = DeviceLink(device, 0, None, rejoin_timeout=10)
    attempts = keeper.rejoin(lambda port, seconds: (client.attach(port), client.identify(timeout=seconds)),
                             "power-cycled")
    try:
        assert attempts >= 1 and keeper.port.name == name
        assert client.session() == 0  # a fresh process: its RAM starts empty
        assert device.pid != old_pid and reaped(old_pid)
    finally:
        keeper.close()


def test_killed_device_is_device_gone_with_its_exit(started):
    device, client = started
    client.identify()
    os.kill(device.pid, signal.SIGKILL)
    with pytest.raises(DeviceGone, match="killed by SIGKILL"):
        client.stats()


def test_garbage_on_the_link_is_survived(started):
    device, client = started
    client.identify()
    client.port.write(b"\x42\x17\x99\x00")  # a chunk that is no frame: the device NAKs it
    assert client.identify().board == "host"
    assert client.stats().frames_bad >= 1


def test_arena_limit_gives_no_room_with_numbers(host_image):
    device = HostBoard(arena_bytes=4096).start(0)
    try:
        port = open_link(device.url)
        client = DeviceClient(port, device=device, timeout=5)
        with pytest.raises(NoRoomError) as info:
            client.configure((100, 50, 10), buffer_cap=50, batch_cap=25)
        assert info.value.needed == tifed_models.arena_bytes((100, 50, 10), 50, 25)
        assert info.value.available <= 4096
        port.close()
    finally:
        device.stop()
