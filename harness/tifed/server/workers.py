"""One federated device as the server drives it: a `Worker` takes the global
model and the current buffer and returns the device's locally trained model.

`ReferenceWorker` (board `sim`) computes the local update with tifed_models;
`DeviceWorker` drives firmware through a DeviceClient (PROTOCOL.md). Each
round runs in its own thread per device, so a worker touches only its own
link and state.

Every provisioning ends with a fresh session token (SESSION) that the device
keeps in RAM until it is reset; each round starts by checking it, so a
device that rebooted is never taken for one that holds the model. A round
that fails (the device lost its model and answers BAD_STATE, the token is
gone, a request failed past the client's budget, the link broke) is
recovered and re-run from the start, at most MAX_RECOVERIES times a round:
a broken link is opened again (device_link.py: backoff within the rejoin
budget), then the token tells what the device still holds. Kept: the model
is written again in full (it may have trained already), the samples and
feedback stay. Lost (or a device from before SESSION): it is re-provisioned
(CONFIGURE, feedback seed, model, samples). What happened goes to `events`.
A device that cannot come back (its process exited by itself), stays away
past the budget or keeps failing raises, and the federation drops it.

How the model crosses a device's link (deltas and digests with protocol 2)
is model_link.py's job; `expected`, when the server validates, gives the
reference's update of the device for a digest-only read-back.
"""
from __future__ import annotations

import abc
import contextlib
import secrets
import termios
import time
from typing import Any, Mapping

import numpy as np
import serial

import tifed_models
from tifed.boards.base import Board, RunningDevice, start_in_groups
from tifed.firmware import build
from tifed.errors import DeviceError, DeviceGone, DeviceUnusable, NoRoomError, ProtocolError, fold, one_line
from tifed.config import DEFAULT_REJOIN_TIMEOUT
from tifed.links.faults import FaultSpec
from tifed.links.settings import Throughput, WireOptions
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import TensorKind, tensor_id
from tifed.rounds.core import Update
from tifed.server.device_link import DeviceLink
from tifed.server.model_link import Expected, ModelLink
from tifed.training.config import TrainingConfig


MAX_RECOVERIES = 2  # recoveries of one device within one round before it is dropped


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
    def train_round(self, global_model: tifed_models.Model, buffer: int, x: np.ndarray, y: np.ndarray,
                    expected: Expected | None = None) -> Update:
        """One pass (epochs=1) over buffer `buffer` = (x, y) from `global_model`.
        `expected()`, where given, is the reference's update for the same
        (None: not computed), which a device may confirm by digest."""

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

    def train_round(self, global_model, buffer, x, y, expected=None):
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
        [-1 if w.layer is None else w.layer for w in workers], s.weight_bits)
    return [Update(m, None) for m in models]


class DeviceWorker(Worker):
    """Firmware behind a RunningDevice (host process, emulator, real board)."""

    def __init__(self, index, board, layer, spec, running: RunningDevice, faults: FaultSpec | None = None,
                 rejoin_timeout: float = DEFAULT_REJOIN_TIMEOUT, wire: WireOptions | None = None):
        super().__init__(index, board, layer, spec)
        self.running = running
        self.faults = faults  # --faults: the link goes through a fault:// injector
        self.wire = wire or WireOptions()
        self.link_keeper = DeviceLink(running, index, faults, rejoin_timeout, self.wire.line_rate)
        self.client: DeviceClient | None = None
        self.model_link: ModelLink | None = None  # what the device's W, b are, and how models cross its link
        self._identity: Any = None  # the first IDENTIFY answer
        self._token: int | None = None  # the session token of the last provisioning; None: no SESSION
        self._buffer: int | None = None  # which buffer the device holds
        self._counts_instructions = False
        self._stack_peak = 0
        self._throughput = Throughput()  # model, samples and weights moved (not TRAIN)

    @property
    def _port(self) -> Any:
        return self.link_keeper.port

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
            options = dict(getattr(self.running, "client_options", None) or {})
            if self.faults is not None:
                options.update(self.faults.client_options())
            port = self.link_keeper.open()
            self.client = DeviceClient(port, name=self.name, device=self.running, protocol=self.wire.protocol,
                                       **options)
            self.model_link = ModelLink(self.client, self.spec, self.wire.full_readback)
            self._identity = self.client.identify()
            self._counts_instructions = self._identity.counter_kind != 0
        self._resilient(self._provision)

    def _provision(self) -> None:
        """Model layout and feedback, then a new session token: the device
        holds zeros and no samples."""
        s = self.spec
        self._token, self.model_link.held, self._buffer = None, None, None
        self.client.configure(s.dims, s.buffer_len, s.batch, s.weight_bits)
        self.client.set_feedback_seed(s.seed)
        self._check_feedback()
        self.model_link.reset()  # CONFIGURE zeroes every weight and bias
        token = secrets.randbits(32) or 1  # 0 is what a device holds after power-on
        self._token = token if self.client.session(token) == token else None

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

    def _check_session(self) -> None:
        """The device still holds what the last provisioning gave it."""
        if self._token is not None and (held := self.client.session()) != self._token:
            raise ProtocolError(f"{self.name}: session token 0x{held or 0:08X}, expected 0x{self._token:08X} "
                                f"(the device restarted)")

    def train_round(self, global_model, buffer, x, y, expected=None):
        return self._resilient(lambda: self._train_round(global_model, buffer, x, y, expected))

    def _resilient(self, work):
        """work(), recovered and run again after a failure (at most
        MAX_RECOVERIES times); DeviceUnusable or DeviceGone past that."""
        recoveries = 0
        while True:
            began = time.monotonic()
            try:
                with self._link_errors():
                    return work()
            except NoRoomError:
                raise
            except (DeviceError, ProtocolError, DeviceGone) as exc:
                if recoveries == MAX_RECOVERIES:
                    raise DeviceUnusable(f"{self.name}: still failing after {recoveries} recoveries "
                                         f"this round: {self._own(exc)}") from None
                recoveries += 1
                self._recover(exc, began)

    def _recover(self, failure: Exception, began: float) -> None:
        """Find out what became of the device and set it up again: open a
        broken link again, then re-provision a device that lost its state,
        or write the whole model again to one that kept it (its weights may
        have trained already)."""
        why = self._own(failure)
        self.model_link.held = None
        event: dict[str, Any] = {"device": self.index, "detail": why}
        try:
            with self._link_errors():
                if isinstance(failure, DeviceGone):
                    event["reopen_attempts"] = self.link_keeper.rejoin(self._answers, why)
                else:
                    self.client.resync()
                info = self.client.identify()
                kept = self._kept_state()
                if not kept:
                    self._provision()
        except DeviceGone as exc:
            raise DeviceGone(f"{self.name}: {self._own(exc)}") from None
        except (DeviceError, ProtocolError) as exc:
            raise DeviceUnusable(f"{self.name}: {why}; then re-provisioning failed: {self._own(exc)}") from None
        if kept:
            event["event"] = "link" if isinstance(failure, DeviceGone) else "error"
            event["action"] = "device kept its state (session token): model written again, round re-run"
        else:
            event["event"] = "reset" if kept is False else "error"
            event["action"] = "re-provisioned, round re-run"
        if info != self._identity:
            event["identify"] = f"changed: board {info.board} firmware {info.fw_version} arena {info.arena_bytes}"
        event["seconds_lost"] = round(time.monotonic() - began, 3)
        self.events.append(event)

    def _answers(self, port: Any, seconds: float) -> None:
        """The device answers IDENTIFY on a link opened again."""
        self.client.attach(port)
        self.client.identify(timeout=seconds)

    def _kept_state(self) -> bool | None:
        """Does the device still hold what it was given? By its session
        token; a device without SESSION (None before provisioning, too) is
        judged by its arena: False when empty (it reset), else None (unknown)."""
        token = self.client.session()
        if token is not None and self._token is not None:
            return token == self._token
        return False if self.client.stats().arena_used == 0 else None

    def _train_round(self, global_model, buffer, x, y, expected):
        s = self.spec
        self._check_session()
        sent = _Transfer(self)
        self.model_link.send(global_model)  # only what changed: round 1 writes nothing
        if buffer != self._buffer:
            self._buffer = None  # half written, until it is all through
            self.client.write_samples(x, y)
            self._buffer = buffer
        sent.close()
        counter = self.client.train(x.shape[0], s.batch, 1, s.lr_inv, -1 if self.layer is None else self.layer)
        self.model_link.held = None  # trained: no longer the model written, until read back
        received = _Transfer(self)
        trained, readback = self.model_link.receive(global_model, self.trained_layers, expected)
        received.close()
        return Update(trained, int(counter) if self._counts_instructions else None, readback=readback)

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
        return self.link_keeper.fault_counts()

    def link(self) -> dict[str, Any] | None:
        baud = (self.running.kwargs or {}).get("baudrate")
        report = self._throughput.report(self.running.url, baud)
        if self.client is not None and self.client.sizer is not None:
            report["frame_payload"] = self.client.sizer.figures.to_json()
        report["opened"] = self.link_keeper.opened
        return report

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
            self.link_keeper.close()
        finally:
            self.running.stop()


def start_workers(boards: Mapping[int, Board], layers: Mapping[int, int | None], spec: TrainingConfig,
                  workers: dict[int, Worker], faults: FaultSpec | None = None,
                  rejoin_timeout: float = DEFAULT_REJOIN_TIMEOUT, wire: WireOptions | None = None) -> None:
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
            workers[d] = DeviceWorker(d, boards[d], layers[d], spec, running, faults, rejoin_timeout, wire)


class _Transfer:
    """Wire bytes and seconds from creation to close(), added to the
    worker's throughput (a stretch of pure transfer: writes or reads)."""

    def __init__(self, worker: DeviceWorker):
        self._worker = worker
        self._bytes = worker.wire_bytes()
        self._t0 = time.monotonic()

    def close(self) -> None:
        self._worker._throughput.add(self._worker.wire_bytes() - self._bytes, time.monotonic() - self._t0)
