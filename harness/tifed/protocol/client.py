"""DeviceClient: the server's side of PROTOCOL.md over one byte link, the
commands (identify, configure, tensors, samples, train, predict, stats,
session) on top of RequestExchange (exchange.py: framing, retransmission,
dead or slow devices). Transfers go in frames of the FrameSizer's current
size (frame_size.py), split again whenever it shrinks mid-transfer.

IDENTIFY says which protocol a device speaks; the client uses the newest
both sides know (`protocol`, capped by the `protocol` option). Protocol 2
adds compact transfers: deltas against what the device holds
(write_delta), coded samples (write_samples picks them itself), the low
bits of trained values (read_low_bits) and a digest of tensors (digest)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tifed.errors import ConfigError, DeviceError, NoRoomError, ProtocolError
from tifed.protocol import bitcode, delta_code, sample_code
from tifed.protocol import payloads as cmd
from tifed.protocol.payloads import Command, Status, TensorKind, tensor_id
from tifed.protocol.exchange import (DEFAULT_RETRIES, DEFAULT_TIMEOUT, DEFAULT_TRAIN_TIMEOUT, FrameShrunk,
                                     LinkCounters, RequestExchange)

MIN_BLOCK = 64  # bytes: a WRITE_DELTA block shorter than this is not planned again smaller
from tifed.protocol.frame_size import FrameSizer

__all__ = ["DeviceClient", "LinkCounters", "DEFAULT_TIMEOUT", "DEFAULT_TRAIN_TIMEOUT", "DEFAULT_RETRIES"]


class DeviceClient(RequestExchange):
    def __init__(self, port: Any, *, protocol: int | None = None, **options: Any):
        """`protocol` caps the protocol version used (None: the newest the
        device and the harness share); the other options are RequestExchange's."""
        super().__init__(port, **options)
        if protocol is not None and protocol not in cmd.PROTOCOLS:
            raise ConfigError(f"protocol {protocol}: this harness speaks {' and '.join(map(str, cmd.PROTOCOLS))}")
        self.protocol_cap = protocol or cmd.PROTOCOL_VERSION
        self.protocol = 1  # until IDENTIFY says more

    # --- commands -------------------------------------------------------------

    def identify(self, timeout: float | None = None) -> cmd.Identify:
        """IDENTIFY (first in every session); `timeout` bounds the whole
        exchange, retries included, when given."""
        wait = None if timeout is None else timeout / (self.retries + 1)
        info = cmd.Identify.decode(self.request(Command.IDENTIFY, timeout=wait))
        if info.proto not in cmd.PROTOCOLS:
            raise ProtocolError(f"{self.name}: device speaks protocol {info.proto}, the harness "
                                f"{' and '.join(map(str, cmd.PROTOCOLS))}")
        if info.max_payload < 16:
            raise ProtocolError(f"{self.name}: max_payload {info.max_payload} is too small to be usable")
        self.info = info
        self.protocol = min(info.proto, self.protocol_cap)
        if self.sizer is None or self.sizer.ceiling != self.max_payload:  # kept across a link opened again
            self.sizer = FrameSizer(self.max_payload)
        return info

    @property
    def compact(self) -> bool:
        """Protocol 2 in use: deltas, coded samples, low bits, digests."""
        if self.info is None:
            self.identify()
        return self.protocol >= 2

    @property
    def max_payload(self) -> int:
        """The largest frame payload: the device's, or --chunk if smaller."""
        if self.info is None:
            self.identify()
        return self.info.max_payload if self.chunk is None else min(self.chunk, self.info.max_payload)

    @property
    def frame_payload(self) -> int:
        """The payload size transfers are split to now (FrameSizer: at most max_payload)."""
        if self.sizer is None:
            self.identify()
        return self.sizer.limit

    def _in_pieces(self, total: int, unit: int, header: int, send: Callable[[int, int, bool], None]) -> None:
        """send(start, count, splittable) for consecutive pieces of `total`
        items of `unit` bytes, each piece at most frame_payload bytes with
        its `header` (at least one item, at most 65535); a piece whose frame
        the sizer shrank below while retrying it is split again."""
        start = 0
        while start < total:
            count = min(total - start, 0xFFFF, max(1, (self.frame_payload - header) // unit))
            try:
                send(start, count, count > 1)
            except FrameShrunk:
                continue
            start += count

    def configure(self, dims: Sequence[int], buffer_cap: int, batch_cap: int,
                  weight_bits: int = 32) -> cmd.ConfigureResult:
        dims = tuple(int(d) for d in dims)
        payload = cmd.encode_configure(dims, buffer_cap, batch_cap, weight_bits)
        status, body = self.transact(Command.CONFIGURE, payload)
        if status == Status.BAD_LENGTH and weight_bits != 32:
            raise DeviceError(
                f"{self.name}: the device's firmware ({self.info.fw_version if self.info else 'unknown version'}) "
                f"does not know 16-bit weights (CONFIGURE weight_bits); rebuild or reflash it",
                status=cmd.status_name(status),
                command="CONFIGURE",
            )
        if status == Status.NO_ROOM:
            room = cmd.ConfigureResult.decode(body)
            width = "" if weight_bits == 32 else f" and int{weight_bits} weights"
            raise NoRoomError(
                f"{self.name}: model {'-'.join(map(str, dims))} with {buffer_cap} samples, batch {batch_cap}{width} "
                f"needs {room.arena_used} bytes of RAM arena, the device has {room.arena_bytes}",
                needed=room.arena_used,
                available=room.arena_bytes,
            )
        if status != Status.OK:
            raise DeviceError(
                f"{self.name}: CONFIGURE {'-'.join(map(str, dims))} failed with {cmd.status_name(status)}",
                status=cmd.status_name(status),
                command="CONFIGURE",
            )
        return cmd.ConfigureResult.decode(body)

    def write_tensor(self, tensor: int, values: np.ndarray) -> None:
        """Write a whole tensor (row-major), in frames of frame_payload."""
        flat = np.ascontiguousarray(values).ravel()
        if flat.size and (flat.min() < -(1 << 31) or flat.max() >= (1 << 31)):
            raise ConfigError(f"{self.name}: tensor 0x{tensor:02X} has values outside int32")

        def send(start: int, count: int, splittable: bool) -> None:
            payload = cmd.encode_write_tensor(tensor, start, flat[start : start + count])
            self.request(Command.WRITE_TENSOR, payload, splittable=splittable)

        self._in_pieces(flat.size, 4, cmd.WRITE_TENSOR_HEADER, send)

    def read_tensor(self, tensor: int, count: int) -> np.ndarray:
        parts: list[np.ndarray] = []

        def send(start: int, n: int, splittable: bool) -> None:
            body = self.request(Command.READ_TENSOR, cmd.encode_read_tensor(tensor, start, n),
                                size=cmd.RESPONSE_STATUS + 4 * n, splittable=splittable)
            parts.append(cmd.decode_read_tensor(body, n))

        self._in_pieces(count, 4, cmd.RESPONSE_STATUS, send)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def write_delta(self, tensor: int, new: np.ndarray, held: np.ndarray) -> None:
        """Protocol 2: turn a tensor the device holds as `held` into `new`
        with WRITE_DELTA blocks of frame_payload (nothing when they are
        equal). Blocks cover disjoint parts of the tensor, so when the frame
        size shrinks mid-transfer, what is left is planned again from what
        the device holds by then. A payload too small for the code makes it
        a plain write_tensor."""
        held = delta_code.as_matrix(np.array(held, dtype=np.int64))
        target = delta_code.as_matrix(np.asarray(new, dtype=np.int64))
        while True:
            blocks = delta_code.delta_payloads(tensor, target, held, self.frame_payload)
            if blocks is None:
                self.write_tensor(tensor, new)
                return
            try:
                for payload in blocks:
                    self.request(Command.WRITE_DELTA, payload, splittable=len(payload) > MIN_BLOCK)
                    block = delta_code.parse_block(payload)[1]
                    rows, cols = block.rows(), slice(block.col, block.col + block.cols)
                    held[rows, cols] = target[rows, cols]
                return
            except FrameShrunk:
                continue

    def read_low_bits(self, tensor: int, count: int, bits: int) -> np.ndarray:
        """Protocol 2: the low `bits` bits of each value of a tensor (int64,
        0 .. 2**bits - 1), in frames of frame_payload."""
        parts: list[np.ndarray] = []
        start = 0
        while start < count:
            n = min(count - start, 0xFFFF, max(1, (self.frame_payload - cmd.RESPONSE_STATUS) * 8 // bits))
            size = cmd.RESPONSE_STATUS + cmd.low_bits_bytes(n, bits)
            try:
                body = self.request(Command.READ_LOW_BITS, cmd.encode_read_low_bits(tensor, start, n, bits),
                                    size=size, splittable=n > 1)
            except FrameShrunk:
                continue
            try:
                parts.append(bitcode.unpack_low_bits(body, n, bits))
            except bitcode.CodeError as exc:
                raise ProtocolError(f"{self.name}: READ_LOW_BITS answer: {exc}") from None
            start += n
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def digest(self, tensors: Sequence[int]) -> int:
        """Protocol 2: the device's CRC-64 of the listed tensors (tensor_digest.py)."""
        return cmd.decode_digest(self.request(Command.DIGEST, cmd.encode_digest(list(tensors))))

    def write_model(self, model: Any) -> None:
        """Weights and biases of a tifed_models.Model."""
        for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
            self.write_tensor(tensor_id(TensorKind.WEIGHTS, layer), w)
            self.write_tensor(tensor_id(TensorKind.BIAS, layer), b)

    def read_model(self, dims: Sequence[int]) -> Any:
        import tifed_models

        weights, biases = [], []
        for layer in range(len(dims) - 1):
            rows, cols = int(dims[layer]), int(dims[layer + 1])
            w = self.read_tensor(tensor_id(TensorKind.WEIGHTS, layer), rows * cols)
            weights.append(w.reshape(rows, cols))
            biases.append(self.read_tensor(tensor_id(TensorKind.BIAS, layer), cols))
        return tifed_models.Model(weights=weights, biases=biases)

    def write_feedback(self, mats: Sequence[np.ndarray]) -> None:
        """Explicit feedback matrices B_l (C x d_{l+1}), one per hidden layer."""
        for layer, mat in enumerate(mats):
            mat = np.asarray(mat)
            if mat.size and (mat.min() < -32768 or mat.max() > 32767):
                raise ConfigError(f"{self.name}: feedback matrix {layer} has values outside int16")
            self.write_tensor(tensor_id(TensorKind.FEEDBACK, layer), mat)

    def set_feedback_seed(self, seed: int) -> None:
        self.request(Command.SET_FEEDBACK_SEED, cmd.encode_set_feedback_seed(seed))

    def write_samples(self, x: np.ndarray, labels: np.ndarray, first: int = 0) -> None:
        """Store samples first..first+n-1: x int8 (n, d0), labels 0..255."""
        x = np.asarray(x)
        labels = np.asarray(labels)
        if x.ndim != 2 or labels.shape != (x.shape[0],):
            raise ConfigError(f"{self.name}: samples must be x (n, d0) with n labels, got {x.shape} and {labels.shape}")
        if x.size and (x.min() < -128 or x.max() > 127):
            raise ConfigError(f"{self.name}: sample inputs must fit int8")
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ConfigError(f"{self.name}: labels must be 0..255")
        if first + x.shape[0] > 0xFFFF:
            raise ConfigError(f"{self.name}: a device buffer holds at most 65535 samples")
        if self.compact:
            self._write_coded_samples(x, labels, first)
            return
        self._write_records(x, labels, first)

    def _write_coded_samples(self, x: np.ndarray, labels: np.ndarray, first: int) -> None:
        """Protocol 2: WRITE_SAMPLES_CODED where the code is smaller than the
        records, in frames of frame_payload; planned again from the first
        sample not yet sent when the frame size shrinks."""
        done = 0
        while done < x.shape[0]:
            base = done
            spans = sample_code.payloads(x[base:], labels[base:], self.frame_payload, 1 + x.shape[1], first + base)
            try:
                for start, count, payload in spans:
                    at = base + start
                    if payload:
                        self.request(Command.WRITE_SAMPLES_CODED, payload, splittable=count > 1)
                    else:  # the code does not pay (or fit) here: plain records
                        self._write_records(x[at : at + count], labels[at : at + count], first + at)
                    done = at + count
            except FrameShrunk:
                continue

    def _write_records(self, x: np.ndarray, labels: np.ndarray, first: int) -> None:
        record = 1 + x.shape[1]
        if cmd.WRITE_SAMPLES_HEADER + record > self.max_payload:
            raise ConfigError(
                f"{self.name}: a WRITE_SAMPLES of one {x.shape[1]}-input sample needs "
                f"{cmd.WRITE_SAMPLES_HEADER + record} bytes, "
                f"more than the device's max_payload {self.max_payload}"
            )

        def send(start: int, count: int, splittable: bool) -> None:
            payload = cmd.encode_write_samples(first + start, x[start : start + count], labels[start : start + count])
            self.request(Command.WRITE_SAMPLES, payload, splittable=splittable)

        self._in_pieces(x.shape[0], record, cmd.WRITE_SAMPLES_HEADER, send)

    def train(self, n: int, batch: int, epochs: int, lr_inv: int, layer: int = -1) -> int:
        """Train on samples 0..n-1; returns the device's counter (0 if none)."""
        payload = cmd.encode_train(n, batch, epochs, lr_inv, layer)
        body = self.request(Command.TRAIN, payload, timeout=self.train_timeout)
        return cmd.decode_train(body)

    def predict(self, n: int, first: int = 0) -> np.ndarray:
        parts: list[np.ndarray] = []

        def send(start: int, count: int, splittable: bool) -> None:
            body = self.request(Command.PREDICT, cmd.encode_predict(first + start, count), timeout=self.train_timeout,
                                size=cmd.RESPONSE_STATUS + count, splittable=splittable)
            parts.append(cmd.decode_predict(body, count))

        self._in_pieces(n, 1, cmd.RESPONSE_STATUS, send)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def stats(self) -> cmd.Stats:
        return cmd.Stats.decode(self.request(Command.STATS))

    def reset(self) -> None:
        self.request(Command.RESET)

    def session(self, token: int | None = None) -> int | None:
        """The device's session token (0 after power-on), after setting it to
        `token` if given; None from a device without SESSION (it answers
        UNKNOWN: firmware from before the command)."""
        status, body = self.transact(Command.SESSION, cmd.encode_session(token))
        if status == Status.UNKNOWN:
            return None
        if status != Status.OK:
            raise DeviceError(f"{self.name}: SESSION failed with {cmd.status_name(status)}",
                              status=cmd.status_name(status), command="SESSION")
        return cmd.decode_session(body)
