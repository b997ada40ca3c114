"""Adaptive framing: the FrameSizer's rules on their own, and a client that
finds a frame size a noisy line lets through (the Python fake device
behind fault://), splitting a transfer again when the size shrinks under
it, with every value intact."""
from __future__ import annotations

import random

import numpy as np
import pytest

import tifed_models
from fake_device import FakeDevice
from tifed.links.faults import FaultSpec, fault_url
from tifed.links.transport import open_link
from tifed.protocol.client import DeviceClient
from tifed.protocol.frame_size import MIN_FRAME_PAYLOAD, MIN_SUCCESS, OVERHEAD, FrameSizer, through_probability


def line(sizer: FrameSizer, error_rate: float, per_exchange: float, per_byte: float, tries: int, seed: int = 0):
    """Drive the sizer as a run over a line would: frames of its current
    size and, every fourth, a small command (a bias, SESSION), each damaged
    with the line's probability and timed."""
    rng = random.Random(seed)
    for i in range(tries):
        n = 8 if i % 4 == 3 else sizer.limit
        if rng.random() < through_probability(error_rate, n):
            sizer.passed(n, first_try=True, seconds=per_exchange + per_byte * (n + OVERHEAD))
        else:
            sizer.damaged(n)


def test_a_clean_line_keeps_the_largest_frames():
    sizer = FrameSizer(1024)
    line(sizer, 0.0, 1e-3, 1e-6, 200)
    assert sizer.limit == 1024 and sizer.figures.shrinks == 0 and sizer.byte_error_rate() == 0.0


def test_damaged_frames_shrink_the_size_below_them():
    sizer = FrameSizer(1024)
    assert sizer.damaged(1024) is True  # worth splitting the frame again
    assert sizer.limit < 1024 and sizer.figures.shrinks == 1
    assert sizer.byte_error_rate() > 0


@pytest.mark.parametrize("error_rate, lowest, highest", [(0.01, 32, 128), (0.002, 128, 512), (0.0005, 256, 1024)])
def test_the_size_settles_where_frames_get_through(error_rate, lowest, highest):
    # An emulator-like link (1 ms per exchange, 1 MB/s): the size that moves
    # the most payload per second, never one that gets through under a quarter of the time.
    sizer = FrameSizer(1024)
    line(sizer, error_rate, 1e-3, 1e-6, 3000)
    assert lowest <= sizer.limit <= highest
    assert through_probability(error_rate, sizer.limit) >= MIN_SUCCESS * 0.8  # by the true rate, give or take
    assert abs(sizer.byte_error_rate() - error_rate) < error_rate * 0.5


def test_a_slow_line_prefers_shorter_frames_than_a_fast_one():
    # Same errors; on a 115200-baud UART the bytes are the cost, on an
    # emulator the exchanges are: the UART gets the shorter frames.
    uart, emulator = FrameSizer(1024), FrameSizer(1024)
    line(uart, 0.002, 2e-4, 1 / 11520, 3000, seed=1)
    line(emulator, 0.002, 3e-3, 1 / 200_000, 3000, seed=1)
    assert uart.limit < emulator.limit


def test_the_size_grows_back_when_the_line_heals_and_keeps_to_its_bounds():
    sizer = FrameSizer(1024)
    for _ in range(50):
        sizer.damaged(sizer.limit)
    assert sizer.limit == MIN_FRAME_PAYLOAD  # never below the floor
    assert sizer.damaged(MIN_FRAME_PAYLOAD) is False  # nothing smaller to split to
    line(sizer, 0.0, 1e-3, 1e-6, 400)
    assert sizer.limit == 1024 and sizer.figures.grows >= 1 and sizer.figures.smallest == MIN_FRAME_PAYLOAD
    small = FrameSizer(20)  # a device smaller than the floor keeps its own size
    assert small.floor == small.limit == 20 and small.sizes == [20]


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
