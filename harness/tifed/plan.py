"""Checking a run before anything starts: `prepare(RunConfig) -> RunPlan`.

`prepare()` checks every option, resolves boards, model, data and schedule,
and returns a `RunPlan`, or raises a ConfigError with one line. Nothing here
starts a device: every mistake interfaces.md lists (unknown board, model too
big for a board's RAM, K not a multiple of L, missing toolchain, unreadable
data) is reported before the first device exists.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np

from tifed.boards.base import Board
from tifed.boards.registry import get_board
from tifed.config import RunConfig
from tifed.errors import ConfigError
from tifed.links.settings import check_line_rate, check_link_values
from tifed.training import datasets
from tifed.training.config import TrainingConfig
from tifed.training.schedule import Round, eval_interval, evaluation_rounds, plan


@dataclasses.dataclass
class RunPlan:
    """A checked run: everything the server needs, nothing started yet."""

    config: RunConfig
    dims: tuple[int, ...]
    boards: list[Board]  # one per device (the same object for devices of one kind)
    layers: list[int | None]  # per device: the layer it trains (single mode) or None
    data: datasets.Dataset
    shards: list[tuple[np.ndarray, np.ndarray]]
    schedule: list[Round]
    requested: RunConfig | None = None  # the options as given (before a fleet file resolved them)

    @property
    def training(self) -> TrainingConfig:
        return self.config.training

    @property
    def quorum(self) -> int:
        return self.config.quorum

    def requested_dict(self) -> dict[str, Any]:
        """The options as given, as JSON (a checkpoint keeps them for --resume)."""
        return (self.requested or self.config).flat()

    @property
    def eval_every_rounds(self) -> int:
        return eval_interval(self.config.eval_every, self.training.epochs)

    @property
    def evaluated_rounds(self) -> frozenset[int]:
        """The rounds after which test accuracy is measured (--eval-every)."""
        return evaluation_rounds(self.schedule, self.eval_every_rounds)

    @property
    def arena_need(self) -> int:
        return self.training.arena_bytes()

    def resolved(self) -> dict[str, Any]:
        """results.json "config": every option with its resolved value."""
        t = self.training
        values = self.config.flat()
        values.update({
            "device_boards": [b.name for b in self.boards],
            "model": "-".join(map(str, self.dims)),
            "dims": list(self.dims),
            "buffers": self.schedule[-1].buffer + 1,
            "rounds": len(self.schedule),
            "buffers_option": t.buffers,
            "rounds_option": t.rounds,
            "quorum": self.quorum,
            "eval_every_rounds": self.eval_every_rounds,
            "train_samples": int(self.data.x_train.shape[0]),
            "test_samples": int(self.data.x_test.shape[0]),
            "shard_samples": int(self.shards[0][0].shape[0]),
            "classes": self.data.classes,
            "weight_bits": t.weight_bits,
            "arena_bytes_needed": self.arena_need,
        })
        return values


def check_chunk(where: str, chunk: int | None, dims: tuple[int, ...]) -> None:
    """A --chunk (or fleet chunk) must carry at least one whole sample."""
    from tifed.protocol.payloads import WRITE_SAMPLES_HEADER

    need = WRITE_SAMPLES_HEADER + 1 + dims[0]
    if chunk is not None and chunk < need:
        raise ConfigError(f"{where} {chunk} is too small: one sample of model {'-'.join(map(str, dims))} "
                          f"takes a {need}-byte payload")


def check_options(c: RunConfig) -> tuple[int, ...]:
    """The checks that need no board and no data; returns the model dims."""
    if not c.boards:
        raise ConfigError("give at least one --board (or --fleet FILE)")
    link = c.link
    check_link_values("--baud/--timeout/--chunk", link.baud, link.timeout, link.chunk)
    check_line_rate("--line-rate", link.line_rate)
    dims = c.training.check()
    eval_interval(c.eval_every, c.training.epochs)
    if not c.out:
        raise ConfigError("--out DIR is required")
    check_chunk("--chunk", link.chunk, dims)
    check_recovery_options(c, dims)
    return dims


def check_recovery_options(c: RunConfig, dims: tuple[int, ...]) -> None:
    """--faults, --quorum, --round-timeout."""
    r, devices = c.recovery, c.training.devices
    if r.quorum is not None and not 1 <= r.quorum <= devices:
        raise ConfigError(f"--quorum must be between 1 and the number of devices ({devices}), got {r.quorum}")
    if r.round_timeout is not None and (isinstance(r.round_timeout, bool) or not 0 < r.round_timeout <= 10**6):
        raise ConfigError(f"--round-timeout must be a number of seconds above 0, got {r.round_timeout!r}")
    if isinstance(r.rejoin_timeout, bool) or not isinstance(r.rejoin_timeout, (int, float)) \
            or not 0 < r.rejoin_timeout <= 10**6:
        raise ConfigError(f"--rejoin-timeout must be a number of seconds above 0, got {r.rejoin_timeout!r}")
    if r.faults is not None:
        check_chunk("--faults chunk", _parse_faults(r.faults).chunk, dims)


def _parse_faults(text: str):
    from tifed.links.faults import parse_faults

    return parse_faults(text)


def resolve_boards(c: RunConfig, fleet_boards: list[Board] | None = None) -> list[Board]:
    """One Board per device, the --board values dealt out in turn (or the
    fleet's, one each); checks that each can run here and has RAM for the
    model."""
    t = c.training
    dims = t.dims
    kinds: dict[str, Board] = {}
    if fleet_boards is not None:
        kinds = dict(zip(c.boards, fleet_boards))
    for name in c.boards:
        if name not in kinds:
            kinds[name] = get_board(name, c.link.settings())
    per_device = [kinds[c.boards[i % len(c.boards)]] for i in range(t.devices)]
    uses = Counter(id(b) for b in per_device)
    need = t.arena_bytes()
    power_cycles = c.recovery.faults is not None and _parse_faults(c.recovery.faults).reset > 0
    for label, board in kinds.items():
        if board.family == "hw" and getattr(board, "port", None) is None:
            raise ConfigError(f"board {board.name} is a physical board: say where it is, "
                              f"--board {board.name}@/dev/ttyACM0 (or another port), or use --fleet FILE")
        if board.family in ("serial", "hw") and uses[id(board)] > 1:
            raise ConfigError(
                f"port {label} would serve {uses[id(board)]} devices; give one --board per physical board"
            )
        who = label if label.startswith(board.name) else f"{label} ({board.name})"
        avail = board.availability()
        if not avail.runnable:
            hint = f" (install: {avail.install_hint})" if avail.install_hint else ""
            missing = ", ".join(avail.missing) or "a requirement"
            raise ConfigError(f"board {who} cannot run here: {missing} missing{hint}")
        if power_cycles and board.has_device and not board.can_power_cycle:
            raise ConfigError(f"--faults reset: board {who} cannot be power-cycled by the harness "
                              f"(host, QEMU and Renode boards can)")
        link = getattr(board, "link", None)
        check_chunk(f"{label}: chunk", getattr(link, "chunk", None), dims)
        room = board.ram_arena_bytes()
        if room is not None and need > room:
            raise ConfigError(
                f"model {'-'.join(map(str, dims))} with --buffer-len {t.buffer_len}, --batch {t.batch} and "
                f"--weights {t.weights} needs {need} bytes of RAM arena; board {who} has {room}"
            )
    return per_device


def apply_fleet(c: RunConfig) -> tuple[RunConfig, list[Board] | None]:
    """With --fleet: the config with one board label per picked device (and
    --devices resolved), and those devices' boards."""
    link = c.link
    if link.fleet is None:
        return c, None
    from tifed.boards.fleet_file import load_fleet

    if c.boards:
        raise ConfigError("give --board or --fleet, not both")
    check_link_values("--baud/--timeout/--chunk", link.baud, link.timeout, link.chunk)
    picked = load_fleet(link.fleet, link.settings()).pick(c.training.devices)
    c = c.replace(boards=tuple(d.label for d in picked), devices=len(picked))
    return c, [d.make_board() for d in picked]


def prepare(c: RunConfig) -> RunPlan:
    """Check everything, load the data, plan the rounds (module docstring)."""
    requested = c
    c, fleet_boards = apply_fleet(c)
    dims = check_options(c)
    boards = resolve_boards(c, fleet_boards)
    t = c.training
    data = datasets.pooled(datasets.load(t.dataset, t.seed), t.pool)
    model = "-".join(map(str, dims))
    if dims[0] != data.inputs:
        pooled = f" with --pool {t.pool}" if t.pool > 1 else ""
        raise ConfigError(f"model {model} takes {dims[0]} inputs but data set {t.dataset}{pooled} has {data.inputs}")
    if dims[-1] != data.classes:
        raise ConfigError(f"model {model} has {dims[-1]} outputs but data set {t.dataset} has {data.classes} classes")
    shards = data.shards(t.devices, t.seed)
    schedule = plan(shards[0][0].shape[0], t.buffer_len, t.epochs, buffers=t.buffers, rounds=t.rounds)
    return RunPlan(config=c, dims=dims, boards=boards, layers=t.layers(), data=data, shards=shards,
                   schedule=schedule, requested=requested)
