"""The federation loop (algorithm.md "Federated schedule").

Per round: every device trains one pass over its current buffer from the
global model, in parallel (a thread per device: pyserial and NumPy release
the GIL, so K slow emulators overlap); meanwhile the server recomputes each
device's update with the reference (`validate`); then it aggregates (full
mode: truncating mean over all devices; single mode: each layer over its own
group), measures test accuracy and writes results.json.

Whatever ends a run (a device that dies, Ctrl-C, a bug), every started
device is stopped, and results.json keeps the rounds done so far.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Any, Callable

import numpy as np

import tifed_models
from tifed import build
from tifed.config import RunPlan
from tifed.errors import TifedError
from tifed.results import ResultsWriter
from tifed.server.workers import DeviceWorker, LocalUpdate, ReferenceWorker, TrainSpec, Worker

RoundCallback = Callable[[dict[str, Any]], None]


class Federation:
    def __init__(self, plan: RunPlan, on_round: RoundCallback | None = None):
        self.plan = plan
        c = plan.config
        self.spec = TrainSpec(plan.dims, c.buffer_len, c.batch, c.lr_inv, c.seed)
        self.on_round = on_round
        self.workers: list[Worker] = []
        self.global_model = tifed_models.Model.zeros(plan.dims)
        self.feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
        self.results = ResultsWriter(c.out, plan.resolved(), self._device_entries())
        self._pool: cf.ThreadPoolExecutor | None = None
        self._started = time.monotonic()

    # --- devices --------------------------------------------------------------

    def _device_entries(self) -> list[dict[str, Any]]:
        entries = []
        for i, board in enumerate(self.plan.boards):
            worker = self.workers[i] if i < len(self.workers) else None
            entries.append({
                "id": i,
                "board": board.name,
                "layer": self.plan.layers[i],
                "firmware": worker.firmware() if worker is not None else None,
                "link": worker.link() if worker is not None else None,
            })
        return entries

    def _start_devices(self) -> None:
        """Start every device, board kind by board kind (start_many lets a
        backend start its whole share at once); workers are registered as
        they come, so a failure half way still stops what was started."""
        spec, plan = self.spec, self.plan
        slots: list[Worker | None] = [None] * len(plan.boards)
        by_board: dict[int, list[int]] = {}
        for i, board in enumerate(plan.boards):
            if board.has_device:
                by_board.setdefault(id(board), []).append(i)
            else:
                slots[i] = ReferenceWorker(i, board, plan.layers[i], spec)
        for indices in by_board.values():  # build failures surface before any device runs
            board = plan.boards[indices[0]]
            image = board.image_path()
            if image is not None:
                build.ensure_built(board.name, image)
        try:
            for indices in by_board.values():
                board = plan.boards[indices[0]]
                for i, running in zip(indices, board.start_many(indices)):
                    slots[i] = DeviceWorker(i, board, plan.layers[i], spec, running)
        finally:
            self.workers = [w for w in slots if w is not None]
        self._each(lambda w: w.setup())
        self._each(lambda w: w.refresh_stats())

    def stop_all(self) -> None:
        for w in self.workers:
            try:
                w.stop()
            except Exception:  # keep stopping the others; a stop failure cannot be acted on
                pass

    def _each(self, fn: Callable[[Worker], Any]) -> list[Any]:
        """fn(worker) for every worker concurrently; the first failure stops
        all devices (so the others fail fast too) and is raised."""
        return self._gather([self._pool.submit(fn, w) for w in self.workers])

    # --- the run ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """All rounds; returns results.json's "final"."""
        self._started = time.monotonic()
        self.results.write()
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, len(self.plan.boards)), thread_name_prefix="device")
        try:
            self._start_devices()
            self.results.devices = self._device_entries()
            self.results.write()
            for rnd in self.plan.schedule:
                self._round(rnd)
            self._each(lambda w: w.refresh_stats())
            self.results.devices = self._device_entries()
        except BaseException as exc:
            self.stop_all()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self.results.devices = self._device_entries()
            self.results.finish(self._elapsed(), self.global_model, error=_one_line(exc))
            raise
        self.stop_all()
        self._pool.shutdown(wait=True)
        self.results.finish(self._elapsed(), self.global_model)
        return self.results.final

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _round(self, rnd) -> None:
        t0 = time.monotonic()
        c = self.plan.config
        part = rnd.samples(c.buffer_len)
        buffers = [(x[part], y[part]) for x, y in self.plan.shards]
        before = [w.wire_bytes() for w in self.workers]
        g = self.global_model
        futures = [self._pool.submit(w.train_round, g, rnd.buffer, bx, by) for w, (bx, by) in zip(self.workers, buffers)]
        expected = self._expected(g, buffers) if c.validate else None  # overlaps the devices' work
        updates: list[LocalUpdate] = self._gather(futures)
        wire = sum(w.wire_bytes() - b for w, b in zip(self.workers, before))

        mismatched = [] if expected is not None else None
        if expected is not None:
            for w, up, exp in zip(self.workers, updates, expected):
                if exp is not None and not _same_layers(up.model, exp, w.trained_layers):
                    mismatched.append(w.index)

        models = [u.model for u in updates]
        if c.mode == "full":
            self.global_model = tifed_models.aggregate(models)
        else:
            self.global_model = tifed_models.aggregate_layers(g, models, self.plan.layers)
        pred = tifed_models.predict(self.global_model, self.plan.data.x_test)
        accuracy = float(np.mean(pred == self.plan.data.y_test))
        counters = [u.instructions for u in updates]
        entry = {
            "round": rnd.number,
            "buffer": rnd.buffer,
            "test_accuracy": round(accuracy, 6),
            "bitexact": None if mismatched is None else not mismatched,
            "wire_bytes": int(wire),
            "seconds": round(time.monotonic() - t0, 4),
            "device_instructions": None if all(v is None for v in counters) else counters,
        }
        if mismatched:
            entry["mismatched_devices"] = mismatched
        self.results.add_round(entry, self._elapsed())
        if self.on_round is not None:
            self.on_round(entry)

    def _expected(self, g: tifed_models.Model, buffers) -> list[tifed_models.Model | None]:
        """The reference's local update per device; None for sim devices,
        whose update is the reference's by construction."""
        out: list[tifed_models.Model | None] = []
        for w, (bx, by) in zip(self.workers, buffers):
            if w.is_reference:
                out.append(None)
                continue
            layer = -1 if w.layer is None else w.layer
            t = tifed_models.targets(by, self.spec.classes)
            out.append(tifed_models.train(g, self.feedback, bx, t, self.spec.lr_inv, self.spec.batch, 1, layer))
        return out

    def _gather(self, futures: list[cf.Future]) -> list[Any]:
        done, _ = cf.wait(futures, return_when=cf.FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            self.stop_all()
            cf.wait(futures)
            raise failed[0].exception()
        return [f.result() for f in futures]


def _same_layers(a: tifed_models.Model, b: tifed_models.Model, layers: list[int]) -> bool:
    return all(np.array_equal(a.weights[l], b.weights[l]) and np.array_equal(a.biases[l], b.biases[l]) for l in layers)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return str(exc) or "interrupted"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, TifedError) else f"{type(exc).__name__}: {first}"
