"""WRITE_SAMPLES_CODED's code (PROTOCOL.md): samples as runs of background
pixels and runs of literal pixels. MNIST-like images are mostly background
(x = -128, pixel 0): 80 % of MNIST's pixels, half of Fashion-MNIST's.

Payload: first u16, count u16, kz u8, kl u8, labels u8[count], then an
MSB-first bit code: for each sample, until its d0 inputs are covered, a
background run z (Rice kz; the run may end the sample), then a literal run
l >= 1 (Rice kl) and l pixels of 8 bits each (x + 128).
"""
from __future__ import annotations

import struct

import numpy as np

from tifed.protocol.bitcode import BitReader, CodeError, pack_fields

HEADER = struct.Struct("<HHBB")  # first, count, kz, kl
BACKGROUND = -128  # x of a pixel 0
MAX_RUN_K = 15


def sample_runs(x: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """One sample's (background runs, literal runs, literal pixels)."""
    lit = x != BACKGROUND
    edges = np.flatnonzero(np.diff(np.concatenate(([0], lit.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]  # literal runs [start, end)
    zeros = np.diff(np.concatenate(([0], ends)))[: len(starts)] - (ends - starts)
    z = [int(v) for v in zeros]
    lengths = [int(v) for v in ends - starts]
    tail = x.size - (int(ends[-1]) if len(ends) else 0)
    if tail or not z:
        z.append(tail)
    pixels = (x[lit].astype(np.int64) + 128).astype(np.uint64)
    return z, lengths, pixels


def _best_k(runs: np.ndarray) -> int:
    if runs.size == 0:
        return 0
    costs = [int((runs >> np.uint64(k)).sum()) + runs.size * (k + 1) for k in range(MAX_RUN_K + 1)]
    return int(np.argmin(costs))


def _code(samples: list[tuple[list[int], list[int], np.ndarray]], kz: int, kl: int) -> bytes:
    values, widths = [], []
    for z, lengths, pixels in samples:
        at = 0
        for i, zero in enumerate(z):
            values.append(np.array([(1 << kz) | (zero & ((1 << kz) - 1))], dtype=np.uint64))
            widths.append(np.array([(zero >> kz) + 1 + kz]))
            if i < len(lengths):
                n = lengths[i]
                values.append(np.array([(1 << kl) | (n & ((1 << kl) - 1))], dtype=np.uint64))
                widths.append(np.array([(n >> kl) + 1 + kl]))
                values.append(pixels[at : at + n])
                widths.append(np.full(n, 8))
                at += n
    if not values:
        return b""
    return pack_fields(np.concatenate(values), np.concatenate(widths))


def _bits(sample: tuple[list[int], list[int], np.ndarray], kz: int, kl: int) -> int:
    z, lengths, pixels = sample
    return (sum((v >> kz) + 1 + kz for v in z) + sum((v >> kl) + 1 + kl for v in lengths)
            + 8 * int(pixels.size))


def payloads(x: np.ndarray, labels: np.ndarray, max_payload: int, raw_record: int,
             base: int = 0) -> list[tuple[int, int, bytes]]:
    """(first, count, payload) covering every sample (first: the index in
    x; the payload stores sample base + first), as many samples per
    payload as fit max_payload. A sample that does not fit alone, or a span
    whose code is no smaller than plain records of `raw_record` bytes, comes
    with payload b"" (send it as plain WRITE_SAMPLES)."""
    x, labels = np.asarray(x), np.asarray(labels)
    samples = [sample_runs(row) for row in x]
    kz = _best_k(np.array([v for z, _, _ in samples for v in z], dtype=np.uint64))
    kl = _best_k(np.array([v for _, lengths, _ in samples for v in lengths], dtype=np.uint64))
    bits = [_bits(s, kz, kl) for s in samples]
    out, first = [], 0
    while first < len(samples):
        count, total = 0, 0
        while (first + count < len(samples)
               and HEADER.size + count + 1 + -(-(total + bits[first + count]) // 8) <= max_payload):
            total += bits[first + count]
            count += 1
        if count == 0:
            out.append((first, 1, b""))
            first += 1
            continue
        size = HEADER.size + count + -(-total // 8)
        if size >= 4 + count * raw_record:
            out.append((first, count, b""))
        else:
            span = slice(first, first + count)
            code = HEADER.pack(base + first, count, kz, kl) + labels[span].astype(np.uint8).tobytes()
            out.append((first, count, code + _code(samples[span], kz, kl)))
        first += count
    return out


def decode(payload_bytes: bytes, inputs: int, classes: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The reference decoder: (first, x int8 (count, inputs), labels);
    CodeError for a bad code or a label out of range."""
    if len(payload_bytes) < HEADER.size:
        raise CodeError("WRITE_SAMPLES_CODED payload has no header")
    first, count, kz, kl = HEADER.unpack_from(payload_bytes)
    if kz > MAX_RUN_K or kl > MAX_RUN_K:
        raise CodeError(f"run parameters {kz}, {kl} above {MAX_RUN_K}")
    if len(payload_bytes) < HEADER.size + count:
        raise CodeError("WRITE_SAMPLES_CODED payload ends in its labels")
    labels = np.frombuffer(payload_bytes, dtype=np.uint8, count=count, offset=HEADER.size).astype(np.int64)
    if labels.size and labels.max() >= classes:
        raise CodeError(f"label {labels.max()} names no class")
    reader = BitReader(payload_bytes[HEADER.size + count :])
    x = np.full((count, inputs), BACKGROUND, dtype=np.int64)
    for s in range(count):
        at = 0
        while at < inputs:
            at += reader.rice(kz)
            if at > inputs:
                raise CodeError("a background run passes the sample's end")
            if at == inputs:
                break
            n = reader.rice(kl)
            if n < 1 or at + n > inputs:
                raise CodeError(f"literal run of {n} at input {at} of {inputs}")
            for _ in range(n):
                x[s, at] = reader.read(8) - 128
                at += 1
    reader.finish()
    return first, x.astype(np.int8), labels
