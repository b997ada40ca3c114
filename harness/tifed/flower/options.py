"""A Flower run's options: those of `tifed run` (training, and --quorum,
--round-timeout, --stop-on-divergence as docs/RELIABILITY.md defines them)
plus what only a federation over a network needs (node and join timeouts).

They travel as Flower's run config (app/pyproject.toml [tool.flwr.app.config]
lists the keys, `flwr run --run-config` gives the values; keys are the CLI's
option names without dashes in front) and reach the ServerApp in
`context.run_config`. The ServerApp sends the nodes only the training part
(TrainingConfig's JSON), so every node trains with exactly what the server
validated.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from tifed.config import RecoveryOptions, RunConfig
from tifed.errors import ConfigError
from tifed.plan import RunPlan, prepare
from tifed.training.config import TrainingConfig, field_names

# Flower's run config (app/pyproject.toml [tool.flwr.app.config] must list
# exactly these keys; a unit test checks it). The training keys are the
# fields of TrainingConfig with dashes, their defaults there: here 0 or ""
# means "not set" (Flower's run config has no null).
TRAINING_KEYS = {name.replace("_", "-"): name for name in field_names()}
_TEXT_FIELDS = {f.name for f in dataclasses.fields(TrainingConfig) if f.type == "str"}


@dataclasses.dataclass(frozen=True)
class FederationOptions:
    """What only a federation over a network adds to a run's options."""

    # Seconds a node may take to answer one message before its devices are
    # dropped: the bound on a node that hangs but still heartbeats (one that
    # vanishes is reported by Flower after about 60 s of missed heartbeats).
    node_timeout: float = 900.0
    join_timeout: float = 300.0  # s to wait for nodes to cover the fleet


RUN_CONFIG_DEFAULTS: dict[str, Any] = {
    **{key: "" if name in _TEXT_FIELDS else 0 for key, name in TRAINING_KEYS.items()},
    "validate": RunConfig.__dataclass_fields__["validate"].default,
    "out": "",
    "quorum": 0,
    "round-timeout": 0.0,
    "stop-on-divergence": RecoveryOptions().stop_on_divergence,
    "node-timeout": FederationOptions().node_timeout,
    "join-timeout": FederationOptions().join_timeout,
}


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
    training = {}
    for key, name in TRAINING_KEYS.items():
        value = _typed(rc, key, str if name in _TEXT_FIELDS else int)
        if value not in (0, ""):  # not set: TrainingConfig's default
            training[name] = value
    out = _typed(rc, "out", str)
    if "devices" not in training:
        raise ConfigError("run config devices must be set to the number of devices of the fleet (K >= 1)")
    if not out:
        raise ConfigError("run config out must name the folder for results.json (on the SuperLink's host)")
    missing = [key for key in ("mode", "dataset", "model") if key not in training]
    if missing:
        raise ConfigError(f"run config {', '.join(missing)} must be set (as for tifed run)")
    config = RunConfig.of(
        boards=("sim",),  # placeholder: the nodes own the boards
        out=out,
        validate=_typed(rc, "validate", bool),
        quorum=_typed(rc, "quorum", int) or None,
        round_timeout=_typed(rc, "round-timeout", float) or None,
        stop_on_divergence=_typed(rc, "stop-on-divergence", bool),
        **training,
    )
    fed = FederationOptions(
        node_timeout=_typed(rc, "node-timeout", float),
        join_timeout=_typed(rc, "join-timeout", float),
    )
    return config, fed


def to_run_config(config: RunConfig, fed: FederationOptions) -> dict[str, Any]:
    """The inverse of from_run_config (what `tifed serve` hands to `flwr run`)."""
    training = config.training.to_json()
    r = config.recovery
    return {
        **{key: training[name] if training[name] is not None else RUN_CONFIG_DEFAULTS[key]
           for key, name in TRAINING_KEYS.items()},
        "validate": config.validate,
        "out": config.out,
        "quorum": r.quorum or 0,
        "round-timeout": float(r.round_timeout or 0.0),
        "stop-on-divergence": r.stop_on_divergence,
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
    if config.recovery.faults is not None:
        raise ConfigError("--faults works on a node's own links, not over Flower")
    check_federation(fed)
    return prepare(config)


def training_json(config: RunConfig) -> str:
    """What the server tells every node about the run (TrainingConfig's JSON)."""
    return json.dumps(config.training.to_json(), sort_keys=True)


def training_from_json(text: str) -> TrainingConfig:
    try:
        values = json.loads(text)
    except (TypeError, ValueError):
        raise ConfigError("the server sent an unreadable training configuration") from None
    return TrainingConfig.from_json(values, "the server's training configuration")
