"""The round core (rounds/core.py) on its own, with no transport: the rules
that `tifed run` and Flower both take from it."""
from __future__ import annotations

import time

import pytest

import tifed_models
from tifed.config import RunConfig
from tifed.errors import QuorumError
from tifed.plan import prepare
from tifed.rounds.core import RoundCore, Update
from tifed.rounds.digest import buffer_digest

BASE = RunConfig.of(boards=("sim",), devices=4, mode="full", dataset="digits", model="64-16-10", out="unused",
                    rounds=2)


def core_for(**changes) -> tuple[RoundCore, object]:
    plan = prepare(BASE.replace(**changes))
    return RoundCore(plan.config, plan.layers, plan.data, plan.shards), plan


def honest(core: RoundCore, rnd, devices) -> dict[int, Update]:
    expected = core.expected_updates(rnd, devices)
    return {d: Update(expected[d].copy(), instructions=100 + d) for d in devices}


def test_a_round_aggregates_what_the_reference_would():
    core, plan = core_for()
    rnd = plan.schedule[0]
    core.begin_round()
    updates = honest(core, rnd, core.free_devices())
    entry = core.close_round(rnd, updates, core.expected_updates(rnd, core.free_devices()), {"wire_bytes": 7},
                             time.monotonic())
    assert core.global_model.equal(tifed_models.aggregate([u.model for u in updates.values()]))
    assert entry["bitexact"] is True and entry["devices_used"] == [0, 1, 2, 3]
    assert entry["device_instructions"] == [100, 101, 102, 103] and entry["wire_bytes"] == 7


def test_a_different_update_is_a_mismatch_and_is_left_out():
    core, plan = core_for(quorum=3)
    rnd = plan.schedule[0]
    core.begin_round()
    updates = honest(core, rnd, [0, 1, 2, 3])
    updates[2].model.weights[0][0, 0] += 1  # one integer off, well within the bounds
    entry = core.close_round(rnd, updates, core.expected_updates(rnd, [0, 1, 2, 3]), {}, time.monotonic())
    assert entry["bitexact"] is False and entry["mismatched_devices"] == [2]
    assert entry["devices_used"] == [0, 1, 3] and entry["rejected"][0]["device"] == 2


def test_a_digest_of_other_data_is_caught():
    core, plan = core_for(quorum=3)
    rnd = plan.schedule[0]
    core.begin_round()
    updates = honest(core, rnd, [0, 1, 2, 3])
    x, y = core.buffer_of(1, rnd)
    updates[0].digest = buffer_digest(x, y)  # device 0 says it trained on device 1's buffer
    updates[3].digest = buffer_digest(*core.buffer_of(3, rnd))
    entry = core.close_round(rnd, updates, core.expected_updates(rnd, [0, 1, 2, 3]), {}, time.monotonic())
    assert entry["mismatched_devices"] == [0] and "another buffer" in entry["rejected"][0]["reason"]


def test_too_few_accepted_updates_end_the_run():
    core, plan = core_for()  # quorum: every device
    rnd = plan.schedule[0]
    core.begin_round()
    updates = honest(core, rnd, [0, 1, 2])
    with pytest.raises(QuorumError, match="3 accepted updates, below the quorum of 4"):
        core.close_round(rnd, updates, None, {}, time.monotonic())


def test_drop_rules_quorum_and_orphaned_layer():
    core, _ = core_for(quorum=2)
    core.drop([3], 1, "gone")
    assert core.active == [0, 1, 2] and core.dropped == {3: {"round": 1, "reason": "gone"}}
    assert core.events == [{"device": 3, "event": "dropped", "detail": "gone"}]
    core.drop([2], 1, "gone too")
    with pytest.raises(QuorumError, match="1 devices left, below the quorum of 2"):
        core.drop([1], 2, "and this one")
    single, _ = core_for(mode="single", quorum=1)  # layer 0: devices 0, 1; layer 1: devices 2, 3
    single.drop([2], 1, "x")
    with pytest.raises(QuorumError, match="no device is left to train layer 1"):
        single.drop([3], 1, "y")


def test_late_devices_are_not_asked_until_they_answer():
    core, _ = core_for(quorum=2, round_timeout=5.0)
    core.mark_late([1, 3])
    assert core.free_devices() == [0, 2] and not core.needs_late_back()
    assert core.events[0]["detail"] == "no update within the round deadline of 5 s"
    core.late_update_discarded([1])
    assert core.free_devices() == [0, 1, 2] and core.events[-1]["event"] == "late update discarded"
    core.drop([0, 2], 3, "gone")
    assert core.needs_late_back()  # one free device, quorum 2, device 3 still late


def test_stop_on_divergence_is_recorded():
    core, _ = core_for(stop_on_divergence=True)
    assert not core.should_stop()
    core.guard.found = {"round": 4}
    assert core.should_stop() and core.final_extras()["stopped"] == "divergence"
