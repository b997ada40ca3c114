"""The reliability bench (`tifed bench --only reliability`): what a noisy
line and a board that resets cost a run with default options. For each
board, one clean run, then the same run with 0.1 %, 0.5 % and 1 % of the
bytes corrupted both ways, and with one power cycle per N rounds of each
device (fault:// reset=, N converted to requests from the clean run's
requests per round). Each row: complete and bit-exact or not, frames sent
again, rounds redone, the time a round takes and the time lost against
the clean run, wire bytes, and the frame size the client settled on.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from tifed.config import RunConfig
from tifed.errors import TifedError, one_line
from tifed.plan import prepare
from tifed.server.federation import Federation

NOISE = (0.001, 0.005, 0.01)  # byte error rates, both directions
RESETS_EVERY = (5, 2)  # rounds between power cycles of a device
DEVICES = 2


def measure(cases: tuple[tuple[str, str, str, int], ...], log: Callable[[str], None] = print,
            noise: tuple[float, ...] = NOISE, resets_every: tuple[int, ...] = RESETS_EVERY) -> list[dict]:
    """cases: (board, model, dataset, rounds). One row per fault setting."""
    rows: list[dict] = []
    for board, model, dataset, rounds in cases:
        base = RunConfig.of(boards=(board,), devices=DEVICES, mode="full", dataset=dataset, model=model,
                            out="", rounds=rounds)
        log(f"  reliability: {board} {model}, clean")
        clean = _run(base, None)
        rows.append(_row(board, model, "clean", clean, clean))
        for rate in noise:
            log(f"  reliability: {board} {model}, {100 * rate:g} % of bytes corrupted")
            rows.append(_row(board, model, f"{100 * rate:g} % bytes", _run(base, f"corrupt={rate},seed=1"), clean,
                             byte_error_rate=rate))
        for every in resets_every:
            requests = max(1, round(every * clean["requests_per_round"]))
            log(f"  reliability: {board} {model}, a reset every {requests} requests ({every} clean rounds)")
            rows.append(_row(board, model, f"reset every {every} rounds' requests",
                             _run(base, f"reset={requests},seed=1"), clean, resets_every=every,
                             reset_requests=requests))
    return rows


def _run(base: RunConfig, faults: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tifed-bench-rel-") as out:
        plan = prepare(base.replace(out=str(Path(out) / "run"), faults=faults))
        fed = Federation(plan)
        started = time.monotonic()
        error = None
        try:
            fed.run()
        except TifedError as exc:  # a failed run is a result here, not the bench's failure
            error = one_line(exc)
        wall = time.monotonic() - started
        doc = {"rounds": list(fed.results.rounds), "final": dict(fed.results.final or {}),
               "devices": fed.results.devices}
        requests = sum(w.client.counters.requests for w in fed.workers.values() if getattr(w, "client", None))
    rounds = doc["rounds"]
    return {"doc": doc, "wall": wall, "error": error,
            "requests_per_round": requests / DEVICES / max(1, len(rounds))}


def _row(board: str, model: str, fault: str, run: dict, clean: dict, **extra: Any) -> dict:
    doc, rounds = run["doc"], run["doc"]["rounds"]
    final = doc["final"]
    events = [e for r in rounds for e in r.get("events", [])]
    steady = [r["seconds"] for r in rounds[1:]] or [r["seconds"] for r in rounds]
    clean_steady = [r["seconds"] for r in clean["doc"]["rounds"][1:]] or [1e-9]
    frames = [d["link"]["frame_payload"] for d in doc["devices"] if (d.get("link") or {}).get("frame_payload")]
    per_round = DEVICES * max(1, len(rounds))
    return {
        "board": board, "model": model, "fault": fault, **extra,
        "rounds": len(rounds), "complete": bool(final.get("complete")), "bitexact": final.get("bitexact_all"),
        "dropped": len(final.get("dropped_devices") or []), "error": run["error"],
        "retransmissions_per_device_round": round(sum(r["retransmissions"] for r in rounds) / per_round, 1),
        "resets": sum((d.get("faults_injected") or {}).get("resets", 0) for d in doc["devices"]),
        "rounds_redone": sum(1 for e in events if e.get("action", "").endswith("round re-run")),
        "recovery_seconds": round(sum(e.get("seconds_lost", 0.0) for e in events), 3),
        "round_seconds": round(statistics.median(steady), 4) if steady else None,
        "clean_round_seconds": round(statistics.median(clean_steady), 4),
        "seconds_lost": round(run["wall"] - clean["wall"], 2),
        "wall_seconds": round(run["wall"], 2),
        "wire_bytes_per_device_round": round(sum(r["wire_bytes"] for r in rounds) / per_round),
        "frame_payload": statistics.median_low([f["current"] for f in frames]) if frames else None,
        "estimated_byte_error_rate": round(statistics.mean(f["byte_error_rate"] for f in frames), 5) if frames else None,
        "requests_per_device_round": round(run["requests_per_round"], 1),
    }

