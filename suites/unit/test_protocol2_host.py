"""Protocol 2 on the host firmware (the C decoders, through the harness's
encoders): deltas, digests, low bits and coded samples give the device
exactly the tensors and samples the harness means; corrupt or truncated
codes are refused and change nothing; whole federated runs are bit-exact
with the reference in every mode, mixed with protocol 1 devices
(firmware/boards/host-v1) and through a faulty link."""
from __future__ import annotations


import numpy as np
import pytest

import tifed_models
from fake_fleet import patch_boards
from tifed.boards.host import HostBoard, HostDevice
from tifed.config import RunConfig
from tifed.firmware import build
from tifed.links.transport import open_link
from tifed.protocol import bitcode, delta_code, sample_code
from tifed.protocol.client import DeviceClient
from tifed.protocol.payloads import Command, Status, TensorKind, model_tensor_ids, tensor_id
from tifed.protocol.tensor_digest import model_digest, tensors_digest
from federated_run import run_federation
from tifed.server.model_link import READ_DIGEST, READ_FULL, READ_LOW_BITS

DIMS = (20, 12, 5)


@pytest.fixture(scope="module")
def host_image():
    build.run_make("host")
    return build.build_dir("host") / "tifed-host"


@pytest.fixture
def client(host_image):
    device = HostDevice(host_image, 0, None, 10.0)
    port = open_link(device.url)
    c = DeviceClient(port, name="host", device=device)
    try:
        assert c.identify().proto == 2 and c.protocol == 2
        c.configure(DIMS, 8, 4)
        yield c
    finally:
        port.close()
        device.stop()


def random_model(rng, scale):
    m = tifed_models.Model.zeros(DIMS)
    for l in range(len(DIMS) - 1):
        m.weights[l] = rng.integers(-scale, scale + 1, size=m.weights[l].shape).astype(np.int32)
        m.biases[l] = rng.integers(-scale, scale + 1, size=m.biases[l].shape).astype(np.int32)
    return m


def test_deltas_digest_and_low_bits_agree_with_the_harness(client):
    rng = np.random.default_rng(1)
    held = tifed_models.Model.zeros(DIMS)
    for scale in (3000, 2**31 - 1, 50):
        model = random_model(rng, scale)
        model.weights[0][3:9] = model.weights[0][2]  # identical rows, as MNIST's background gives
        for l in range(len(DIMS) - 1):
            client.write_delta(tensor_id(TensorKind.WEIGHTS, l), model.weights[l], held.weights[l])
            client.write_delta(tensor_id(TensorKind.BIAS, l), model.biases[l], held.biases[l])
        assert client.read_model(DIMS).equal(model)
        assert client.digest(model_tensor_ids(len(DIMS) - 1)) == model_digest(model)
        for bits in (1, 7, 19, 32):
            low = client.read_low_bits(tensor_id(TensorKind.WEIGHTS, 0), model.weights[0].size, bits)
            want = bitcode.unpack_low_bits(bitcode.pack_low_bits(model.weights[0].ravel(), bits),
                                           model.weights[0].size, bits)
            assert np.array_equal(low, want)
        held = model


def test_bad_codes_are_refused_and_change_nothing(client):
    rng = np.random.default_rng(2)
    model = random_model(rng, 500)
    client.write_model(model)
    ids = model_tensor_ids(len(DIMS) - 1)
    before = client.digest(ids)
    new = model.weights[0] + rng.integers(-60, 60, size=model.weights[0].shape)
    payload = delta_code.delta_payloads(0x00, new, model.weights[0], 1024)[0]
    assert len(payload) > 20
    for bad, status in [(payload[:-1], Status.BAD_CODE), (payload + b"\x00", Status.BAD_CODE),
                        (payload[:5], Status.BAD_LENGTH), (bytes([0x21]) + payload[1:], Status.BAD_ARGUMENT)]:
        assert client.transact(Command.WRITE_DELTA, bad)[0] == status
        assert client.digest(ids) == before
    refused = 0
    for i in range(7 + 4, len(payload)):  # a flipped bit anywhere in the code
        bad = bytearray(payload)
        bad[i] ^= 0x10
        status, _ = client.transact(Command.WRITE_DELTA, bytes(bad))
        if status != Status.OK:
            refused += 1
            assert client.digest(ids) == before
        else:  # a flip that still decodes: a different delta, which the end-to-end digest catches
            assert client.digest(ids) != before
            client.write_tensor(0x00, model.weights[0])
    assert refused > 0


def test_coded_samples_train_like_the_reference(client):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(8, DIMS[0])).astype(np.int8)
    x[:, :8] = -128
    x[2] = -128
    y = rng.integers(0, DIMS[-1], size=8)
    client.set_feedback_seed(4)
    client.write_samples(x, y)  # protocol 2: WRITE_SAMPLES_CODED
    assert client.counters.requests and client.compact
    model = random_model(rng, 2000)
    client.write_model(model)
    client.train(8, 4, 1, 64)
    want = tifed_models.train(model, tifed_models.feedback_matrices(DIMS, 4), x,
                              tifed_models.targets(y, DIMS[-1]), 64, 4, 1)
    assert client.read_model(DIMS).equal(want)
    payload = sample_code.payloads(x, y, 1024, 1 + DIMS[0])[0][2]
    assert client.transact(Command.WRITE_SAMPLES_CODED, payload[:-1])[0] == Status.BAD_CODE


def test_int16_weights_take_deltas_digests_and_low_bits_and_refuse_what_leaves_int16(host_image):
    """CONFIGURE with 16-bit weights: the device stores W and b as int16 (in
    its pair layout); deltas, digests and low bits still mean the same
    values, and a delta that would leave int16 is refused whole."""
    device = HostDevice(host_image, 0, None, 10.0)
    port = open_link(device.url)
    try:
        client = DeviceClient(port, name="host", device=device)
        assert client.identify().proto == 2
        client.configure(DIMS, 8, 4, weight_bits=16)
        rng = np.random.default_rng(6)
        ids = model_tensor_ids(len(DIMS) - 1)
        held = tifed_models.Model.zeros(DIMS)
        for scale in (40, 32767):
            model = random_model(rng, scale)
            model.weights[0][0, :3] = (-32768, 32767, -32768)  # both limits
            for l in range(len(DIMS) - 1):
                client.write_delta(tensor_id(TensorKind.WEIGHTS, l), model.weights[l], held.weights[l])
                client.write_delta(tensor_id(TensorKind.BIAS, l), model.biases[l], held.biases[l])
            assert client.read_model(DIMS).equal(model)
            assert client.digest(ids) == model_digest(model)
            low = client.read_low_bits(tensor_id(TensorKind.WEIGHTS, 1), model.weights[1].size, 5)
            assert np.array_equal(low, bitcode.unpack_low_bits(bitcode.pack_low_bits(model.weights[1].ravel(), 5),
                                                               model.weights[1].size, 5))
            held = model
        before = client.digest(ids)
        for l, kind in ((0, TensorKind.WEIGHTS), (1, TensorKind.BIAS)):
            have = (held.weights if kind == TensorKind.WEIGHTS else held.biases)[l]
            over = have.copy()
            over.reshape(-1)[-1] = 32768  # one value past the limit, the last one decoded
            payload = delta_code.delta_payloads(tensor_id(kind, l), over, have, 1024)[0]
            assert client.transact(Command.WRITE_DELTA, payload)[0] == Status.BAD_ARGUMENT
            assert client.transact(Command.WRITE_DELTA, payload[:-1])[0] in (Status.BAD_CODE, Status.BAD_ARGUMENT)
            assert client.digest(ids) == before
    finally:
        port.close()
        device.stop()


@pytest.mark.parametrize("mode", ["full", "single"])
def test_int16_federated_runs_on_host_are_bitexact_over_protocol_2(tmp_path, mode, host_image):
    sim, _ = run(tmp_path, "sim16", mode=mode, weights="int16")
    fed, doc = run(tmp_path, "v16", boards=("host",), mode=mode, weights="int16")
    loose, loose_doc = run(tmp_path, "nv16", boards=("host",), mode=mode, weights="int16", validate=False)
    assert fed.global_model.equal(sim.global_model) and loose.global_model.equal(sim.global_model)
    assert doc["final"]["bitexact_all"] is True and doc["config"]["weight_bits"] == 16
    assert doc["rounds"][-1]["readback"] == {READ_DIGEST: [0, 1]}
    assert loose_doc["rounds"][-1]["readback"] == {READ_LOW_BITS: [0, 1]}


class HostV1Board(HostBoard):
    """The host firmware built as a protocol 1 device (firmware/boards/host-v1)."""

    name = "host-v1"

    def image_path(self):
        return build.build_dir("host-v1") / "tifed-host"

    def start(self, index):
        build.run_make("host-v1")
        return HostDevice(self.image_path(), index, self.arena_bytes, self.start_timeout)


BASE = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10", out="", rounds=7)


def run(tmp_path, name, **changes):
    return run_federation(BASE, tmp_path, name, **changes)


@pytest.mark.parametrize("mode", ["full", "single"])
def test_federated_runs_on_host_are_bitexact(tmp_path, mode, host_image):
    sim, _ = run(tmp_path, "sim", mode=mode)
    fed, doc = run(tmp_path, "v", boards=("host",), mode=mode)
    loose, loose_doc = run(tmp_path, "nv", boards=("host",), mode=mode, validate=False)
    assert fed.global_model.equal(sim.global_model) and loose.global_model.equal(sim.global_model)
    assert doc["final"]["bitexact_all"] is True
    assert doc["rounds"][-1]["readback"] == {READ_DIGEST: [0, 1]}
    assert loose_doc["rounds"][-1]["readback"] == {READ_LOW_BITS: [0, 1]}


def test_mixed_protocol_fleet_on_host_is_bitexact(tmp_path, monkeypatch, host_image):
    patch_boards(monkeypatch, {"host-v1": HostV1Board()})
    sim, _ = run(tmp_path, "sim", devices=4)
    fed, doc = run(tmp_path, "mixed", devices=4, boards=("host-v1", "host"))
    assert fed.global_model.equal(sim.global_model)
    assert doc["final"]["bitexact_all"] is True
    assert doc["rounds"][-1]["readback"] == {READ_FULL: [0, 2], READ_DIGEST: [1, 3]}
    assert doc["rounds"][-1]["wire_bytes"] > 0


def test_a_faulty_link_keeps_protocol_2_bitexact(tmp_path, host_image):
    sim, _ = run(tmp_path, "sim", mode="single")
    fed, doc = run(tmp_path, "f", boards=("host",), mode="single",
                   faults="corrupt=0.0002,drop=0.02,dup=0.02,seed=5,chunk=256,retries=30")
    assert fed.global_model.equal(sim.global_model)
    assert doc["final"]["bitexact_all"] is True
    assert sum(r["retransmissions"] for r in doc["rounds"]) > 0
