"""Counting for the bench (tifed.bench.macs, timed_federation.union_length):
the MAC definition of interfaces.md and the interval arithmetic behind the
server overhead fraction."""
from __future__ import annotations

import pytest

from tifed.bench.macs import forward_macs, macs_per_sample, model_name, parameters, raw_int32_bytes
from tifed.bench.timed_federation import RoundTiming, union_length


def test_paper_model_macs():
    # 784*200 + 200*10 forward, the same for the update, 10*200 feedback
    assert forward_macs((784, 200, 10)) == 158_800
    assert macs_per_sample((784, 200, 10)) == 158_800 + 158_800 + 2_000 == 319_600


def test_single_layer_macs_keep_the_whole_forward_pass():
    assert macs_per_sample((784, 200, 10), layer=0) == 158_800 + 156_800 + 2_000
    assert macs_per_sample((784, 200, 10), layer=1) == 158_800 + 2_000  # the last layer needs no feedback product


def test_deeper_model_counts_feedback_for_every_hidden_layer():
    dims = (16, 8, 6, 4)
    fwd = 16 * 8 + 8 * 6 + 6 * 4
    assert macs_per_sample(dims) == 2 * fwd + 4 * 8 + 4 * 6
    assert sum(macs_per_sample(dims, l) - fwd for l in range(3)) == macs_per_sample(dims) - fwd


def test_one_layer_model_has_no_feedback():
    assert macs_per_sample((64, 10)) == 2 * 640


@pytest.mark.parametrize("bad", [(), (5,), (4, 0, 2)])
def test_bad_dims_raise(bad):
    with pytest.raises(ValueError):
        macs_per_sample(bad)


def test_layer_out_of_range_raises():
    with pytest.raises(ValueError, match="layer 2"):
        macs_per_sample((4, 3, 2), layer=2)


def test_parameters_and_raw_bytes():
    dims = (64, 32, 10)
    assert parameters(dims) == 64 * 32 + 32 + 32 * 10 + 10 == 2410
    assert parameters(dims, [1]) == 330
    assert raw_int32_bytes(dims) == 4 * 2 * 2410  # whole model down and up
    assert raw_int32_bytes(dims, [1]) == 4 * (2410 + 330)  # single mode: one layer up
    assert model_name(dims) == "64-32-10"


def test_union_length_merges_overlaps_and_clips():
    spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0), (5.5, 5.7), (-1.0, 0.5), (9.0, 12.0)]
    assert union_length(spans, 0.0, 10.0) == pytest.approx(3.0 + 1.0 + 1.0)
    assert union_length([], 0.0, 1.0) == 0.0
    assert union_length([(2.0, 3.0)], 0.0, 1.0) == 0.0


def test_round_timing_fractions_add_up():
    t = RoundTiming(number=2, buffer=0, seconds=2.0, train_seconds=0.5, link_seconds=1.5, wire_bytes=10, instructions=None)
    assert t.overhead_fraction == pytest.approx(0.75)
    assert t.link_only_fraction == pytest.approx(0.5)
    assert t.server_only_fraction == pytest.approx(0.25)
    assert t.overhead_fraction == pytest.approx(t.link_only_fraction + t.server_only_fraction)
