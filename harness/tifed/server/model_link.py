"""The model crossing one device's link, in the protocol the device speaks.

`ModelLink` knows what the device holds (CONFIGURE zeroes it; every write
and read-back since then; None: unknown, as after TRAIN until the read-back
or after a failure) and moves models accordingly:

- down (`send`): only the tensors that changed (every one, whole, when
  what the device holds is unknown). With protocol 2 each goes as a delta
  against what the device holds (WRITE_DELTA), and the device then confirms
  a digest of everything it holds; a mismatch is a ProtocolError, so the
  worker recovers the device.
- up (`receive`), with protocol 2:
  * validation on: the device's digest of its trained tensors only. When
    it matches the digest of the reference's update for the same model and
    buffer, that update (the server's own copy) is the device's; else the
    trained tensors are read whole and the round's judge reports which
    values differ;
  * validation off (or Flower's nodes, which do not validate): the low
    bits of each trained value (READ_LOW_BITS), which decide it given the
    global model the server sent, since one round moves a value by a
    bounded amount (rounds/checks.py). The bits follow the largest step
    seen so far, and the device's digest confirms the result; a value that
    moved further is read again with the bits of the proven bound.
  With protocol 1, or --full-readback (an audit), the trained tensors are
  read whole, as before.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import tifed_models
from tifed.errors import ProtocolError
from tifed.protocol.bitcode import nearest_with_low_bits
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import TensorKind, model_tensor_ids, tensor_id
from tifed.protocol.tensor_digest import model_digest
from tifed.rounds.checks import step_bounds
from tifed.training.config import TrainingConfig

Expected = Callable[[], "tifed_models.Model | None"]

# How an update came back (results.json rounds[].readback).
READ_DIGEST, READ_LOW_BITS, READ_FULL = "digest", "low_bits", "full"


class ModelLink:
    def __init__(self, client: DeviceClient, spec: TrainingConfig, full_readback: bool = False):
        self.client = client
        self.spec = spec
        self.full_readback = full_readback
        self.held: tifed_models.Model | None = tifed_models.Model.zeros(spec.dims)
        self._ids = model_tensor_ids(spec.n_layers)
        bounds = step_bounds(spec.dims, spec.buffer_len, spec.batch, spec.lr_inv)
        # Bits that always decide a trained value from the global one: the bound and a sign.
        self._proven = {tensor_id(kind, l): min(32, bound.bit_length() + 1)
                        for l, pair in enumerate(bounds) for kind, bound in zip(TensorKind, pair)}
        self._bits = dict(self._proven)  # bits the next read asks for, per tensor

    def reset(self) -> None:
        """The device was (re)configured: it holds zeros."""
        self.held = tifed_models.Model.zeros(self.spec.dims)

    # --- down -----------------------------------------------------------------

    def send(self, model: tifed_models.Model) -> None:
        c, held, changed = self.client, self.held, False
        self.held = None  # unknown until every write is through and confirmed
        for layer in range(model.n_layers):
            for kind, new, old in ((TensorKind.WEIGHTS, model.weights[layer], None if held is None else held.weights[layer]),
                                   (TensorKind.BIAS, model.biases[layer], None if held is None else held.biases[layer])):
                if old is not None and np.array_equal(new, old):
                    continue
                changed = True
                if c.compact and old is not None:
                    c.write_delta(tensor_id(kind, layer), new, old)
                else:
                    c.write_tensor(tensor_id(kind, layer), new)
        if changed and c.compact:
            device = c.digest(self._ids)
            if device != model_digest(model):
                raise ProtocolError(f"{c.name}: after the model's deltas the device holds a model with digest "
                                    f"{device:016x}, not the sent one's {model_digest(model):016x}")
        self.held = model.copy()

    # --- up -------------------------------------------------------------------

    def receive(self, global_model: tifed_models.Model, layers: list[int],
                expected: Expected | None = None) -> tuple[tifed_models.Model, str]:
        """The device's model after training `layers` from `global_model`,
        and how it was read (READ_DIGEST, READ_LOW_BITS, READ_FULL)."""
        c = self.client
        if not c.compact or self.full_readback:
            model, how = self._read_whole(global_model, layers), READ_FULL
        else:
            reference = expected() if expected is not None else None
            if reference is not None:
                if c.digest(self._ids) == model_digest(reference):
                    model, how = reference.copy(), READ_DIGEST
                else:  # not what the reference trained: the round's judge says where
                    model, how = self._read_whole(global_model, layers), READ_FULL
            else:
                model, how = self._read_low_bits(global_model, layers)
        self.held = model.copy()
        return model, how

    def _read_whole(self, global_model: tifed_models.Model, layers: list[int]) -> tifed_models.Model:
        trained = global_model.copy()
        for layer in layers:
            rows, cols = self.spec.dims[layer], self.spec.dims[layer + 1]
            w = self.client.read_tensor(tensor_id(TensorKind.WEIGHTS, layer), rows * cols)
            trained.weights[layer] = w.reshape(rows, cols).astype(np.int32)
            trained.biases[layer] = self.client.read_tensor(tensor_id(TensorKind.BIAS, layer), cols).astype(np.int32)
        return trained

    def _read_low_bits(self, global_model: tifed_models.Model, layers: list[int]) -> tuple[tifed_models.Model, str]:
        c = self.client
        device = c.digest(self._ids)
        trained = self._decide(global_model, layers, self._bits)
        if model_digest(trained) != device:  # a step beyond the bits asked for: the proven bits decide
            trained = self._decide(global_model, layers, self._proven)
            if model_digest(trained) != device:  # beyond what training can do: read it as it is
                return self._read_whole(global_model, layers), READ_FULL
        for layer in layers:
            for kind, new, old in ((TensorKind.WEIGHTS, trained.weights[layer], global_model.weights[layer]),
                                   (TensorKind.BIAS, trained.biases[layer], global_model.biases[layer])):
                step = int(np.abs(new.astype(np.int64) - old.astype(np.int64)).max()) if new.size else 0
                tid = tensor_id(kind, layer)
                self._bits[tid] = min(self._proven[tid], step.bit_length() + 2)  # twice the largest step, signed
        return trained, READ_LOW_BITS

    def _decide(self, global_model: tifed_models.Model, layers: list[int],
                bits: dict[int, int]) -> tifed_models.Model:
        """The trained values whose low bits the device sends, each the one
        nearest the global model's value."""
        trained = global_model.copy()
        for layer in layers:
            for kind, ref in ((TensorKind.WEIGHTS, global_model.weights[layer]),
                              (TensorKind.BIAS, global_model.biases[layer])):
                tid = tensor_id(kind, layer)
                low = self.client.read_low_bits(tid, ref.size, bits[tid])
                values = nearest_with_low_bits(low, ref.ravel(), bits[tid]).reshape(ref.shape).astype(np.int32)
                (trained.weights if kind == TensorKind.WEIGHTS else trained.biases)[layer] = values
        return trained
