"""What is trained, and how: the one home of algorithm.md's parameters.

`TrainingConfig` is frozen and holds exactly what decides the integers of a
run: the model, the mode, the data, the fleet size K, how much of the
schedule runs, and the training parameters. Its defaults are the paper's,
written here once: the CLI takes them from here (`default_of`), and so do
Flower's run config and every other path. `check()` is its validation, and
`to_json()` / `from_json()` its one serialisation (checkpoints, Flower's
server -> node messages). How devices are reached (links, faults, quorum)
is not training: those options live beside it in tifed.config.RunConfig.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import tifed_models
from tifed.errors import ConfigError

MODES = ("full", "single")
# Storage width of weights and biases on every engine (interfaces.md --weights):
# int32 is the paper's, int16 this project's extension (models/README.md).
WEIGHT_WIDTHS = ("int32", "int16")
U16 = 0xFFFF
U32 = 0xFFFFFFFF
# The widest value each field can take: the field widths of CONFIGURE and
# TRAIN (PROTOCOL.md), so a value that passes here fits the wire.
LIMITS: dict[str, tuple[int, int]] = {
    "devices": (1, 255),
    "buffer_len": (1, U16),
    "batch": (1, U16),
    "epochs": (1, U16),
    "lr_inv": (1, U32),
    "seed": (0, U32),
    "buffers": (1, U16 * U16),
    "rounds": (1, U16 * U16),
    "pool": (1, 8),
}


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """algorithm.md's run, as the user chose it (defaults: the paper's)."""

    mode: str
    dataset: str
    model: str  # layer sizes, "64-32-10"
    devices: int | None = None  # K; None only until a fleet file says how many
    buffers: int | None = None  # train on the first N buffers only
    rounds: int | None = None  # or stop after R rounds
    buffer_len: int = 50
    batch: int = 25
    epochs: int = 5
    lr_inv: int = 2048
    seed: int = 0  # data split, shard order, feedback matrices
    weights: str = "int32"
    pool: int = 1  # P > 1: mean of each P x P block of pixels (datasets.pooled), for small boards

    @functools.cached_property
    def dims(self) -> tuple[int, ...]:
        try:
            return tifed_models.parse_model(self.model)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def classes(self) -> int:
        return self.dims[-1]

    @property
    def n_layers(self) -> int:
        return len(self.dims) - 1

    @property
    def weight_bits(self) -> int:
        """--weights as tifed_models and CONFIGURE take it: 32 or 16."""
        return {"int32": 32, "int16": 16}[self.weights]

    def check(self) -> tuple[int, ...]:
        """Every check that needs neither a board nor the data; the dims."""
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be full or single, got {self.mode!r}")
        if self.devices is None:
            raise ConfigError("--devices K is required (without --fleet)")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                raise ConfigError(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")
        if self.buffers is not None and self.rounds is not None:
            raise ConfigError("give --buffers or --rounds, not both")
        if self.batch > self.buffer_len:
            raise ConfigError(f"--batch {self.batch} is larger than --buffer-len {self.buffer_len}: "
                              "no mini-batch would run")
        if self.weights not in WEIGHT_WIDTHS:
            raise ConfigError(f"--weights must be {' or '.join(WEIGHT_WIDTHS)}, got {self.weights!r}")
        dims = self.dims
        if self.mode == "single":
            try:
                tifed_models.layer_groups(self.devices, len(dims) - 1)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return dims

    def layers(self) -> list[int | None]:
        """Per device: the layer it trains (single mode), or None (full mode)."""
        if self.mode == "single":
            return list(tifed_models.layer_groups(self.devices, self.n_layers))
        return [None] * self.devices

    def trained_layers(self, layer: int | None) -> list[int]:
        """The layers a device with `layer` (from layers()) updates."""
        return list(range(self.n_layers)) if layer is None else [layer]

    def arena_bytes(self) -> int:
        """RAM arena a device needs for this model, buffer and batch (PROTOCOL.md)."""
        return tifed_models.arena_bytes(self.dims, self.buffer_len, self.batch, self.weight_bits)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, values: Mapping[str, Any], where: str = "the training configuration") -> "TrainingConfig":
        """The inverse of to_json; unknown or missing fields are one error line."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where} is not a JSON object")
        names = field_names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(f"{where} names {', '.join(unknown)}, which this harness does not know "
                              "(tifed versions differ?)")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{where} is incomplete ({exc})") from None


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainingConfig))


def default_of(name: str) -> Any:
    """A field's default (the paper's value), for the CLI and Flower's run config."""
    field = TrainingConfig.__dataclass_fields__[name]
    if field.default is dataclasses.MISSING:
        raise KeyError(f"{name} has no default")
    return field.default
