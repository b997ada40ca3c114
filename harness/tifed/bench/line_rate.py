"""Round times of physical boards, from the line-rate model: `tifed run
--line-rate BAUD` on host devices, so every byte takes a real UART's 10 bit
times each way (links/line_rate.py), with the paper's K = 8, full mode,
validation on, protocol 2.

A host device trains in well under a millisecond, a microcontroller does
not: the projected round swaps the host's TRAIN time (the union of the
TRAIN requests in flight) for the board's, the TRAIN instructions per round
at the clock of a Cortex-M4 board (64 MHz). The instructions come from the
firmware section (qemu-mps2-an386, exact -icount, 50 samples); where that
model was not measured, from its MACs at the instructions per MAC of the
nearest measured model. Protocol 1's round, for comparison, is computed:
the raw int32 model down and up at the same line rate.

The rounds measured are those of the first buffer after round 1 (rounds
2-5): the model changes most early in a run, so these are the costliest
rounds of the protocol, and 750 of them bound the paper's run from above.
"""
from __future__ import annotations

import dataclasses
import statistics
from tifed.bench.fleet_scaling import run_timed
from tifed.bench.rows import Skipped, measure_each
from tifed.bench.macs import macs_per_sample, model_name, raw_int32_bytes
from tifed.links.settings import BITS_PER_BYTE

BOARD_HZ = 64_000_000  # a Cortex-M4 board's clock (instructions counted as one cycle each)
PAPER_ROUNDS = 750  # Fashion-MNIST or MNIST, K = 8: 150 buffers x 5 rounds
V1_OVERHEAD = 1.03  # protocol 1's wire bytes per raw int32 byte (framing, commands; results/bench)
FASHION = "fashion-mnist"


@dataclasses.dataclass(frozen=True)
class LineCase:
    model: str
    dataset: str
    baud: int
    devices: int = 8
    buffers: int = 1
    board: str = "host"


def board_instructions(dims, buffer_len: int, firmware_rows: list[dict]) -> tuple[int | None, str]:
    """TRAIN instructions of one round (buffer_len samples, one epoch) on
    qemu-mps2-an386, and where the number comes from. The line-rate runs
    keep int32 weights, so only int32 rows count (the firmware section
    also has int16 rows of the same models, ~45 % cheaper)."""
    name = model_name(dims)
    rows = [r for r in firmware_rows
            if r.get("board") == "qemu-mps2-an386" and r.get("weights", "int32") == "int32"]
    exact = next((r for r in rows if r.get("model") == name), None)
    if exact is not None:
        return int(exact["instructions_per_sample"]) * buffer_len, "measured (qemu-mps2-an386)"
    if not rows:
        return None, "not measured"
    same_inputs = [r for r in rows if r["model"].split("-")[0] == name.split("-")[0]] or rows
    near = max(same_inputs, key=lambda r: r["instructions_per_sample"])  # the biggest: per-MAC cost settles
    ipm = float(near["instructions_per_mac"])
    return int(macs_per_sample(dims) * buffer_len * ipm), f"estimated at {ipm:.2f} instructions/MAC of {near['model']}"


def line_row(case: LineCase, firmware_rows: list[dict]) -> dict:
    fed = run_timed(case.board, case.devices, model=case.model, dataset=case.dataset, mode="full", buffers=case.buffers,
                    validate=True, line_rate=case.baud)
    dims, t = fed.plan.dims, fed.plan.training
    measured = fed.timings[1:]
    round_s = statistics.median(r.seconds for r in measured)
    host_train = statistics.median(r.train_seconds for r in measured)
    wire = statistics.median(r.wire_bytes for r in measured) / case.devices
    instructions, source = board_instructions(dims, t.buffer_len, firmware_rows)
    board_train = None if instructions is None else instructions / BOARD_HZ
    projected = None if board_train is None else round_s - host_train + board_train
    v1_bytes = raw_int32_bytes(dims) * V1_OVERHEAD
    v1_round = v1_bytes * BITS_PER_BYTE / case.baud + (board_train or 0.0)
    return {
        "model": model_name(dims),
        "dataset": case.dataset,
        "baud": case.baud,
        "devices": case.devices,
        "round_seconds": round(round_s, 4),
        "host_train_seconds": round(host_train, 4),
        "wire_bytes_per_device_round": int(round(wire)),
        "line_seconds_per_device_round": round(wire * BITS_PER_BYTE / case.baud, 4),
        "board_train_instructions": instructions,
        "board_train_source": source,
        "board_hz": BOARD_HZ,
        "board_train_seconds": None if board_train is None else round(board_train, 4),
        "projected_round_seconds": None if projected is None else round(projected, 4),
        "projected_run_hours": None if projected is None else round(projected * PAPER_ROUNDS / 3600, 3),
        "paper_rounds": PAPER_ROUNDS,
        "v1_round_seconds": round(v1_round, 3),
        "v1_run_hours": round(v1_round * PAPER_ROUNDS / 3600, 2),
        "rounds_measured": [r.number for r in measured],
    }


def measure(cases, firmware_rows: list[dict], log=print) -> tuple[list[dict], list[Skipped]]:
    def summary(row: dict) -> str:
        projected = row["projected_round_seconds"]
        return (f"{row['round_seconds']:.2f} s per round measured"
                + ("" if projected is None else f", {projected:.2f} s on a {BOARD_HZ // 1_000_000} MHz board")
                + f" (protocol 1: {row['v1_round_seconds']:.1f} s)")

    return measure_each("line_rate", cases, lambda case: f"{case.model} {case.dataset} at {case.baud} baud",
                        lambda case: line_row(case, firmware_rows), summary, log)
