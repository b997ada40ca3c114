"""The federated schedule (algorithm.md): buffers of buffer_len per shard,
`epochs` rounds per buffer, partial buffers skipped, --buffers/--rounds limits."""
from __future__ import annotations

import pytest

from tifed.errors import ConfigError
from tifed.training.schedule import plan


def test_default_uses_every_whole_buffer():
    rounds = plan(359, 50, 5)  # digits, 4 devices: 7 whole buffers, 9 samples unused
    assert len(rounds) == 35
    assert [r.number for r in rounds] == list(range(1, 36))
    assert [r.buffer for r in rounds[:6]] == [0, 0, 0, 0, 0, 1]
    assert rounds[-1].buffer == 6 and rounds[-1].epoch == 4
    assert rounds[-1].samples(50) == slice(300, 350)


@pytest.mark.parametrize(
    "shard, buffer_len, epochs, expected",
    [(1000, 50, 5, 100), (999, 50, 5, 95), (50, 50, 1, 1), (7500, 50, 5, 750), (100, 30, 2, 6)],
)
def test_number_of_rounds(shard, buffer_len, epochs, expected):
    assert len(plan(shard, buffer_len, epochs)) == expected


def test_buffers_limit():
    rounds = plan(1000, 50, 5, buffers=3)
    assert len(rounds) == 15 and {r.buffer for r in rounds} == {0, 1, 2}


def test_rounds_limit_may_stop_inside_a_buffer():
    rounds = plan(1000, 50, 5, rounds=7)
    assert [(r.buffer, r.epoch) for r in rounds[-3:]] == [(0, 4), (1, 0), (1, 1)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shard_size=49, buffer_len=50, epochs=5), "less than one buffer of 50"),
        (dict(shard_size=100, buffer_len=50, epochs=5, buffers=3), "--buffers 3: each shard of 100 samples holds 1 to 2"),
        (dict(shard_size=100, buffer_len=50, epochs=5, rounds=11), "--rounds 11: .* allow 1 to 10 rounds"),
        (dict(shard_size=100, buffer_len=50, epochs=5, rounds=1, buffers=1), "not both"),
    ],
)
def test_impossible_limits(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan(**kwargs)
