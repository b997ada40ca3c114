"""Per-round link counters: each worker's running totals (the DeviceClient
counts since the device started) and their sum of differences over a round,
as results.json's rounds[].wire_bytes, retransmissions and link_errors."""
from __future__ import annotations

from typing import Mapping

from tifed.rounds.core import LINK_COUNTERS
from tifed.server.workers import Worker


def link_totals(worker: Worker) -> dict[str, int]:
    """The worker's counters so far; zeros for one without a link (sim)."""
    totals = dict.fromkeys(LINK_COUNTERS, 0)
    totals.update(worker.link_counters() or {})
    totals["wire_bytes"] = worker.wire_bytes()
    return totals


def link_delta(workers: Mapping[int, Worker], before: Mapping[int, dict[str, int]]) -> dict[str, int]:
    """What the workers in `before` added since `before` was taken, summed."""
    delta = dict.fromkeys((*LINK_COUNTERS, "wire_bytes"), 0)
    for i, old in before.items():
        new = link_totals(workers[i])
        for k in delta:
            delta[k] += new[k] - old[k]
    return delta
