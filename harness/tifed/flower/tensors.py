"""Integer tensors in Flower records, without loss.

A model (or the layers a device trained) travels as ONE Flower `Array`,
built field by field: dtype "int32", stype STYPE, shape (n,) and the raw
little-endian bytes of its tensors one after the other, in the order its
key names: "w0,b0,w1,b1" is W0 (in x out, C order), b0, W1, b1. One Array
rather than one per tensor because Flower moves every Array (and its
chunk) as objects of their own, one HTTP request each, in each of the
four hops of a round: packed, a round of 2 nodes moves 60 objects instead
of 132 (docs/FLOWER.md, "Speed").

Not `Array(ndarray)` (np.save bytes, fine too, but this way the wire
format is explicit) and never Flower's float helpers: nothing on the way
converts a value. Both ends check the key (which layers), dtype, stype,
shape and byte count, so a float or int64 tensor, a truncated buffer or a
model of the wrong size is a clear error instead of a silently different
number.
"""
from __future__ import annotations

import math
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


def layout(layers: Iterable[int]) -> str:
    """The key of a record holding these layers, and the order of its tensors."""
    return ",".join(f"w{l},b{l}" for l in layers)


def model_record(model: tifed_models.Model, layers: Iterable[int] | None = None) -> ArrayRecord:
    """The model's layers (all, or the given ones), packed into one Array."""
    chosen = list(range(model.n_layers) if layers is None else layers)
    parts = [t.ravel() for l in chosen for t in (model.weights[l], model.biases[l])]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return ArrayRecord({layout(chosen): encode(flat)})


def read_layers(record: ArrayRecord, dims: tuple[int, ...], layers: Iterable[int], into: tifed_models.Model,
                what: str) -> tifed_models.Model:
    """`into` with the given layers replaced from `record` (checked)."""
    layers = list(layers)
    key = layout(layers)
    if list(record.keys()) != [key]:
        raise ProtocolError(f"{what}: expected the tensors {key}, got {'; '.join(record.keys()) or 'none'}")
    shapes = [shape for l in layers for shape in layer_shapes(dims, l)]
    flat = decode(record[key], (sum(math.prod(shape) for shape in shapes),), what)
    parts, at = [], 0
    for shape in shapes:
        parts.append(flat[at:at + math.prod(shape)].reshape(shape))
        at += math.prod(shape)
    out = into.copy()
    for i, l in enumerate(layers):
        out.weights[l], out.biases[l] = parts[2 * i], parts[2 * i + 1]
    return out


def read_model(record: ArrayRecord, dims: tuple[int, ...], what: str) -> tifed_models.Model:
    """A whole model from `record` (the tensors of another model are an error)."""
    return read_layers(record, dims, range(len(dims) - 1), tifed_models.Model.zeros(dims), what)


def payload_bytes(record: ArrayRecord) -> int:
    """Bytes of tensor data in a record (what `network_bytes` counts)."""
    return sum(len(a.data) for a in record.values())
