"""Device faults during a federated run of host firmware: a device killed
mid-round is dropped and the run closes its rounds with the rest (quorum); a
device reset mid-round (it forgets its model, as after power-on) is
re-provisioned and its round re-run, so the run ends exactly as a clean one.
results.json records what happened."""
from __future__ import annotations

import json
import os
import signal

import pytest

from replay import replay
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.protocol.client import DeviceClient
from tifed.server.federation import Federation

BASE = RunConfig.of(boards=("host",), devices=3, mode="full", dataset="digits", model="64-16-10", out="", rounds=4)


def once_on(monkeypatch, method: str, device: int, call: int, action) -> list[int]:
    """Run action(client) before the `call`-th call (1-based) of
    DeviceClient.<method> on device `device`, once; returns the call log."""
    original = getattr(DeviceClient, method)
    calls: list[int] = []

    def hooked(client, *args, **kwargs):
        if client.name.startswith(f"device {device} "):
            calls.append(1)
            if len(calls) == call:
                action(client)
        return original(client, *args, **kwargs)

    monkeypatch.setattr(DeviceClient, method, hooked)
    return calls


def run(tmp_path, name, **changes):
    fed = Federation(prepare(BASE.replace(out=str(tmp_path / name), **changes)))
    fed.run()
    return fed, json.loads((tmp_path / name / "results.json").read_text())


def test_device_killed_mid_round_is_dropped_and_the_run_goes_on(tmp_path, monkeypatch, host_image):
    pids = []

    def kill(client):  # after its model and samples went over, before TRAIN
        pids.append(client.device.pid)
        os.kill(client.device.pid, signal.SIGKILL)

    once_on(monkeypatch, "train", device=1, call=2, action=kill)
    fed, doc = run(tmp_path, "killed", quorum=2)
    assert doc["final"]["complete"] is True and doc["final"]["rounds"] == 4
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1, 2], [0, 2], [0, 2], [0, 2]]
    dropped = [e for e in doc["rounds"][1]["events"] if e["event"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["device"] == 1
    assert "killed by SIGKILL" in dropped[0]["detail"]
    assert doc["final"]["dropped_devices"] == [{"device": 1, "round": 2, "reason": dropped[0]["detail"]}]
    assert doc["devices"][1]["dropped"]["round"] == 2
    assert doc["final"]["bitexact_all"] is True
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))


@pytest.mark.parametrize("method, call, protocol", [
    ("train", 2, None),  # before TRAIN of round 2
    ("digest", 3, None),  # after TRAIN: round 1 reads its update back by DIGEST, round 2 confirms its download first
    ("read_tensor", 6, 1),  # protocol 1, after TRAIN: call 1 reads B back at setup, each round w0, b0, w1, b1
])
def test_device_reset_mid_round_is_reprovisioned_and_the_round_rerun(tmp_path, monkeypatch, host_image,
                                                                     method, call, protocol):
    # RESET makes the firmware forget its model and samples, as a power-on would.
    clean, clean_doc = run(tmp_path, "clean", devices=2)
    once_on(monkeypatch, method, device=1, call=call, action=lambda c: c.reset())
    fed, doc = run(tmp_path, "reset", devices=2, protocol=protocol)
    assert doc["final"]["complete"] is True and doc["final"]["dropped_devices"] == []
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1]] * 4
    events = doc["rounds"][1]["events"]
    assert [(e["device"], e["event"], e["action"]) for e in events] == [(1, "reset", "re-provisioned, round re-run")]
    assert "BAD_STATE" in events[0]["detail"]
    assert all(r["events"] == [] for i, r in enumerate(doc["rounds"]) if i != 1)
    assert fed.global_model.equal(clean.global_model)
    assert doc["final"]["bitexact_all"] is True
    assert doc["final"]["test_accuracy"] == clean_doc["final"]["test_accuracy"]
