"""`tifed bench`: runs the sections, writes DIR/bench.json, DIR/bench.md
and the PNGs. --quick is the CI smoke (a few minutes on 2 cores); the full
bench is what results/bench/ keeps.

BLAS is held to one thread for the whole run: the "one core" reference
figure needs it, and on a small, shared machine multi-threaded BLAS in
many small products is slower anyway (measured 5x in the accuracy loop).
"""
from __future__ import annotations

import dataclasses
import datetime
import subprocess
import time
from pathlib import Path

from tifed.bench import accuracy, firmware, line_rate, machine, markdown, plots, reference, reliability, report

from tifed.bench import fleet_scaling as fleet
from tifed.bench import flower_rounds
from tifed.bench.fleet_scaling import WireCase
from tifed.bench.line_rate import FASHION, LineCase
from tifed.errors import ConfigError
from tifed.training import datasets

SECTIONS = ("reference", "firmware", "wire", "fleet", "flower", "line_rate", "accuracy", "reliability")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one bench run measures."""

    firmware_boards: tuple[str, ...] = firmware.BOARDS
    firmware_models: tuple[str, ...] = tuple(firmware.MODELS)
    firmware_trained: bool = True
    # The paper's K = 8 on whole runs (digits: 15 rounds, mnist5k: 50), with
    # validation and without; protocol 1 once per model, for comparison;
    # Fashion-MNIST's first two buffers.
    wire_cases: tuple[WireCase, ...] = (
        *(WireCase("host", m, d, mode, validate) for m, d in (("64-32-10", "digits"), ("784-200-10", "mnist5k"))
          for validate in (True, False) for mode in ("full", "single")),
        WireCase("host", "64-32-10", "digits", "full", protocol=1, buffers=2),
        WireCase("host", "784-200-10", "mnist5k", "full", protocol=1, buffers=2),
        WireCase("host", "784-200-10", FASHION, "full", buffers=2),
    )
    fleet_sizes: tuple[tuple[str, tuple[int, ...]], ...] = (
        ("qemu-mps2-an386", (1, 2, 4, 8)), ("renode-nrf52840", (1, 2, 4, 8)), ("renode-stm32f4", (1, 4)),
        ("host", (1, 2, 4, 8, 16, 32, 64, 128)),
    )
    # (board, nodes, boards per node, buffers): `tifed serve` + `tifed node`s against `tifed run`
    flower_cases: tuple[tuple[str, int, int, int], ...] = (("host", 2, 2, 2), ("qemu-mps2-an386", 2, 1, 2))
    line_cases: tuple[LineCase, ...] = tuple(
        LineCase(m, d, baud) for m, d in (("64-32-10", "digits"), ("784-64-10", FASHION), ("784-200-10", FASHION))
        for baud in (115200, 1_000_000))
    # (data set, seeds, buffers per shard: None = all, the paper's protocol)
    accuracy_sets: tuple[tuple[str, int, int | None], ...] = (
        ("fashion-mnist", 10, None), ("digits", 20, None), ("mnist5k", 10, None))
    idx_seeds: int = 5
    # Issue 16's small models on Fashion-MNIST: 784-64-10 int16 and its pooled
    # twin always, each board's largest 784-H-10 too when True.
    accuracy_largest: bool = True
    reliability_cases: tuple[tuple[str, str, str, int], ...] = (
        ("host", "64-32-10", "digits", 10), ("qemu-mps2-an386", "64-32-10", "digits", 6),
    )


FULL = Plan()
QUICK = Plan(
    firmware_trained=False,
    wire_cases=(WireCase("host", "64-32-10", "digits", "full"), WireCase("host", "64-32-10", "digits", "single"),
                WireCase("host", "64-32-10", "digits", "full", validate=False)),
    line_cases=(LineCase("64-32-10", "digits", 1_000_000),),
    fleet_sizes=(("qemu-mps2-an386", (1, 2)), ("host", (1, 8, 32))),
    flower_cases=(("host", 2, 1, 1),),  # ~1 minute where Flower is installed; CI's bench env has none: skipped
    # Fashion-MNIST in CI: 3 seeds per cell of a shortened protocol, the first
    # 10 of 150 buffers (50 rounds; the whole 750 would take 18 x ~30 s), so
    # it is not set against the paper; results/bench holds the full bench.
    accuracy_sets=(("fashion-mnist", 3, 10), ("digits", 5, None), ("mnist5k", 2, None)),
    idx_seeds=1,
    accuracy_largest=False,
    reliability_cases=(("host", "64-32-10", "digits", 4),),
)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def source_state() -> dict:
    """Which code was measured: the commit, and whether firmware/ or the
    Python sources had uncommitted changes (the numbers then belong to them)."""
    top = _git("rev-parse", "--show-toplevel")
    if not top:
        return {"git_commit": None}
    dirty = _git("-C", top, "status", "--porcelain", "--", "firmware", "harness", "models")
    return {"git_commit": _git("rev-parse", "--short", "HEAD"),
            "uncommitted_changes": sorted({line[3:].split("/")[0] for line in (dirty or "").splitlines()})}


def check_idx_dirs(dirs) -> list[str]:
    """`--idx DIR` values as data set names, each checked up front (one line)."""
    from tifed.training import datasets

    names = []
    for d in dirs:
        name = d if d.startswith("idx:") else f"idx:{d}"
        datasets.load(name, 0)  # DataError (a ConfigError) names the file that is missing or bad
        names.append(name)
    return names


def run(out: str | Path, *, quick: bool = False, idx_dirs=(), seeds: int | None = None, only=None,
        plan: Plan | None = None, log=print) -> dict:
    """Run the bench; returns the bench.json document it wrote. `plan`
    replaces the quick or full plan (tests)."""
    plan = plan or (QUICK if quick else FULL)
    sections = tuple(only) if only else SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown bench section {unknown[0]!r}; valid: {', '.join(SECTIONS)}")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    idx_names = check_idx_dirs(idx_dirs)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out}: {exc.strerror or exc}") from None

    started = time.monotonic()
    stamp = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    info = machine.machine_info()
    ref, fw_rows, wire_rows, fleet_rows, flower_rows, line_rows, acc_rows, rel_rows, skipped = None, [], [], [], [], [], [], [], []
    capacity: list[dict] = []
    with machine.one_blas_thread() as threads:
        if "reference" in sections:
            log("reference throughput")
            ref = reference.measure(quick, log=log)
        if "firmware" in sections:
            log("firmware on QEMU and Renode")
            fw_rows, sk = firmware.measure(plan.firmware_boards, plan.firmware_models, trained=plan.firmware_trained,
                                           log=log)
            skipped += sk
            capacity = firmware.capacity(log=log)
        if "wire" in sections:
            log("wire bytes")
            wire_rows, sk = fleet.measure_wire(plan.wire_cases, log=log)
            skipped += sk
        if "fleet" in sections:
            log("fleet scaling")
            fleet_rows, sk = fleet.measure_fleet(dict(plan.fleet_sizes), log=log)
            skipped += sk
        if "flower" in sections:
            log("fleet over Flower (tifed serve + tifed node on 127.0.0.1) against tifed run")
            flower_rows, sk = flower_rounds.measure_flower(plan.flower_cases, log=log)
            skipped += sk
        if "line_rate" in sections:
            log("round times at a UART's line rate")
            known_fw = fw_rows or (report.load(out / "bench.json") or {}).get("firmware") or []
            line_rows, sk = line_rate.measure(plan.line_cases, known_fw, log=log)
            skipped += sk
        if "accuracy" in sections:
            log("accuracy, paper protocol, sim")
            for name, n, buffers in plan.accuracy_sets:
                try:
                    datasets.load(name, 0)
                except datasets.DataError as exc:  # e.g. dataset-fashion-mnist not installed
                    skipped.append(firmware.Skipped("accuracy", name, str(exc)))
                    log(f"  accuracy {name}: not measured: {exc}")
                    continue
                acc_rows += accuracy.measure([name], seeds or n, log=log, buffers=buffers)
            if idx_names:
                acc_rows += accuracy.measure(idx_names, seeds or plan.idx_seeds, log=log)
            # Issue 16's small models, on the Fashion-MNIST sets measured above.
            small = [(name, seeds or n, buffers) for name, n, buffers in plan.accuracy_sets
                     if accuracy.paper_set(name) == "Fashion-MNIST"
                     and any(r["dataset"] == name for r in acc_rows)]
            small += [(name, seeds or plan.idx_seeds, None) for name in idx_names
                      if accuracy.paper_set(name) == "Fashion-MNIST"]
            if small and plan.accuracy_largest and not capacity:  # no firmware section now: its last table
                capacity = (report.load(out / "bench.json") or {}).get("capacity") or firmware.capacity(log=log)
            for name, n, buffers in small:
                acc_rows += accuracy.measure_small([name], n, capacity if plan.accuracy_largest else [], log=log,
                                                   buffers=buffers)
        if "reliability" in sections:
            log("reliability: noisy lines and resets")
            rel_rows = reliability.measure(plan.reliability_cases, log=log)
    run_info = {
        "quick": quick, "started": stamp, "seconds": round(time.monotonic() - started, 1),
        "sections": list(sections), "blas_threads": threads, **source_state(),
        "idx": idx_names, "seeds_option": seeds,
    }
    info["load_average_end"] = machine.load_average()
    doc = report.build_document(info, ref, fw_rows, wire_rows, fleet_rows, accuracy=acc_rows, flower=flower_rows,
                                skipped=[s.as_dict() for s in skipped], run=run_info, reliability=rel_rows,
                                line_rate=line_rows, capacity=capacity)
    if only:
        old = report.load(out / "bench.json")
        if old is not None and not report.check_document(old):
            doc = report.merge(old, doc, sections)
    names = plots.write_all(doc, out)
    report.write_json(out / "bench.json", doc)
    from tifed.output.results import atomic_write

    atomic_write(out / "bench.md", markdown.render(doc, names).encode())
    log(f"bench: {out / 'bench.json'}, {out / 'bench.md'}, {len(names)} plots ({run_info['seconds']:.0f} s)")
    return doc

