"""Integer tensors in Flower records, without loss.

The tensors of a record travel as ONE Flower `Array`, built field by
field: dtype "int32", stype STYPE, shape (n,) and the raw little-endian
bytes of the tensors one after the other, in the order the record's one
key names them: "w0,b0,w1,b1" is W0 (in x out, C order), b0, W1, b1 (the
global model); "3.w1,3.b1,4.w1,4.b1" is device 3's layer 1, then device
4's (a node's trained layers, every device of the node in one record).
One Array, because Flower moves every Array, its chunk and its record as
objects of their own, an HTTP request each in each hop of a round
(ServerApp -> SuperLink -> SuperNode -> ClientApp and back): a train
message of a two-layer model is 6 objects instead of 12, and a node's
reply 6 instead of 3 + 9 per device (docs/FLOWER.md, "Speed").

Not `Array(ndarray)` (np.save bytes, fine too, but this way the wire
format is explicit) and never Flower's float helpers: nothing on the way
converts a value. Both ends check the key (which tensors), dtype, stype,
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


def pack(tensors: list[tuple[str, np.ndarray]]) -> ArrayRecord:
    """Named int32 tensors as one Array, keyed by their names in order."""
    flat = np.concatenate([t.ravel() for _, t in tensors]) if tensors else np.zeros(0, np.int32)
    return ArrayRecord({",".join(name for name, _ in tensors): encode(flat)})


def unpack(record: ArrayRecord, expected: list[tuple[str, tuple[int, ...]]], what: str) -> list[np.ndarray]:
    """The tensors `expected` (name, shape) from a record pack() made of exactly those."""
    key = ",".join(name for name, _ in expected)
    if list(record.keys()) != [key]:
        raise ProtocolError(f"{what}: expected the tensors {key}, got {'; '.join(record.keys()) or 'none'}")
    flat = decode(record[key], (sum(math.prod(shape) for _, shape in expected),), what)
    parts, at = [], 0
    for _, shape in expected:
        parts.append(flat[at:at + math.prod(shape)].reshape(shape))
        at += math.prod(shape)
    return parts


def _layers(dims: tuple[int, ...], layers: Iterable[int], prefix: str = "") -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}{kind}{l}", shape) for l in layers for kind, shape in zip("wb", layer_shapes(dims, l))]


def model_record(model: tifed_models.Model, layers: Iterable[int] | None = None) -> ArrayRecord:
    """The model's layers (all, or the given ones) in one Array."""
    chosen = range(model.n_layers) if layers is None else layers
    return pack([(f"{kind}{l}", t) for l in chosen for kind, t in (("w", model.weights[l]), ("b", model.biases[l]))])


def read_model(record: ArrayRecord, dims: tuple[int, ...], what: str) -> tifed_models.Model:
    """A whole model from `record` (the tensors of another model are an error)."""
    parts = unpack(record, _layers(dims, range(len(dims) - 1)), what)
    return tifed_models.Model(weights=parts[0::2], biases=parts[1::2])


def devices_record(updates: dict[int, tuple[tifed_models.Model, list[int]]]) -> ArrayRecord:
    """Each device's trained layers (device -> (model, layers)), devices in
    ascending order, in one Array."""
    return pack([(f"{d}.{kind}{l}", t) for d in sorted(updates) for l in updates[d][1]
                 for kind, t in ((("w", updates[d][0].weights[l]), ("b", updates[d][0].biases[l])))])


def read_devices(record: ArrayRecord, dims: tuple[int, ...], layers: dict[int, list[int]],
                 into: tifed_models.Model, what: str) -> dict[int, tifed_models.Model]:
    """device -> `into` with that device's layers (`layers[d]`) replaced
    from a devices_record of exactly those devices."""
    devices = sorted(layers)
    parts = iter(unpack(record, [t for d in devices for t in _layers(dims, layers[d], f"{d}.")], what))
    out = {}
    for d in devices:
        model = into.copy()
        for l in layers[d]:
            model.weights[l], model.biases[l] = next(parts), next(parts)
        out[d] = model
    return out


def payload_bytes(record: ArrayRecord) -> int:
    """Bytes of tensor data in a record (what `network_bytes` counts)."""
    return sum(len(a.data) for a in record.values())
