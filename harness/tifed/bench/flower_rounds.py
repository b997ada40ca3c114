"""Rounds over Flower against `tifed run`'s: the same fleet, data and
training, run as a user runs them (docs/FLOWER.md).

Flower: `tifed serve --address 127.0.0.1:PORT --insecure RUN-OPTIONS` (a
SuperLink and the run) and one `tifed node` per group of boards, all
started at once; the nodes are stopped with SIGTERM when the run is over
(their SuperNodes sign off, their boards stop) and every process is reaped.
`tifed run`: its own server (Federation) on the same boards. Both write
results.json, whose rounds[].seconds is the round core's clock in either;
the row gives the median over rounds 2.. (round 1 also carries the first
contact and sends no model down) and the difference: Flower's cost per
round. The two final models must be equal, bit for bit.
"""
from __future__ import annotations

import importlib.util
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tifed.bench.rows import Skipped, measure_each
from tifed.boards.process import spawn, terminate
from tifed.boards.renode_script import free_tcp_port
from tifed.config import RunConfig
from tifed.errors import TifedError
from tifed.plan import prepare
from tifed.server.federation import Federation

MODEL, DATASET, MODE, BUFFERS = "64-32-10", "digits", "full", 2
RUN_TIMEOUT = 900.0  # seconds for one Flower run, start-up included, on a loaded 2-core machine
NODE_STOP_TIMEOUT = 30.0  # seconds a node gets to sign off and stop its boards


def flower_available() -> bool:
    return importlib.util.find_spec("flwr") is not None


def _tifed(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:  # the child keeps its own descriptor
        return spawn([sys.executable, "-m", "tifed.cli", *args], stdin=subprocess.DEVNULL, stdout=out,
                     stderr=subprocess.STDOUT)


def _last_line(log: Path) -> str:
    lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("tifed: error")]
    return (errors or lines or ["(no output)"])[-1][:300]


def run_flower(board: str, nodes: int, per_node: int, out: Path, buffers: int = BUFFERS) -> dict:
    """One Flower run; its results.json document."""
    out.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{free_tcp_port()}"
    devices = nodes * per_node
    serve = _tifed(["serve", "--address", address, "--insecure", "--devices", str(devices), "--mode", MODE,
                    "--dataset", DATASET, "--model", MODEL, "--buffers", str(buffers), "--out", str(out / "run")],
                   out / "serve.log")
    started = [serve]
    try:
        for i in range(nodes):
            boards = [a for _ in range(per_node) for a in ("--board", board)]
            started.append(_tifed(["node", "--superlink", address, "--insecure", *boards,
                                   "--device-offset", str(i * per_node)], out / f"node{i}.log"))
        try:
            code = serve.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TifedError(f"the Flower run took over {RUN_TIMEOUT:g} s (logs in {out})") from None
    finally:
        for proc in started[1:]:  # all nodes at once: each signs off while the SuperLink is up
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started[::-1]:
            terminate(proc, timeout=NODE_STOP_TIMEOUT)
    if code != 0:
        raise TifedError(f"tifed serve exited with {code}: {_last_line(out / 'serve.log')}")
    return json.loads((out / "run" / "results.json").read_text())


def _median_after_first(doc: dict) -> float:
    return statistics.median(r["seconds"] for r in doc["rounds"][1:])


def flower_row(board: str, nodes: int, per_node: int, buffers: int = BUFFERS) -> dict:
    with tempfile.TemporaryDirectory(prefix="tifed-bench-flower-") as tmp:
        tmp = Path(tmp)
        flower = run_flower(board, nodes, per_node, tmp / "flower", buffers)
        config = RunConfig.of(boards=(board,), devices=nodes * per_node, mode=MODE, dataset=DATASET, model=MODEL,
                              buffers=buffers, out=str(tmp / "local"))
        local = Federation(prepare(config))
        local.run()
        direct = json.loads((tmp / "local" / "results.json").read_text())
        got = np.load(tmp / "flower" / "run" / "model.npz")
        same = all(np.array_equal(got[k], v) for k, v in local.global_model.to_arrays().items())
    flower_s, direct_s = _median_after_first(flower), _median_after_first(direct)
    return {
        "board": board,
        "devices": nodes * per_node,
        "nodes": nodes,
        "round_seconds": round(flower_s, 4),
        "tifed_run_round_seconds": round(direct_s, 4),
        "overhead_seconds": round(flower_s - direct_s, 4),
        "model": MODEL,
        "dataset": DATASET,
        "buffers": buffers,
        "rounds_measured": [r["round"] for r in flower["rounds"][1:]],
        "same_model": same,
        "bitexact": bool(flower["final"].get("bitexact_all")),
        "network_bytes_per_round": int(statistics.median(r.get("network_bytes", 0) for r in flower["rounds"][1:])),
    }


def measure_flower(cases, log=print) -> tuple[list[dict], list[Skipped]]:
    """cases: (board, nodes, boards per node, buffers) tuples."""
    def row_of(case) -> dict:
        if not flower_available():
            raise TifedError("Flower is not installed (pip install 'tifed-hil[flower]')")
        return flower_row(*case)

    return measure_each(
        "flower", cases, lambda case: f"{case[0]} {case[1]} nodes x {case[2]}", row_of,
        lambda row: (f"{row['round_seconds']:.3f} s per round, tifed run {row['tifed_run_round_seconds']:.3f} s "
                     f"(+{row['overhead_seconds']:.3f} s), same model {row['same_model']}"),
        log)
