"""Is a run's output folder what interfaces.md ("DIR/results.json") promises?

`problems(folder)` lists every way the folder falls short (empty: it is
fine); it reads the files as any user or script would, without the
harness's own writer, so a writer bug cannot hide itself.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONFIG_KEYS = ("boards", "devices", "mode", "dataset", "model", "buffers", "rounds", "buffer_len",
               "batch", "epochs", "lr_inv", "seed", "validate", "out")
DEVICE_KEYS = ("id", "board", "layer", "firmware")
FIRMWARE_KEYS = ("flash_bytes", "ram_bytes", "stack_peak_bytes")
ROUND_KEYS = ("round", "buffer", "test_accuracy", "bitexact", "wire_bytes", "seconds", "device_instructions")
FINAL_KEYS = ("rounds", "test_accuracy", "bitexact_all", "wall_seconds")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _missing(where: str, entry: Any, keys: tuple[str, ...]) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} is not an object"]
    return [f"{where} has no {key!r}" for key in keys if key not in entry]


def json_problems(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return ["results.json is not a JSON object"]
    found = _missing("results.json", doc, ("schema", "config", "devices", "rounds", "final"))
    if found:
        return found
    if doc["schema"] != 1:
        found.append(f"schema is {doc['schema']!r}, not 1")
    config, devices, rounds, final = doc["config"], doc["devices"], doc["rounds"], doc["final"]
    found += _missing("config", config, CONFIG_KEYS)
    if not isinstance(devices, list) or not isinstance(rounds, list):
        return found + ["devices and rounds must be lists"]
    found += _device_problems(devices, config)
    found += _round_problems(rounds, config, len(devices))
    found += _final_problems(final, rounds)
    if isinstance(final, dict) and final.get("complete") is True and isinstance(config, dict) \
            and config.get("rounds") != len(rounds):
        found.append(f"a complete run of {config.get('rounds')!r} rounds lists {len(rounds)}")
    return found


def _device_problems(devices: list, config: dict) -> list[str]:
    found = []
    if isinstance(config, dict) and config.get("devices") != len(devices):
        found.append(f"config says {config.get('devices')} devices, devices lists {len(devices)}")
    for i, device in enumerate(devices):
        where = f"devices[{i}]"
        missing = _missing(where, device, DEVICE_KEYS)
        if missing:
            found += missing
            continue
        if device["id"] != i:
            found.append(f"{where} has id {device['id']!r}")
        if not isinstance(device["board"], str) or not device["board"]:
            found.append(f"{where} has no board name")
        if device["layer"] is not None and not _count(device["layer"]):
            found.append(f"{where} has layer {device['layer']!r}: null or a layer index")
        firmware = device["firmware"]
        if firmware is not None:
            found += _missing(f"{where}.firmware", firmware, FIRMWARE_KEYS)
            found += [f"{where}.firmware.{k} is {firmware[k]!r}" for k in FIRMWARE_KEYS
                      if isinstance(firmware, dict) and k in firmware and not _count(firmware[k])]
    return found


def _round_problems(rounds: list, config: dict, n_devices: int) -> list[str]:
    found = []
    validate = config.get("validate") if isinstance(config, dict) else None
    # --eval-every: test accuracy is measured every N-th round, after the
    # first and after the last one; a round in between carries the last
    # measured value and names its round in test_accuracy_round.
    every = config.get("eval_every_rounds", 1) if isinstance(config, dict) else 1
    values: dict[int, Any] = {}
    last_buffer = 0
    for i, entry in enumerate(rounds):
        where = f"rounds[{i}]"
        missing = _missing(where, entry, ROUND_KEYS)
        if missing:
            found += missing
            continue
        if entry["round"] != i + 1:
            found.append(f"{where} is numbered {entry['round']!r}")
        if not _count(entry["buffer"]) or entry["buffer"] < last_buffer:
            found.append(f"{where} has buffer {entry['buffer']!r} (after buffer {last_buffer})")
        else:
            last_buffer = entry["buffer"]
        must_measure = i in (0, len(rounds) - 1) or (_count(every) and every > 0 and (i + 1) % every == 0)
        if not _number(entry["test_accuracy"]) or not 0.0 <= entry["test_accuracy"] <= 1.0:
            found.append(f"{where} has test_accuracy {entry['test_accuracy']!r}")
        source = entry.get("test_accuracy_round", entry["round"])
        if source == entry["round"]:
            values[source] = entry["test_accuracy"]
        elif must_measure:
            found.append(f"{where} carries round {source!r}'s test accuracy, but eval_every_rounds {every!r} "
                         "measures this round")
        elif values.get(source) != entry["test_accuracy"]:
            found.append(f"{where} says its test_accuracy {entry['test_accuracy']!r} is round {source!r}'s, "
                         f"which measured {values.get(source)!r}")
        if entry["bitexact"] not in (True, False, None) or (entry["bitexact"] is None) != (validate is False):
            found.append(f"{where} has bitexact {entry['bitexact']!r} with validate {validate!r}")
        if not _count(entry["wire_bytes"]):
            found.append(f"{where} has wire_bytes {entry['wire_bytes']!r}")
        if not _number(entry["seconds"]) or entry["seconds"] < 0:
            found.append(f"{where} has seconds {entry['seconds']!r}")
        counts = entry["device_instructions"]
        if counts is not None and (
            not isinstance(counts, list) or len(counts) != n_devices
            or not all(c is None or _count(c) for c in counts)
        ):
            found.append(f"{where} has device_instructions {counts!r}: null or one count per device")
    return found


def _final_problems(final: Any, rounds: list) -> list[str]:
    found = _missing("final", final, FINAL_KEYS)
    if found:
        return found
    if final["rounds"] != len(rounds):
        found.append(f"final says {final['rounds']!r} rounds, rounds lists {len(rounds)}")
    last = rounds[-1]["test_accuracy"] if rounds and isinstance(rounds[-1], dict) else None
    if final["test_accuracy"] != last:
        found.append(f"final test_accuracy {final['test_accuracy']!r} is not the last round's {last!r}")
    checks = [r.get("bitexact") for r in rounds if isinstance(r, dict)]
    expected = None if not checks or None in checks else all(checks)
    if final["bitexact_all"] != expected:
        found.append(f"final bitexact_all is {final['bitexact_all']!r}, the rounds say {expected!r}")
    if not _number(final["wall_seconds"]) or final["wall_seconds"] < 0:
        found.append(f"final wall_seconds is {final['wall_seconds']!r}")
    return found


def csv_problems(path: Path, rounds: list) -> list[str]:
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [f"rounds.csv is unreadable ({exc})"]
    if len(rows) != len(rounds):
        return [f"rounds.csv has {len(rows)} rows, results.json {len(rounds)} rounds"]
    found = []
    for row, entry in zip(rows, rounds):
        try:
            acc = None if row["test_accuracy"] == "" else float(row["test_accuracy"])
            same = int(row["round"]) == entry["round"] and acc == entry["test_accuracy"]
        except (KeyError, TypeError, ValueError):
            same = False
        if not same:
            found.append(f"rounds.csv row {row!r} does not match round {entry.get('round')!r} of results.json")
            break
    return found


def png_problems(path: Path) -> list[str]:
    try:
        head = path.read_bytes()[:8]
    except OSError as exc:
        return [f"accuracy.png is unreadable ({exc.strerror or exc})"]
    if head != PNG_SIGNATURE:
        return [f"accuracy.png does not start with the PNG signature (starts {head!r})"]
    import matplotlib.image

    try:
        pixels = matplotlib.image.imread(path)
    except Exception as exc:  # whatever the decoder says, the file is no picture
        return [f"accuracy.png does not decode ({type(exc).__name__}: {exc})"]
    if pixels.ndim < 2 or 0 in pixels.shape[:2]:
        return [f"accuracy.png is {pixels.shape}: no picture"]
    if pixels.min() == pixels.max():
        return ["accuracy.png is a single flat colour: nothing was drawn"]
    return []


def problems(folder: Path) -> list[str]:
    """Everything wrong with results.json, rounds.csv and accuracy.png."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / "results.json").read_text())
    except OSError as exc:
        return [f"results.json is unreadable ({exc.strerror or exc})"]
    except ValueError as exc:
        return [f"results.json is not JSON ({exc})"]
    found = json_problems(doc)
    rounds = doc.get("rounds") if isinstance(doc, dict) else None
    if isinstance(rounds, list):
        found += csv_problems(folder / "rounds.csv", rounds)
    found += png_problems(folder / "accuracy.png")
    return found
