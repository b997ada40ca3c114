"""A Flower run's options: those of `tifed run` (training, and --quorum,
--round-timeout, --stop-on-divergence as docs/RELIABILITY.md defines them)
plus what only a federation over a network needs (node and join timeouts).

They travel as Flower's run config (app/pyproject.toml [tool.flwr.app.config]
holds the defaults, `flwr run --run-config` the values; keys are the CLI's
option names without dashes in front) and reach the ServerApp in
`context.run_config`. The ServerApp sends the nodes only the training part
(`training_json`), so every node trains with exactly what the server
validated.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from tifed.config import RunConfig, RunPlan, prepare
from tifed.errors import ConfigError

# The Flower run config keys and their defaults; app/pyproject.toml repeats
# them (a unit test keeps the two equal). 0 means "not set" where the CLI
# option is optional: Flower's run config has no null.
RUN_CONFIG_DEFAULTS: dict[str, Any] = {
    "devices": 0,
    "mode": "full",
    "dataset": "digits",
    "model": "64-32-10",
    "buffers": 0,
    "rounds": 0,
    "buffer-len": 50,
    "batch": 25,
    "epochs": 5,
    "lr-inv": 2048,
    "seed": 0,
    "validate": True,
    "out": "",
    "quorum": 0,
    "round-timeout": 0.0,
    "stop-on-divergence": False,
    "node-timeout": 900.0,
    "join-timeout": 300.0,
}

# What a node needs to train its devices: the RunConfig fields of the run.
TRAINING_FIELDS = ("devices", "mode", "dataset", "model", "buffers", "rounds", "buffer_len", "batch",
                   "epochs", "lr_inv", "seed")


@dataclasses.dataclass(frozen=True)
class FederationOptions:
    """What only a federation over a network adds to a run's options."""

    # Seconds a node may take to answer one message before its devices are
    # dropped: the bound on a node that hangs but still heartbeats (one that
    # vanishes is reported by Flower after about 60 s of missed heartbeats).
    node_timeout: float = RUN_CONFIG_DEFAULTS["node-timeout"]
    join_timeout: float = RUN_CONFIG_DEFAULTS["join-timeout"]  # s to wait for nodes to cover the fleet


def check_federation(fed: FederationOptions) -> None:
    for name, value in (("--node-timeout", fed.node_timeout), ("--join-timeout", fed.join_timeout)):
        if not 0 < value <= 86400:
            raise ConfigError(f"{name} must be a number of seconds above 0 and at most 86400, got {value}")


def _typed(rc: Mapping[str, Any], key: str, kind: type) -> Any:
    value = rc.get(key, RUN_CONFIG_DEFAULTS[key])
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"run config {key} must be {kind.__name__}, got {value!r}")
    return value


def from_run_config(rc: Mapping[str, Any]) -> tuple[RunConfig, FederationOptions]:
    """The ServerApp's view of `context.run_config` (checked)."""
    unknown = sorted(set(rc) - set(RUN_CONFIG_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown run config keys: {', '.join(unknown)} (known: {', '.join(RUN_CONFIG_DEFAULTS)})")
    devices = _typed(rc, "devices", int)
    if devices < 1:
        raise ConfigError("run config devices must be set to the number of devices of the fleet (K >= 1)")
    out = _typed(rc, "out", str)
    if not out:
        raise ConfigError("run config out must name the folder for results.json (on the SuperLink's host)")
    config = RunConfig(
        boards=("sim",),  # placeholder: the nodes own the boards
        devices=devices,
        mode=_typed(rc, "mode", str),
        dataset=_typed(rc, "dataset", str),
        model=_typed(rc, "model", str),
        out=out,
        buffers=_typed(rc, "buffers", int) or None,
        rounds=_typed(rc, "rounds", int) or None,
        buffer_len=_typed(rc, "buffer-len", int),
        batch=_typed(rc, "batch", int),
        epochs=_typed(rc, "epochs", int),
        lr_inv=_typed(rc, "lr-inv", int),
        seed=_typed(rc, "seed", int),
        validate=_typed(rc, "validate", bool),
        quorum=_typed(rc, "quorum", int) or None,
        round_timeout=_typed(rc, "round-timeout", float) or None,
        stop_on_divergence=_typed(rc, "stop-on-divergence", bool),
    )
    fed = FederationOptions(
        node_timeout=_typed(rc, "node-timeout", float),
        join_timeout=_typed(rc, "join-timeout", float),
    )
    return config, fed


def to_run_config(config: RunConfig, fed: FederationOptions) -> dict[str, Any]:
    """The inverse of from_run_config (what `tifed serve` hands to `flwr run`)."""
    return {
        "devices": config.devices,
        "mode": config.mode,
        "dataset": config.dataset,
        "model": config.model,
        "buffers": config.buffers or 0,
        "rounds": config.rounds or 0,
        "buffer-len": config.buffer_len,
        "batch": config.batch,
        "epochs": config.epochs,
        "lr-inv": config.lr_inv,
        "seed": config.seed,
        "validate": config.validate,
        "out": config.out,
        "quorum": config.quorum or 0,
        "round-timeout": float(config.round_timeout or 0.0),
        "stop-on-divergence": config.stop_on_divergence,
        "node-timeout": float(fed.node_timeout),
        "join-timeout": float(fed.join_timeout),
    }


def toml_text(values: Mapping[str, Any]) -> str:
    """Flat TOML for `flwr run --run-config FILE` (JSON strings are valid TOML
    basic strings; bools need TOML's lower case)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = json.dumps(str(value))
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def server_plan(config: RunConfig, fed: FederationOptions) -> RunPlan:
    """Every check of `tifed run` that needs no board (the nodes check theirs)
    plus the federation's own; the plan gives data, shards and schedule."""
    if config.faults is not None:
        raise ConfigError("--faults works on a node's own links, not over Flower")
    check_federation(fed)
    return prepare(config)


def training_json(config: RunConfig) -> str:
    return json.dumps({name: getattr(config, name) for name in TRAINING_FIELDS}, sort_keys=True)


def training_from_json(text: str) -> dict[str, Any]:
    try:
        values = json.loads(text)
    except (TypeError, ValueError):
        raise ConfigError("the server sent an unreadable training configuration") from None
    if not isinstance(values, dict) or set(values) != set(TRAINING_FIELDS):
        raise ConfigError("the server's training configuration has other fields than this node knows "
                          "(tifed versions differ?)")
    return values
