"""`tifed run --resume DIR`: the options and state to carry on a run whose
server stopped (crash, kill, power cut) from DIR/checkpoint.npz
(server/checkpoint.py). The resumed run takes every option from DIR, so it
ends as the uninterrupted run would have."""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import tifed_models
from tifed.config import RunConfig, config_from_dict

from tifed.plan import RunPlan
from tifed.errors import ConfigError
from tifed.server import checkpoint as ckpt


def resume_config(args: argparse.Namespace, defaults: dict[str, Any]) -> tuple[RunConfig, ckpt.Checkpoint]:
    """The saved RunConfig (its out = DIR) and checkpoint; any other run
    option given with --resume is one error line (it would change the run)."""
    given = sorted(f"--{name.replace('_', '-')}" for name, value in vars(args).items()
                   if name not in ("resume", "command") and value != defaults.get(name))
    if given:
        raise ConfigError(f"--resume takes every option from {args.resume}; do not give {', '.join(given)}")
    cp = ckpt.load(args.resume)
    try:
        config = config_from_dict(cp.run_config)
    except ConfigError as exc:
        raise ConfigError(f"--resume {args.resume}: {exc}") from None
    return dataclasses.replace(config, out=str(args.resume)), cp


def check_resumable(plan: RunPlan, cp: ckpt.Checkpoint, folder: str) -> None:
    total = len(plan.schedule)
    if not 1 <= cp.round <= total:
        raise ConfigError(f"--resume {folder}: the checkpoint is at round {cp.round}, the run has rounds 1 to {total}")
    if cp.round == total:
        raise ConfigError(f"--resume {folder}: the run already finished all {total} rounds; nothing to resume")
    if cp.model.dims != tuple(plan.dims):
        raise ConfigError(f"--resume {folder}: the saved model is {'-'.join(map(str, cp.model.dims))}, "
                          f"the options say {'-'.join(map(str, plan.dims))}")
    try:
        tifed_models.check_model_width(cp.model, plan.training.weight_bits)
    except ValueError as exc:
        raise ConfigError(f"--resume {folder}: the saved model does not fit --weights {plan.training.weights}: "
                          f"{exc}") from None
    found = (cp.guard or {}).get("found")
    if found is not None and plan.config.recovery.stop_on_divergence:
        raise ConfigError(f"--resume {folder}: the run stopped on divergence at round {found['round']}; nothing to resume")
