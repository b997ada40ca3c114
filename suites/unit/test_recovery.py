"""The federation under faults, against Python fake devices: a device that
stops answering is dropped; a straggler misses the round deadline and its
late update never reaches an aggregate; a poisoned update is rejected by
the bounds check even without validation; the bounds hold for honest
training."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import tifed_models
from fake_fleet import FakeBoard, patch_boards
from replay import replay
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.protocol.payloads import Command
from tifed.server.federation import Federation
from tifed.rounds.checks import out_of_bounds, step_bounds

BASE = RunConfig.of(boards=("fake",), devices=2, mode="full", dataset="digits", model="64-32-10", out="", rounds=5)


def run(tmp_path, name, on_round=None, holder=None, **changes):
    events: list[str] = []
    fed = Federation(prepare(BASE.replace(out=str(tmp_path / name), **changes)),
                     on_round=on_round, on_event=events.append)
    if holder is not None:
        holder["fed"] = fed  # for an on_round hook that must look at the federation
    fed.run()
    return fed, json.loads((tmp_path / name / "results.json").read_text()), events


def on_train(index: int, nth: int, action):
    """A FakeBoard `configure` hook: action(device) on device `index`'s nth TRAIN."""
    def configure(i, device):
        if i != index:
            return
        original, trains = device._execute, []

        def execute(code, p):
            if code == Command.TRAIN:
                trains.append(1)
                if len(trains) == nth:
                    action(device)
            return original(code, p)

        device._execute = execute

    return configure


def test_device_that_stops_answering_is_dropped(tmp_path, monkeypatch):
    def go_silent(device):
        device.drop_responses = 10**9  # executes, never answers again

    board = FakeBoard(configure=on_train(1, 3, go_silent), client_options={"timeout": 0.2, "train_timeout": 0.2, "retries": 1})
    patch_boards(monkeypatch, {"fake": board})
    fed, doc, told = run(tmp_path, "silent", quorum=1)
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1]] * 2 + [[0]] * 3
    dropped = doc["final"]["dropped_devices"]
    assert [(d["device"], d["round"]) for d in dropped] == [(1, 3)]
    assert "no answer to TRAIN" in dropped[0]["reason"] and "re-provisioning failed" in dropped[0]["reason"]
    assert any(line.startswith("dropped device 1 (fake)") for line in told)
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))
    assert all(r.stopped for r in board.started)


def test_straggler_is_left_out_and_its_late_update_discarded(tmp_path, monkeypatch):
    release = threading.Event()
    board = FakeBoard(configure=on_train(1, 2, lambda device: release.wait(30)))
    patch_boards(monkeypatch, {"fake": board})

    holder = {}

    def round_done(entry):
        if entry["round"] == 2:
            release.set()  # round 2 has closed without device 1: let its TRAIN finish
        if entry["round"] == 3:
            # Rounds without the straggler take milliseconds: wait for its
            # late update to be in, so round 4 finds it (not a race with it).
            for future in list(holder["fed"]._late.values()):
                future.exception(timeout=30)

    fed, doc, told = run(tmp_path, "late", on_round=round_done, holder=holder, quorum=1, round_timeout=1.0, rounds=6)
    rounds = doc["rounds"]
    assert rounds[0]["devices_used"] == [0, 1] and rounds[1]["devices_used"] == [0]
    assert [(e["device"], e["event"]) for e in rounds[1]["events"]] == [(1, "late")]
    discarded = [(r["round"], e["device"]) for r in rounds for e in r["events"] if e["event"] == "late update discarded"]
    assert discarded in ([(3, 1)], [(4, 1)])  # settled at the start of the round after it came back
    # Back in the round after it was discarded (or the one it was settled in).
    assert rounds[-1]["devices_used"] == [0, 1]
    assert any("missed the round deadline" in line for line in told)
    # The late update (trained from round 2's model) went into no aggregate.
    assert fed.global_model.equal(replay(fed.plan, rounds))
    assert doc["final"]["bitexact_all"] is True


def test_poisoned_update_is_rejected_without_validation(tmp_path, monkeypatch):
    def poison(index, device):
        if index == 1:
            device.corrupt_after_train, device.corrupt_by = True, 10**7

    patch_boards(monkeypatch, {"fake": FakeBoard(configure=poison)})
    fed, doc, told = run(tmp_path, "poison", quorum=1, validate=False, rounds=3)
    assert [r["devices_used"] for r in doc["rounds"]] == [[0]] * 3
    reason = doc["rounds"][0]["rejected"][0]["reason"]
    assert doc["rounds"][0]["rejected"][0]["device"] == 1
    assert reason.startswith("W0[0, 0] moved by") and "more than training can" in reason
    assert any("rejected the update of device 1 (fake)" in line for line in told)
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))


@pytest.mark.parametrize("seed", range(4))
def test_bounds_hold_for_honest_training(seed):
    rng = np.random.default_rng(seed)
    dims = tuple(int(d) for d in rng.integers(2, 12, size=rng.integers(2, 4)))
    lr_inv = int(rng.choice([1, 3, 64, 2048]))
    batch = int(rng.integers(1, 6))
    n = batch * int(rng.integers(1, 5))
    model = tifed_models.Model.zeros(dims)
    for w, b in zip(model.weights, model.biases):
        w[...] = rng.integers(-(2**20), 2**20, size=w.shape)
        b[...] = rng.integers(-(2**20), 2**20, size=b.shape)
    fb = tifed_models.feedback_matrices(dims, seed)
    x = rng.choice(np.array([-128, 127], dtype=np.int8), size=(n, dims[0]))  # extreme inputs: biggest steps
    t = tifed_models.targets(rng.integers(0, dims[-1], size=n), dims[-1])
    bounds = step_bounds(dims, n, batch, lr_inv)
    for layer in (-1, *range(len(dims) - 1)):
        trained = tifed_models.train(model, fb, x, t, lr_inv, batch, 1, layer)
        layers = range(len(dims) - 1) if layer == -1 else [layer]
        assert out_of_bounds(model, trained, layers, bounds) is None
    far = model.copy()
    far.biases[-1][0] += bounds[-1][1] + 1  # one past what training can do
    last = len(dims) - 2
    assert out_of_bounds(model, far, range(last + 1), bounds).startswith(f"b{last}[0] moved by {bounds[-1][1] + 1}")
