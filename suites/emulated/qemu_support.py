"""What the emulated suite's modules share: the QEMU board names, and small
generated `tifed step` cases that fit every QEMU board, the 16 KB micro:bit
included, and still reach the arithmetic's edges: saturating weights, lr_inv
that is not a power of two (the division path, in software on the
Cortex-M0), single-layer training, a trailing partial batch; in both weight
widths (weight_bits 16: the SMLAD kernels, saturation at int16)."""
from __future__ import annotations

import numpy as np

import tifed_models

QEMU_BOARDS = ("qemu-mps2-an386", "qemu-netduinoplus2", "qemu-microbit")
INT32_MAX = 2**31 - 1
LR_INVS = (1, 3, 1000, 2048, 65535, 1_000_003)
# 16-bit weights: mostly powers of two from 2 on (their SMLAD update), and
# the generic path's 1 and 3.
LR_INVS_16 = (2, 3, 1024, 2048, 4096, 1)


def _tensor(rng, shape, style, weight_bits=32):
    top = 2 ** (weight_bits - 1) - 1
    if style == "zero":
        return np.zeros(shape, dtype=np.int64)
    if style == "small":
        return rng.integers(-3000, 3000, size=shape)
    # "limit": next to the width's lowest or highest value, so an update saturates
    sign = rng.choice([-1, 1], size=shape)
    near = rng.integers(0, 40, size=shape)
    return np.where(sign > 0, top - near, -top - 1 + near)


def make_case(seed: int, weight_bits: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_layers = 1 + seed % 3
    # 16-bit weights: up to 44 inputs, so some layers run whole blocks of
    # eight groups of four rows in the forward kernel (and a partial group).
    low, high = (2, 21) if weight_bits == 32 else (24, 45)
    dims = [int(rng.integers(low, high))] + [int(d) for d in rng.integers(2, 13, size=n_layers - 1)] + [int(rng.integers(2, 9))]
    style = ("zero", "small", "limit")[seed % 3]
    case: dict[str, np.ndarray] = {}
    for l, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        case[f"w{l}"] = _tensor(rng, (i, o), style, weight_bits).astype(np.int32)
        case[f"b{l}"] = _tensor(rng, (o,), style, weight_bits).astype(np.int32)
    for l, fb in enumerate(tifed_models.feedback_matrices(dims, seed)):
        case[f"fb{l}"] = fb.astype(np.int64)
    n = int(rng.integers(4, 25))
    case["x"] = rng.integers(-128, 128, size=(n, dims[0])).astype(np.int8)
    case["t"] = tifed_models.targets(rng.integers(0, dims[-1], size=n), dims[-1])
    case["batch"] = np.int64(rng.integers(1, n // 2 + 1))
    case["epochs"] = np.int64(1 + seed % 2)
    lr_invs = LR_INVS if weight_bits == 32 else LR_INVS_16
    case["lr_inv"] = np.int64(lr_invs[seed % len(lr_invs)])
    case["layer"] = np.int64(-1 if seed % 4 else rng.integers(0, n_layers))
    if weight_bits != 32:
        case["weight_bits"] = np.int64(weight_bits)
    return case


def past_int32_case() -> dict[str, np.ndarray]:
    """16-bit weights whose forward sums leave int32: 1000 inputs of one
    sign against columns of one sign near the int16 limits (the kernels'
    int32 partial sums must not wrap). One sample fits a 1 KiB frame."""
    rng = np.random.default_rng(16)
    signs = np.array([1, -1, 1, -1])
    w = np.where(signs > 0, 32767 - rng.integers(0, 40, (1000, 4)), -32768 + rng.integers(0, 40, (1000, 4)))
    x = np.repeat(np.array([[127], [-128], [127]]), 1000, axis=1)
    return {"w0": w.astype(np.int32), "b0": np.array([5, -5, 0, 1], np.int32),
            "x": x.astype(np.int8), "t": tifed_models.targets(np.array([0, 1, 3]), 4),
            "lr_inv": np.int64(2), "batch": np.int64(3), "epochs": np.int64(2), "layer": np.int64(-1),
            "weight_bits": np.int64(16)}


def fixed_case() -> dict[str, np.ndarray]:
    """One 16-8-4 case from zero weights: the known TRAIN whose instruction
    count README-qemu.md quotes."""
    rng = np.random.default_rng(7)
    dims = (16, 8, 4)
    return {
        "w0": np.zeros((16, 8), np.int32), "b0": np.zeros(8, np.int32),
        "w1": np.zeros((8, 4), np.int32), "b1": np.zeros(4, np.int32),
        "fb0": tifed_models.feedback_matrices(dims, 3)[0],
        "x": rng.integers(-128, 128, (20, 16)).astype(np.int8),
        "t": tifed_models.targets(rng.integers(0, 4, 20), 4),
        "lr_inv": np.int64(2048), "batch": np.int64(5), "epochs": np.int64(2), "layer": np.int64(-1),
    }
