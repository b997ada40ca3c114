"""TIFeD over Flower without Flower's processes: the int32 codec through
Flower's own serialisation, the run config, the roster, and the ServerApp's
loop against the real ClientApp and BoardHosts through an in-process grid
(flower_fakes.py): the same final model as `tifed run`, and nodes that
vanish, fall silent, run late or train on other data. suites/unit/
test_flower_cluster.py runs the real SuperLink and SuperNodes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib

import numpy as np
import pytest

pytest.importorskip("flwr", reason="Flower is not installed (pip install 'tifed-hil[flower]')")

from flwr.app import Array, ArrayRecord, Message, RecordDict  # noqa: E402

import tifed_models  # noqa: E402
from tifed.config import RunConfig  # noqa: E402
from tifed.plan import prepare
from tifed.errors import ConfigError, ProtocolError  # noqa: E402
from tifed.flower import APP_DIR, client_app, tensors, wire  # noqa: E402
from tifed.flower.board_host import BoardHost, NodeSpec  # noqa: E402
from tifed.flower.options import (RUN_CONFIG_DEFAULTS, FederationOptions, from_run_config,  # noqa: E402
                                  server_plan, to_run_config, toml_text)
from tifed.flower.processes import last_words, split_address  # noqa: E402
from tifed.flower.roster import NodeInfo, Roster  # noqa: E402
from tifed.flower.server_app import FlowerFederation  # noqa: E402
from tifed.server.federation import Federation  # noqa: E402

from flower_fakes import FakeGrid, over_the_wire  # noqa: E402

BASE = RunConfig.of(boards=("sim",), devices=4, mode="full", dataset="digits", model="64-32-10", out="", rounds=3)


# --- tensors --------------------------------------------------------------------


def test_int32_tensors_cross_flower_unchanged():
    rng = np.random.default_rng(1)
    model = tifed_models.Model.zeros((64, 32, 10))
    for l in range(2):
        model.weights[l][...] = rng.integers(-2**31, 2**31, model.weights[l].shape, dtype=np.int64).astype(np.int32)
        model.biases[l][...] = rng.integers(-2**31, 2**31, model.biases[l].shape, dtype=np.int64).astype(np.int32)
    model.weights[0][0, :2] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max]
    sent = Message(RecordDict({wire.MODEL: tensors.model_record(model)}), dst_node_id=1, message_type=wire.TRAIN)
    record = over_the_wire(sent).content.array_records[wire.MODEL]
    for array in record.values():
        assert (array.dtype, array.stype) == ("int32", tensors.STYPE)
    back = tensors.read_model(record, (64, 32, 10), "test")
    assert back.equal(model)
    assert all(w.dtype == np.int32 for w in back.weights + back.biases)


def test_only_int32_travels_and_is_checked_on_arrival():
    with pytest.raises(TypeError, match="only int32"):
        tensors.encode(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="only int32"):
        tensors.encode(np.zeros((2, 2), dtype=np.int64))
    good = tensors.encode(np.arange(6, dtype=np.int32).reshape(2, 3))
    as_float = Array(dtype="float32", shape=(2, 3), stype=tensors.STYPE, data=good.data)
    with pytest.raises(ProtocolError, match="expected an int32"):
        tensors.decode(as_float, (2, 3), "w0")
    with pytest.raises(ProtocolError, match="shape"):
        tensors.decode(good, (3, 2), "w0")
    short = Array(dtype="int32", shape=(2, 3), stype=tensors.STYPE, data=good.data[:-4])
    with pytest.raises(ProtocolError, match="expected 24 bytes, got 20"):
        tensors.decode(short, (2, 3), "w0")
    one_layer = tensors.model_record(tifed_models.Model.zeros((2, 3, 4)), [1])
    with pytest.raises(ProtocolError, match="expected the tensors w0,b0,w1,b1, got w1,b1"):
        tensors.read_model(one_layer, (2, 3, 4), "model")  # a device's layer is not a whole model
    other_model = tensors.model_record(tifed_models.Model.zeros((2, 4, 4)))
    with pytest.raises(ProtocolError, match=r"expected shape \(25,\), got \(32,\)"):
        tensors.read_model(other_model, (2, 3, 4), "model")  # same layers, other sizes
    per_tensor = ArrayRecord({"w0": good, "b0": tensors.encode(np.zeros(3, np.int32))})
    with pytest.raises(ProtocolError, match="got w0; b0"):
        tensors.read_model(per_tensor, (2, 3), "model")


def test_a_record_travels_as_one_array_in_the_key_s_order():
    """One Flower object per record, not two per tensor (docs/FLOWER.md,
    "Speed"); the key says which tensors, in which order."""
    model = tifed_models.Model.zeros((3, 2, 2))
    model.weights[0][...] = np.arange(6).reshape(3, 2)
    model.biases[0][...] = [6, 7]
    model.weights[1][...] = np.arange(8, 12).reshape(2, 2)
    model.biases[1][...] = [12, 13]
    record = tensors.model_record(model)
    assert list(record.keys()) == ["w0,b0,w1,b1"]
    assert np.frombuffer(record["w0,b0,w1,b1"].data, "<i4").tolist() == list(range(14))
    other = model.copy()
    other.weights[1][...] += 100
    updates = tensors.devices_record({5: (other, [1]), 2: (model, [0, 1])})  # a node's devices, any order
    assert list(updates.keys()) == ["2.w0,2.b0,2.w1,2.b1,5.w1,5.b1"]
    assert tensors.payload_bytes(updates) == (14 + 6) * 4
    zero = tifed_models.Model.zeros((3, 2, 2))
    back = tensors.read_devices(updates, (3, 2, 2), {2: [0, 1], 5: [1]}, zero, "node")
    assert back[2].equal(model)
    assert np.array_equal(back[5].weights[1], other.weights[1]) and not back[5].weights[0].any()  # layer 0: `into`'s
    with pytest.raises(ProtocolError, match="expected the tensors 2.w0,2.b0,2.w1,2.b1,5.w0"):
        tensors.read_devices(updates, (3, 2, 2), {2: [0, 1], 5: [0]}, zero, "node")  # device 5 trained layer 1


# --- options and roster ---------------------------------------------------------


def test_run_config_defaults_are_the_app_s():
    app = tomllib.loads((APP_DIR / "pyproject.toml").read_text())
    assert app["tool"]["flwr"]["app"]["config"] == RUN_CONFIG_DEFAULTS
    assert app["tool"]["flwr"]["app"]["components"] == {"serverapp": "tifed.flower.server_app:app",
                                                       "clientapp": "tifed.flower.client_app:app"}


def test_run_config_round_trip_through_toml():
    config = BASE.replace(out="/abs/out", mode="single", rounds=None, buffers=2, lr_inv=4096, seed=3,
                                 validate=False, quorum=3, round_timeout=12.5, stop_on_divergence=True)
    fed = FederationOptions(node_timeout=40.0, join_timeout=20.0)
    back, back_fed = from_run_config(tomllib.loads(toml_text(to_run_config(config, fed))))
    assert back == config and back_fed == fed


@pytest.mark.parametrize("values, message", [
    ({"devices": 4, "out": "/x", "rounds": 3, "colour": "red"}, "unknown run config keys: colour"),
    ({"out": "/x"}, "devices must be set"),
    ({"devices": 4}, "out must name"),
    ({"devices": 4, "out": "/x", "dataset": "digits"}, "mode, model must be set"),
    ({"devices": 4, "out": "/x", "batch": "25"}, "batch must be int"),
    ({"devices": True, "out": "/x"}, "devices must be int"),
])
def test_bad_run_config_is_one_clear_error(values, message):
    with pytest.raises(ConfigError, match=message):
        from_run_config(values)


def test_server_checks_as_tifed_run_does(tmp_path):
    config = BASE.replace(devices=5, mode="single", out=str(tmp_path))
    with pytest.raises(ConfigError, match="multiple of the number of layers"):
        server_plan(config, FederationOptions())
    with pytest.raises(ConfigError, match="--node-timeout"):
        server_plan(BASE.replace(out=str(tmp_path)), FederationOptions(node_timeout=0))


def _info(node, offset, n):
    return NodeInfo(node, offset, ("host",) * n, ("host",) * n, "h")


def test_roster_needs_every_device_once():
    roster = Roster(6)
    roster.add(_info(1, 0, 2))
    roster.add(_info(3, 4, 2))
    assert not roster.complete and roster.missing_text() == "2-3"
    with pytest.raises(ConfigError, match=r"both claim device\(s\) 1"):
        roster.add(_info(2, 1, 2))
    with pytest.raises(ConfigError, match="reaches past the run's 6 devices"):
        roster.add(_info(2, 5, 2))
    roster.add(_info(2, 2, 2))
    assert roster.complete and roster.node_of(3).node_id == 2 and roster.board_of(5) == "host"


def test_addresses_and_flower_s_last_words():
    assert split_address("127.0.0.1:9093", "--x") == ("127.0.0.1", 9093)
    assert split_address("[::1]:9093", "--x") == ("::1", 9093)
    for bad in ("9093", "host:", "host:99999", ":9093"):
        with pytest.raises(ConfigError, match="--x must be HOST:PORT"):
            split_address(bad, "--x")
    said = ["\x1b[92mINFO \x1b[0m:      Starting Flower SuperNode", "\x1b[91mERROR \x1b[0m:     Exit Code: 302",
            "Unable to parse the private key file.", "For more information, visit: <https://flower.ai>",
            "INFO:     Shutting down"]
    assert last_words(said) == "ERROR :     Exit Code: 302 Unable to parse the private key file."
    assert last_words(["a", "b "]) == "b" and last_words([]) == ""


# --- the ServerApp loop over an in-process grid ------------------------------------


def _nodes(board: str, per_node: int, nodes: int) -> dict[int, BoardHost]:
    return {100 + n: BoardHost(NodeSpec(boards=(board,), devices=per_node, offset=n * per_node))
            for n in range(nodes)}


def _flower_run(tmp_path, name, grid: FakeGrid, fed: FederationOptions | None = None, **changes):
    config = BASE.replace(out=str(tmp_path / name), **changes)
    fed = fed or FederationOptions(node_timeout=30.0, join_timeout=5.0)
    try:
        run = FlowerFederation(server_plan(config, fed), fed, grid, stream=sys.stderr)
        run.run()
    finally:
        grid.close()
    return run, json.loads((tmp_path / name / "results.json").read_text())


@pytest.mark.parametrize("mode, weights", [("full", "int32"), ("single", "int32"), ("full", "int16")])
def test_same_model_as_tifed_run_on_host_boards(tmp_path, host_image, mode, weights):
    run, doc = _flower_run(tmp_path, "flower", FakeGrid(_nodes("host", 2, 2)), mode=mode, weights=weights)
    local = Federation(prepare(BASE.replace(boards=("host",), mode=mode, weights=weights,
                                            out=str(tmp_path / "run"))))
    local.run()
    assert run.strategy.global_model.equal(local.global_model)
    ref = json.loads((tmp_path / "run" / "results.json").read_text())
    assert doc["final"]["bitexact_all"] is True and doc["final"]["complete"] is True
    for key in ("test_accuracy", "bitexact", "wire_bytes", "devices_used"):
        assert [r[key] for r in doc["rounds"]] == [r[key] for r in ref["rounds"]], key
    assert [d["layer"] for d in doc["devices"]] == [d["layer"] for d in ref["devices"]]
    assert [d["node"] for d in doc["devices"]] == [100, 100, 101, 101]
    assert doc["config"]["device_boards"] == ["host"] * 4 and doc["config"]["weights"] == weights
    assert all(d["firmware"]["flash_bytes"] > 0 for d in doc["devices"])
    assert all(r["network_bytes"] > 0 for r in doc["rounds"])


def test_vanished_node_is_dropped_and_the_run_goes_on(tmp_path):
    grid = FakeGrid(_nodes("sim", 2, 2))
    _vanish_in_round(grid, 101, 2)
    run, doc = _flower_run(tmp_path, "drop", grid, quorum=2)
    final = doc["final"]
    assert final["complete"] is True and final["error"] is None and final["quorum"] == 2
    assert [(d["device"], d["round"]) for d in final["dropped_devices"]] == [(2, 2), (3, 2)]
    assert "Node Unavailable" in final["dropped_devices"][0]["reason"]
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1, 2, 3], [0, 1], [0, 1]]
    assert doc["devices"][2]["dropped"] == {"round": 2, "reason": final["dropped_devices"][0]["reason"]}
    assert "dropped" not in doc["devices"][0]
    # the aggregate of rounds 2 and 3 is over the devices that answered only
    assert run.strategy.global_model.equal(_sim_model(tmp_path, drop_from_round_2=[2, 3]))


def _sim_model(tmp_path, drop_from_round_2):
    """The reference's model when some devices leave after round 1."""
    plan = prepare(BASE.replace(out=str(tmp_path / "ref")))
    c, g = plan.training, tifed_models.Model.zeros(plan.dims)
    fb = tifed_models.feedback_matrices(plan.dims, c.seed)
    for rnd in plan.schedule:
        devices = [d for d in range(c.devices) if rnd.number == 1 or d not in drop_from_round_2]
        part = rnd.samples(c.buffer_len)
        models = [tifed_models.train(g, fb, plan.shards[d][0][part], tifed_models.targets(plan.shards[d][1][part], 10),
                                     c.lr_inv, c.batch, 1, -1) for d in devices]
        g = tifed_models.aggregate(models)
    return g


def _vanish_in_round(grid: FakeGrid, node: int, round_number: int, how: str = "vanished") -> None:
    """From round `round_number` on, `node` is gone (Flower's error reply) or silent."""
    deliver = grid._deliver

    def deliver_then_vanish(message):
        if message.metadata.message_type == "train" and message.metadata.group_id == str(round_number):
            getattr(grid, how).add(node)
        deliver(message)

    grid._deliver = deliver_then_vanish


def test_losing_the_quorum_is_one_line_in_results(tmp_path, host_image):
    grid = FakeGrid(_nodes("host", 1, 2))
    _vanish_in_round(grid, 101, 2)
    run, doc = _flower_run(tmp_path, "lost", grid, devices=2)
    final = doc["final"]
    assert final["complete"] is False and "below the quorum of 2" in final["error"]
    assert "\n" not in final["error"] and "Traceback" not in final["error"]
    assert len(doc["rounds"]) == 1 and final["dropped_devices"][0]["device"] == 1
    assert not grid.hosts[100].workers  # the node that stayed was told to stop its device


def test_device_that_dies_on_its_node_is_dropped_alone(tmp_path, host_image):
    grid = FakeGrid(_nodes("host", 2, 2))
    deliver = grid._deliver

    def kill_device_3_before_round_two(message):
        if message.metadata.message_type == "train" and message.metadata.group_id == "2" \
                and message.metadata.dst_node_id == 101:
            device = grid.hosts[101].workers[3].running
            os.kill(device.pid, signal.SIGKILL)
            device.wait_gone(10)
        deliver(message)

    grid._deliver = kill_device_3_before_round_two
    run, doc = _flower_run(tmp_path, "dies", grid, quorum=3)
    final = doc["final"]
    assert final["complete"] is True and [d["device"] for d in final["dropped_devices"]] == [3]
    assert final["dropped_devices"][0]["reason"].startswith("device 3 (host): device gone")
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1, 2, 3], [0, 1, 2], [0, 1, 2]]
    assert final["bitexact_all"] is True


def test_late_node_is_left_out_then_taken_back(tmp_path):
    grid = FakeGrid(_nodes("sim", 2, 2))
    original = grid._deliver

    def slow_in_round_two(message):
        if (message.metadata.dst_node_id == 101 and message.metadata.message_type == "train"
                and message.metadata.group_id == "2" and not late):
            late.append(message)
            grid.held.append((1, message))  # answers once the next message is pushed
            return
        original(message)

    late: list[Message] = []

    grid._deliver = slow_in_round_two
    run, doc = _flower_run(tmp_path, "late", grid, quorum=2, round_timeout=0.5, rounds=4)
    rounds = doc["rounds"]
    assert [r["devices_used"] for r in rounds] == [[0, 1, 2, 3], [0, 1], [0, 1], [0, 1, 2, 3]]
    assert {e["event"] for e in rounds[1]["events"]} == {"late"}
    assert [e["event"] for e in rounds[3]["events"]] == ["late update discarded"] * 2
    assert doc["final"]["dropped_devices"] == [] and doc["final"]["complete"] is True


def test_silent_node_is_dropped_after_node_timeout(tmp_path):
    grid = FakeGrid(_nodes("sim", 2, 2))
    _vanish_in_round(grid, 101, 2, how="silent")
    fed = FederationOptions(node_timeout=0.5, join_timeout=5.0)
    run, doc = _flower_run(tmp_path, "silent", grid, fed=fed, quorum=2)
    dropped = doc["final"]["dropped_devices"]
    assert [(d["device"], d["round"]) for d in dropped] == [(2, 2), (3, 2)]
    assert dropped[0]["reason"].endswith("no answer within 0.5 s")


def test_node_with_other_data_is_caught(tmp_path, monkeypatch):
    hosts = _nodes("sim", 2, 2)
    grid = FakeGrid(hosts)
    original = BoardHost._start

    def wrong_shard(self, run_id, training):
        original(self, run_id, training)
        if self.offset == 2:
            self._shards[3] = self._shards[2]  # device 3 trains on device 2's data

    monkeypatch.setattr(BoardHost, "_start", wrong_shard)
    run, doc = _flower_run(tmp_path, "data", grid, quorum=3)
    assert doc["final"]["bitexact_all"] is False
    assert all(r["mismatched_devices"] == [3] and r["devices_used"] == [0, 1, 2] for r in doc["rounds"])
    assert "another buffer" in doc["rounds"][0]["rejected"][0]["reason"]


def test_clashing_nodes_and_missing_devices_stop_the_run_clearly(tmp_path):
    hosts = {1: BoardHost(NodeSpec(boards=("sim",), devices=2, offset=0)),
             2: BoardHost(NodeSpec(boards=("sim",), devices=2, offset=1))}
    run, doc = _flower_run(tmp_path, "clash", FakeGrid(hosts))
    assert "both claim device(s) 1" in doc["final"]["error"]
    assert not hosts[1].workers and not hosts[2].workers  # both were told to stop
    fed = FederationOptions(node_timeout=30.0, join_timeout=0.3)
    run, doc = _flower_run(tmp_path, "missing", FakeGrid(_nodes("sim", 2, 1)), fed=fed)
    assert "no node holds device(s) 2-3" in doc["final"]["error"] and doc["rounds"] == []


def test_client_app_outside_tifed_node_answers_an_error():
    client_app.attach(None)
    message = Message(RecordDict({wire.RUN: wire.json_record({"training": "{}"})}), dst_node_id=1,
                      message_type=wire.JOIN)
    message.metadata.__dict__["_message_id"] = message.object_id
    reply = client_app.app(message, None)
    with pytest.raises(ProtocolError, match="only inside `tifed node`"):
        wire.reply_text(reply)


def test_serve_rejects_bad_input_before_starting_anything(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tifed.cli", "serve", "--superlink", "127.0.0.1:9", "--insecure",
                           "--devices", "5", "--mode", "single", "--dataset", "digits", "--model", "64-32-10",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "multiple of the number of layers" in done.stderr
    done = subprocess.run([sys.executable, "-m", "tifed.cli", "node", "--superlink", "127.0.0.1:9",
                           "--board", "host"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--insecure" in done.stderr and done.stderr.count("\n") == 1
