"""The federated schedule of algorithm.md: each device's shard is streamed in
buffers of `buffer_len` samples, and each buffer is trained for `epochs`
rounds (one device pass over the buffer per round, then aggregation).
Samples past a shard's last whole buffer are not used."""
from __future__ import annotations

import dataclasses

import numpy as np

from tifed.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Round:
    number: int  # 1-based, as results.json counts rounds
    buffer: int  # 0-based index of the buffer within every shard
    epoch: int  # 0-based round within the buffer

    def samples(self, buffer_len: int) -> slice:
        """This round's buffer as a slice of a device's shard."""
        return slice(self.buffer * buffer_len, (self.buffer + 1) * buffer_len)

    def take(self, shard: tuple[np.ndarray, np.ndarray], buffer_len: int) -> tuple[np.ndarray, np.ndarray]:
        """This round's samples and labels of a device's shard (x, y)."""
        part = self.samples(buffer_len)
        return shard[0][part], shard[1][part]


def whole_buffers(shard_size: int, buffer_len: int) -> int:
    return shard_size // buffer_len


def plan(
    shard_size: int,
    buffer_len: int,
    epochs: int,
    *,
    buffers: int | None = None,
    rounds: int | None = None,
) -> list[Round]:
    """Every round of a run. By default all whole buffers of the shard;
    `buffers` keeps the first N buffers, `rounds` the first R rounds."""
    if buffers is not None and rounds is not None:
        raise ConfigError("give --buffers or --rounds, not both")
    available = whole_buffers(shard_size, buffer_len)
    if available == 0:
        raise ConfigError(
            f"each device's shard has {shard_size} samples, less than one buffer of {buffer_len}: "
            "use fewer devices or a smaller --buffer-len"
        )
    n_buffers = available
    if buffers is not None:
        if not 1 <= buffers <= available:
            raise ConfigError(
                f"--buffers {buffers}: each shard of {shard_size} samples holds 1 to {available} "
                f"whole buffers of {buffer_len}"
            )
        n_buffers = buffers
    schedule = [Round(b * epochs + e + 1, b, e) for b in range(n_buffers) for e in range(epochs)]
    if rounds is not None:
        if not 1 <= rounds <= len(schedule):
            raise ConfigError(
                f"--rounds {rounds}: {available} buffers of {buffer_len} x {epochs} epochs "
                f"allow 1 to {len(schedule)} rounds"
            )
        schedule = schedule[:rounds]
    return schedule


EVAL_CHOICES = ("buffer", "round")  # --eval-every: these words, or a number of rounds


def eval_interval(every: str | int, epochs: int) -> int:
    """--eval-every as a number of rounds: `buffer` (the default) is once per
    buffer, after its last round (every `epochs` rounds); `round` is every
    round; a number N is every N-th round."""
    if every == "buffer":
        return epochs
    if every == "round":
        return 1
    try:
        n = int(every)
    except (TypeError, ValueError):
        n = 0
    if isinstance(every, bool) or n < 1:
        raise ConfigError(f"--eval-every must be buffer, round or a number of rounds >= 1, got {every!r}")
    return n


def evaluation_rounds(schedule: list[Round], every_rounds: int) -> frozenset[int]:
    """The rounds after which the server measures test accuracy: every
    `every_rounds`-th round and always the run's last one (its final model)."""
    numbers = {r.number for r in schedule if r.number % every_rounds == 0}
    if schedule:
        numbers.add(schedule[-1].number)
    return frozenset(numbers)
