"""A run's options (`tifed run`) and their validation.

`RunConfig` holds what the user asked for, in three parts: the training
(`TrainingConfig`: what decides the integers), how devices are reached
(`LinkOptions`) and how the run survives faults (`RecoveryOptions`). It is
plain data; tifed.plan checks it against boards and data.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tifed.errors import ConfigError
from tifed.links.settings import LinkSettings, WireOptions
from tifed.training.config import TrainingConfig


DEFAULT_REJOIN_TIMEOUT = 30.0  # seconds a device whose link broke may take to answer again


@dataclasses.dataclass(frozen=True)
class LinkOptions:
    """Serial links: ports, URLs and fleet devices (boards/fleet_file.py, links/settings.py)."""

    fleet: str | None = None  # --fleet FILE: the devices of a lab
    baud: int | None = None
    timeout: float | None = None
    chunk: int | None = None
    # How the model crosses every device's link (emulated ones included).
    protocol: int | None = None  # --protocol: the newest protocol version to use
    full_readback: bool = False  # --full-readback: trained tensors read whole (an audit)
    line_rate: int | None = None  # --line-rate: every link paced like a UART of this many baud

    def settings(self) -> LinkSettings:
        return LinkSettings().with_overrides(baud=self.baud, timeout=self.timeout, chunk=self.chunk)

    def wire(self) -> WireOptions:
        return WireOptions(protocol=self.protocol, full_readback=self.full_readback, line_rate=self.line_rate)


@dataclasses.dataclass(frozen=True)
class RecoveryOptions:
    """Faults and how the run survives them (docs/RELIABILITY.md)."""

    faults: str | None = None  # --faults SPEC: every device link through a fault:// injector
    quorum: int | None = None  # fewest updates a round aggregates; None: every device
    round_timeout: float | None = None  # seconds a round waits for stragglers once a quorum is in
    stop_on_divergence: bool = False
    rejoin_timeout: float = DEFAULT_REJOIN_TIMEOUT  # seconds a reset device or broken link may take to come back


_PARTS = {"training": TrainingConfig, "link": LinkOptions, "recovery": RecoveryOptions}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The options of `tifed run`; defaults are the paper's (interfaces.md)."""

    training: TrainingConfig
    boards: tuple[str, ...]
    out: str
    validate: bool = True
    eval_every: str = "buffer"  # test accuracy after: buffer, round or every N rounds (schedule.eval_interval)
    link: LinkOptions = LinkOptions()
    recovery: RecoveryOptions = RecoveryOptions()

    @classmethod
    def of(cls, **options: Any) -> "RunConfig":
        """A RunConfig from flat option names (the CLI's, a checkpoint's):
        each goes to the part that has a field of that name."""
        parts, own = _split(options)
        return cls(training=TrainingConfig(**parts["training"]), link=LinkOptions(**parts["link"]),
                   recovery=RecoveryOptions(**parts["recovery"]), **own)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with options changed, by flat names (see `of`)."""
        parts, own = _split(changes)
        changed = {name: dataclasses.replace(getattr(self, name), **values)
                   for name, values in parts.items() if values}
        return dataclasses.replace(self, **own, **changed)

    def flat(self) -> dict[str, Any]:
        """Every option under its flat name (the inverse of `of`), as JSON."""
        values: dict[str, Any] = {"boards": list(self.boards), "out": self.out, "validate": self.validate,
                                  "eval_every": self.eval_every}
        for name in _PARTS:
            values.update(dataclasses.asdict(getattr(self, name)))
        return values

    @property
    def quorum(self) -> int:
        """Fewest updates a round aggregates (default: every device)."""
        q = self.recovery.quorum
        return q if q is not None else self.training.devices


def _split(options: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Flat option names -> (values per part, RunConfig's own values)."""
    owner = {f.name: part for part, kind in _PARTS.items() for f in dataclasses.fields(kind)}
    own_names = {f.name for f in dataclasses.fields(RunConfig)} - set(_PARTS)
    parts: dict[str, dict[str, Any]] = {name: {} for name in _PARTS}
    own: dict[str, Any] = {}
    for key, value in options.items():
        if key in owner:
            parts[owner[key]][key] = value
        elif key in own_names:
            own[key] = tuple(value) if key == "boards" else value
        else:
            raise ConfigError(f"unknown option {key!r}")
    return parts, own


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    """A RunConfig back from RunPlan.requested_dict() (a checkpoint)."""
    try:
        return RunConfig.of(**d)
    except ConfigError as exc:
        raise ConfigError(f"the saved options: {exc}, which this harness does not know") from None
    except TypeError as exc:
        raise ConfigError(f"the saved options are incomplete ({exc})") from None
