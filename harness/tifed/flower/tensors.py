"""Integer tensors in Flower records, without loss.

Every weight and bias travels as a Flower `Array` built field by field:
dtype "int32", the shape, stype STYPE and the raw little-endian bytes. Not
`Array(ndarray)` (np.save bytes, fine too, but this way the wire format is
explicit) and never Flower's float helpers: nothing on the way converts a
value. Both ends check dtype, stype, shape and byte count, so a float or
int64 tensor, a truncated buffer or a model of the wrong size is a clear
error instead of a silently different number.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from flwr.app import Array, ArrayRecord

import tifed_models
from tifed.errors import ProtocolError

STYPE = "tifed.int32le"  # raw little-endian int32, C order
DTYPE = "int32"
_WIRE = np.dtype("<i4")


def encode(values: np.ndarray) -> Array:
    """One int32 tensor as a Flower Array (raw bytes, dtype and shape kept)."""
    if values.dtype != np.int32:
        # A refusal, not a cast: a float or int64 model here is a bug upstream.
        raise TypeError(f"only int32 tensors travel; got {values.dtype}")
    data = np.ascontiguousarray(values, dtype=_WIRE).tobytes()
    return Array(dtype=DTYPE, shape=tuple(int(n) for n in values.shape), stype=STYPE, data=data)


def decode(array: Array, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The int32 tensor in `array`, which must have exactly `shape`."""
    if array.dtype != DTYPE or array.stype != STYPE:
        raise ProtocolError(f"{what}: expected an {DTYPE} tensor ({STYPE}), got dtype {array.dtype!r} "
                            f"stype {array.stype!r}")
    if tuple(array.shape) != tuple(shape):
        raise ProtocolError(f"{what}: expected shape {tuple(shape)}, got {tuple(array.shape)}")
    need = int(np.prod(shape, dtype=np.int64)) * _WIRE.itemsize
    if len(array.data) != need:
        raise ProtocolError(f"{what}: expected {need} bytes, got {len(array.data)}")
    return np.frombuffer(array.data, dtype=_WIRE).reshape(shape).astype(np.int32)


def layer_shapes(dims: tuple[int, ...], layer: int) -> tuple[tuple[int, int], tuple[int]]:
    return (dims[layer], dims[layer + 1]), (dims[layer + 1],)


def model_record(model: tifed_models.Model, layers: Iterable[int] | None = None) -> ArrayRecord:
    """The model's layers (all, or the given ones) as w<l>/b<l> arrays."""
    chosen = range(model.n_layers) if layers is None else layers
    arrays: dict[str, Array] = {}
    for l in chosen:
        arrays[f"w{l}"] = encode(model.weights[l])
        arrays[f"b{l}"] = encode(model.biases[l])
    return ArrayRecord(arrays)


def read_layers(record: ArrayRecord, dims: tuple[int, ...], layers: Iterable[int], into: tifed_models.Model,
                what: str) -> tifed_models.Model:
    """`into` with the given layers replaced from `record` (checked)."""
    out = into.copy()
    for l in layers:
        w_shape, b_shape = layer_shapes(dims, l)
        for key in (f"w{l}", f"b{l}"):
            if key not in record:
                raise ProtocolError(f"{what}: tensor {key} is missing")
        out.weights[l] = decode(record[f"w{l}"], w_shape, f"{what} w{l}")
        out.biases[l] = decode(record[f"b{l}"], b_shape, f"{what} b{l}")
    return out


def read_model(record: ArrayRecord, dims: tuple[int, ...], what: str) -> tifed_models.Model:
    """A whole model from `record`; extra keys are an error (a different model)."""
    expected = {f"{k}{l}" for l in range(len(dims) - 1) for k in "wb"}
    extra = sorted(set(record.keys()) - expected)
    if extra:
        raise ProtocolError(f"{what}: unexpected tensors {', '.join(extra)} for model {'-'.join(map(str, dims))}")
    return read_layers(record, dims, range(len(dims) - 1), tifed_models.Model.zeros(dims), what)


def payload_bytes(record: ArrayRecord) -> int:
    """Bytes of tensor data in a record (what `network_bytes` counts)."""
    return sum(len(a.data) for a in record.values())
