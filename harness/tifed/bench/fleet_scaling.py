"""Wire cost and fleet scaling, measured with real federated runs of the
harness (server, DeviceClient, devices) through TimedFederation.

Wire: bytes on the link per device and round (every round but the first,
which sends no model down: the model down, the update up, each buffer's
samples once per `epochs` rounds), against the model as bare int32 down and
the trained layers up; with the paper's K = 8, validation on or off, in the
protocol the devices speak (2) or in protocol 1 for comparison.

Fleet: round time and server overhead for K devices of one board. Every
device trains one buffer of 50 samples per round whatever K is, so the
per-device work is constant and only the fleet grows: the training set is
repeated where K x 50 samples exceed it (128 devices need 6,400 digits).
Round 1 is left out of the statistics: the global model is still the zero
model every device starts with, so nothing is sent down.
"""
from __future__ import annotations

import dataclasses
import statistics
import tempfile

import numpy as np

from tifed.training import datasets
from tifed.bench.rows import Skipped, measure_each
from tifed.bench.macs import model_name, raw_int32_bytes
from tifed.bench.timed_federation import TimedFederation
from tifed.config import RunConfig
from tifed.plan import RunPlan, check_options, resolve_boards
from tifed.errors import TifedError, one_line
from tifed.training.schedule import plan as plan_rounds

FLEET_MODEL, FLEET_DATASET = "64-32-10", "digits"


def repeated(data: datasets.Dataset, n: int) -> datasets.Dataset:
    """The data set with its training part repeated to at least n samples."""
    have = data.x_train.shape[0]
    if have >= n:
        return data
    reps = -(-n // have)
    return datasets.Dataset(
        name=f"{data.name} x{reps}", x_train=np.tile(data.x_train, (reps, 1)), y_train=np.tile(data.y_train, reps),
        x_test=data.x_test, y_test=data.y_test, classes=data.classes,
    )


def make_plan(board: str, devices: int, out: str, *, model: str, dataset: str, mode: str = "full",
              buffers: int | None = 1, validate: bool = True, protocol: int | None = None,
              line_rate: int | None = None) -> RunPlan:
    """What plan.prepare() builds (the paper's training parameters), but with
    the training set repeated where the fleet needs more than it holds
    (`buffers` None: every whole buffer of the data set as it is)."""
    config = RunConfig.of(boards=(board,), devices=devices, mode=mode, dataset=dataset, model=model, out=out,
                          buffers=buffers, validate=validate, protocol=protocol, line_rate=line_rate)
    t = config.training
    dims = check_options(config)
    boards = resolve_boards(config)
    data = datasets.load(dataset, t.seed)
    if buffers is not None:
        data = repeated(data, devices * t.buffer_len * buffers)
    shards = data.shards(devices, t.seed)
    schedule = plan_rounds(shards[0][0].shape[0], t.buffer_len, t.epochs, buffers=buffers)
    return RunPlan(config=config, dims=dims, boards=boards, layers=t.layers(), data=data, shards=shards,
                   schedule=schedule)


def run_timed(board: str, devices: int, **kwargs) -> TimedFederation:
    with tempfile.TemporaryDirectory(prefix="tifed-bench-") as out:
        federation = TimedFederation(make_plan(board, devices, out, **kwargs))
        federation.run()
    return federation


@dataclasses.dataclass(frozen=True)
class WireCase:
    board: str
    model: str
    dataset: str
    mode: str
    validate: bool = True
    protocol: int | None = None  # None: what the devices speak (2); 1 for the comparison
    buffers: int | None = None  # None: the whole run
    devices: int = 8  # the paper's K


def wire_row(case: WireCase) -> dict:
    """Every round but the first (which sends no model down) of a run of
    `case`: by default the paper's protocol on the whole data set."""
    devices = case.devices
    fed = run_timed(case.board, devices, model=case.model, dataset=case.dataset, mode=case.mode,
                    buffers=case.buffers, validate=case.validate, protocol=case.protocol)
    dims = fed.plan.dims
    steady = fed.timings[1:]
    per_device_round = sum(t.wire_bytes for t in steady) / (len(steady) * devices)
    workers = fed.worker_list()
    raw = statistics.mean(raw_int32_bytes(dims, w.trained_layers) for w in workers)
    t = fed.plan.training
    samples_raw = t.buffer_len * (dims[0] + 1) / t.epochs
    clients = [w.client for w in workers if getattr(w, "client", None) is not None]
    return {
        "model": model_name(dims),
        "bytes_per_device_round": int(round(per_device_round)),
        "raw_int32_bytes": int(round(raw)),
        "board": case.board,
        "mode": case.mode,
        "devices": devices,
        "ratio_to_raw": round(per_device_round / raw, 4),
        "samples_raw_bytes_per_round": round(samples_raw, 1),
        "ratio_to_raw_with_samples": round(per_device_round / (raw + samples_raw), 4),
        "first_round_bytes_per_device": int(round(fed.timings[0].wire_bytes / devices)),
        "max_payload": clients[0].info.max_payload if clients and clients[0].info else None,
        "rounds_measured": [t.number for t in steady],
        "dataset": case.dataset,
        "validate": case.validate,
        "protocol": clients[0].protocol if clients else None,
    }


def fleet_row(board: str, devices: int) -> dict:
    fed = run_timed(board, devices, model=FLEET_MODEL, dataset=FLEET_DATASET, mode="full", buffers=1)
    measured = fed.timings[1:]
    counts = [c for t in measured for c in (t.instructions or []) if c is not None]
    return {
        "board": board,
        "devices": devices,
        "round_seconds": round(statistics.median(t.seconds for t in measured), 4),
        "server_overhead_fraction": round(statistics.median(t.overhead_fraction for t in measured), 4),
        "model": FLEET_MODEL,
        "train_fraction": round(statistics.median(1 - t.overhead_fraction for t in measured), 4),
        "train_seconds": round(statistics.median(t.train_seconds for t in measured), 4),
        "server_only_seconds": round(statistics.median(t.seconds - t.link_seconds for t in measured), 4),
        "link_only_fraction": round(statistics.median(t.link_only_fraction for t in measured), 4),
        "server_only_fraction": round(statistics.median(t.server_only_fraction for t in measured), 4),
        "wire_bytes_per_device_round": int(round(statistics.median(t.wire_bytes for t in measured) / devices)),
        "device_instructions_per_round": int(statistics.median(counts)) if counts else None,
        "rounds_measured": [t.number for t in measured],
        "validate": True,
    }


def measure_wire(cases, log=print) -> tuple[list[dict], list[Skipped]]:
    """cases: WireCase."""
    return measure_each(
        "wire", cases,
        lambda case: (f"{case.board} {case.model} {case.dataset} {case.mode}"
                      f"{'' if case.validate else ' --no-validate'}"
                      f"{'' if case.protocol is None else f' protocol {case.protocol}'}"),
        wire_row,
        lambda row: f"{row['bytes_per_device_round']:,} B per device-round ({row['ratio_to_raw']:.3f} x raw int32)",
        log)


def measure_fleet(sizes: dict[str, list[int]], log=print) -> tuple[list[dict], list[Skipped]]:
    """sizes: board -> fleet sizes to run."""
    rows, skipped = [], []
    for board, ks in sizes.items():
        for k in ks:
            try:
                row = fleet_row(board, k)
            except TifedError as exc:
                skipped.append(Skipped("fleet", f"{board} x{k}", one_line(exc)))
                break  # a bigger fleet of the same board would fail the same way
            log(f"  fleet {board} x{k}: {row['round_seconds']:.3f} s per round, "
                f"server overhead {row['server_overhead_fraction']:.1%}")
            rows.append(row)
    return rows, skipped
