"""DeviceClient: the server's side of PROTOCOL.md over one byte link, the
commands (identify, configure, tensors, samples, train, predict, stats,
session) on top of RequestExchange (exchange.py: framing, retransmission,
dead or slow devices). Transfers go in frames of the FrameSizer's current
size (frame_size.py), split again whenever it shrinks mid-transfer."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tifed.errors import ConfigError, DeviceError, NoRoomError, ProtocolError
from tifed.protocol import payloads as cmd
from tifed.protocol.payloads import Command, Status, TensorKind, tensor_id
from tifed.protocol.exchange import (DEFAULT_RETRIES, DEFAULT_TIMEOUT, DEFAULT_TRAIN_TIMEOUT, FrameShrunk,
                                     LinkCounters, RequestExchange)
from tifed.protocol.frame_size import FrameSizer

__all__ = ["DeviceClient", "LinkCounters", "DEFAULT_TIMEOUT", "DEFAULT_TRAIN_TIMEOUT", "DEFAULT_RETRIES"]


class DeviceClient(RequestExchange):
    # --- commands -------------------------------------------------------------

    def identify(self, timeout: float | None = None) -> cmd.Identify:
        """IDENTIFY (first in every session); `timeout` bounds the whole
        exchange, retries included, when given."""
        wait = None if timeout is None else timeout / (self.retries + 1)
        info = cmd.Identify.decode(self.request(Command.IDENTIFY, timeout=wait))
        if info.proto != cmd.PROTOCOL_VERSION:
            raise ProtocolError(f"{self.name}: device speaks protocol {info.proto}, the harness {cmd.PROTOCOL_VERSION}")
        if info.max_payload < 16:
            raise ProtocolError(f"{self.name}: max_payload {info.max_payload} is too small to be usable")
        self.info = info
        if self.sizer is None or self.sizer.ceiling != self.max_payload:  # kept across a link opened again
            self.sizer = FrameSizer(self.max_payload)
        return info

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
