"""Adaptive framing: the FrameSizer's rules on their own, and a client that
finds a frame size a noisy line lets through (the Python fake device
behind fault://), splitting a transfer again when the size shrinks under
it, with every value intact."""
from __future__ import annotations

import numpy as np
import pytest

import tifed_models
from fake_device import FakeDevice
from tifed.links.faults import FaultSpec, fault_url
from tifed.links.transport import open_link
from tifed.protocol.client import DeviceClient
from tifed.protocol.frame_size import GROW_AFTER, MIN_FRAME_PAYLOAD, SHRINK_AFTER, FrameSizer


def test_a_frame_damaged_twice_in_a_row_halves_the_size():
    sizer = FrameSizer(1024)
    assert sizer.damaged(1024, 1) is False and sizer.limit == 1024  # once may be bad luck
    assert SHRINK_AFTER == 2 and sizer.damaged(1024, 2) is True and sizer.limit == 512
    # A small frame that keeps failing shrinks the size below itself, not
    # just below the limit: it is then worth splitting.
    assert sizer.damaged(100, 2) is True and sizer.limit == 50
    assert sizer.figures.to_json() == {"largest": 1024, "current": 50, "smallest": 50, "shrinks": 2, "grows": 0}


def test_the_size_never_goes_below_the_floor_nor_above_the_ceiling():
    sizer = FrameSizer(1024)
    for _ in range(20):
        sizer.damaged(sizer.limit, 2)
    assert sizer.limit == MIN_FRAME_PAYLOAD
    assert sizer.damaged(MIN_FRAME_PAYLOAD, 5) is False  # nothing left to split to
    small = FrameSizer(20)
    assert small.floor == small.limit == 20  # a device smaller than the floor keeps its own size
    for _ in range(3 * GROW_AFTER):
        small.passed(20, first_try=True)
    assert small.limit == 20


def test_clean_frames_at_about_the_size_double_it_back():
    sizer = FrameSizer(1024)
    sizer.damaged(1024, 2)
    sizer.damaged(512, 2)
    assert sizer.limit == 256
    for _ in range(GROW_AFTER * 4):
        sizer.passed(10, first_try=True)  # small frames say little about full ones
    assert sizer.limit == 256
    for _ in range(GROW_AFTER - 1):
        sizer.passed(200, first_try=True)
    sizer.passed(200, first_try=False)  # needed a resend: the streak starts again
    for _ in range(GROW_AFTER - 1):
        sizer.passed(200, first_try=True)
    assert sizer.limit == 256
    sizer.passed(130, first_try=True)
    assert sizer.limit == 512 and sizer.figures.grows == 1 and sizer.figures.smallest == 256


@pytest.fixture
def fake():
    device = FakeDevice(max_payload=1024)
    yield device
    device.close()


def test_a_noisy_line_shrinks_the_frames_and_every_value_arrives(fake):
    # 1 % of the bytes corrupted both ways: a 1 KiB frame almost never gets
    # through whole; the client must find a size that does, with the
    # default retry budget (no chunk, no retries given).
    port = open_link(fault_url(fake.url, FaultSpec(corrupt=0.01, seed=3)))
    try:
        client = DeviceClient(port, name="fake", timeout=1.0, train_timeout=1.0)
        dims = (40, 30, 10)
        rng = np.random.default_rng(0)
        model = tifed_models.Model.zeros(dims)
        for w, b in zip(model.weights, model.biases):
            w[...] = rng.integers(-(2**31), 2**31, size=w.shape)
            b[...] = rng.integers(-(2**31), 2**31, size=b.shape)
        client.configure(dims, buffer_cap=4, batch_cap=2)
        client.write_model(model)
        assert client.read_model(dims).equal(model)
        figures = client.sizer.figures
        assert figures.largest == 1024 and figures.shrinks >= 2 and figures.smallest <= 256
        assert client.frame_payload < 1024
        assert client.counters.naks + client.counters.bad_frames > 0
    finally:
        port.close()
