"""pacing.Backoff: the poll intervals Flower's processes use where Flower
gives no event (docs/FLOWER.md, "Speed"). No Flower needed."""
from __future__ import annotations

import pytest

from tifed.flower.pacing import Backoff


def test_backoff_grows_to_its_ceiling_and_starts_over_on_reset():
    pace = Backoff(0.02, 0.1, factor=2)
    assert [pace.next() for _ in range(5)] == [0.02, 0.04, 0.08, 0.1, 0.1]
    pace.reset()
    assert pace.next() == 0.02


def test_backoff_default_factor_loses_at_most_a_quarter_of_the_wait_so_far():
    pace = Backoff(0.01, 100.0)
    waited = 0.0
    for _ in range(20):
        wait = pace.next()
        if waited:
            assert wait <= 0.25 * waited + 0.01 + 1e-12  # what arrives now is seen within wait
        waited += wait


@pytest.mark.parametrize("first, most, factor", [(0, 1, 1.5), (2, 1, 1.5), (0.1, 1, 0.5)])
def test_backoff_refuses_nonsense(first, most, factor):
    with pytest.raises(ValueError, match="Backoff needs"):
        Backoff(first, most, factor)
