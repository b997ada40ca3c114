"""What `tifed run --resume DIR` needs to carry on after a server crash:
DIR/checkpoint.npz, rewritten atomically after every round.

It holds the global model (w0, b0, ...) and, as JSON in `state`, the last
completed round, every run option (RunConfig), the rounds so far (results.json
is rebuilt from them), the devices dropped so far and the divergence guard's
state. Nothing else carries over a round: data, shards, schedule and
feedback matrices all follow from the options and the seed, and devices are
provisioned afresh, so a resumed run ends with the same model as one that
was never interrupted.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import tifed_models
from tifed.errors import ConfigError
from tifed.output.results import atomic_write

FILE = "checkpoint.npz"
VERSION = 1


@dataclasses.dataclass
class Checkpoint:
    round: int  # the last completed round (1-based; 0: none yet)
    run_config: dict[str, Any]
    model: tifed_models.Model
    rounds: list[dict[str, Any]]
    dropped: dict[int, dict[str, Any]]  # device -> {"round": r, "reason": ...}
    guard: dict[str, Any] | None
    wall_seconds: float = 0.0
    resumed_after: list[int] = dataclasses.field(default_factory=list)

    def save(self, folder: str | Path) -> None:
        state = {
            "version": VERSION,
            "round": self.round,
            "run_config": self.run_config,
            "rounds": self.rounds,
            "dropped": {str(k): v for k, v in self.dropped.items()},
            "guard": self.guard,
            "wall_seconds": self.wall_seconds,
            "resumed_after": self.resumed_after,
        }
        arrays = self.model.to_arrays()
        arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(Path(folder) / FILE, buf.getvalue())


def load(folder: str | Path) -> Checkpoint:
    """DIR's checkpoint, or one ConfigError line saying why it cannot be used."""
    path = Path(folder) / FILE
    if not Path(folder).is_dir():
        raise ConfigError(f"--resume {folder}: not a directory")
    if not path.is_file():
        raise ConfigError(f"--resume {folder}: no {FILE} there (a run writes it after its first round)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(bytes(npz["state"]).decode())
            model = tifed_models.Model.from_arrays({k: npz[k] for k in npz.files if k != "state"})
    except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"--resume {folder}: {FILE} is unreadable ({type(exc).__name__}: {exc})") from None
    if state.get("version") != VERSION:
        raise ConfigError(f"--resume {folder}: {FILE} has version {state.get('version')!r}, this harness reads {VERSION}")
    try:
        return Checkpoint(
            round=int(state["round"]),
            run_config=dict(state["run_config"]),
            model=model,
            rounds=list(state["rounds"]),
            dropped={int(k): v for k, v in state["dropped"].items()},
            guard=state["guard"],
            wall_seconds=float(state.get("wall_seconds", 0.0)),
            resumed_after=list(state.get("resumed_after", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"--resume {folder}: {FILE} lacks {exc}") from None
