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
