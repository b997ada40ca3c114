"""A run's options (`tifed run`) and their validation.

`RunConfig` holds what the user asked for; `prepare()` checks every option,
resolves boards, model, data and schedule, and returns a `RunPlan`, or raises
a ConfigError with one line. Nothing here starts a device: every mistake
interfaces.md lists (unknown board, model too big for a board's RAM, K not a
multiple of L, missing toolchain, unreadable data) is reported before the
first device exists.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np

import tifed_models
from tifed.training import datasets
from tifed.boards.base import Board
from tifed.boards.registry import get_board
from tifed.errors import ConfigError
from tifed.links.settings import LinkSettings, check_link_values
from tifed.training.schedule import Round, plan

MODES = ("full", "single")
U16 = 0xFFFF  # CONFIGURE / TRAIN carry buffer and batch as u16
U32 = 0xFFFFFFFF


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The options of `tifed run`; defaults are the paper's (interfaces.md)."""

    boards: tuple[str, ...]
    devices: int | None  # None only with a fleet: one device per entry
    mode: str
    dataset: str
    model: str
    out: str
    buffers: int | None = None
    rounds: int | None = None
    buffer_len: int = 50
    batch: int = 25
    epochs: int = 5
    lr_inv: int = 2048
    seed: int = 0
    validate: bool = True
    # Serial links (ports, URLs, fleet devices; fleet.py and link.py).
    fleet: str | None = None
    baud: int | None = None
    timeout: float | None = None
    chunk: int | None = None
    # Faults and how the run survives them (server/federation.py).
    faults: str | None = None  # --faults SPEC: every device link through a fault:// injector
    quorum: int | None = None  # fewest updates a round aggregates; None: every device
    round_timeout: float | None = None  # seconds a round waits for stragglers once a quorum is in
    stop_on_divergence: bool = False

    def link(self) -> LinkSettings:
        return LinkSettings().with_overrides(baud=self.baud, timeout=self.timeout, chunk=self.chunk)


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
    def quorum(self) -> int:
        c = self.config
        return c.quorum if c.quorum is not None else c.devices

    def requested_dict(self) -> dict[str, Any]:
        """The options as given, as JSON (a checkpoint keeps them for --resume)."""
        d = dataclasses.asdict(self.requested or self.config)
        d["boards"] = list(d["boards"])
        return d

    @property
    def arena_need(self) -> int:
        return tifed_models.arena_bytes(self.dims, self.config.buffer_len, self.config.batch)

    def resolved(self) -> dict[str, Any]:
        """results.json "config": every option with its resolved value."""
        c = self.config
        return {
            "boards": list(c.boards),
            "device_boards": [b.name for b in self.boards],
            "devices": c.devices,
            "mode": c.mode,
            "dataset": c.dataset,
            "model": "-".join(map(str, self.dims)),
            "dims": list(self.dims),
            "buffers": self.schedule[-1].buffer + 1,
            "rounds": len(self.schedule),
            "buffers_option": c.buffers,
            "rounds_option": c.rounds,
            "buffer_len": c.buffer_len,
            "batch": c.batch,
            "epochs": c.epochs,
            "lr_inv": c.lr_inv,
            "seed": c.seed,
            "validate": c.validate,
            "fleet": c.fleet,
            "baud": c.baud,
            "timeout": c.timeout,
            "chunk": c.chunk,
            "faults": c.faults,
            "quorum": self.quorum,
            "round_timeout": c.round_timeout,
            "stop_on_divergence": c.stop_on_divergence,
            "out": c.out,
            "train_samples": int(self.data.x_train.shape[0]),
            "test_samples": int(self.data.x_test.shape[0]),
            "shard_samples": int(self.shards[0][0].shape[0]),
            "classes": self.data.classes,
            "arena_bytes_needed": self.arena_need,
        }


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


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
    if c.devices is None:
        raise ConfigError("--devices K is required (without --fleet)")
    check_link_values("--baud/--timeout/--chunk", c.baud, c.timeout, c.chunk)
    if c.mode not in MODES:
        raise ConfigError(f"--mode must be full or single, got {c.mode!r}")
    _check_range("--devices", c.devices, 1, 255)
    _check_range("--buffer-len", c.buffer_len, 1, U16)
    _check_range("--batch", c.batch, 1, U16)
    _check_range("--epochs", c.epochs, 1, U16)
    _check_range("--lr-inv", c.lr_inv, 1, U32)
    _check_range("--seed", c.seed, 0, U32)
    _check_range("--buffers", c.buffers, 1, U16 * U16)
    _check_range("--rounds", c.rounds, 1, U16 * U16)
    if c.buffers is not None and c.rounds is not None:
        raise ConfigError("give --buffers or --rounds, not both")
    if c.batch > c.buffer_len:
        raise ConfigError(f"--batch {c.batch} is larger than --buffer-len {c.buffer_len}: no mini-batch would run")
    if not c.out:
        raise ConfigError("--out DIR is required")
    try:
        dims = tifed_models.parse_model(c.model)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if c.mode == "single":
        try:
            tifed_models.layer_groups(c.devices, len(dims) - 1)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    check_chunk("--chunk", c.chunk, dims)
    check_fault_options(c, dims)
    return dims


def check_fault_options(c: RunConfig, dims: tuple[int, ...]) -> None:
    """--faults, --quorum, --round-timeout."""
    if c.quorum is not None and not 1 <= c.quorum <= c.devices:
        raise ConfigError(f"--quorum must be between 1 and the number of devices ({c.devices}), got {c.quorum}")
    if c.round_timeout is not None and (isinstance(c.round_timeout, bool) or not 0 < c.round_timeout <= 10**6):
        raise ConfigError(f"--round-timeout must be a number of seconds above 0, got {c.round_timeout!r}")
    if c.faults is not None:
        from tifed.links.faults import parse_faults

        check_chunk("--faults chunk", parse_faults(c.faults).chunk, dims)


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    """A RunConfig back from RunPlan.requested_dict() (a checkpoint)."""
    names = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"the saved options name {', '.join(unknown)}, which this harness does not know")
    values = dict(d)
    values["boards"] = tuple(values.get("boards") or ())
    try:
        return RunConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"the saved options are incomplete ({exc})") from None


def resolve_boards(c: RunConfig, dims: tuple[int, ...], fleet_boards: list[Board] | None = None) -> list[Board]:
    """One Board per device, the --board values dealt out in turn (or the
    fleet's, one each); checks that each can run here and has RAM for the
    model."""
    kinds: dict[str, Board] = {}
    if fleet_boards is not None:
        kinds = dict(zip(c.boards, fleet_boards))
    for name in c.boards:
        if name not in kinds:
            kinds[name] = get_board(name, c.link())
    per_device = [kinds[c.boards[i % len(c.boards)]] for i in range(c.devices)]
    uses = Counter(id(b) for b in per_device)
    need = tifed_models.arena_bytes(dims, c.buffer_len, c.batch)
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
        link = getattr(board, "link", None)
        check_chunk(f"{label}: chunk", getattr(link, "chunk", None), dims)
        room = board.ram_arena_bytes()
        if room is not None and need > room:
            raise ConfigError(
                f"model {'-'.join(map(str, dims))} with --buffer-len {c.buffer_len} and --batch {c.batch} "
                f"needs {need} bytes of RAM arena; board {who} has {room}"
            )
    return per_device


def apply_fleet(c: RunConfig) -> tuple[RunConfig, list[Board] | None]:
    """With --fleet: the config with one board label per picked device (and
    --devices resolved), and those devices' boards."""
    if c.fleet is None:
        return c, None
    from tifed.boards.fleet_file import load_fleet

    if c.boards:
        raise ConfigError("give --board or --fleet, not both")
    check_link_values("--baud/--timeout/--chunk", c.baud, c.timeout, c.chunk)
    picked = load_fleet(c.fleet, c.link()).pick(c.devices)
    c = dataclasses.replace(c, boards=tuple(d.label for d in picked), devices=len(picked))
    return c, [d.make_board() for d in picked]


def prepare(c: RunConfig) -> RunPlan:
    """Check everything, load the data, plan the rounds (module docstring)."""
    requested = c
    c, fleet_boards = apply_fleet(c)
    dims = check_options(c)
    boards = resolve_boards(c, dims, fleet_boards)
    data = datasets.load(c.dataset, c.seed)
    model = "-".join(map(str, dims))
    if dims[0] != data.inputs:
        raise ConfigError(f"model {model} takes {dims[0]} inputs but data set {c.dataset} has {data.inputs}")
    if dims[-1] != data.classes:
        raise ConfigError(f"model {model} has {dims[-1]} outputs but data set {c.dataset} has {data.classes} classes")
    shards = data.shards(c.devices, c.seed)
    schedule = plan(shards[0][0].shape[0], c.buffer_len, c.epochs, buffers=c.buffers, rounds=c.rounds)
    if c.mode == "single":
        layers: list[int | None] = list(tifed_models.layer_groups(c.devices, len(dims) - 1))
    else:
        layers = [None] * c.devices
    return RunPlan(config=c, dims=dims, boards=boards, layers=layers, data=data, shards=shards, schedule=schedule,
                   requested=requested)
