"""COBS + CRC-16 framing of PROTOCOL.md and the stream decoder."""
from __future__ import annotations

import random
import struct

import pytest
from cobs import cobs

from tifed.protocol.frames import Frame, FrameDecoder, FrameError, crc16, decode_frame, encode_frame


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1


def test_frame_layout_matches_protocol_md():
    wire = encode_frame(7, 0x03, b"\x00\x01\x02")
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    raw = cobs.decode(wire[:-1])
    assert raw[:3] == bytes([1, 7, 0x03]) and raw[3:6] == b"\x00\x01\x02"
    assert struct.unpack("<H", raw[6:])[0] == crc16(raw[:6])  # CRC little-endian, over header + payload


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00" * 300, bytes(range(256)) * 3])
def test_round_trip(payload):
    assert decode_frame(encode_frame(200, 0x87, payload)[:-1]) == Frame(seq=200, code=0x87, payload=payload)


def test_crc_error_is_detected():
    raw = bytearray(cobs.decode(encode_frame(1, 2, b"abc")[:-1]))
    raw[4] ^= 0x10
    with pytest.raises(FrameError) as info:
        decode_frame(cobs.encode(bytes(raw)))
    assert info.value.reason == "crc"


def test_short_and_cobs_errors():
    with pytest.raises(FrameError) as short:
        decode_frame(cobs.encode(b"\x01\x02"))
    assert short.value.reason == "short"
    with pytest.raises(FrameError) as bad:
        decode_frame(b"\x05\x01")  # code byte promises 4 bytes, 1 follows
    assert bad.value.reason == "cobs"


def test_decoder_resynchronises_after_garbage():
    decoder = FrameDecoder()
    frames = decoder.feed(b"\x13\x37noise" + b"\x00" + encode_frame(3, 4, b"ok"))
    assert frames == [Frame(3, 4, b"ok")]
    assert decoder.frames_bad == 1 and decoder.frames_ok == 1
    assert decoder.garbage_bytes == len(b"\x13\x37noise") + 1


def test_decoder_accepts_any_split_and_empty_chunks():
    wire = b"\x00\x00" + encode_frame(1, 1, b"x" * 40) + encode_frame(2, 2, b"") + b"\x00"
    for cut in range(len(wire) + 1):
        decoder = FrameDecoder()
        frames = decoder.feed(wire[:cut]) + decoder.feed(wire[cut:])
        assert [f.seq for f in frames] == [1, 2]
        assert decoder.frames_bad == 0


def test_decoder_bounds_an_endless_chunk():
    decoder = FrameDecoder(max_chunk=100)
    assert decoder.feed(b"\x01" * 1000) == []
    assert decoder.pending == 0
    frames = decoder.feed(b"\x00" + encode_frame(9, 9, b"after"))
    assert frames == [Frame(9, 9, b"after")]
    assert decoder.frames_bad == 1


def test_random_stream_fuzz():
    """Valid frames interleaved with garbage chunks, fed in random pieces:
    exactly the valid frames come out, in order, and every garbage chunk
    is counted as bad."""
    rng = random.Random(20240501)
    for _ in range(200):
        sent, stream, garbage_chunks = [], bytearray(), 0
        for _ in range(rng.randrange(1, 8)):
            if rng.random() < 0.3:
                junk = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 40)))
                try:
                    decode_frame(junk)
                    continue  # astronomically unlikely; a valid frame is not garbage
                except FrameError:
                    pass
                stream += junk + b"\x00"
                garbage_chunks += 1
            frame = Frame(rng.randrange(256), rng.randrange(256), rng.randbytes(rng.randrange(0, 120)))
            sent.append(frame)
            stream += encode_frame(frame.seq, frame.code, frame.payload)
        decoder, got, pos = FrameDecoder(), [], 0
        while pos < len(stream):
            step = rng.randrange(1, 50)
            got += decoder.feed(bytes(stream[pos : pos + step]))
            pos += step
        assert got == sent
        assert decoder.frames_bad == garbage_chunks
