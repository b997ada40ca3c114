"""A link that heals itself on QEMU boards, with default options: two QEMU
boards (Cortex-M4 mps2-an386 and STM32F405 netduinoplus2) behind a line
that corrupts 1 % of the bytes both ways, and the same two boards
power-cycled mid-run (QEMU killed and started again on the same port).
Both runs end with every round complete, nothing dropped, and the weights
of the reference (board sim) bit for bit."""
from __future__ import annotations

import json

import pytest

from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.server.federation import Federation

pytestmark = pytest.mark.emulated

BOARDS = ("qemu-mps2-an386", "qemu-netduinoplus2")
BASE = RunConfig.of(boards=BOARDS, devices=2, mode="full", dataset="digits", model="64-16-10", out="", rounds=3)


def run(tmp_path, name, **changes):
    fed = Federation(prepare(BASE.replace(out=str(tmp_path / name), **changes)))
    fed.run()
    return fed, json.loads((tmp_path / name / "results.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    fed, _ = run(tmp_path_factory.mktemp("sim"), "sim", boards=("sim",))
    return fed.global_model


def assert_healed(fed, doc, reference):
    final = doc["final"]
    assert final["complete"] is True and final["rounds"] == 3, final.get("error")
    assert final["dropped_devices"] == [] and final["bitexact_all"] is True
    assert [r["devices_used"] for r in doc["rounds"]] == [[0, 1]] * 3
    assert fed.global_model.equal(reference)


def test_two_qemu_boards_on_a_one_percent_line(tmp_path, images, reference):
    fed, doc = run(tmp_path, "noisy", faults="corrupt=0.01,seed=5")
    assert_healed(fed, doc, reference)
    for device in doc["devices"]:
        assert device["faults_injected"]["tx"]["bytes_corrupted"] > 0
        assert device["faults_injected"]["rx"]["bytes_corrupted"] > 0
        assert device["link"]["frame_payload"]["current"] < 1024


def test_two_qemu_boards_power_cycled_mid_run(tmp_path, images, reference):
    fed, doc = run(tmp_path, "reset", faults="reset=28,seed=5")  # ~10 requests a round in protocol 2
    assert_healed(fed, doc, reference)
    events = [e for r in doc["rounds"] for e in r["events"]]
    assert {e["device"] for e in events} == {0, 1} and {e["event"] for e in events} == {"reset"}
    assert all(e["action"] == "re-provisioned, round re-run" for e in events)
