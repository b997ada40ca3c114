"""What faults to inject, as one line of text: `--faults corrupt=0.01,drop=0.01,seed=3`.

Keys (every probability in 0..1, default 0):

    corrupt=P    per byte: the byte is replaced by another value
    byte_drop=P  per byte: the byte is lost
    drop=P       per frame (the bytes up to a 0x00 delimiter): lost whole
    dup=P        per frame: delivered twice
    delay=P      per frame: held back delay_s seconds (later frames overtake it)
    delay_s=S    seconds a delayed frame is held (default 0.05)
    dir=D        both (default), tx (harness to device only) or rx (device to harness only)
    seed=N       the faults' random stream (default 0); each device gets its own from it
    reset=N      power-cycle the device right after every N-th request on its link (0: never;
                 a request sent again counts once, and the count starts again with the link):
                 it loses its RAM and its link, and is back behind the same address after
                 reset_s seconds (host, QEMU and Renode boards can be power-cycled)
    reset_s=S    seconds a power-cycled device stays off (default 0.5)
    hangup=N     close the link right after every N-th request, counted as for reset (0: never);
                 the device keeps running and keeps its RAM, as a cable pulled and plugged back in

and two settings of the harness's own side of a faulty link, which it
otherwise finds by itself (docs/RELIABILITY.md):

    chunk=N      largest frame payload the harness sends or asks for (default: the device's;
                 on a noisy line the harness shrinks its frames below it)
    retries=N    a request gives up after timeout * (retries + 1) seconds without progress
                 (default: the client's, 5)
"""
from __future__ import annotations

import dataclasses

from tifed.errors import ConfigError

PROBABILITIES = ("corrupt", "byte_drop", "drop", "dup", "delay")
DIRECTIONS = ("both", "tx", "rx")


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    corrupt: float = 0.0
    byte_drop: float = 0.0
    drop: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.05
    dir: str = "both"
    seed: int = 0
    chunk: int | None = None
    retries: int | None = None
    reset: int = 0
    reset_s: float = 0.5
    hangup: int = 0

    def applies_to(self, direction: str) -> bool:
        return self.dir in ("both", direction)

    def for_device(self, index: int, reopened: int = 0) -> "FaultSpec":
        """The spec for device `index`: its own random stream, so devices'
        faults differ but every run with the same seed injects the same ones;
        `reopened` times its link was opened again: a stream of its own each
        time, not the first one replayed."""
        return dataclasses.replace(self, seed=(self.seed * 1000 + index + reopened * 1_000_003) % 2**32)

    def text(self) -> str:
        """The canonical `key=value,...` form (defaults left out)."""
        default = FaultSpec()
        parts = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                 if getattr(self, f.name) != getattr(default, f.name)]
        return ",".join(parts)

    def client_options(self) -> dict[str, int]:
        """DeviceClient keyword arguments this spec sets (chunk, retries)."""
        return {k: v for k, v in (("chunk", self.chunk), ("retries", self.retries)) if v is not None}


def parse_faults(text: str, where: str = "--faults") -> FaultSpec:
    """`corrupt=0.01,drop=0.01,seed=3` -> FaultSpec; a ConfigError line for
    anything else."""
    values: dict[str, object] = {}
    names = {f.name for f in dataclasses.fields(FaultSpec)}
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not raw:
            raise ConfigError(f"{where}: {item!r} is not key=value (e.g. corrupt=0.01,drop=0.01,seed=1)")
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r}; valid: {', '.join(sorted(names))}")
        if key in values:
            raise ConfigError(f"{where}: {key} given twice")
        values[key] = _value(where, key, raw)
    if not values:
        raise ConfigError(f"{where}: empty; give key=value pairs such as corrupt=0.01,drop=0.01")
    return FaultSpec(**values)


def _value(where: str, key: str, raw: str) -> object:
    if key == "dir":
        if raw not in DIRECTIONS:
            raise ConfigError(f"{where}: dir must be one of {', '.join(DIRECTIONS)}, got {raw!r}")
        return raw
    if key in ("seed", "chunk", "retries", "reset", "hangup"):
        try:
            number = int(raw, 0)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be an integer, got {raw!r}") from None
        low, high = {"seed": (0, 2**32 - 1), "chunk": (16, 65535), "retries": (0, 1000), "reset": (0, 10**9),
                     "hangup": (0, 10**9)}[key]
        if not low <= number <= high:
            raise ConfigError(f"{where}: {key} must be between {low} and {high}, got {number}")
        return number
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a number, got {raw!r}") from None
    if key in ("delay_s", "reset_s"):
        if not 0 <= number <= 60:
            raise ConfigError(f"{where}: {key} must be between 0 and 60 seconds, got {raw}")
    elif not 0 <= number <= 1:
        raise ConfigError(f"{where}: {key} is a probability between 0 and 1, got {raw}")
    return number
