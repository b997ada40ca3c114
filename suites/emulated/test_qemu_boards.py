"""The QEMU boards end to end, through the harness's own plug-in and client:
they build, boot, answer IDENTIFY with their name and arena, train
bit-exactly like the NumPy reference, count instructions deterministically,
refuse a model that does not fit, and leave no QEMU behind."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import tifed_models
from qemu_support import QEMU_BOARDS, fixed_case, make_case, past_int32_case
from tifed.boards.qemu import QemuBoard
from tifed.errors import NoRoomError
from tifed.protocol.client import DeviceClient
from tifed.protocol.frames import FrameDecoder, encode_frame
from tifed.protocol.payloads import Command
from tifed.step import device_step, reference_step, run_step, validate_case
from tifed.links.transport import open_link

pytestmark = pytest.mark.emulated

# The RAM each QEMU machine has where the linker script puts data, stack
# and arena (firmware/boards/<board>/<board>.ld).
RAM_BYTES = {"qemu-mps2-an386": 4 << 20, "qemu-netduinoplus2": 192 << 10, "qemu-microbit": 16 << 10}
CASE_SEEDS = range(12)
INT16_SEEDS = range(100, 112)  # the same kinds of cases with weight_bits 16


class Running:
    def __init__(self, name: str):
        self.board = QemuBoard(name)
        self.device = self.board.start(0)
        self.port = open_link(self.device.url)
        self.client = DeviceClient(self.port, name=name, device=self.device, timeout=20)
        self.info = self.client.identify()

    def close(self) -> None:
        self.port.close()
        self.device.stop()


@pytest.fixture(scope="module", params=QEMU_BOARDS)
def running(request, images):
    r = Running(request.param)
    yield r
    r.close()


def _differences(got_model, got_pred, want_model, want_pred) -> list[str]:
    problems = []
    for key, want in want_model.to_arrays().items():
        have = got_model.to_arrays()[key]
        if not np.array_equal(have, want):
            where = tuple(int(i) for i in np.argwhere(have != want)[0])
            problems.append(f"{key}{list(where)}: device {have[where]} reference {want[where]}")
    if not np.array_equal(got_pred, want_pred):
        i = int(np.flatnonzero(got_pred != want_pred)[0])
        problems.append(f"pred[{i}]: device {got_pred[i]} reference {want_pred[i]}")
    return problems


def test_identify_reports_name_arena_and_counter(running):
    info = running.info
    assert info.board == running.board.name
    assert info.arena_bytes == running.board.ram_arena_bytes()
    assert info.counter_kind == 1  # instructions
    if running.board.name == "qemu-microbit":
        assert info.max_payload == 256  # its board.mk shrinks the frame buffers
    else:
        assert info.max_payload >= 256


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_arena_is_the_ram_the_firmware_leaves(name, images):
    board = QemuBoard(name)
    info = board.firmware_info()
    arena = board.ram_arena_bytes()
    assert info.flash_bytes > 1000
    # static RAM (data + bss + stack) and the arena share the RAM, with at
    # most the arena's 8-byte alignment between them
    assert RAM_BYTES[name] - 8 <= info.ram_bytes + arena <= RAM_BYTES[name]


def test_mps2_an386_fits_the_paper_model(images):
    need = tifed_models.arena_bytes((784, 200, 10), 50, 25)
    assert QemuBoard("qemu-mps2-an386").ram_arena_bytes() > need


@pytest.mark.parametrize("seed", CASE_SEEDS)
def test_training_matches_reference(running, seed):
    case = validate_case(make_case(seed))
    want_model, want_pred = reference_step(case)
    got_model, got_pred, counter = device_step(running.client, case)
    problems = _differences(got_model, got_pred, want_model, want_pred)
    assert not problems, f"{running.board.name} case {seed} dims {case.dims}: " + "; ".join(problems[:4])
    assert counter > 0


@pytest.mark.parametrize("seed", INT16_SEEDS)
def test_int16_training_matches_reference(running, seed):
    case = validate_case(make_case(seed, weight_bits=16))
    want_model, want_pred = reference_step(case)
    got_model, got_pred, _ = device_step(running.client, case)
    problems = _differences(got_model, got_pred, want_model, want_pred)
    assert not problems, f"{running.board.name} int16 case {seed} dims {case.dims}: " + "; ".join(problems[:4])


def test_int16_cases_saturate_and_run_whole_blocks():
    """The int16 cases above reach what they are for: updates that saturate
    at int16, and layers of 32 inputs or more (a whole block of the forward
    kernel)."""
    clipped, blocks = 0, 0
    for seed in INT16_SEEDS:
        case = validate_case(make_case(seed, weight_bits=16))
        unclipped = tifed_models.train(case.model, case.feedback, case.x, case.t, case.lr_inv, case.batch,
                                       case.epochs, case.layer, weight_bits=32)
        model = reference_step(case)[0]
        clipped += not model.equal(unclipped)
        blocks += case.dims[0] >= 32
    assert clipped >= 3 and blocks >= 3


def test_int16_forward_sums_past_int32(running):
    if running.info.max_payload < 1005:
        pytest.skip(f"{running.board.name}: a 1000-input sample needs a 1005-byte frame")
    case = validate_case(past_int32_case())
    assert int(np.abs(case.x.astype(np.int64) @ case.model.weights[0].astype(np.int64)).max()) > 2**31
    want_model, want_pred = reference_step(case)
    got_model, got_pred, _ = device_step(running.client, case)
    problems = _differences(got_model, got_pred, want_model, want_pred)
    assert not problems, f"{running.board.name}: " + "; ".join(problems[:4])


def test_instruction_count_is_deterministic(running):
    case = validate_case(fixed_case())
    first = device_step(running.client, case)[2]
    again = device_step(running.client, case)[2]
    assert first == again > 0
    fresh = Running(running.board.name)  # another QEMU, other host timing
    try:
        assert device_step(fresh.client, case)[2] == first
    finally:
        fresh.close()
    one_epoch = validate_case(dict(fixed_case(), epochs=np.int64(1)))
    assert 0 < device_step(running.client, one_epoch)[2] < first


def test_stack_peak_is_measured(running):
    device_step(running.client, validate_case(fixed_case()))
    stats = running.client.stats()
    assert 0 < stats.stack_peak < stats.stack_size


def test_burst_of_requests_loses_no_byte(running):
    """Twenty IDENTIFY frames in one write: the UART takes bytes only as fast
    as the firmware reads them, so every frame gets its answer."""
    count = 20
    wire = b"".join(encode_frame(seq, Command.IDENTIFY) for seq in range(100, 100 + count))
    running.port.write(wire)
    decoder = FrameDecoder()
    frames = []
    deadline = time.monotonic() + 20
    while len(frames) < count and time.monotonic() < deadline:
        frames += decoder.feed(running.port.read(max(1, running.port.in_waiting)))
    assert [f.seq for f in frames] == list(range(100, 100 + count))
    assert decoder.frames_bad == 0


def test_microbit_refuses_the_paper_model(images):
    r = Running("qemu-microbit")
    try:
        with pytest.raises(NoRoomError) as refused:
            r.client.configure((784, 200, 10), buffer_cap=50, batch_cap=25)
        assert refused.value.needed == tifed_models.arena_bytes((784, 200, 10), 50, 25)
        assert refused.value.available == r.info.arena_bytes < 16384
    finally:
        r.close()


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_run_step_writes_the_reference_result(name, images, tmp_path):
    case_path = tmp_path / "case.npz"
    np.savez(case_path, **make_case(5))
    run_step("reference", case_path, tmp_path / "reference.npz")
    summary = run_step(name, case_path, tmp_path / "device.npz")
    assert summary["counter"] > 0
    with np.load(tmp_path / "reference.npz") as want, np.load(tmp_path / "device.npz") as have:
        assert sorted(want.files) == sorted(have.files)
        for key in want.files:
            assert np.array_equal(have[key], want[key]), key


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_stop_reaps_qemu(name, images):
    device = QemuBoard(name).start(3)
    pid = device.pid
    assert device.alive()
    device.stop()
    device.stop()  # a second stop is harmless
    assert not device.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert name in device.describe_exit()
