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

SCHEMA = 1
CSV_FIELDS = ("round", "buffer", "test_accuracy", "bitexact", "wire_bytes", "seconds", "device_instructions",
              "devices_used", "retransmissions")


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is always either old or new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; results are for everyone to read
            handle.write(data)
            handle.flush()
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
    run ends with); best_test_accuracy is an extra, for a quick look."""
    checks = [r["bitexact"] for r in rounds]
    if not rounds or any(c is None for c in checks):
        bitexact_all = None
    else:
        bitexact_all = all(checks)
    return {
        "rounds": len(rounds),
        "test_accuracy": rounds[-1]["test_accuracy"] if rounds else None,
        "bitexact_all": bitexact_all,
        "wall_seconds": round(wall_seconds, 3),
        "best_test_accuracy": max(r["test_accuracy"] for r in rounds) if rounds else None,
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

    def write(self) -> None:
        text = json.dumps(self.document(), indent=2) + "\n"
        atomic_write(self.json_path, text.encode())
        atomic_write(self.dir / "rounds.csv", self._csv().encode())

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
        self.write()

    def _title(self) -> str:
        c = self.config
        return f"{c.get('dataset')} {c.get('model')}, {c.get('devices')} devices, {c.get('mode')} mode"

    def _csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in self.rounds:
            row = []
            for field in CSV_FIELDS:
                value = r.get(field)
                if isinstance(value, list):
                    value = ";".join("" if v is None else str(v) for v in value)
                elif value is None:
                    value = ""
                row.append(value)
            writer.writerow(row)
        return buf.getvalue()
