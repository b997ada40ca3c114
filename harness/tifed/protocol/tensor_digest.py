"""DIGEST's 64-bit digest of a device's tensors (PROTOCOL.md "DIGEST"):
CRC-64/XZ (the ECMA-182 polynomial, reflected, initial value and final XOR
all ones; check value of "123456789": 0x995DC9BBDF1939FA) over every value
of the listed tensors as int32 little-endian, row-major, tensor after
tensor. The firmware computes the same over what it holds."""
from __future__ import annotations

from typing import Iterable

import crcmod
import numpy as np

crc64_xz = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


def tensors_digest(tensors: Iterable[np.ndarray]) -> int:
    crc = 0
    for t in tensors:
        crc = crc64_xz(np.ascontiguousarray(t, dtype="<i4").tobytes(), crc)
    return crc


def model_digest(model) -> int:
    """A tifed_models.Model's W_0, b_0, W_1, b_1, ... (payloads.model_tensor_ids' order)."""
    return tensors_digest(t for w, b in zip(model.weights, model.biases) for t in (w, b))
