"""DeviceClient against the in-process FakeDevice over socket:// (the real
transport path): chunking, retries, duplicates, errors, a vanished device."""
from __future__ import annotations

import numpy as np
import pytest

import tifed_models
from fake_device import FakeDevice
from tifed.errors import ConfigError, DeviceError, DeviceGone, NoRoomError, ProtocolError
from tifed.protocol import payloads as cmd
from tifed.protocol.client import DeviceClient
from tifed.links.transport import open_link


@pytest.fixture
def fake():
    device = FakeDevice(max_payload=64)
    yield device
    device.close()


@pytest.fixture
def client(fake):
    port = open_link(fake.url)
    yield DeviceClient(port, name="fake", timeout=2.0, train_timeout=2.0)
    port.close()


def random_model(rng, dims):
    model = tifed_models.Model.zeros(dims)
    for w, b in zip(model.weights, model.biases):
        w[...] = rng.integers(-(2**31), 2**31, size=w.shape)
        b[...] = rng.integers(-(2**31), 2**31, size=b.shape)
    return model


def test_model_round_trip_is_chunked_to_max_payload(fake, client):
    rng = np.random.default_rng(1)
    dims = (13, 7, 3)
    client.configure(dims, buffer_cap=4, batch_cap=2)
    model = random_model(rng, dims)
    client.write_model(model)
    back = client.read_model(dims)
    assert back.equal(model)
    # 13*7 int32 weights cannot travel in one 64-byte payload.
    assert fake.executed["WRITE_TENSOR"] > 4
    assert fake.executed["READ_TENSOR"] > 4


def test_training_matches_reference_and_counts_wire_bytes(fake, client):
    rng = np.random.default_rng(2)
    dims = (9, 5, 4)
    x = rng.integers(-128, 128, size=(11, 9)).astype(np.int8)
    labels = rng.integers(0, 4, size=11)
    fb = [rng.integers(-40, 40, size=(4, 5))]
    client.configure(dims, buffer_cap=11, batch_cap=3)
    client.write_feedback(fb)
    client.write_samples(x, labels)
    assert client.train(11, 3, 2, 7, -1) == 12345
    expected = tifed_models.train(tifed_models.Model.zeros(dims), fb, x, tifed_models.targets(labels, 4), 7, 3, 2)
    assert client.read_model(dims).equal(expected)
    assert np.array_equal(client.predict(11), tifed_models.predict(expected, x))
    # wire bytes are the frames' bytes; the idle delimiter before and after
    # each request (EXTRA_DELIMITER) is line fill, not counted (LinkCounters)
    assert client.counters.bytes_sent == fake.bytes_received - 2 * client.counters.requests
    assert client.counters.bytes_received == fake.bytes_sent


def test_16_bit_weights_travel_in_configure_and_train_there(fake, client):
    """weight_bits 16: CONFIGURE carries the byte (an int32 CONFIGURE does
    not: the bytes of a device built before it), and the device saturates
    at int16 as the reference does."""
    rng = np.random.default_rng(3)
    dims = (9, 5, 4)
    x = rng.integers(-128, 128, size=(11, 9)).astype(np.int8)
    labels = rng.integers(0, 4, size=11)
    fb = [rng.integers(-40, 40, size=(4, 5))]
    model = tifed_models.Model.zeros(dims)
    for w in model.weights:
        w[...] = rng.choice([-32768, 32767], size=w.shape)
    assert len(cmd.encode_configure(dims, 11, 3, 16)) == len(cmd.encode_configure(dims, 11, 3)) + 1
    result = client.configure(dims, buffer_cap=11, batch_cap=3, weight_bits=16)
    assert fake.weight_bits == 16 and result.arena_used == tifed_models.arena_bytes(dims, 11, 3, 16)
    client.write_model(model)
    client.write_feedback(fb)
    client.write_samples(x, labels)
    client.train(11, 3, 2, 1, -1)
    expected = tifed_models.train(model, fb, x, tifed_models.targets(labels, 4), 1, 3, 2, weight_bits=16)
    assert client.read_model(dims).equal(expected)
    assert not expected.equal(tifed_models.train(model, fb, x, tifed_models.targets(labels, 4), 1, 3, 2))


def test_16_bit_weights_on_an_older_firmware_is_one_clear_error(fake, client):
    fake.knows_weight_bits = False
    client.configure((4, 2), buffer_cap=1, batch_cap=1)  # int32: fine
    with pytest.raises(DeviceError, match="does not know 16-bit weights"):
        client.configure((4, 2), buffer_cap=1, batch_cap=1, weight_bits=16)


def test_no_room_names_the_weight_width(fake, client):
    fake.arena_bytes = 300
    with pytest.raises(NoRoomError, match=r"batch 2 and int16 weights needs \d+ bytes"):
        client.configure((13, 7, 3), buffer_cap=4, batch_cap=2, weight_bits=16)


def test_nak_makes_the_client_resend_the_same_request(fake, client):
    client.identify()
    fake.nak_requests = 2
    client.configure((4, 2), buffer_cap=1, batch_cap=1)
    assert client.counters.naks == 2
    assert client.counters.retransmissions == 2
    assert fake.executed["CONFIGURE"] == 1


def test_lost_response_is_recovered_without_executing_twice(fake, client):
    client.timeout = client.train_timeout = 0.3
    client.configure((3, 2), buffer_cap=2, batch_cap=1)
    client.write_samples(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8), np.array([0, 1]))
    fake.drop_responses = 1
    client.train(2, 1, 1, 2, -1)
    assert fake.executed["TRAIN"] == 1
    assert client.counters.timeouts == 1
    assert client.counters.retransmissions == 1


def test_duplicate_response_is_discarded_as_stale(fake, client):
    client.identify()
    fake.duplicate_responses = 1
    client.configure((3, 2), buffer_cap=1, batch_cap=1)
    stats = client.stats()  # would get CONFIGURE's duplicate if stale frames were accepted
    assert stats.frames_ok == 0
    assert client.counters.stale_frames == 1


def test_a_resend_answered_twice_teaches_the_client_the_slow_link(fake, client):
    client.identify()  # a quick answer: the next new command's first RTO is the minimum
    fake.slow_responses = [0.5]  # slower than that RTO, nothing lost
    client.configure((3, 2), buffer_cap=1, batch_cap=1)
    assert client.counters.retransmissions >= 1
    client.stats()  # meanwhile the device answered the resent copy too
    assert client.counters.spurious_retransmissions >= 1
    resent = client.counters.retransmissions
    fake.slow_responses = [0.5]
    client.configure((3, 2), buffer_cap=1, batch_cap=1)
    assert client.counters.retransmissions == resent  # waited for the slow answer this time
    assert fake.executed["CONFIGURE"] == 2


def test_a_lost_answer_is_not_taken_for_a_slow_one(fake, client):
    client.timeout = 0.3
    client.identify()
    fake.drop_responses = 1  # the resend was needed: only one answer comes back
    client.configure((3, 2), buffer_cap=1, batch_cap=1)
    client.stats()
    assert client.counters.retransmissions == 1
    assert client.counters.spurious_retransmissions == 0


def test_corrupt_response_is_asked_for_again(fake, client):
    client.identify()
    fake.corrupt_responses = 1
    result = client.configure((3, 2), buffer_cap=1, batch_cap=1)
    assert result.arena_used == tifed_models.arena_bytes((3, 2), 1, 1)
    assert client.counters.bad_frames == 1
    assert fake.executed["CONFIGURE"] == 1


def test_retry_budget_is_time_not_a_count(fake, client):
    # A device that NAKs everything: the request is tried again and again
    # (far more than `retries` times) until timeout * (retries + 1) seconds
    # have passed without progress, then gives up with one line.
    client.timeout = 0.1
    client.identify()
    fake.nak_requests = 10**9
    with pytest.raises(ProtocolError, match=r"no valid answer to STATS within 0.6 s \(\d+ tries; last: NAK BAD_CRC\)"):
        client.stats()
    assert client.counters.retransmissions > client.retries


def test_a_short_noisy_spell_is_outlasted(fake, client):
    # 30 NAKs in a row: more than the old budget of 6 tries, but the
    # request goes on while its time budget lasts.
    client.identify()
    fake.nak_requests = 30
    assert client.identify().board == "fake"
    assert client.counters.retransmissions == 30


def test_no_room_carries_the_numbers(fake, client):
    fake.arena_bytes = 1000
    with pytest.raises(NoRoomError) as info:
        client.configure((100, 50, 10), buffer_cap=50, batch_cap=25)
    assert info.value.needed == tifed_models.arena_bytes((100, 50, 10), 50, 25)
    assert info.value.available == 1000
    assert "needs" in str(info.value) and "1000" in str(info.value)


def test_error_status_names_the_command_and_status(client):
    with pytest.raises(DeviceError) as info:
        client.train(1, 1, 1, 1, -1)
    assert info.value.status == "BAD_STATE"
    assert "TRAIN failed with BAD_STATE" in str(info.value)


def test_device_hanging_up_is_device_gone(fake, client):
    client.identify()
    fake.hang_up_on = "STATS"
    with pytest.raises(DeviceGone, match="fake: device gone"):
        client.stats()


class DeadDevice:
    def alive(self):
        return False

    def describe_exit(self):
        return "host device 0 exited with code 3: boom"


def test_silent_dead_device_reports_its_exit(fake):
    port = open_link(fake.url)
    client = DeviceClient(port, name="dev", device=DeadDevice(), timeout=0.2)
    fake.drop_responses = 1
    with pytest.raises(DeviceGone, match="exited with code 3: boom"):
        client.identify()
    port.close()


def test_inputs_outside_int8_are_refused_before_sending(fake, client):
    client.configure((2, 2), buffer_cap=1, batch_cap=1)
    with pytest.raises(ConfigError, match="int8"):
        client.write_samples(np.array([[0, 200]]), np.array([0]))
    assert "WRITE_SAMPLES" not in fake.executed


def test_a_sample_wider_than_max_payload_is_a_clear_error(fake, client):
    client.configure((70, 2), buffer_cap=1, batch_cap=1)
    with pytest.raises(ConfigError, match="needs 75 bytes, more than the device's max_payload 64"):
        client.write_samples(np.zeros((1, 70), dtype=np.int8), np.array([0]))


class HungUpTty:
    """A tty whose other side closed: tcsetattr/tcdrain raise termios.error,
    which is not an OSError."""

    timeout = 0.1

    def write(self, data):
        import termios

        raise termios.error(5, "Input/output error")

    def read(self, size):
        return b""


def test_tty_errors_are_device_gone():
    with pytest.raises(DeviceGone, match="Input/output error"):
        DeviceClient(HungUpTty(), name="tty").identify()
