"""A Federation that also times what happens inside each round.

Every request a DeviceClient sends is recorded as (command, start, end) by
wrapping that client's `transact` (an instance attribute, so only this
federation's clients are affected). For each round it then knows:

- round_seconds: the wall time of the whole round in the server (slicing
  the buffers, sending the model, the devices' training, reading the
  updates, validation, aggregation, test accuracy, writing results.json);
- train_seconds: the length of the union of all TRAIN requests in flight
  (request sent .. response decoded), i.e. the time at least one device was
  training; the server is then waiting on the devices' training;
- link_seconds: the length of the union of all requests in flight.

server_overhead_fraction = 1 - train_seconds / round_seconds: the share of
a round's wall time in which no device was training. It splits into
link-only time (link_seconds - train_seconds: model and samples on the
wire, no device training) and server-only time (round_seconds -
link_seconds: no request in flight at all).
"""
from __future__ import annotations

import dataclasses
import time

from tifed.protocol.payloads import Command
from tifed.server.federation import Federation


def union_length(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Total length of the union of intervals, clipped to [lo, hi]."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo))
    total, end = 0.0, lo
    for a, b in clipped:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


@dataclasses.dataclass
class RoundTiming:
    number: int
    buffer: int
    seconds: float
    train_seconds: float
    link_seconds: float
    wire_bytes: int
    instructions: list[int | None] | None

    @property
    def overhead_fraction(self) -> float:
        return 1.0 - self.train_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def link_only_fraction(self) -> float:
        return (self.link_seconds - self.train_seconds) / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_only_fraction(self) -> float:
        return 1.0 - self.link_seconds / self.seconds if self.seconds > 0 else 0.0


class TimedFederation(Federation):
    """A Federation with a timer on its public hooks (on_devices_ready,
    on_round_start, on_round); `timings` has one RoundTiming per round."""

    def __init__(self, plan, on_round=None):
        super().__init__(plan, on_round=self._round_done, on_round_start=self._round_start,
                         on_devices_ready=self._time_clients)
        self._then_on_round = on_round
        self.timings: list[RoundTiming] = []
        self.timed_clients = 0
        self._spans: list[tuple[int, float, float]] = []
        self._round_t0 = 0.0

    def worker_list(self) -> list:
        return list(self.workers.values())

    def _time_clients(self, workers) -> None:
        for worker in workers.values():
            client = getattr(worker, "client", None)
            if client is not None:
                client.transact = self._timed(client.transact)
                self.timed_clients += 1
        devices = sum(1 for b in self.plan.boards if b.has_device)
        if self.timed_clients != devices:  # the server changed how it holds its clients: a bench bug
            raise RuntimeError(f"TimedFederation found {self.timed_clients} device clients to time, "
                               f"expected {devices}")

    def _timed(self, transact):
        spans = self._spans  # list.append is atomic: device threads share it safely

        def timed(command, payload=b"", **kwargs):
            t0 = time.monotonic()
            try:
                return transact(command, payload, **kwargs)
            finally:
                spans.append((int(command), t0, time.monotonic()))

        return timed

    def _round_start(self, rnd) -> None:
        self._spans.clear()
        self._round_t0 = time.monotonic()

    def _round_done(self, entry) -> None:
        t0, t1 = self._round_t0, time.monotonic()
        spans = list(self._spans)
        self.timings.append(RoundTiming(
            number=entry["round"],
            buffer=entry["buffer"],
            seconds=t1 - t0,
            train_seconds=union_length([(a, b) for c, a, b in spans if c == Command.TRAIN], t0, t1),
            link_seconds=union_length([(a, b) for _, a, b in spans], t0, t1),
            wire_bytes=int(entry["wire_bytes"]),
            instructions=entry.get("device_instructions"),
        ))
        if self._then_on_round is not None:
            self._then_on_round(entry)
