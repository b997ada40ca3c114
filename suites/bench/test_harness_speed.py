"""The harness's hot paths against plain-loop twins (plain_loops.py): frame
encoding and decoding (COBS + CRC-16 of PROTOCOL.md, at the 1 KB
max_payload the Cortex-M4 boards announce) and the server's aggregation of
8 models of the paper's 784-200-10."""
from __future__ import annotations

import numpy as np
import pytest

import plain_loops
import tifed_models
from tifed.protocol.frames import FrameDecoder, encode_frame

ENCODE = "frame encode (1,021-byte payload)"
DECODE = "frame decode (64 frames in one stream)"
AGGREGATE = "aggregate 8 x 784-200-10"


@pytest.fixture(scope="module")
def payload():
    rng = np.random.default_rng(1)
    # int32 weights of moderate size, as WRITE_TENSOR carries them: zero bytes included
    return rng.integers(-20000, 20000, size=255, dtype=np.int32).tobytes() + b"\x07"


@pytest.fixture(scope="module")
def stream(payload):
    return b"".join(encode_frame(seq % 255 + 1, 0x84, payload) for seq in range(64))


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(2)
    dims = (784, 200, 10)
    return [tifed_models.Model([rng.integers(-30000, 30000, size=(i, o), dtype=np.int32) for i, o in zip(dims[:-1], dims[1:])],
                               [rng.integers(-3000, 3000, size=o, dtype=np.int32) for o in dims[1:]]) for _ in range(8)]


@pytest.mark.benchmark(group=ENCODE)
def test_encode_library(benchmark, record, payload):
    wire = benchmark(encode_frame, 9, 0x03, payload)
    record(benchmark, ENCODE, "cobs + crcmod")
    assert wire == plain_loops.encode_frame(9, 0x03, payload)


@pytest.mark.benchmark(group=ENCODE)
def test_encode_plain_loops(benchmark, record, payload):
    wire = benchmark(plain_loops.encode_frame, 9, 0x03, payload)
    record(benchmark, ENCODE, "plain loops")
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]


def _decode_all(stream):
    return FrameDecoder().feed(stream)


@pytest.mark.benchmark(group=DECODE)
def test_decode_library(benchmark, record, stream, payload):
    frames = benchmark(_decode_all, stream)
    record(benchmark, DECODE, "FrameDecoder")
    assert len(frames) == 64 and all(f.payload == payload for f in frames)


@pytest.mark.benchmark(group=DECODE)
def test_decode_plain_loops(benchmark, record, stream, payload):
    frames = benchmark.pedantic(plain_loops.decode_stream, args=(stream,), rounds=5)
    record(benchmark, DECODE, "plain loops")
    assert [(s, c, p) for s, c, p in frames] == [(f.seq, f.code, f.payload) for f in _decode_all(stream)]


@pytest.mark.benchmark(group=AGGREGATE)
def test_aggregate_numpy(benchmark, record, models):
    out = benchmark(tifed_models.aggregate, models)
    record(benchmark, AGGREGATE, "NumPy")
    assert out.weights[0].dtype == np.int32 and out.weights[0].shape == (784, 200)


@pytest.mark.benchmark(group=AGGREGATE)
def test_aggregate_plain_loops(benchmark, record, models):
    flat = [[a.ravel().tolist() for a in m.weights + m.biases] for m in models]
    out = benchmark.pedantic(plain_loops.aggregate, args=(flat,), rounds=3)
    record(benchmark, AGGREGATE, "plain loops")
    ref = tifed_models.aggregate(models)
    assert all(np.array_equal(np.asarray(o), r.ravel()) for o, r in zip(out, ref.weights + ref.biases))
