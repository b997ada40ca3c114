"""A run's output folder (interfaces.md "DIR/results.json"):

- results.json: schema 1; rewritten after every round through a temporary
  file and os.replace, so a reader (or a crash) never sees half a file;
- rounds.csv: the same rounds as a table, rewritten the same way;
- model.npz: the global model (w0, b0, ...), at the end and on error;
- accuracy.png: test accuracy per round, at the end and on error.

`final` is always present: while the run goes on it describes the rounds so
far with "complete": false; "error" holds the one-line reason a run stopped.
The federation adds its own figures to it (`extra_final`: quorum, dropped
devices, divergence, resumes).
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tifed.output.round_entry import measured

SCHEMA = 1
CSV_FIELDS = ("round", "buffer", "test_accuracy", "bitexact", "wire_bytes", "seconds", "device_instructions",
              "devices_used", "retransmissions")


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so that `path` is always either old or new.
    `durable`: on disk (fsync) before it replaces the old file; without it a
    reader or a killed process still never sees half a file, only a power
    cut can lose the latest version."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; results are for everyone to read
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def final_summary(rounds: list[dict[str, Any]], wall_seconds: float, *, complete: bool, error: str | None) -> dict[str, Any]:
    """results.json "final". test_accuracy is the LAST round's (the model the
    run ends with; a run always measures it); best_test_accuracy is an extra,
    for a quick look, over the rounds that measured it (--eval-every)."""
    checks = [r["bitexact"] for r in rounds]
    accuracies = [r["test_accuracy"] for r in rounds if measured(r)]
    if not rounds or any(c is None for c in checks):
        bitexact_all = None
    else:
        bitexact_all = all(checks)
    return {
        "rounds": len(rounds),
        "test_accuracy": rounds[-1]["test_accuracy"] if rounds else None,
        "bitexact_all": bitexact_all,
        "wall_seconds": round(wall_seconds, 3),
        "best_test_accuracy": max(accuracies) if accuracies else None,
        "wire_bytes": int(sum(r["wire_bytes"] for r in rounds)),
        "retransmissions": int(sum(r.get("retransmissions", 0) for r in rounds)),
        "complete": complete,
        "error": error,
    }


class ResultsWriter:
    def __init__(self, out: str | os.PathLike, config: dict[str, Any], devices: list[dict[str, Any]]):
        self.dir = Path(out)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from tifed.errors import ConfigError

            raise ConfigError(f"cannot create output folder {self.dir}: {exc.strerror or exc}") from None
        self.config = config
        self.devices = devices
        self.rounds: list[dict[str, Any]] = []
        # Each round entry as results.json and rounds.csv write it, encoded once
        # (an entry is final once added): rewriting both files after every
        # round then costs a join, not an encoding of every round so far,
        # which grew with the square of the rounds (750 rounds: ~15 s).
        self._encoded: list[tuple[dict[str, Any], str, str]] = []
        self.extra_final: dict[str, Any] = {}
        self.final: dict[str, Any] = final_summary([], 0.0, complete=False, error=None)

    @property
    def json_path(self) -> Path:
        return self.dir / "results.json"

    def document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "config": self.config,
            "devices": self.devices,
            "rounds": self.rounds,
            "final": self.final,
        }

    def write(self, durable: bool = False) -> None:
        """Both files, atomically. Not fsynced after every round (that cost a
        750-round sim run ~5 s): the per-round durable record is the
        checkpoint (server/checkpoint.py), from which --resume rebuilds this;
        finish() writes durably."""
        encoded = self._encode_rounds()
        doc = {**self.document(), "rounds": _ROUNDS_MARK}
        rounds = "[\n    " + ",\n    ".join(e[1] for e in encoded) + "\n  ]" if encoded else "[]"
        text = json.dumps(doc, indent=2).replace(json.dumps(_ROUNDS_MARK), rounds, 1) + "\n"
        atomic_write(self.json_path, text.encode(), durable)
        atomic_write(self.dir / "rounds.csv", (_csv_line(CSV_FIELDS) + "".join(e[2] for e in encoded)).encode(), durable)

    def _encode_rounds(self) -> list[tuple[dict[str, Any], str, str]]:
        """(entry, its JSON indented for its place in the document, its CSV
        line) per round, encoding only entries not seen before."""
        cache = self._encoded
        keep = 0
        while keep < min(len(cache), len(self.rounds)) and cache[keep][0] is self.rounds[keep]:
            keep += 1
        del cache[keep:]
        for r in self.rounds[keep:]:
            cache.append((r, json.dumps(r, indent=2).replace("\n", "\n    "), _csv_line(_csv_row(r))))
        return cache

    def add_round(self, entry: dict[str, Any], wall_seconds: float) -> None:
        self.rounds.append(entry)
        self.final = {**final_summary(self.rounds, wall_seconds, complete=False, error=None), **self.extra_final}
        self.write()

    def finish(self, wall_seconds: float, model=None, error: str | None = None) -> None:
        """The last write: final figures, model.npz and accuracy.png. Safe to
        call on the way out of a failed run; a plot failure must not hide the
        run's own error, so it is reported in final["plot_error"] instead."""
        self.final = {**final_summary(self.rounds, wall_seconds, complete=error is None, error=error),
                      **self.extra_final}
        if model is not None:
            buf = io.BytesIO()
            np.savez(buf, **model.to_arrays())
            atomic_write(self.dir / "model.npz", buf.getvalue())
        try:
            from tifed.output.plot import accuracy_png  # matplotlib loads only when a run ends

            atomic_write(self.dir / "accuracy.png", accuracy_png(self.rounds, title=self._title()))
        except Exception as exc:  # matplotlib trouble is not the run's failure
            self.final["plot_error"] = f"{type(exc).__name__}: {exc}"
        self.write(durable=True)

    def _title(self) -> str:
        c = self.config
        return f"{c.get('dataset')} {c.get('model')}, {c.get('devices')} devices, {c.get('mode')} mode"



_ROUNDS_MARK = "\u0000rounds\u0000"  # where write() puts the encoded rounds; no real value is this string


def _csv_row(r: dict[str, Any]) -> list[Any]:
    row = []
    for field in CSV_FIELDS:
        value = r.get(field)
        if isinstance(value, list):
            value = ";".join("" if v is None else str(v) for v in value)
        elif value is None:
            value = ""
        row.append(value)
    return row


def _csv_line(row) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()
