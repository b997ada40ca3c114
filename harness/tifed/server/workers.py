"""One federated device as the server drives it: a `Worker` takes the global
model and the current buffer and returns the device's locally trained model.

`ReferenceWorker` (board `sim`) computes the local update with tifed_models;
`DeviceWorker` drives firmware through a DeviceClient (PROTOCOL.md). Each
round runs in its own thread per device, so a worker touches only its own
link and state.

A device that loses its model mid-round (a reset: it answers BAD_STATE) or
whose requests fail past the client's retry budget is probed (IDENTIFY,
STATS), re-provisioned (CONFIGURE, feedback seed, then the round's global
model and buffer) and its round re-run from the start, at most
MAX_RECOVERIES times a round; what happened goes to `events`. A device that
is gone (its process exited, its link closed) or still failing raises, and
the federation drops it.
"""
from __future__ import annotations

import abc
import contextlib
import termios
import time
from typing import Any, Mapping

import numpy as np
import serial

import tifed_models
from tifed.boards.base import Board, RunningDevice, start_in_groups
from tifed.firmware import build
from tifed.errors import DeviceError, DeviceGone, DeviceUnusable, NoRoomError, ProtocolError, fold, one_line
from tifed.links.faults import FaultSpec, fault_url
from tifed.links.settings import Throughput
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import TensorKind, tensor_id
from tifed.links.transport import open_link
from tifed.rounds.core import Update
from tifed.training.config import TrainingConfig


MAX_RECOVERIES = 2  # re-provisions of one device within one round before it is dropped


class Worker(abc.ABC):
    """Device `index` of the fleet; `layer` is its layer in single mode, else None."""

    is_reference = False  # True: its update IS the reference, nothing to validate against

    def __init__(self, index: int, board: Board, layer: int | None, spec: TrainingConfig):
        self.index = index
        self.board = board
        self.layer = layer
        self.spec = spec
        self.name = f"device {index} ({board.name})"
        # What happened to the device (resets, re-provisions), for results.json;
        # the federation takes them once the worker's round is over.
        self.events: list[dict[str, Any]] = []

    @property
    def trained_layers(self) -> list[int]:
        return self.spec.trained_layers(self.layer)

    def setup(self) -> None:
        """Once, before round 1 (may talk to the device)."""

    @abc.abstractmethod
    def train_round(self, global_model: tifed_models.Model, buffer: int, x: np.ndarray, y: np.ndarray) -> Update:
        """One pass (epochs=1) over buffer `buffer` = (x, y) from `global_model`."""

    def wire_bytes(self) -> int:
        return 0

    def link_counters(self) -> dict[str, int] | None:
        """Running totals of the link's retransmissions, NAKs, timeouts, bad
        and stale frames (the federation takes differences per round)."""
        return None

    def fault_counts(self) -> dict[str, Any] | None:
        """What a fault:// link injected so far (None without --faults)."""
        return None

    def take_events(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events

    def firmware(self) -> dict[str, int] | None:
        """results.json devices[i].firmware, or None (sim, unknown image)."""
        return None

    def link(self) -> dict[str, Any] | None:
        """results.json devices[i].link: the link's throughput, or None (sim)."""
        return None

    def refresh_stats(self) -> None:
        """Ask the device for its stack peak (outside the per-round byte count)."""

    def stop(self) -> None:
        pass


class ReferenceWorker(Worker):
    """Board `sim`: the server trains with the reference in the device's place."""

    is_reference = True

    def __init__(self, index, board, layer, spec):
        super().__init__(index, board, layer, spec)
        self._feedback = tifed_models.feedback_matrices(spec.dims, spec.seed)

    def train_round(self, global_model, buffer, x, y):
        return train_references([self], global_model, [(x, y)])[0]


def train_references(workers: list[ReferenceWorker], global_model: tifed_models.Model,
                     buffers: list[tuple[np.ndarray, np.ndarray]]) -> list[Update]:
    """The round of several sim devices at once (same spec, buffers (x, y)
    in the same order): one tifed_models.fleet call instead of a thread and
    a reference call per device; the same integers (models/README.md)."""
    if not workers:
        return []
    s = workers[0].spec
    models = tifed_models.fleet.train_fleet(
        global_model, workers[0]._feedback, [x for x, _ in buffers],
        [tifed_models.targets(y, s.classes) for _, y in buffers], s.lr_inv, s.batch, 1,
        [-1 if w.layer is None else w.layer for w in workers])
    return [Update(m, None) for m in models]


class DeviceWorker(Worker):
    """Firmware behind a RunningDevice (host process, emulator, real board)."""

    def __init__(self, index, board, layer, spec, running: RunningDevice, faults: FaultSpec | None = None):
        super().__init__(index, board, layer, spec)
        self.running = running
        self.faults = faults  # --faults: the link goes through a fault:// injector
        self.client: DeviceClient | None = None
        self._client_options: dict[str, Any] = {}
        self._identity: Any = None  # the first IDENTIFY answer
        self._port: Any = None
        self._held: tifed_models.Model | None = None  # what the device's W, b are now
        self._buffer: int | None = None  # which buffer the device holds
        self._counts_instructions = False
        self._stack_peak = 0
        self._throughput = Throughput()  # model, samples and weights moved (not TRAIN)

    @contextlib.contextmanager
    def _link_errors(self):
        """Low-level link failures that reach us raw (a pty whose process
        died answers tcdrain with EIO) become the one-line DeviceGone."""
        try:
            yield
        except (OSError, termios.error, serial.SerialException) as exc:
            if not self.running.alive():
                raise DeviceGone(f"{self.name}: device gone: {self.running.describe_exit()}") from None
            reason = fold(exc) or type(exc).__name__
            raise DeviceGone(f"{self.name}: link failed: {reason}") from None

    def setup(self) -> None:
        with self._link_errors():
            self._setup()

    def _setup(self) -> None:
        url = self.running.url
        self._client_options = dict(getattr(self.running, "client_options", None) or {})
        if self.faults is not None:
            url = fault_url(url, self.faults.for_device(self.index))
            self._client_options.update(self.faults.client_options())
        self._port = open_link(url, **(self.running.kwargs or {}))
        self.client = DeviceClient(self._port, name=self.name, device=self.running, **self._client_options)
        self._identity = self.client.identify()
        self._counts_instructions = self._identity.counter_kind != 0
        self._provision()

    def _provision(self) -> None:
        """Model layout and feedback; the device then holds zeros and no samples."""
        s = self.spec
        self.client.configure(s.dims, s.buffer_len, s.batch)
        self.client.set_feedback_seed(s.seed)
        self._check_feedback()
        self._held = tifed_models.Model.zeros(s.dims)  # CONFIGURE zeroes every weight and bias
        self._buffer = None

    def _check_feedback(self) -> None:
        """Read B back once: the device's PRNG must give the reference's matrices."""
        for layer, expected in enumerate(tifed_models.feedback_matrices(self.spec.dims, self.spec.seed)):
            got = self.client.read_tensor(tensor_id(TensorKind.FEEDBACK, layer), expected.size)
            if not np.array_equal(got.astype(np.int64), expected.ravel()):
                wrong = int(np.count_nonzero(got.astype(np.int64) != expected.ravel()))
                raise ProtocolError(
                    f"{self.name}: feedback matrix {layer} from seed {self.spec.seed} differs from the reference "
                    f"in {wrong} of {expected.size} entries (firmware PRNG bug?)"
                )

    def _write_changes(self, model: tifed_models.Model) -> None:
        """Send only the tensors that differ from what the device holds."""
        for layer in range(model.n_layers):
            if not np.array_equal(model.weights[layer], self._held.weights[layer]):
                self.client.write_tensor(tensor_id(TensorKind.WEIGHTS, layer), model.weights[layer])
            if not np.array_equal(model.biases[layer], self._held.biases[layer]):
                self.client.write_tensor(tensor_id(TensorKind.BIAS, layer), model.biases[layer])
        self._held = model.copy()

    def train_round(self, global_model, buffer, x, y):
        recoveries = 0
        while True:
            try:
                with self._link_errors():
                    return self._train_round(global_model, buffer, x, y)
            except (DeviceError, ProtocolError) as exc:
                if isinstance(exc, NoRoomError):
                    raise
                if recoveries == MAX_RECOVERIES:
                    raise DeviceUnusable(f"{self.name}: still failing after {recoveries} re-provisions "
                                         f"this round: {self._own(exc)}") from None
                recoveries += 1
                self._recover(exc)

    def _recover(self, failure: Exception) -> None:
        """Find out what became of the device and set it up again."""
        why = self._own(failure)
        try:
            with self._link_errors():
                self.client.resync()
                info = self.client.identify()
                lost_model = self.client.stats().arena_used == 0
                self._provision()
        except (DeviceError, ProtocolError) as exc:
            raise DeviceUnusable(f"{self.name}: {why}; then re-provisioning failed: {self._own(exc)}") from None
        event = {
            "device": self.index,
            "event": "reset" if lost_model else "error",
            "detail": why,
            "action": "re-provisioned, round re-run",
        }
        if info != self._identity:
            event["identify"] = f"changed: board {info.board} firmware {info.fw_version} arena {info.arena_bytes}"
        self.events.append(event)

    def _train_round(self, global_model, buffer, x, y):
        s = self.spec
        sent = _Transfer(self)
        self._write_changes(global_model)  # only what changed: round 1 writes nothing
        if buffer != self._buffer:
            self.client.write_samples(x, y)
            self._buffer = buffer
        sent.close()
        counter = self.client.train(x.shape[0], s.batch, 1, s.lr_inv, -1 if self.layer is None else self.layer)
        received = _Transfer(self)
        trained = global_model.copy()
        for layer in self.trained_layers:
            rows, cols = s.dims[layer], s.dims[layer + 1]
            w = self.client.read_tensor(tensor_id(TensorKind.WEIGHTS, layer), rows * cols)
            trained.weights[layer] = w.reshape(rows, cols).astype(np.int32)
            trained.biases[layer] = self.client.read_tensor(tensor_id(TensorKind.BIAS, layer), cols).astype(np.int32)
        received.close()
        self._held = trained.copy()
        return Update(trained, int(counter) if self._counts_instructions else None)

    def _own(self, exc: BaseException) -> str:
        """The error's one line without our name in front (we add it once)."""
        text = one_line(exc)
        return text[len(self.name) + 2:] if text.startswith(f"{self.name}: ") else text

    def wire_bytes(self) -> int:
        return self.client.counters.wire_bytes if self.client is not None else 0

    def link_counters(self) -> dict[str, int] | None:
        if self.client is None:
            return None
        c = self.client.counters
        return {"retransmissions": c.retransmissions, "naks": c.naks, "timeouts": c.timeouts,
                "bad_frames": c.bad_frames, "stale_frames": c.stale_frames}

    def fault_counts(self) -> dict[str, Any] | None:
        counts = getattr(self._port, "fault_counts", None)
        return counts() if counts is not None else None

    def link(self) -> dict[str, Any] | None:
        baud = (self.running.kwargs or {}).get("baudrate")
        return self._throughput.report(self.running.url, baud)

    def refresh_stats(self) -> None:
        if self.client is not None:
            try:
                with self._link_errors():
                    self._stack_peak = max(self._stack_peak, int(self.client.stats().stack_peak))
            except DeviceError:
                pass  # a board without STATS support keeps 0 (unknown)

    def firmware(self) -> dict[str, int] | None:
        info = self.board.firmware_info()
        if info is None:
            return None
        return {"flash_bytes": info.flash_bytes, "ram_bytes": info.ram_bytes, "stack_peak_bytes": self._stack_peak}

    def stop(self) -> None:
        # The link first: a device that waits for our bytes (a socket peer)
        # sees the hang-up and can end at once.
        try:
            if self._port is not None:
                self._port.close()
        except Exception:  # closing a link whose device is gone may fail; nothing to keep
            pass
        finally:
            self.running.stop()


def start_workers(boards: Mapping[int, Board], layers: Mapping[int, int | None], spec: TrainingConfig,
                  workers: dict[int, Worker], faults: FaultSpec | None = None) -> None:
    """A worker for every device of `boards` (device id -> its board), put
    into `workers` as each comes, so a failure half way still leaves what
    was started there to stop. Every image is built (if stale) before any
    device starts; each start group starts its share at once (Board.start_group:
    a board kind, or every Renode board of the run in one emulation)."""
    by_board: dict[int, list[int]] = {}
    for d, board in boards.items():
        if board.has_device:
            by_board.setdefault(id(board), []).append(d)
        else:
            workers[d] = ReferenceWorker(d, board, layers[d], spec)
    for ids in by_board.values():
        board = boards[ids[0]]
        image = board.image_path()
        if image is not None:
            build.ensure_built(board.name, image)
    for group in start_in_groups((d, boards[d]) for ids in by_board.values() for d in ids):
        for d, running in group:
            workers[d] = DeviceWorker(d, boards[d], layers[d], spec, running, faults)


class _Transfer:
    """Wire bytes and seconds from creation to close(), added to the
    worker's throughput (a stretch of pure transfer: writes or reads)."""

    def __init__(self, worker: DeviceWorker):
        self._worker = worker
        self._bytes = worker.wire_bytes()
        self._t0 = time.monotonic()

    def close(self) -> None:
        self._worker._throughput.add(self._worker.wire_bytes() - self._bytes, time.monotonic() - self._t0)
