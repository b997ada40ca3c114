"""Payloads of every PROTOCOL.md command: request encoders and response
decoders, one small function or dataclass per command. Everything is
little-endian; a response payload starts with its status byte, which the
client checks before calling the decoders here (they get the bytes after it).
Protocol 2's codes (deltas, coded samples, low bits) live in delta_code.py,
sample_code.py and bitcode.py; this module frames their payloads.
"""
from __future__ import annotations

import dataclasses
import enum
import struct

import numpy as np

from tifed.errors import ProtocolError

PROTOCOL_VERSION = 2  # the newest this harness speaks; IDENTIFY says what a device speaks
PROTOCOLS = (1, 2)  # every version this harness speaks (2 adds commands to 1; the frames are the same)
MAX_LAYERS = 8


class Command(enum.IntEnum):
    IDENTIFY = 0x01
    CONFIGURE = 0x02
    WRITE_TENSOR = 0x03
    READ_TENSOR = 0x04
    SET_FEEDBACK_SEED = 0x05
    WRITE_SAMPLES = 0x06
    TRAIN = 0x07
    PREDICT = 0x08
    STATS = 0x09
    RESET = 0x0A
    SESSION = 0x10
    # protocol 2
    DIGEST = 0x0B
    WRITE_DELTA = 0x0C
    READ_LOW_BITS = 0x0D
    WRITE_SAMPLES_CODED = 0x0E


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_VERSION = 2
    UNKNOWN = 3
    BAD_LENGTH = 4
    BAD_ARGUMENT = 5
    NO_ROOM = 6
    BAD_STATE = 7
    TOO_LARGE = 8
    BAD_CODE = 9  # protocol 2: a compact code is truncated, corrupt or has bytes left over


def status_name(value: int) -> str:
    try:
        return Status(value).name
    except ValueError:
        return f"status {value}"


class TensorKind(enum.IntEnum):
    WEIGHTS = 0
    BIAS = 1
    FEEDBACK = 2


def model_tensor_ids(n_layers: int) -> list[int]:
    """W_0, b_0, W_1, b_1, ...: the tensors of a model, in DIGEST's order."""
    return [tensor_id(kind, layer) for layer in range(n_layers) for kind in (TensorKind.WEIGHTS, TensorKind.BIAS)]


def tensor_id(kind: TensorKind | int, layer: int) -> int:
    """`kind << 4 | layer`, as WRITE_TENSOR and READ_TENSOR expect."""
    if not 0 <= layer < 16:
        raise ValueError(f"layer {layer} does not fit a tensor id")
    return int(kind) << 4 | layer


# Fixed per-message overheads, used to size chunks to the device's max_payload.
WRITE_TENSOR_HEADER = 1 + 4 + 2  # tensor, offset, count
WRITE_SAMPLES_HEADER = 2 + 2  # first, count
RESPONSE_STATUS = 1


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise ProtocolError(f"{what} response has {len(payload)} payload bytes, expected at least {size}")


def _exact(payload: bytes, size: int, what: str) -> None:
    if len(payload) != size:
        raise ProtocolError(f"{what} response has {len(payload)} payload bytes, expected {size}")


def _read_str(payload: bytes, pos: int, what: str) -> tuple[str, int]:
    _need(payload, pos + 1, what)
    length = payload[pos]
    _need(payload, pos + 1 + length, what)
    text = payload[pos + 1 : pos + 1 + length].decode("ascii", errors="replace")
    return text, pos + 1 + length


# --- IDENTIFY -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Identify:
    proto: int
    max_payload: int
    arena_bytes: int
    counter_kind: int  # 0 none, 1 instructions, 2 cycles
    fw_version: str
    board: str

    @property
    def counter_name(self) -> str:
        return {0: "none", 1: "instructions", 2: "cycles"}.get(self.counter_kind, f"kind {self.counter_kind}")

    @classmethod
    def decode(cls, payload: bytes) -> "Identify":
        _need(payload, 8, "IDENTIFY")
        proto, max_payload, arena, kind = struct.unpack_from("<BHIB", payload)
        fw_version, pos = _read_str(payload, 8, "IDENTIFY")
        board, pos = _read_str(payload, pos, "IDENTIFY")
        return cls(proto, max_payload, arena, kind, fw_version, board)


# --- CONFIGURE ----------------------------------------------------------------


def encode_configure(dims: tuple[int, ...] | list[int], buffer_cap: int, batch_cap: int,
                     weight_bits: int = 32) -> bytes:
    """The weight_bits byte goes out only for 16: an int32 request is the
    same bytes a device built before the byte existed expects."""
    n_layers = len(dims) - 1
    if not 1 <= n_layers <= MAX_LAYERS:
        raise ValueError(f"a model has 1..{MAX_LAYERS} layers, not {n_layers}")
    for value, what in [(buffer_cap, "buffer_cap"), (batch_cap, "batch_cap"), *[(d, "a dimension") for d in dims]]:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"{what} {value} does not fit 16 bits")
    if weight_bits not in (16, 32):
        raise ValueError(f"weight_bits must be 16 or 32, not {weight_bits!r}")
    payload = struct.pack(f"<BHH{len(dims)}H", n_layers, buffer_cap, batch_cap, *dims)
    return payload if weight_bits == 32 else payload + bytes([weight_bits])


@dataclasses.dataclass(frozen=True)
class ConfigureResult:
    arena_used: int  # on NO_ROOM: the bytes the model would need
    arena_bytes: int

    @classmethod
    def decode(cls, payload: bytes) -> "ConfigureResult":
        _exact(payload, 8, "CONFIGURE")
        return cls(*struct.unpack("<II", payload))


# --- WRITE_TENSOR / READ_TENSOR -------------------------------------------------


def encode_write_tensor(tensor: int, offset: int, values: np.ndarray) -> bytes:
    values = np.asarray(values)
    return struct.pack("<BIH", tensor, offset, values.size) + values.astype("<i4").tobytes()


def encode_read_tensor(tensor: int, offset: int, count: int) -> bytes:
    return struct.pack("<BIH", tensor, offset, count)


def decode_read_tensor(payload: bytes, count: int) -> np.ndarray:
    _exact(payload, 4 * count, "READ_TENSOR")
    return np.frombuffer(payload, dtype="<i4").astype(np.int32)


# --- SET_FEEDBACK_SEED ----------------------------------------------------------


def encode_set_feedback_seed(seed: int) -> bytes:
    if not 0 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"feedback seed {seed} does not fit 32 bits")
    return struct.pack("<I", seed)


# --- WRITE_SAMPLES --------------------------------------------------------------


def encode_write_samples(first: int, x: np.ndarray, labels: np.ndarray) -> bytes:
    """Records of `label u8, x i8[d0]` for samples first..first+len(x)-1."""
    x = np.asarray(x)
    labels = np.asarray(labels)
    records = np.empty((x.shape[0], 1 + x.shape[1]), dtype=np.uint8)
    records[:, 0] = labels.astype(np.uint8)
    records[:, 1:] = x.astype(np.int8).view(np.uint8)
    return struct.pack("<HH", first, x.shape[0]) + records.tobytes()


# --- TRAIN ----------------------------------------------------------------------


def encode_train(n: int, batch: int, epochs: int, lr_inv: int, layer: int) -> bytes:
    for value, bits, what in [(n, 16, "n"), (batch, 16, "batch"), (epochs, 16, "epochs"), (lr_inv, 32, "lr_inv")]:
        if not 0 <= value < (1 << bits):
            raise ValueError(f"{what} {value} does not fit {bits} bits")
    if not -1 <= layer <= 127:
        raise ValueError(f"layer {layer} out of range")
    return struct.pack("<HHHIb", n, batch, epochs, lr_inv, layer)


def decode_train(payload: bytes) -> int:
    _exact(payload, 8, "TRAIN")
    return struct.unpack("<Q", payload)[0]


# --- PREDICT --------------------------------------------------------------------


def encode_predict(first: int, count: int) -> bytes:
    return struct.pack("<HH", first, count)


def decode_predict(payload: bytes, count: int) -> np.ndarray:
    _exact(payload, count, "PREDICT")
    return np.frombuffer(payload, dtype=np.uint8).astype(np.int64)


# --- STATS ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stats:
    stack_peak: int
    stack_size: int
    arena_used: int
    frames_ok: int
    frames_bad: int

    @classmethod
    def decode(cls, payload: bytes) -> "Stats":
        _exact(payload, 20, "STATS")
        return cls(*struct.unpack("<5I", payload))


# --- SESSION --------------------------------------------------------------------


def encode_session(token: int | None) -> bytes:
    """Empty: ask for the token; else set it."""
    if token is None:
        return b""
    if not 0 <= token <= 0xFFFFFFFF:
        raise ValueError(f"session token {token} does not fit 32 bits")
    return struct.pack("<I", token)


def decode_session(payload: bytes) -> int:
    _exact(payload, 4, "SESSION")
    return struct.unpack("<I", payload)[0]


# --- protocol 2: DIGEST -----------------------------------------------------------

MAX_DIGEST_TENSORS = 16


def encode_digest(tensors: list[int]) -> bytes:
    if not 1 <= len(tensors) <= MAX_DIGEST_TENSORS:
        raise ValueError(f"DIGEST takes 1 to {MAX_DIGEST_TENSORS} tensors, not {len(tensors)}")
    return bytes([len(tensors), *tensors])


def decode_digest(payload: bytes) -> int:
    _exact(payload, 8, "DIGEST")
    return struct.unpack("<Q", payload)[0]


# --- protocol 2: READ_LOW_BITS ------------------------------------------------------

READ_LOW_BITS_HEADER = 1 + 4 + 2 + 1  # tensor, offset, count, bits


def encode_read_low_bits(tensor: int, offset: int, count: int, bits: int) -> bytes:
    if not 1 <= bits <= 32:
        raise ValueError(f"READ_LOW_BITS takes 1 to 32 bits, not {bits}")
    return struct.pack("<BIHB", tensor, offset, count, bits)


def low_bits_bytes(count: int, bits: int) -> int:
    """Bytes of a READ_LOW_BITS answer (after the status)."""
    return -(-count * bits // 8)
