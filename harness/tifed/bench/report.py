"""bench.json (interfaces.md "DIR/bench.json", schema 1) and its checks.

The contract's keys come first in every object; everything else is an
extension (interfaces.md: extend, do not rename). `check_document` lists
what a document lacks against the contract, so the runner never writes a
bench.json others cannot read, and the unit tests hold the contract.
"""
from __future__ import annotations

import json
from numbers import Real
from pathlib import Path

from tifed.output.results import atomic_write

SCHEMA = 1
SECTIONS = ("machine", "reference", "firmware", "wire", "fleet")

# Targets from the benchmark's brief: reported, never asserted.
TARGET_SAMPLES_PER_SECOND = 5000
TARGET_SPEEDUP = 50
TARGET_INSTRUCTIONS_PER_MAC = 3.0
TARGET_BOARD, TARGET_MODEL = "qemu-mps2-an386", "784-200-10"
# Issue 14: wire bytes per device-round against the raw int32 model down and
# the trained layers up, and the fleet's server overhead.
WIRE_TARGETS = (  # (model, data set, validate, goal)
    ("784-200-10", "mnist5k", True, 1 / 8), ("784-200-10", "mnist5k", False, 1 / 3),
    ("64-32-10", "digits", True, 1 / 4), ("64-32-10", "digits", False, 0.45),
)
FLEET_TARGET = ("qemu-mps2-an386", 8, 0.5)  # board, devices, largest server overhead fraction
# Issue 16: the paper's workload on small boards, with 16-bit weights.
TARGET_INT16_MODEL, TARGET_INT16_INSTRUCTIONS_PER_MAC = "784-64-10", 1.2
TARGET_INT16_ACCURACY = 0.82  # Fashion-MNIST, paper protocol, sim

CONTRACT = {
    "machine": {"cpu": str, "cores": int, "python": str, "numpy": str},
    "reference": {"model": str, "samples_per_second": Real, "naive_samples_per_second": Real},
    "firmware": {"board": str, "model": str, "instructions_per_mac": Real, "instructions_per_sample": int,
                 "flash_bytes": int, "ram_bytes": int, "stack_peak_bytes": int},
    "wire": {"model": str, "bytes_per_device_round": int, "raw_int32_bytes": int},
    "fleet": {"board": str, "devices": int, "round_seconds": Real, "server_overhead_fraction": Real},
}


def _type_ok(value, kind) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _check_object(obj, fields: dict, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} must be an object"]
    problems = []
    for key, kind in fields.items():
        if key not in obj:
            problems.append(f"{where} lacks {key!r}")
        elif not _type_ok(obj[key], kind):
            problems.append(f"{where}.{key} is {obj[key]!r}, not {getattr(kind, '__name__', kind)}")
    return problems


def check_document(doc) -> list[str]:
    """What keeps `doc` from being a bench.json of the contract; [] if nothing.
    "reference" may be null when that section was not run."""
    if not isinstance(doc, dict):
        return ["bench.json must be a JSON object"]
    problems = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA}, got {doc.get('schema')!r}")
    for section in SECTIONS:
        if section not in doc:
            problems.append(f"lacks section {section!r}")
    problems += _check_object(doc.get("machine"), CONTRACT["machine"], "machine")
    if doc.get("reference") is not None:
        problems += _check_object(doc["reference"], CONTRACT["reference"], "reference")
    for section in ("firmware", "wire", "fleet"):
        rows = doc.get(section)
        if not isinstance(rows, list):
            if section in doc:
                problems.append(f"{section} must be a list")
            continue
        for i, row in enumerate(rows):
            problems += _check_object(row, CONTRACT[section], f"{section}[{i}]")
    fleet = doc.get("fleet")
    for i, row in enumerate(fleet if isinstance(fleet, list) else []):
        frac = row.get("server_overhead_fraction") if isinstance(row, dict) else None
        if isinstance(frac, Real) and not -0.001 <= frac <= 1.001:
            problems.append(f"fleet[{i}].server_overhead_fraction {frac} is not a fraction")
    return problems


def targets(doc: dict) -> list[dict]:
    """The brief's targets with the measured values (met: None = not measured)."""
    ref = doc.get("reference") or {}
    sps, naive = ref.get("samples_per_second"), ref.get("naive_samples_per_second")
    speedup = sps / naive if sps and naive else None

    def firmware_row(model, weights):
        return next((r for r in doc.get("firmware", []) if r["board"] == TARGET_BOARD and r["model"] == model
                     and r.get("weights", "int32") == weights), None)

    fw, fw16 = firmware_row(TARGET_MODEL, "int32"), firmware_row(TARGET_INT16_MODEL, "int16")
    ipm = fw["instructions_per_mac"] if fw else None
    ipm16 = fw16["instructions_per_mac"] if fw16 else None
    acc16 = next((r["median"] for r in doc.get("accuracy", []) if r.get("paper_set") == "Fashion-MNIST"
                  and r["model"] == TARGET_INT16_MODEL and r.get("weights") == "int16" and r.get("pool", 1) == 1
                  and r["mode"] == "full" and r["lr_inv"] == 2048
                  and r.get("buffers") == r.get("buffers_total")), None)

    def row(name, goal, value, met, note=""):
        return {"target": name, "goal": goal, "value": value, "met": met, "note": note}

    return [*_speed_targets(row, ref, sps, speedup, ipm), *_int16_targets(row, ipm16, acc16),
            *_wire_targets(row, doc)]


def _wire_targets(row, doc: dict) -> list[dict]:
    out = []
    for model, dataset, validate, goal in WIRE_TARGETS:
        rows = [r for r in doc.get("wire", []) if r["model"] == model and r.get("dataset") == dataset
                and r.get("validate", True) == validate and r.get("protocol", 1) >= 2]
        worst = max((r["ratio_to_raw"] for r in rows), default=None)
        note = ", ".join(f"{r['mode']} {r['ratio_to_raw']:.4f}" for r in rows)
        out.append(row(f"wire {model} {dataset}, {'validation on' if validate else '--no-validate'}: bytes per "
                       "device-round / raw int32 model down + up", f"<= {goal:.3g}",
                       None if worst is None else round(worst, 4), None if worst is None else worst <= goal, note))
    board, devices, goal = FLEET_TARGET
    fleet = next((r for r in doc.get("fleet", []) if r["board"] == board and r["devices"] == devices), None)
    frac = fleet["server_overhead_fraction"] if fleet else None
    out.append(row(f"fleet {devices} x {board}, server overhead fraction", f"< {goal:.0%}", frac,
                   None if frac is None else frac < goal,
                   "" if fleet is None else f"round {fleet['round_seconds']:.3f} s, training "
                                            f"{fleet.get('train_seconds')} s of it"))
    return out


def _speed_targets(row, ref, sps, speedup, ipm) -> list[dict]:
    return [
        row(f"reference {TARGET_MODEL} samples/s, one core", f">= {TARGET_SAMPLES_PER_SECOND:,}", sps,
            None if sps is None else sps >= TARGET_SAMPLES_PER_SECOND,
            f"BLAS threads: {ref.get('blas_threads')}" if ref else ""),
        row("reference speed-up over the plain loops", f">= {TARGET_SPEEDUP}x",
            None if speedup is None else round(speedup, 1), None if speedup is None else speedup >= TARGET_SPEEDUP),
        row(f"firmware {TARGET_MODEL} on {TARGET_BOARD}, instructions per MAC", f"<= {TARGET_INSTRUCTIONS_PER_MAC:g}",
            ipm, None if ipm is None else ipm <= TARGET_INSTRUCTIONS_PER_MAC,
            "" if ipm is None else f"{ipm - 1:.2f} above 1 instruction per MAC"),
    ]


def _int16_targets(row, ipm16, acc16) -> list[dict]:
    return [
        row(f"firmware {TARGET_INT16_MODEL} int16 on {TARGET_BOARD}, instructions per MAC",
            f"<= {TARGET_INT16_INSTRUCTIONS_PER_MAC:g}", ipm16,
            None if ipm16 is None else ipm16 <= TARGET_INT16_INSTRUCTIONS_PER_MAC, "two MACs per SMLAD"),
        row(f"Fashion-MNIST accuracy of {TARGET_INT16_MODEL} int16 (sim, paper protocol)",
            f">= {TARGET_INT16_ACCURACY:g}", acc16, None if acc16 is None else acc16 >= TARGET_INT16_ACCURACY,
            "every buffer of the paper's protocol (not the quick bench)"),
    ]


def build_document(machine: dict, reference: dict | None, firmware: list, wire: list, fleet: list, *,
                   accuracy: list | None = None, flower: list | None = None, skipped: list | None = None,
                   run: dict | None = None, reliability: list | None = None, line_rate: list | None = None,
                   capacity: list | None = None) -> dict:
    doc = {
        "schema": SCHEMA,
        "machine": machine,
        "reference": reference,
        "firmware": firmware,
        "wire": wire,
        "fleet": fleet,
        "flower": flower or [],
        "line_rate": line_rate or [],
        "accuracy": accuracy or [],
        "reliability": reliability or [],
        "capacity": capacity or [],
        "skipped": skipped or [],
        "run": run or {},
    }
    doc["targets"] = targets(doc)
    return doc


def merge(old: dict, new: dict, sections) -> dict:
    """`new` with the sections not re-measured (`tifed bench --only`) kept from `old`."""
    out = dict(new)
    for key in ("reference", "firmware", "wire", "fleet", "flower", "line_rate", "accuracy", "reliability"):
        if key not in sections and key in old:
            out[key] = old[key]
    if "firmware" not in sections and "capacity" in old:  # measured with the firmware
        out["capacity"] = old["capacity"]
    kept = [s for s in old.get("skipped", []) if s.get("section") not in sections]
    out["skipped"] = kept + [s for s in new.get("skipped", []) if s.get("section") in sections]
    # The document stays the old run's, with a note of what was measured again and when.
    out["machine"] = old.get("machine", new["machine"])
    run = dict(old.get("run") or {})
    again = {**(new.get("run") or {}), "load_average_start": new["machine"].get("load_average_start"),
             "load_average_end": new["machine"].get("load_average_end")}
    # An earlier re-measurement whose every section is measured again now no
    # longer stands behind any number of the document.
    still = [a for a in run.get("remeasured", []) if set(a.get("sections") or []) - set(sections)]
    run["remeasured"] = still + [again]
    out["run"] = run
    out["targets"] = targets(out)
    return out


def load(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, doc: dict) -> None:
    problems = check_document(doc)
    if problems:  # a bug in the bench, not the user's mistake
        raise AssertionError("bench.json would break the contract: " + "; ".join(problems))
    atomic_write(Path(path), (json.dumps(doc, indent=2) + "\n").encode())
