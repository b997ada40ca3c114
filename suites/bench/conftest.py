"""pytest-benchmark suite: each operation is timed twice in one run, the
project's implementation and its plain-Python-loop twin, in one benchmark
group, so the speed-up is a ratio of two numbers from the same run (printed
at the end as "speed-ups"). Every test also checks both give the same
result, which is what still runs under --benchmark-disable (the CI smoke).

BLAS is held to one thread for the whole session (the "one core" numbers).

    pytest suites/bench --benchmark-only          # the timings
    pytest suites/bench --benchmark-disable       # the smoke: each body once
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # plain_loops.py, next to the tests

_MEDIANS: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    from tifed.bench.machine import one_blas_thread as limit

    with limit() as threads:
        yield threads


@pytest.fixture
def record():
    """record(benchmark, group, impl) after the timed call: keeps the median
    for the speed-up summary (nothing when benchmarks are disabled). impl is
    "plain loops" for the twin, a short name of the implementation otherwise."""

    def _record(benchmark, group: str, impl: str) -> None:
        stats = getattr(benchmark, "stats", None)
        if stats is not None:
            _MEDIANS[(group, impl)] = stats.stats.median

    return _record


def pytest_terminal_summary(terminalreporter):
    lines = []
    for g in sorted({g for g, _ in _MEDIANS}):
        slow = _MEDIANS.get((g, "plain loops"))
        for (group, impl), fast in sorted(_MEDIANS.items()):
            if group == g and impl != "plain loops" and slow and fast:
                lines.append(f"{g}: plain loops {slow * 1e3:,.2f} ms / {impl} {fast * 1e3:,.3f} ms = {slow / fast:,.0f}x")
    if lines:
        terminalreporter.section("speed-ups (medians, this run)")
        for line in lines:
            terminalreporter.write_line(line)
