"""The fault injector (tifed.links.faults) and the protocol surviving it: the
injector's own behaviour on loop://, the client against the Python fake
device through fault://, and a federated run of host firmware through 1 %
byte corruption plus 1 % frame loss that must end bit-exact, with the
weights of a clean run."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import serial

import tifed_models
from fake_device import FakeDevice
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.errors import ConfigError
from tifed.links.faults import FaultSpec, FaultStream, fault_url, parse_faults, register
from tifed.protocol.client import DeviceClient
from tifed.protocol.frames import FrameDecoder, encode_frame
from tifed.server.federation import Federation
from tifed.links.transport import open_link

FRAMES = [encode_frame(i % 255 + 1, 0x04, bytes(range(1, 40))) for i in range(2000)]


def run_stream(spec: FaultSpec, direction: str = "tx") -> tuple[bytes, FaultStream]:
    stream = FaultStream(spec, direction)
    for frame in FRAMES:
        stream.feed(frame, now=0.0)
    return stream.take(now=1e9), stream


# --- the spec ---------------------------------------------------------------------


def test_spec_parses_and_prints_back():
    spec = parse_faults("corrupt=0.01, drop=0.02,seed=7,dir=rx,chunk=72,retries=30")
    assert (spec.corrupt, spec.drop, spec.seed, spec.dir, spec.chunk, spec.retries) == (0.01, 0.02, 7, "rx", 72, 30)
    assert parse_faults(spec.text()) == spec
    assert spec.client_options() == {"chunk": 72, "retries": 30}
    assert spec.applies_to("rx") and not spec.applies_to("tx")


@pytest.mark.parametrize("text, message", [
    ("corrupt", "'corrupt' is not key=value"),
    ("noise=0.1", "unknown key 'noise'"),
    ("drop=1.5", "drop is a probability between 0 and 1, got 1.5"),
    ("drop=lots", "drop must be a number, got 'lots'"),
    ("seed=-1", "seed must be between 0 and 4294967295"),
    ("chunk=8", "chunk must be between 16 and 65535"),
    ("dir=up", "dir must be one of both, tx, rx"),
    ("drop=0.1,drop=0.2", "drop given twice"),
    ("", "empty"),
])
def test_bad_specs_are_one_line_errors(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_faults(text)
    assert str(info.value).startswith("--faults: ") and "\n" not in str(info.value)


# --- the injector -----------------------------------------------------------------


def test_no_faults_pass_every_byte_unchanged():
    out, stream = run_stream(FaultSpec(seed=1))
    assert out == b"".join(FRAMES) and stream.counts.frames == len(FRAMES)


def test_faults_are_seeded_and_near_their_rates():
    spec = FaultSpec(corrupt=0.01, drop=0.05, dup=0.02, seed=3)
    out, stream = run_stream(spec)
    again, _ = run_stream(spec)
    other, _ = run_stream(dataclasses.replace(spec, seed=4))
    assert out == again and out != other
    c = stream.counts
    assert c.bytes == sum(map(len, FRAMES))
    assert 0.007 < c.bytes_corrupted / c.bytes < 0.013
    assert 0.035 < c.frames_dropped / len(FRAMES) < 0.065
    assert 0.01 < c.frames_duplicated / len(FRAMES) < 0.03
    # What comes out is frames a receiver can tell apart: the good ones
    # decode, the damaged ones fail their CRC, and there are no others.
    decoder = FrameDecoder()
    good = decoder.feed(out)
    assert len(good) + decoder.frames_bad >= len(FRAMES) - c.frames_dropped
    assert decoder.frames_bad > 0


def test_tx_and_rx_differ_and_dir_limits_the_faults():
    spec = FaultSpec(drop=0.3, seed=5)
    tx, _ = run_stream(spec, "tx")
    rx, _ = run_stream(spec, "rx")
    assert tx != rx
    only_rx = dataclasses.replace(spec, dir="rx")
    assert run_stream(only_rx, "tx")[0] == b"".join(FRAMES)
    assert run_stream(only_rx, "rx")[1].counts.frames_dropped > 0


def test_delayed_frames_are_overtaken():
    stream = FaultStream(FaultSpec(delay=1.0, delay_s=0.5, seed=1), "tx")
    stream.feed(b"\x05\x01\x00", now=10.0)
    stream.feed(b"\x00", now=10.1)  # a lone delimiter is never delayed
    assert stream.take(now=10.2) == b"\x00"
    assert stream.next_release() == 10.5
    assert stream.take(now=10.5) == b"\x05\x01\x00"


def test_fault_url_wraps_any_pyserial_url():
    register()
    port = serial.serial_for_url(fault_url("loop://", FaultSpec(drop=1.0, dir="tx")), timeout=0.05)
    try:
        port.write(b"\x02\x07\x00" * 3)
        assert port.read(16) == b""  # every frame dropped on the way out
        assert port.fault_counts()["tx"]["frames_dropped"] == 3
    finally:
        port.close()
    clean = serial.serial_for_url(fault_url("loop://", FaultSpec(seed=1)), timeout=0)
    try:  # no faults: a non-blocking port, as pyserial's own
        clean.write(b"\x03\x01\x02\x00")
        assert clean.in_waiting == 4 and clean.read(10) == b"\x03\x01\x02\x00" and clean.read(10) == b""
    finally:
        clean.close()
    with pytest.raises(serial.SerialException, match="unknown key 'x'"):
        serial.serial_for_url("fault://loop://#x=1")
    with pytest.raises(serial.SerialException, match="expected fault://<inner URL>#<faults>"):
        serial.serial_for_url("fault://loop://")


# --- the client through the injector ----------------------------------------------


@pytest.fixture
def fake():
    device = FakeDevice(max_payload=64)
    yield device
    device.close()


def faulty_client(fake, spec: FaultSpec) -> tuple[DeviceClient, object]:
    port = open_link(fault_url(fake.url, spec))
    return DeviceClient(port, name="fake", timeout=1.0, train_timeout=1.0, retries=40), port


@pytest.mark.parametrize("direction", ["tx", "rx"])
def test_lost_frames_are_sent_again_and_never_executed_twice(fake, direction):
    # tx: requests lost, the device never saw them; rx: answers lost, the
    # device answers the repeated (seq, code, CRC) from its stored response.
    client, port = faulty_client(fake, FaultSpec(drop=0.2, dir=direction, seed=2))
    try:
        dims = (9, 5, 4)
        model = tifed_models.Model.zeros(dims)
        rng = np.random.default_rng(0)
        for w in model.weights:
            w[...] = rng.integers(-1000, 1000, size=w.shape)
        client.configure(dims, buffer_cap=4, batch_cap=2)
        client.write_model(model)
        assert client.read_model(dims).equal(model)
        assert client.counters.timeouts > 0 and client.counters.retransmissions >= client.counters.timeouts
        assert fake.executed["CONFIGURE"] == 1
        assert fake.executed["WRITE_TENSOR"] == client.counters.requests - fake.executed["READ_TENSOR"] - 2
        dropped = port.fault_counts()[direction]["frames_dropped"]
        assert dropped > 0 and client.counters.timeouts >= dropped  # each loss costs a timeout
    finally:
        port.close()


def test_corrupt_and_duplicated_answers_are_recovered(fake):
    client, port = faulty_client(fake, FaultSpec(corrupt=0.01, dup=0.2, seed=9))
    try:
        dims = (13, 7, 3)
        model = tifed_models.Model.zeros(dims)
        model.weights[0][...] = np.arange(13 * 7).reshape(13, 7) * 1000 - 45000
        client.configure(dims, buffer_cap=4, batch_cap=2)
        client.write_model(model)
        assert client.read_model(dims).equal(model)
        assert client.counters.naks + client.counters.bad_frames > 0  # corruption seen both ways
        assert client.counters.stale_frames > 0  # duplicates dropped
    finally:
        port.close()


# --- a federated run through the injector -------------------------------------------

FAULTS = "corrupt=0.01,drop=0.01,seed=1,chunk=72,retries=40"


def test_federated_run_through_faults_is_bitexact_with_clean_weights(tmp_path, host_image):
    base = RunConfig.of(boards=("host",), devices=2, mode="full", dataset="digits", model="64-16-10",
                     out=str(tmp_path / "clean"), rounds=2)
    clean = Federation(prepare(base))
    clean.run()
    noisy = Federation(prepare(base.replace(out=str(tmp_path / "noisy"), faults=FAULTS)))
    final = noisy.run()
    assert final["bitexact_all"] is True and final["complete"] is True
    assert noisy.global_model.equal(clean.global_model)
    doc = json.loads((tmp_path / "noisy" / "results.json").read_text())
    assert all(r["retransmissions"] > 0 for r in doc["rounds"])
    assert final["retransmissions"] == sum(r["retransmissions"] for r in doc["rounds"])
    assert doc["config"]["faults"] == FAULTS
    injected = doc["devices"][0]["faults_injected"]
    assert injected["tx"]["bytes_corrupted"] > 0 and injected["rx"]["frames_dropped"] + injected["tx"]["frames_dropped"] > 0
    clean_doc = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert [r["test_accuracy"] for r in doc["rounds"]] == [r["test_accuracy"] for r in clean_doc["rounds"]]
    assert clean_doc["final"]["retransmissions"] == 0
