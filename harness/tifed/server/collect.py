"""Waiting for one round's updates (algorithm.md's round, with
--round-timeout): until every device has answered, or, once a quorum has,
until the round deadline."""
from __future__ import annotations

import concurrent.futures as cf
import time

from tifed.errors import TifedError
from tifed.rounds.core import Update


def collect_updates(futures: dict[cf.Future, int], deadline: float | None, quorum: int):
    """(updates by device, device failures, futures of devices still
    training). A TifedError from a device is its failure; any other
    exception is a harness bug and is raised."""
    pending = set(futures)
    received: dict[int, Update] = {}
    failed: dict[int, BaseException] = {}
    while pending:
        now = time.monotonic()
        if deadline is not None and now >= deadline and len(received) >= quorum:
            break
        wait = None if deadline is None or now >= deadline else deadline - now
        done, pending = cf.wait(pending, timeout=wait, return_when=cf.FIRST_COMPLETED)
        for f in done:
            exc = f.exception()
            if exc is None:
                received[futures[f]] = f.result()
            elif isinstance(exc, TifedError):
                failed[futures[f]] = exc
            else:
                raise exc
    return received, failed, {futures[f]: f for f in pending}
