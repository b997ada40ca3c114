"""Protocol 2's codes in the harness (PROTOCOL.md "Protocol 2"): every
encoder against its reference decoder on generated cases and edge values,
and the decoders fuzzed: a mutated, truncated or extended code is refused
with CodeError or decodes to some tensor, never anything else."""
from __future__ import annotations

import random

import numpy as np
import pytest

from tifed.protocol import bitcode, delta_code, sample_code
from tifed.protocol.bitcode import CodeError
from tifed.protocol.tensor_digest import crc64_xz, tensors_digest

I32 = (-(1 << 31), (1 << 31) - 1)


def apply_payloads(payloads, held, max_payload):
    cur = delta_code.as_matrix(held).astype(np.int64)
    for p in payloads:
        assert len(p) <= max_payload
        _, block, code = delta_code.parse_block(p)
        assert delta_code.check_block(block, cur.shape) is None
        cur = delta_code.decode_block(block, code, cur)
    return cur


def cases(seed: int, n: int):
    """(new, held, max_payload): shapes from 1x1 to 300x40 and 1-D, deltas
    from none to int32-wide, identical and zero rows, tiny payloads."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (int(rng.integers(1, 300)),) if i % 5 == 0 else (int(rng.integers(1, 300)), int(rng.integers(1, 40)))
        held = rng.integers(-(1 << 31), 1 << 31, size=shape, dtype=np.int64)
        scale = [0, 1, 7, 60, 500, 1 << 16, 1 << 32][i % 7]
        delta = rng.integers(-scale, scale + 1, size=shape, dtype=np.int64)
        if len(shape) == 2 and shape[0] > 6 and i % 3 == 0:
            delta[2:6] = delta[1]  # identical rows
            delta[shape[0] - 2] = 0  # a zero row
        new = bitcode.wrap32(held + delta)
        yield new, held, [1024, 256, 64, 24][i % 4]


@pytest.mark.parametrize("seed", range(4))
def test_delta_code_round_trip(seed):
    for new, held, max_payload in cases(seed, 40):
        payloads = delta_code.delta_payloads(0x01, new, held, max_payload)
        if payloads is None:  # the payload cannot carry one value: the client writes it whole
            assert max_payload < 32
            continue
        assert np.array_equal(apply_payloads(payloads, held, max_payload), delta_code.as_matrix(new))
        if np.array_equal(new, held):
            assert payloads == []


def test_delta_code_edge_values():
    lo, hi = I32
    held = np.array([[lo, hi, 0], [hi, lo, -1], [0, 0, 0]], dtype=np.int64)
    new = np.array([[hi, lo, lo], [lo, hi, hi], [1, -1, hi]], dtype=np.int64)
    payloads = delta_code.delta_payloads(0, new, held, 64)
    assert np.array_equal(apply_payloads(payloads, held, 64), new)


def test_identical_rows_go_once_and_zero_rows_not_at_all():
    rng = np.random.default_rng(3)
    held = rng.integers(-1000, 1000, size=(200, 50))
    delta = rng.integers(-40, 40, size=(200, 50))
    delta[20:120] = delta[5]  # MNIST's background rows: one shared update
    delta[150:160] = 0
    payloads = delta_code.delta_payloads(0, held + delta, held, 1024)
    blocks = [delta_code.parse_block(p)[1] for p in payloads]
    shared = [b for b in blocks if b.form == delta_code.FORM_SHARED]
    assert shared and sum(len(b.rows()) for b in shared) == 101 // len({b.col for b in shared})
    listed = np.concatenate([b.rows() for b in blocks])
    assert not np.isin(np.arange(150, 160), listed).any()
    each = sum(len(p) for p, b in zip(payloads, blocks) if b.form == delta_code.FORM_EACH)
    assert each < 99 * 50 * 1.2  # the rest: about a byte a value, not four
    assert np.array_equal(apply_payloads(payloads, held, 1024), held + delta)


def test_bad_blocks_are_refused():
    assert delta_code.check_block(delta_code.Block(0, 0, 3, ((0, 2),)), (2, 3)) is None
    for block in [delta_code.Block(2, 0, 1, ((0, 1),)), delta_code.Block(0, 2, 2, ((0, 1),)),
                  delta_code.Block(0, 0, 0, ((0, 1),)), delta_code.Block(0, 0, 1, ()),
                  delta_code.Block(0, 0, 1, ((1, 1), (1, 1))), delta_code.Block(0, 0, 1, ((1, 2),)),
                  delta_code.Block(0, 0, 1, ((0, 0),))]:
        assert delta_code.check_block(block, (2, 3)) is not None, block


def mutations(payload: bytes, rng: random.Random, start: int):
    """Truncations, extensions and bit flips of a payload's bytes from `start`."""
    yield payload[:-1]
    yield payload + b"\x00"
    yield payload + b"\x80"
    for _ in range(12):
        b = bytearray(payload)
        at = rng.randrange(start, len(b)) if len(b) > start else 0
        b[at] ^= 1 << rng.randrange(8)
        yield bytes(b)
    yield payload[: rng.randrange(len(payload) + 1)]


def test_delta_decoder_fuzz():
    rng = random.Random(7)
    seen_refused = 0
    for new, held, max_payload in cases(11, 30):
        for payload in delta_code.delta_payloads(0, new, held, max(max_payload, 64)) or []:
            for bad in mutations(payload, rng, 0):
                try:
                    _, block, code = delta_code.parse_block(bad)
                    if delta_code.check_block(block, delta_code.as_matrix(held).shape) is not None:
                        seen_refused += 1
                        continue
                    out = delta_code.decode_block(block, code, held)
                except CodeError:
                    seen_refused += 1
                    continue
                assert out.shape == delta_code.as_matrix(held).shape
                assert out.min() >= I32[0] and out.max() <= I32[1]
    assert seen_refused > 100


def test_truncated_or_extended_codes_are_refused():
    rng = np.random.default_rng(5)
    held = rng.integers(-100, 100, size=(40, 6))
    for payload in delta_code.delta_payloads(0, held + rng.integers(-30, 30, size=(40, 6)), held, 128):
        _, block, code = delta_code.parse_block(payload)
        for bad in (code[:-1], code + b"\x00"):
            with pytest.raises(CodeError):
                delta_code.decode_block(block, bad, held)


def test_rice_quotient_cannot_leave_32_bits():
    # k = 31 leaves room for a quotient of 0 or 1: two zero bits ask for more.
    assert bitcode.BitReader(bytes([0b01000000]) + bytes(4)).rice(31) == 1 << 31
    with pytest.raises(CodeError, match="32 bits"):
        bitcode.BitReader(bytes([0b00100000]) + bytes(4)).rice(31)


def test_sample_code_round_trip_and_size():
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, size=(30, 100)).astype(np.int8)
    x[:, :40] = -128
    x[3] = -128  # all background
    x[4, :] = 5  # no background at all
    x[5, -1] = -128
    labels = rng.integers(0, 10, size=30)
    for max_payload in (1024, 256, 120):
        spans = sample_code.payloads(x, labels, max_payload, 101, base=7)
        covered = 0
        for first, count, payload in spans:
            assert first == covered and len(payload) <= max_payload
            covered += count
            if not payload:
                continue
            got_first, got_x, got_labels = sample_code.decode(payload, 100, 10)
            assert got_first == 7 + first
            assert np.array_equal(got_x, x[first : first + count])
            assert np.array_equal(got_labels, labels[first : first + count])
        assert covered == 30


def test_sample_decoder_fuzz():
    rng = random.Random(3)
    x = np.full((6, 50), -128, dtype=np.int8)
    x[:, 10:20] = np.arange(10, dtype=np.int8)
    for _, _, payload in sample_code.payloads(x, np.arange(6) % 3, 1024, 51):
        for bad in mutations(payload, rng, sample_code.HEADER.size):
            try:
                first, got, labels = sample_code.decode(bad, 50, 3)
            except CodeError:
                continue
            assert got.shape[1] == 50 and labels.max(initial=0) < 3


@pytest.mark.parametrize("bits", [1, 3, 8, 13, 31, 32])
def test_low_bits_decide_values_near_the_reference(bits):
    rng = np.random.default_rng(bits)
    ref = rng.integers(-(1 << 31) + (1 << 31 - 1), (1 << 31) - (1 << 31 - 1), size=500)
    half = 1 << (bits - 1)
    step = rng.integers(-half, half, size=500)  # within the window: exact
    values = bitcode.wrap32(ref + step)
    data = bitcode.pack_low_bits(values, bits)
    assert len(data) == -(-500 * bits // 8)
    low = bitcode.unpack_low_bits(data, 500, bits)
    assert np.array_equal(bitcode.nearest_with_low_bits(low, ref, bits), values)
    if bits < 32:  # one window further: another value with the same low bits
        far = bitcode.wrap32(ref + half)
        back = bitcode.nearest_with_low_bits(bitcode.unpack_low_bits(bitcode.pack_low_bits(far, bits), 500, bits),
                                             ref, bits)
        assert np.array_equal(back, bitcode.wrap32(ref - half))
    with pytest.raises(CodeError):
        bitcode.unpack_low_bits(data + b"\x00", 500, bits)


def test_digest_is_crc64_xz_of_int32_little_endian():
    assert crc64_xz(b"123456789") == 0x995DC9BBDF1939FA
    a = np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32)
    b = np.array([-(2**31)], dtype=np.int32)
    assert tensors_digest([a, b]) == crc64_xz(bytes.fromhex("01000000feffffff03000000ffffff7f00000080"))
    assert tensors_digest([a]) != tensors_digest([a.T])
