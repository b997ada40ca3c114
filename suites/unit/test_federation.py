"""The federation loop against Python fake devices (the real DeviceWorker /
DeviceClient path, no firmware): same numbers as `sim`, validation that can
fail (and keeps the bad update out), a device that dies mid-run below and
above the quorum, and an interrupted run."""
from __future__ import annotations

import json

import pytest

from tifed.config import RunConfig

from tifed.plan import prepare
from tifed.errors import QuorumError
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import WRITE_SAMPLES_HEADER
from tifed.server.federation import Federation

from fake_fleet import FakeBoard, patch_boards
from federated_run import run_federation
from replay import replay

BASE = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10", out="", rounds=6)


def run(tmp_path, name, **changes):
    return run_federation(BASE, tmp_path, name, **changes)


@pytest.mark.parametrize("mode", ["full", "single"])
def test_fake_devices_match_sim(tmp_path, monkeypatch, mode):
    board = FakeBoard()
    patch_boards(monkeypatch, {"fake": board})
    sim, sim_doc = run(tmp_path, "sim", mode=mode)
    fake, fake_doc = run(tmp_path, "fake", mode=mode, boards=("fake",))
    assert fake.global_model.equal(sim.global_model)
    assert [r["test_accuracy"] for r in fake_doc["rounds"]] == [r["test_accuracy"] for r in sim_doc["rounds"]]
    assert fake_doc["final"]["bitexact_all"] is True
    assert all(r["wire_bytes"] > 0 for r in fake_doc["rounds"])
    assert all(r["device_instructions"] is None for r in fake_doc["rounds"])  # counter_kind 0
    assert fake_doc["devices"][0]["firmware"] == {"flash_bytes": 1000, "ram_bytes": 2000, "stack_peak_bytes": 0}
    assert [d["layer"] for d in fake_doc["devices"]] == ([None, None] if mode == "full" else [0, 1])
    assert all(r.stopped for r in board.started)


def test_only_changed_tensors_are_written_and_samples_once_per_buffer(tmp_path, monkeypatch):
    board = FakeBoard()
    patch_boards(monkeypatch, {"fake": board})
    written: list[list[int]] = [[]]  # tensor ids written per round, for device 0
    original = DeviceClient.write_tensor

    def record(client, tensor, values):
        if client.name.startswith("device 0 "):
            written[-1].append(tensor)
        return original(client, tensor, values)

    monkeypatch.setattr(DeviceClient, "write_tensor", record)
    config = BASE.replace(boards=("fake",), rounds=6, out=str(tmp_path / "w"))
    Federation(prepare(config), on_round=lambda entry: written.append([])).run()
    assert written[0] == []  # round 1 starts from zeros, which CONFIGURE left on the device
    for ids in written[1:6]:
        assert len(ids) == len(set(ids)) and set(ids) <= {0x00, 0x01, 0x10, 0x11}
    device = board.started[0].device
    per_frame = (256 - WRITE_SAMPLES_HEADER) // (1 + 64)  # samples in one frame of max_payload 256
    assert device.executed["WRITE_SAMPLES"] == 2 * -(-50 // per_frame)  # buffers 0 and 1, each written once
    assert device.executed["TRAIN"] == 6


def test_validation_catches_a_wrong_device_and_leaves_its_update_out(tmp_path, monkeypatch):
    def corrupt_second(index, device):
        device.corrupt_after_train = index == 1

    patch_boards(monkeypatch, {"fake": FakeBoard(configure=corrupt_second)})
    fed, doc = run(tmp_path, "bad", boards=("fake",), rounds=2, quorum=1)
    assert [r["bitexact"] for r in doc["rounds"]] == [False, False]
    assert doc["rounds"][0]["mismatched_devices"] == [1]
    assert [r["devices_used"] for r in doc["rounds"]] == [[0], [0]]
    assert "differs from the reference" in doc["rounds"][0]["rejected"][0]["reason"]
    assert doc["final"]["bitexact_all"] is False
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))  # device 1's updates never got in


def test_a_rejected_update_below_the_quorum_stops_the_run(tmp_path, monkeypatch):
    def corrupt_second(index, device):
        device.corrupt_after_train = index == 1

    patch_boards(monkeypatch, {"fake": FakeBoard(configure=corrupt_second)})
    config = BASE.replace(boards=("fake",), rounds=2, out=str(tmp_path / "q"))
    with pytest.raises(QuorumError, match="round 1: 1 accepted updates, below the quorum of 2 .device 1: differs"):
        Federation(prepare(config)).run()


def test_no_validate_records_null(tmp_path, monkeypatch):
    patch_boards(monkeypatch, {"fake": FakeBoard()})
    _, doc = run(tmp_path, "nv", boards=("fake",), rounds=2, validate=False)
    assert [r["bitexact"] for r in doc["rounds"]] == [None, None]
    assert doc["final"]["bitexact_all"] is None


def hang_up_on_third_train(index, device):
    if index == 2:
        original = device._execute
        trains = []

        def execute(code, p):
            if code == 0x07:
                trains.append(1)
                if len(trains) == 3:
                    device.hang_up_on = "TRAIN"  # the next TRAIN closes the link
            return original(code, p)

        device._execute = execute


def test_device_dying_below_the_quorum_stops_everyone_and_keeps_results(tmp_path, monkeypatch):
    board = FakeBoard(configure=hang_up_on_third_train)
    patch_boards(monkeypatch, {"fake": board})
    config = BASE.replace(boards=("fake", "sim"), devices=4, out=str(tmp_path / "dead"))
    fed = Federation(prepare(config))
    with pytest.raises(QuorumError) as e:
        fed.run()
    assert str(e.value).startswith("device 2 (fake): device gone")  # devices 0 and 2 are fake
    assert str(e.value).endswith("3 devices left, below the quorum of 4")
    doc = json.loads((tmp_path / "dead" / "results.json").read_text())
    assert len(doc["rounds"]) == 3 and doc["final"]["complete"] is False
    assert doc["final"]["error"] == str(e.value)
    assert doc["final"]["dropped_devices"][0]["device"] == 2
    assert all(r.stopped for r in board.started)
    assert (tmp_path / "dead" / "model.npz").is_file() and (tmp_path / "dead" / "accuracy.png").is_file()


def test_device_dying_above_the_quorum_is_dropped_and_the_run_goes_on(tmp_path, monkeypatch):
    patch_boards(monkeypatch, {"fake": FakeBoard(configure=hang_up_on_third_train)})
    fed, doc = run(tmp_path, "q3", boards=("fake", "sim"), devices=4, quorum=3)
    assert doc["final"]["complete"] is True and doc["final"]["rounds"] == 6
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1, 2, 3]] * 3 + [[0, 1, 3]] * 3
    dropped = [e for e in doc["rounds"][3]["events"] if e["event"] == "dropped"]
    assert dropped[0]["device"] == 2 and "device gone" in dropped[0]["detail"]
    assert doc["final"]["dropped_devices"] == [{"device": 2, "round": 4, "reason": dropped[0]["detail"]}]
    assert doc["devices"][2]["dropped"]["round"] == 4
    assert doc["final"]["bitexact_all"] is True
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))


def test_interrupt_stops_devices_and_keeps_results(tmp_path, monkeypatch):
    board = FakeBoard()
    patch_boards(monkeypatch, {"fake": board})

    def interrupt(entry):
        if entry["round"] == 2:
            raise KeyboardInterrupt

    config = BASE.replace(boards=("fake",), out=str(tmp_path / "int"))
    with pytest.raises(KeyboardInterrupt):
        Federation(prepare(config), on_round=interrupt).run()
    doc = json.loads((tmp_path / "int" / "results.json").read_text())
    assert len(doc["rounds"]) == 2 and doc["final"]["error"] == "interrupted"
    assert board.started and all(r.stopped for r in board.started)
