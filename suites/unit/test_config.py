"""`tifed run` option checks: each bad input is one ConfigError line, raised
before any device is started; the training configuration's one home."""
from __future__ import annotations

import json

import pytest

import tifed_models
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.errors import ConfigError
from tifed.training.config import TrainingConfig, default_of, field_names

from fake_fleet import FakeBoard, patch_boards

GOOD = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10", out="unused")


def bad(**changes) -> str:
    with pytest.raises(ConfigError) as e:
        prepare(GOOD.replace(**changes))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_good_config_resolves():
    plan = prepare(GOOD.replace(mode="single"))
    assert plan.dims == (64, 32, 10) and plan.layers == [0, 1]
    assert plan.shards[0][0].shape[0] == 719  # 1438 training samples / 2 devices
    assert len(plan.schedule) == 14 * 5  # 14 whole buffers of 50, 5 epochs each
    resolved = plan.resolved()
    assert resolved["rounds"] == len(plan.schedule) and resolved["model"] == "64-32-10"


def test_unknown_board():
    assert "unknown board 'pdp11'" in bad(boards=("sim", "pdp11"))


def test_malformed_model():
    assert "malformed model spec '64-x-10'" in bad(model="64-x-10")


def test_devices_not_multiple_of_layers():
    assert "multiple of the number of layers (2)" in bad(mode="single", devices=3)


def test_batch_larger_than_buffer():
    assert "--batch 60 is larger than --buffer-len 50" in bad(batch=60)


def test_buffers_and_rounds_together():
    assert "not both" in bad(buffers=1, rounds=1)


def test_bad_mode():
    assert "--mode must be full or single" in bad(mode="half")


@pytest.mark.parametrize("field, value", [("devices", 0), ("lr_inv", 0), ("epochs", 0), ("seed", -1), ("seed", 2**32)])
def test_out_of_range_numbers(field, value):
    assert "must be between" in bad(**{field: value})


def test_model_inputs_do_not_match_data():
    assert "takes 784 inputs but data set digits has 64" in bad(model="784-32-10")


def test_model_outputs_do_not_match_classes():
    assert "has 12 outputs but data set digits has 10 classes" in bad(model="64-32-12")


def test_unreadable_data(tmp_path):
    assert "not a readable directory" in bad(dataset=f"idx:{tmp_path / 'missing'}")


def test_shard_smaller_than_a_buffer():
    assert "less than one buffer of 50" in bad(devices=40)


def test_too_many_buffers():
    assert "--buffers 99" in bad(buffers=99)


def test_model_too_big_for_board_ram(monkeypatch):
    board = FakeBoard("tiny", arena=16 * 1024)
    patch_boards(monkeypatch, {"tiny": board})
    need = tifed_models.arena_bytes((784, 200, 10), 50, 25)
    message = bad(boards=("tiny",), model="784-200-10", dataset="mnist5k")
    assert f"needs {need} bytes of RAM arena; board tiny has 16384" in message
    assert board.started == []


def test_16_bit_weights_fit_where_32_bit_do_not(monkeypatch):
    """784-64-10 with buffer 50: 257,044 bytes with int32 weights, 158,400
    with int16; a 192 KB board (qemu-netduinoplus2's arena) takes only the
    latter, and the plan and results.json say which width and need."""
    board = FakeBoard("f405", arena=188_792)
    patch_boards(monkeypatch, {"f405": board})
    message = bad(boards=("f405",), model="784-64-10", dataset="mnist5k")
    assert "--weights int32 needs 257044 bytes of RAM arena; board f405 has 188792" in message
    plan = prepare(GOOD.replace(boards=("f405",), model="784-64-10", dataset="mnist5k", weights="int16"))
    assert plan.training.weight_bits == 16 and plan.arena_need == 158_400
    resolved = plan.resolved()
    assert (resolved["weights"], resolved["weight_bits"], resolved["arena_bytes_needed"]) == ("int16", 16, 158_400)


def test_board_that_cannot_run_here(monkeypatch):
    board = FakeBoard("norun", runnable=False)
    patch_boards(monkeypatch, {"norun": board})
    assert "board norun cannot run here: fake-tool missing (install: apt-get install fake)" in bad(boards=("norun",))
    assert board.started == []


def test_one_serial_port_cannot_serve_two_devices():
    assert "would serve 2 devices" in bad(boards=("socket://127.0.0.1:9",), devices=2)


def test_boards_are_dealt_in_turn(monkeypatch):
    a, b = FakeBoard("a"), FakeBoard("b")
    patch_boards(monkeypatch, {"a": a, "b": b})
    plan = prepare(GOOD.replace(boards=("a", "b"), devices=4))
    assert [x.name for x in plan.boards] == ["a", "b", "a", "b"]
    assert a.started == [] and b.started == []  # prepare starts nothing


def test_training_defaults_are_the_paper_s_and_the_cli_s():
    from tifed.cli import build_parser

    assert {name: default_of(name) for name in ("buffer_len", "batch", "epochs", "lr_inv", "seed", "weights")} == {
        "buffer_len": 50, "batch": 25, "epochs": 5, "lr_inv": 2048, "seed": 0, "weights": "int32"}
    args = build_parser().parse_args(["run", "--board", "sim", "--devices", "2", "--mode", "full",
                                      "--dataset", "digits", "--model", "64-32-10", "--out", "x"])
    assert TrainingConfig(**{n: getattr(args, n) for n in field_names()}) == GOOD.training


def test_training_config_json_round_trip_and_strictness():
    t = GOOD.replace(mode="single", lr_inv=4096, seed=7, rounds=3).training
    assert TrainingConfig.from_json(json.loads(json.dumps(t.to_json()))) == t
    with pytest.raises(ConfigError, match="names colour, which this harness does not know"):
        TrainingConfig.from_json({**t.to_json(), "colour": "red"})
    with pytest.raises(ConfigError, match="incomplete"):
        TrainingConfig.from_json({"mode": "full"})


def test_run_config_parts_by_flat_names():
    c = GOOD.replace(quorum=1, baud=9600, lr_inv=512)
    assert (c.recovery.quorum, c.link.baud, c.training.lr_inv) == (1, 9600, 512)
    assert RunConfig.of(**c.flat()) == c  # a checkpoint's options come back whole
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        GOOD.replace(colour="red")


def test_weight_width_is_checked():
    assert "--weights must be int32 or int16, got 'int8'" in bad(weights="int8")


def test_pool_shrinks_the_inputs_and_is_checked():
    plan = prepare(GOOD.replace(model="16-32-10", pool=2))  # digits: 8x8 -> 4x4
    assert plan.data.inputs == 16 and plan.dims[0] == 16
    assert "takes 64 inputs but data set digits with --pool 2 has 16" in bad(pool=2)
    assert "--pool 3 needs square images whose side 3 divides" in bad(model="16-32-10", pool=3)
    assert "--pool must be between 1 and 8, got 9" in bad(pool=9)
