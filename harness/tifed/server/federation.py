"""The federation loop (algorithm.md "Federated schedule").

Per round: every device still in the run trains one pass over its current
buffer from the global model, in parallel (a thread per device: pyserial and
NumPy release the GIL, so K slow emulators overlap); meanwhile the server
recomputes each device's update with the reference (`validate`); then it
checks every update (update_checks.py), aggregates the accepted ones (full
mode: truncating mean; single mode: each layer over its own group), measures
test accuracy, watches for a collapse (divergence.py), saves a checkpoint
and writes results.json.

Faults do not end a run while a quorum (--quorum; default: every device) is
left: a device that resets is re-provisioned and its round
re-run (workers.py); a device that is gone or keeps failing is dropped; an
update that fails a check is rejected; with --round-timeout a device still
busy at the deadline is left out of that round, and its late update is
thrown away when it comes (never mixed into a later round). Each round
closes at its deadline once a quorum of updates is in, else as soon as one
is. Everything that happened is in results.json (rounds[].events).

Whatever ends a run (too few devices, Ctrl-C, a bug), every started device
is stopped, and results.json keeps the rounds done so far.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Any, Callable, Mapping

import numpy as np

import tifed_models
from tifed.firmware import build
from tifed.config import RunPlan
from tifed.errors import QuorumError, TifedError, one_line
from tifed.links.faults import parse_faults
from tifed.output.results import ResultsWriter, final_summary
from tifed.server.checkpoint import Checkpoint
from tifed.server.collect import collect_updates
from tifed.server.divergence import DivergenceGuard, chance_level, evaluate
from tifed.server.link_tally import LINK_COUNTERS, link_delta, link_totals
from tifed.training.schedule import Round
from tifed.server.update_checks import judge_updates, step_bounds
from tifed.server.workers import DeviceWorker, LocalUpdate, ReferenceWorker, TrainSpec, Worker

RoundCallback = Callable[[dict[str, Any]], None]
EventCallback = Callable[[str], None]


class Federation:
    def __init__(self, plan: RunPlan, on_round: RoundCallback | None = None,
                 on_event: EventCallback | None = None, resume: Checkpoint | None = None, *,
                 on_round_start: Callable[[Round], None] | None = None,
                 on_devices_ready: Callable[[Mapping[int, Worker]], None] | None = None):
        """`on_round` gets each round's results.json entry once it is
        written; `on_event` one line per thing a user should hear about while
        the run goes on (a device dropped, an update rejected, a collapse).
        `on_round_start(round)` and `on_devices_ready(workers)` (after every
        device's setup) are for instruments such as the bench's timer."""
        self.plan = plan
        c = plan.config
        self.spec = TrainSpec(plan.dims, c.buffer_len, c.batch, c.lr_inv, c.seed)
        self.on_round = on_round
        self.on_round_start = on_round_start
        self.on_devices_ready = on_devices_ready
        self.on_event = on_event
        self.faults = parse_faults(c.faults) if c.faults else None
        self.quorum = plan.quorum
        self.workers: dict[int, Worker] = {}
        self.active: list[int] = []  # devices still in the run
        self.dropped: dict[int, dict[str, Any]] = {}  # device -> {"round", "reason"}
        self._late: dict[int, cf.Future] = {}  # stragglers still busy with an earlier round
        self.global_model = tifed_models.Model.zeros(plan.dims)
        self.feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
        self.bounds = step_bounds(plan.dims, c.buffer_len, c.batch, c.lr_inv)
        self.guard = DivergenceGuard(chance_level(plan.data.y_test, plan.data.classes))
        self.stopped: str | None = None  # "divergence" when --stop-on-divergence ended the run
        self.done_rounds = 0
        self.resumed_after: list[int] = []
        self._wall_before = 0.0
        self.results = ResultsWriter(c.out, plan.resolved(), self._device_entries())
        if resume is not None:
            self._restore(resume)
        self._pool: cf.ThreadPoolExecutor | None = None
        self._started = time.monotonic()

    def _restore(self, cp: Checkpoint) -> None:
        self.global_model = cp.model
        self.done_rounds = cp.round
        self.results.rounds = list(cp.rounds)
        self.dropped = dict(cp.dropped)
        if cp.guard is not None:
            self.guard = DivergenceGuard.from_state(cp.guard)
        self._wall_before = cp.wall_seconds
        self.resumed_after = cp.resumed_after + [cp.round]

    # --- devices --------------------------------------------------------------

    def _device_entries(self) -> list[dict[str, Any]]:
        entries = []
        for i, board in enumerate(self.plan.boards):
            worker = self.workers.get(i)
            entry = {
                "id": i,
                "board": board.name,
                "layer": self.plan.layers[i],
                "firmware": worker.firmware() if worker is not None else None,
                "link": worker.link() if worker is not None else None,
            }
            if i in self.dropped:
                entry["dropped"] = self.dropped[i]
            faults = worker.fault_counts() if worker is not None else None
            if faults is not None:
                entry["faults_injected"] = faults
            entries.append(entry)
        return entries

    def _start_devices(self) -> None:
        """Start every device not dropped before a resume, board kind by board
        kind (start_many lets a backend start its whole share at once);
        workers are registered as they come, so a failure half way still
        stops what was started. A device that fails its setup is dropped."""
        spec, plan = self.spec, self.plan
        by_board: dict[int, list[int]] = {}
        for i, board in enumerate(plan.boards):
            if i in self.dropped:
                continue
            if board.has_device:
                by_board.setdefault(id(board), []).append(i)
            else:
                self.workers[i] = ReferenceWorker(i, board, plan.layers[i], spec)
        for indices in by_board.values():  # build failures surface before any device runs
            board = plan.boards[indices[0]]
            image = board.image_path()
            if image is not None:
                build.ensure_built(board.name, image)
        for indices in by_board.values():
            board = plan.boards[indices[0]]
            for i, running in zip(indices, board.start_many(indices)):
                self.workers[i] = DeviceWorker(i, board, plan.layers[i], spec, running, self.faults)
        self.active = sorted(self.workers)
        futures = {self._pool.submit(self.workers[i].setup): i for i in self.active}
        failed = {}
        for f in cf.as_completed(futures):
            if f.exception() is not None:
                if not isinstance(f.exception(), TifedError):
                    raise f.exception()
                failed[futures[f]] = f.exception()
        events: list[dict[str, Any]] = []
        for i in sorted(failed):
            self._drop(i, 0, failed[i], events)
        self._each_active(lambda w: w.refresh_stats())

    def _drop(self, i: int, round_number: int, exc: BaseException, events: list[dict[str, Any]]) -> None:
        """Take device i out of the run (stopped, recorded); too few left ends the run."""
        w = self.workers[i]
        events.extend(w.take_events())
        self.active.remove(i)
        reason = one_line(exc)
        self.dropped[i] = {"round": round_number, "reason": reason}
        events.append({"device": i, "event": "dropped", "detail": reason})
        try:
            w.stop()
        except Exception:  # a stop failure cannot be acted on; the device is out either way
            pass
        self._tell(f"dropped {reason}" if reason.startswith(f"{w.name}: ") else f"dropped {w.name}: {reason}")
        if len(self.active) < self.quorum:
            raise QuorumError(f"{reason}; {len(self.active)} devices left, below the quorum of {self.quorum}")
        if self.plan.config.mode == "single":
            layer = self.plan.layers[i]
            if not any(self.plan.layers[j] == layer for j in self.active):
                raise QuorumError(f"{reason}; no device is left to train layer {layer}")

    def stop_all(self) -> None:
        for w in self.workers.values():
            try:
                w.stop()
            except Exception:  # keep stopping the others; a stop failure cannot be acted on
                pass

    def _each_active(self, fn: Callable[[Worker], Any]) -> None:
        """fn(worker) for every active worker not busy with a late round, at
        once; device failures are ignored here (statistics only), harness
        bugs are raised."""
        futures = [self._pool.submit(fn, self.workers[i]) for i in self._free()]
        for f in cf.as_completed(futures):
            if f.exception() is not None and not isinstance(f.exception(), TifedError):
                raise f.exception()

    # --- the run ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """All rounds (those after the checkpoint's, when resuming); returns
        results.json's "final"."""
        self._started = time.monotonic()
        self._update_final_extras()
        self.results.final = {**final_summary(self.results.rounds, self._elapsed(), complete=False, error=None),
                              **self.results.extra_final}
        self.results.write()
        # One thread per device, plus one for the reference's expected updates.
        self._pool = cf.ThreadPoolExecutor(max_workers=len(self.plan.boards) + 1, thread_name_prefix="device")
        try:
            self._start_devices()
            if self.on_devices_ready is not None:
                self.on_devices_ready(self.workers)
            self.results.devices = self._device_entries()
            self.results.write()
            for rnd in self.plan.schedule:
                if rnd.number <= self.done_rounds:
                    continue
                self._round(rnd)
                if self.guard.found is not None and self.plan.config.stop_on_divergence:
                    self.stopped = "divergence"
                    break
            self._each_active(lambda w: w.refresh_stats())
            self.results.devices = self._device_entries()
        except BaseException as exc:
            self.stop_all()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self.results.devices = self._device_entries()
            self._update_final_extras()
            self.results.finish(self._elapsed(), self.global_model, error=one_line(exc))
            raise
        self.stop_all()
        self._pool.shutdown(wait=True)
        self._update_final_extras()
        self.results.finish(self._elapsed(), self.global_model)
        return self.results.final

    def _elapsed(self) -> float:
        return self._wall_before + time.monotonic() - self._started

    def _update_final_extras(self) -> None:
        self.results.extra_final = {
            "quorum": self.quorum,
            "dropped_devices": [{"device": i, **v} for i, v in sorted(self.dropped.items())],
            "divergence": self.guard.found,
            "stopped": self.stopped,
            "resumed_after_rounds": self.resumed_after,
        }

    def _round(self, rnd: Round) -> None:
        if self.on_round_start is not None:
            self.on_round_start(rnd)
        t0 = time.monotonic()
        c = self.plan.config
        events: list[dict[str, Any]] = []
        self._settle_late(rnd.number, events, wait=False)
        while len(self._free()) < self.quorum and self._late:  # a quorum needs some stragglers back
            self._settle_late(rnd.number, events, wait=True)
        free = self._free()
        part = rnd.samples(c.buffer_len)
        before = {i: link_totals(self.workers[i]) for i in free}
        g = self.global_model
        futures = {self._pool.submit(self.workers[i].train_round, g, rnd.buffer, *self._buffer(i, part)): i
                   for i in free}
        expected = self._pool.submit(self._expected, g, part, free) if c.validate else None  # overlaps the devices
        timeout = c.round_timeout
        received, failed, late = collect_updates(futures, None if timeout is None else t0 + timeout, self.quorum)
        for i in sorted(failed):
            self._drop(i, rnd.number, failed[i], events)
        for i in sorted(received):
            events.extend(self.workers[i].take_events())
        for i, future in late.items():
            self._late[i] = future
            events.append({"device": i, "event": "late",
                           "detail": f"no update within the round deadline of {c.round_timeout:g} s",
                           "action": "left out of this round; its update will be discarded"})
            self._tell(f"round {rnd.number}: {self.workers[i].name} missed the round deadline")
        accepted, rejected, mismatched = self._check(rnd.number, g, received, expected)
        if len(accepted) < self.quorum:
            why = "; ".join(f"device {r['device']}: {r['reason']}" for r in rejected) or "too few answered"
            raise QuorumError(f"round {rnd.number}: {len(accepted)} accepted updates, below the quorum of "
                              f"{self.quorum} ({why})")
        used = sorted(accepted)
        models = [accepted[i].model for i in used]
        if c.mode == "full":
            self.global_model = tifed_models.aggregate(models)
        else:
            self.global_model = tifed_models.aggregate_layers(g, models, [self.plan.layers[i] for i in used])
        accuracy, saturation = evaluate(self.global_model, self.plan.data.x_test, self.plan.data.y_test)
        link = link_delta(self.workers, before)
        counters = [accepted[i].instructions if i in accepted else None for i in range(len(self.plan.boards))]
        entry = {
            "round": rnd.number,
            "buffer": rnd.buffer,
            "test_accuracy": round(accuracy, 6),
            "bitexact": None if mismatched is None else not mismatched,
            "wire_bytes": int(link.pop("wire_bytes")),
            "seconds": round(time.monotonic() - t0, 4),
            "device_instructions": None if all(v is None for v in counters) else counters,
            "devices_used": used,
            "retransmissions": link["retransmissions"],
            "link_errors": {k: link[k] for k in LINK_COUNTERS if k != "retransmissions"},
            "saturation": round(saturation, 4),
            "events": events,
        }
        if mismatched:
            entry["mismatched_devices"] = mismatched
        if rejected:
            entry["rejected"] = rejected
        found = self.guard.observe(rnd.number, accuracy, saturation)
        if found is not None:
            entry["diverged"] = True
            self._tell(found["message"])
        self._update_final_extras()
        Checkpoint(
            round=rnd.number, run_config=self.plan.requested_dict(), model=self.global_model,
            rounds=self.results.rounds + [entry], dropped=self.dropped, guard=self.guard.state(),
            wall_seconds=self._elapsed(), resumed_after=self.resumed_after,
        ).save(c.out)
        self.results.add_round(entry, self._elapsed())
        if self.on_round is not None:
            self.on_round(entry)

    def _free(self) -> list[int]:
        return [i for i in self.active if i not in self._late]

    def _buffer(self, i: int, part: slice) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.plan.shards[i]
        return x[part], y[part]

    def _settle_late(self, round_number: int, events: list[dict[str, Any]], wait: bool) -> None:
        """Stragglers that have finished: their update is thrown away (it
        was trained from an old global model), a failure drops them."""
        if wait and self._late:
            cf.wait(list(self._late.values()), return_when=cf.FIRST_COMPLETED)
        for i, future in sorted(self._late.items()):
            if not future.done():
                continue
            del self._late[i]
            exc = future.exception()
            if exc is None:
                events.extend(self.workers[i].take_events())
                events.append({"device": i, "event": "late update discarded",
                               "detail": "it finished a round that had closed without it"})
            elif isinstance(exc, TifedError):
                self._drop(i, round_number, exc, events)
            else:
                raise exc

    def _check(self, round_number: int, g: tifed_models.Model, received: dict[int, LocalUpdate],
               expected: cf.Future | None):
        """(accepted updates, rejections, mismatched devices or None without validation)."""
        reference = expected.result() if expected is not None else None
        layers = {i: self.workers[i].trained_layers for i in received}
        accepted, rejected, mismatched = judge_updates(g, received, reference, layers, self.bounds)
        for r in rejected:
            self._tell(f"round {round_number}: rejected the update of {self.workers[r['device']].name}: {r['reason']}")
        return accepted, rejected, mismatched

    def _expected(self, g: tifed_models.Model, part: slice, indices: list[int]) -> dict[int, tifed_models.Model | None]:
        """The reference's local update per device; None for sim devices,
        whose update is the reference's by construction."""
        out: dict[int, tifed_models.Model | None] = {}
        for i in indices:
            w = self.workers[i]
            if w.is_reference:
                out[i] = None
                continue
            bx, by = self._buffer(i, part)
            layer = -1 if w.layer is None else w.layer
            t = tifed_models.targets(by, self.spec.classes)
            out[i] = tifed_models.train(g, self.feedback, bx, t, self.spec.lr_inv, self.spec.batch, 1, layer)
        return out

    def _tell(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)
