"""Bit-level building blocks of protocol 2's codes (PROTOCOL.md "Codes"):
zig-zag, Rice codes, MSB-first bit packing (vectorised with NumPy), a
bit reader for the reference decoders, and the low-bits packing of
READ_LOW_BITS. No knowledge of tensors or frames here."""
from __future__ import annotations

import numpy as np

from tifed.errors import ProtocolError

U32 = 1 << 32
MAX_K = 31  # a Rice parameter travels in 5 bits
K_BITS = 5


class CodeError(ProtocolError):
    """A compact code that is truncated, has bytes left over or a value out of range."""


def wrap32(values: np.ndarray) -> np.ndarray:
    """Integers reduced to int32 two's complement (int64 array): what a
    32-bit add or subtract leaves."""
    v = np.asarray(values, dtype=np.int64)
    return ((v + (1 << 31)) & (U32 - 1)) - (1 << 31)


def zigzag(values: np.ndarray) -> np.ndarray:
    """int32 values (int64 array) -> uint64 codes 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    v = np.asarray(values, dtype=np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1).astype(np.uint64)


def unzigzag(codes: np.ndarray | int):
    z = np.asarray(codes, dtype=np.int64)
    return (z >> 1) ^ -(z & 1)


def rice_k(z: np.ndarray, max_quotient: int) -> tuple[int, int]:
    """(k, bits): the Rice parameter with the fewest bits for codes `z`
    (uint64, 1-D) among those whose largest quotient z >> k is at most
    `max_quotient`, and those bits."""
    if z.size == 0:
        return 0, 0
    top = int(z.max())
    k_min = 0
    while (top >> k_min) > max_quotient:
        k_min += 1
    mean = float(z.mean())
    guess = max(k_min, int(np.log2(mean * 0.69)) if mean >= 2 else 0)
    best = None
    for k in range(max(k_min, guess - 2), min(MAX_K, guess + 2) + 1):
        bits = int((z >> np.uint64(k)).sum()) + z.size * (k + 1)
        if best is None or bits < best[1]:
            best = (k, bits)
    return best


def rice_fields(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each code as one MSB-first field: q zero bits, a one bit, the k low
    bits, i.e. the number (1 << k) | low written in q + 1 + k bits."""
    kk = np.uint64(k)
    q = z >> kk
    values = (np.uint64(1) << kk) | (z & ((np.uint64(1) << kk) - np.uint64(1)))
    return values, q.astype(np.int64) + 1 + k


def pack_fields(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Unsigned fields, MSB first, one after the other, zero-padded to a
    whole byte. A field may be wider than its value (leading zero bits);
    values must be below 2**33."""
    widths = np.asarray(widths, dtype=np.int64)
    values = np.asarray(values, dtype=np.uint64)
    total = int(widths.sum())
    bits = np.zeros(-(-total // 8) * 8, dtype=np.uint8)
    if total:
        ends = np.cumsum(widths)  # one past each field's last (least significant) bit
        for s in range(min(33, int(widths.max()))):
            sel = widths > s
            bits[ends[sel] - 1 - s] = ((values[sel] >> np.uint64(s)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


class BitReader:
    """MSB-first reader over a code, for the reference decoders."""

    def __init__(self, data: bytes):
        self.bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).tolist()
        self.pos = 0

    def read(self, n: int) -> int:
        if self.pos + n > len(self.bits):
            raise CodeError("code ends early")
        value = 0
        for bit in self.bits[self.pos : self.pos + n]:
            value = value << 1 | bit
        self.pos += n
        return value

    def rice(self, k: int) -> int:
        """One Rice code; its quotient must keep the code within 32 bits."""
        q = 0
        while True:
            if self.pos >= len(self.bits):
                raise CodeError("code ends early")
            bit = self.bits[self.pos]
            self.pos += 1
            if bit:
                break
            q += 1
            if q > (U32 - 1) >> k:
                raise CodeError("a Rice code leaves 32 bits")
        return q << k | self.read(k)

    def finish(self) -> None:
        """The code must end here: fewer than 8 bits left, all zero."""
        rest = self.bits[self.pos :]
        if len(rest) >= 8:
            raise CodeError(f"{len(rest) // 8} bytes left over after the code")
        if any(rest):
            raise CodeError("padding bits are not zero")


def pack_low_bits(values: np.ndarray, bits: int) -> bytes:
    """READ_LOW_BITS' answer: each value's low `bits` bits (two's
    complement), LSB-first, value after value."""
    v = np.asarray(values, dtype=np.int64).astype(np.uint64) & np.uint64((1 << bits) - 1)
    shifts = np.arange(bits, dtype=np.uint64)
    stream = ((v[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8).ravel()
    return np.packbits(stream, bitorder="little").tobytes()


def unpack_low_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    """The inverse of pack_low_bits: `count` unsigned values (int64)."""
    need = -(-count * bits // 8)
    if len(data) != need:
        raise CodeError(f"{len(data)} bytes of low bits, expected {need} for {count} values of {bits} bits")
    stream = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="little")[: count * bits]
    weights = (np.int64(1) << np.arange(bits, dtype=np.int64))
    return stream.reshape(count, bits).astype(np.int64) @ weights


def nearest_with_low_bits(low: np.ndarray, reference: np.ndarray, bits: int) -> np.ndarray:
    """The int32 values whose low `bits` bits are `low`, each the nearest to
    its `reference` value (ties: the one below): exact for every value
    within [reference - 2**(bits-1), reference + 2**(bits-1))."""
    ref = np.asarray(reference, dtype=np.int64)
    if bits >= 32:
        return wrap32(low)
    span = 1 << bits
    diff = (np.asarray(low, dtype=np.int64) - ref) & (span - 1)
    diff = np.where(diff >= span // 2, diff - span, diff)
    return wrap32(ref + diff)
