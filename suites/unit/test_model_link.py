"""Protocol 2 in the federation, against Python fake devices that speak it
(fake_device.py through the harness's reference decoders): the same
numbers as `sim` in every mode, with validation (digest-only read-back)
and without (low bits), fleets mixing protocol 1 and 2 devices, a device
whose update differs (caught by digest, read whole, the differing values
named), a step beyond the learnt bits, and a download that does not land."""
from __future__ import annotations


import numpy as np
import pytest

import tifed_models
from tifed.config import RunConfig
from tifed.errors import ProtocolError
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import Command
from tifed.protocol.tensor_digest import model_digest
from tifed.server.model_link import READ_DIGEST, READ_FULL, READ_LOW_BITS, ModelLink
from tifed.links.transport import open_link
from tifed.training.config import TrainingConfig

from fake_fleet import FakeBoard, SeededFakeDevice, patch_boards
from federated_run import run_federation
from replay import replay

BASE = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10", out="", rounds=6)


def run(tmp_path, name, **changes):
    return run_federation(BASE, tmp_path, name, **changes)


@pytest.mark.parametrize("mode", ["full", "single"])
@pytest.mark.parametrize("validate", [True, False])
def test_protocol_2_matches_sim_and_moves_fewer_bytes(tmp_path, monkeypatch, mode, validate):
    v1, v2 = FakeBoard(name="v1"), FakeBoard(name="v2", protocol=2)
    patch_boards(monkeypatch, {"v1": v1, "v2": v2})
    sim, _ = run(tmp_path, "sim", mode=mode, validate=validate)
    fed1, doc1 = run(tmp_path, "one", mode=mode, boards=("v1",), validate=validate)
    fed2, doc2 = run(tmp_path, "two", mode=mode, boards=("v2",), validate=validate)
    assert fed1.global_model.equal(sim.global_model) and fed2.global_model.equal(sim.global_model)
    assert doc2["final"]["bitexact_all"] is (True if validate else None)
    how = READ_DIGEST if validate else READ_LOW_BITS
    assert all(r["readback"] == {how: [0, 1]} for r in doc2["rounds"])
    assert all(r["readback"] == {READ_FULL: [0, 1]} for r in doc1["rounds"])
    later = slice(1, None)  # round 1 sends no model down
    bytes1 = sum(r["wire_bytes"] for r in doc1["rounds"][later])
    bytes2 = sum(r["wire_bytes"] for r in doc2["rounds"][later])
    assert bytes2 < bytes1 / (4 if validate else 2)
    assert v2.started[0].device.executed.get("WRITE_TENSOR", 0) == 0  # every model went down as deltas


def test_mixed_fleet_of_protocol_1_and_2_devices(tmp_path, monkeypatch):
    patch_boards(monkeypatch, {"v1": FakeBoard(name="v1"), "v2": FakeBoard(name="v2", protocol=2)})
    sim, _ = run(tmp_path, "sim", devices=4)
    fed, doc = run(tmp_path, "mixed", devices=4, boards=("v1", "v2"))
    assert fed.global_model.equal(sim.global_model)
    assert doc["final"]["bitexact_all"] is True
    assert doc["rounds"][-1]["readback"] == {READ_FULL: [0, 2], READ_DIGEST: [1, 3]}


def test_protocol_option_keeps_a_device_at_protocol_1(tmp_path, monkeypatch):
    board = FakeBoard(name="v2", protocol=2)
    patch_boards(monkeypatch, {"v2": board})
    _, doc = run(tmp_path, "p1", boards=("v2",), protocol=1)
    assert doc["rounds"][-1]["readback"] == {READ_FULL: [0, 1]}
    assert "WRITE_DELTA" not in board.started[0].device.executed


def test_full_readback_reads_every_trained_tensor(tmp_path, monkeypatch):
    board = FakeBoard(name="v2", protocol=2)
    patch_boards(monkeypatch, {"v2": board})
    _, doc = run(tmp_path, "audit", boards=("v2",), full_readback=True)
    assert doc["final"]["bitexact_all"] is True
    assert doc["rounds"][-1]["readback"] == {READ_FULL: [0, 1]}
    executed = board.started[0].device.executed
    assert executed["READ_TENSOR"] >= 6 * 4 and "DIGEST" in executed  # deltas down, still confirmed


def test_a_differing_device_is_caught_by_digest_and_its_values_named(tmp_path, monkeypatch):
    def corrupt_second(index, device):
        device.corrupt_after_train = index == 1

    patch_boards(monkeypatch, {"v2": FakeBoard(name="v2", protocol=2, configure=corrupt_second)})
    fed, doc = run(tmp_path, "bad", boards=("v2",), rounds=2, quorum=1)
    assert [r["bitexact"] for r in doc["rounds"]] == [False, False]
    first = doc["rounds"][0]
    assert first["mismatched_devices"] == [1] and first["readback"] == {READ_DIGEST: [0], READ_FULL: [1]}
    reason = first["rejected"][0]["reason"]
    assert "1 value differs: W0[0, 0]" in reason and "(reference " in reason
    assert fed.global_model.equal(replay(fed.plan, doc["rounds"]))


def fake_link(spec: TrainingConfig, **device_options):
    device = SeededFakeDevice(max_payload=256, protocol=2, **device_options)
    client = DeviceClient(open_link(device.url), name="fake")
    client.configure(spec.dims, spec.buffer_len, spec.batch)
    client.set_feedback_seed(spec.seed)
    return device, client, ModelLink(client, spec)


def test_a_step_beyond_the_learnt_bits_is_read_again_with_the_proven_bits():
    spec = TrainingConfig(mode="full", dataset="digits", model="6-5-3", devices=1, buffer_len=4, batch=2)
    device, client, link = fake_link(spec)
    try:
        rng = np.random.default_rng(0)
        g = tifed_models.Model.zeros(spec.dims)
        for rnd in range(3):
            link.send(g)
            trained = g.copy()
            trained.weights[0] = (g.weights[0] + rng.integers(-40, 40, size=g.weights[0].shape)).astype(np.int32)
            if rnd == 2:
                trained.weights[0][1, 2] += 10_000  # far beyond twice the steps seen so far
            device.model = trained.copy()  # what "training" left on the device
            got, how = link.receive(g, [0, 1])
            assert how == READ_LOW_BITS and got.equal(trained)
            g = trained
        assert device.executed["READ_LOW_BITS"] == 4 * 3 + 4  # the third round read its tensors twice
    finally:
        client.port.close()
        device.close()


def test_a_download_that_does_not_land_is_a_protocol_error():
    spec = TrainingConfig(mode="full", dataset="digits", model="6-5-3", devices=1, buffer_len=4, batch=2)
    device, client, link = fake_link(spec)
    original = device._execute

    def lossy(code, p):  # acknowledges WRITE_DELTA without applying it
        return (0, b"") if code == Command.WRITE_DELTA else original(code, p)

    device._execute = lossy
    try:
        g = tifed_models.Model.zeros(spec.dims)
        g.weights[0][0, 0] = 5
        with pytest.raises(ProtocolError, match=f"not the sent one's {model_digest(g):016x}"):
            link.send(g)
    finally:
        client.port.close()
        device.close()
