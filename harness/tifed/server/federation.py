"""The federation loop (algorithm.md "Federated schedule").

`tifed run`'s transport for the round core (rounds/core.py): per round,
every device still in the run trains one pass over its current buffer from
the global model, in parallel (a thread per device: pyserial and NumPy
release the GIL, so K slow emulators overlap); meanwhile the core recomputes
each device's update with the reference (`validate`); then the core checks,
aggregates and measures the round, and this loop saves a checkpoint and
writes results.json.

Faults do not end a run while a quorum (--quorum; default: every device) is
left: a device that resets or whose link breaks is found again (within
--rejoin-timeout), re-provisioned and its round re-run (workers.py); a device that is gone or keeps failing is dropped; an
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

from tifed.errors import TifedError, one_line
from tifed.links.faults import parse_faults
from tifed.output.results import ResultsWriter, final_summary
from tifed.plan import RunPlan
from tifed.rounds.core import RoundCore
from tifed.server.checkpoint import Checkpoint
from tifed.server.collect import collect_updates
from tifed.server.link_tally import link_delta, link_totals
from tifed.server.workers import Worker, start_workers, train_references
from tifed.training.schedule import Round

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
        self.on_round = on_round
        self.on_round_start = on_round_start
        self.on_devices_ready = on_devices_ready
        self.on_event = on_event
        self.core = RoundCore(c, plan.layers, plan.data, plan.shards, on_event=on_event,
                              evaluated=plan.evaluated_rounds)
        self.faults = parse_faults(c.recovery.faults) if c.recovery.faults else None
        self.workers: dict[int, Worker] = {}
        self._late: dict[int, cf.Future] = {}  # stragglers still busy with an earlier round
        self.done_rounds = 0
        self._wall_before = 0.0
        self.results = ResultsWriter(c.out, plan.resolved(), self._device_entries())
        if resume is not None:
            self._restore(resume)
        self._pool: cf.ThreadPoolExecutor | None = None
        self._started = time.monotonic()

    @property
    def global_model(self):
        return self.core.global_model

    def _restore(self, cp: Checkpoint) -> None:
        self.core.restore(cp.model, cp.dropped, cp.guard, cp.resumed_after + [cp.round], cp.rounds)
        self.done_rounds = cp.round
        self.results.rounds = list(cp.rounds)
        self._wall_before = cp.wall_seconds

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
            if i in self.core.dropped:
                entry["dropped"] = self.core.dropped[i]
            faults = worker.fault_counts() if worker is not None else None
            if faults is not None:
                entry["faults_injected"] = faults
            entries.append(entry)
        return entries

    def _start_devices(self) -> None:
        """Start every device not dropped before a resume; a device that
        fails its setup is dropped."""
        boards = {i: b for i, b in enumerate(self.plan.boards) if i not in self.core.dropped}
        start_workers(boards, dict(enumerate(self.plan.layers)), self.plan.training, self.workers, self.faults,
                      self.plan.config.recovery.rejoin_timeout,
                      self.plan.config.link.wire())
        self.core.names = {i: w.name for i, w in self.workers.items()}
        self.core.active = sorted(self.workers)
        futures = {self._pool.submit(self.workers[i].setup): i for i in self.core.active}
        failed = {}
        for f in cf.as_completed(futures):
            if f.exception() is not None:
                if not isinstance(f.exception(), TifedError):
                    raise f.exception()
                failed[futures[f]] = f.exception()
        for i in sorted(failed):
            self._drop(i, 0, failed[i])
        self._each_active(lambda w: w.refresh_stats())

    def _drop(self, i: int, round_number: int, exc: BaseException) -> None:
        """Take device i out of the run (stopped, recorded); too few left ends the run."""
        w = self.workers[i]
        self.core.events.extend(w.take_events())
        try:
            w.stop()
        except Exception:  # a stop failure cannot be acted on; the device is out either way
            pass
        reason = one_line(exc)
        self._tell(f"dropped {reason}" if reason.startswith(f"{w.name}: ") else f"dropped {w.name}: {reason}")
        self.core.drop([i], round_number, reason)

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
        futures = [self._pool.submit(fn, self.workers[i]) for i in self.core.free_devices()]
        for f in cf.as_completed(futures):
            if f.exception() is not None and not isinstance(f.exception(), TifedError):
                raise f.exception()

    # --- the run ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """All rounds (those after the checkpoint's, when resuming); returns
        results.json's "final"."""
        self._started = time.monotonic()
        self.results.extra_final = self.core.final_extras()
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
                if self.core.should_stop():
                    break
            self._each_active(lambda w: w.refresh_stats())
            self.results.devices = self._device_entries()
        except BaseException as exc:
            self.stop_all()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self.results.devices = self._device_entries()
            self.results.extra_final = self.core.final_extras()
            self.results.finish(self._elapsed(), self.core.global_model, error=one_line(exc))
            raise
        self.stop_all()
        self._pool.shutdown(wait=True)
        self.results.extra_final = self.core.final_extras()
        self.results.finish(self._elapsed(), self.core.global_model)
        return self.results.final

    def _elapsed(self) -> float:
        return self._wall_before + time.monotonic() - self._started

    def _round(self, rnd: Round) -> None:
        if self.on_round_start is not None:
            self.on_round_start(rnd)
        t0 = time.monotonic()
        core, c = self.core, self.plan.config
        core.begin_round()
        self._settle_late(rnd.number, wait=False)
        while core.needs_late_back():
            self._settle_late(rnd.number, wait=True)
        free = core.free_devices()
        before = {i: link_totals(self.workers[i]) for i in free}
        g = core.global_model
        sims = [i for i in free if self.workers[i].is_reference]
        # The reference's updates first: a device reads its expected update
        # by digest once trained, so that computation must never wait behind
        # the devices for a thread of the pool.
        expected = self._pool.submit(core.expected_updates, rnd, free, sims, g)  # overlaps the devices
        futures = {self._pool.submit(self.workers[i].train_round, g, rnd.buffer, *core.buffer_of(i, rnd),
                                     _expected_of(expected, i)): i
                   for i in free if i not in sims}
        futures.update(self._sim_updates(g, rnd, sims))
        timeout = c.recovery.round_timeout
        received, failed, late = collect_updates(futures, None if timeout is None else t0 + timeout, core.quorum)
        for i in sorted(failed):
            self._drop(i, rnd.number, failed[i])
        for i in sorted(received):
            core.events.extend(self.workers[i].take_events())
        self._late.update(late)
        core.mark_late(late)
        for i in late:
            self._tell(f"round {rnd.number}: {self.workers[i].name} missed the round deadline")
        entry = core.close_round(rnd, received, expected.result(), link_delta(self.workers, before), t0,
                                 trusted=sims)
        self.results.extra_final = core.final_extras()
        Checkpoint(
            round=rnd.number, run_config=self.plan.requested_dict(), model=core.global_model,
            rounds=self.results.rounds + [entry], dropped=core.dropped, guard=core.guard.state(),
            wall_seconds=self._elapsed(), resumed_after=core.resumed_after,
        ).save(c.out)
        self.results.add_round(entry, self._elapsed())
        if self.on_round is not None:
            self.on_round(entry)

    def _sim_updates(self, g, rnd: Round, indices: list[int]) -> dict[cf.Future, int]:
        """The sim devices' updates, computed together here (tifed_models.fleet)
        while the other devices train in their threads, as finished futures."""
        updates = train_references([self.workers[i] for i in indices], g,
                                   [self.core.buffer_of(i, rnd) for i in indices])
        out = {}
        for i, update in zip(indices, updates):
            done: cf.Future = cf.Future()
            done.set_result(update)
            out[done] = i
        return out

    def _settle_late(self, round_number: int, wait: bool) -> None:
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
                self.core.events.extend(self.workers[i].take_events())
                self.core.late_update_discarded([i])
            elif isinstance(exc, TifedError):
                self.core.late.discard(i)
                self._drop(i, round_number, exc)
            else:
                raise exc

    def _tell(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)


def _expected_of(expected: cf.Future, device: int):
    """The reference's update of `device`, when a worker asks (None without validation)."""
    return lambda: (expected.result() or {}).get(device)
