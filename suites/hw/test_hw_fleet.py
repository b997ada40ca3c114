"""The fleet's boards compute what the reference computes, bit for bit:
generated `tifed step` cases (edge arithmetic: saturation, odd lr_inv, a
trailing partial batch), then a federated run through `tifed run --fleet`."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tifed.boards.hw import HW_BOARDS
from tifed.cli import main
from tifed.step import device_step, reference_step, validate_case

pytestmark = pytest.mark.hw
BOARD_COUNTER_CYCLES = 2  # PROTOCOL.md IDENTIFY counter_kind


def _cases_module():
    """The emulated suite's case generator (cases that fit even a 16 KB board)."""
    path = Path(__file__).resolve().parents[1] / "emulated" / "qemu_support.py"
    spec = importlib.util.spec_from_file_location("qemu_support_for_hw", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_devices_identify_as_their_boards(clients):
    for d, client in clients:
        info = client.identify()
        if d.board is not None:
            assert info.board == d.board, f"{d.label} runs {info.board}'s firmware, the fleet says {d.board}"
            assert info.counter_kind == BOARD_COUNTER_CYCLES  # DWT CYCCNT on both physical boards


def test_generated_cases_are_bitexact(clients):
    cases = _cases_module()
    for d, client in clients:
        for seed in range(12):
            case = validate_case(cases.make_case(seed), f"case {seed}")
            want_model, want_pred = reference_step(case)
            got_model, got_pred, _ = device_step(client, case)
            for l in range(len(case.dims) - 1):
                assert np.array_equal(got_model.weights[l], want_model.weights[l]), (d.label, seed, f"w{l}")
                assert np.array_equal(got_model.biases[l], want_model.biases[l]), (d.label, seed, f"b{l}")
            assert np.array_equal(got_pred, want_pred), (d.label, seed, "pred")


def test_federated_run_is_bitexact(fleet_file, tmp_path):
    out = tmp_path / "run"
    mode = "full"
    code = main(["run", "--fleet", fleet_file, "--mode", mode, "--dataset", "digits", "--model", "64-16-10",
                 "--rounds", "3", "--buffer-len", "50", "--batch", "25", "--out", str(out)])
    doc = json.loads((out / "results.json").read_text())
    assert code == 0, doc["final"].get("error")
    assert doc["final"]["bitexact_all"] is True and doc["final"]["rounds"] == 3
    for device in doc["devices"]:
        link = device["link"]
        assert link["transfer_bytes"] > 0 and link["bytes_per_second"] > 0
        if link["line_utilisation"] is not None:
            assert link["line_utilisation"] <= 1.05, link  # a UART cannot beat its line rate
    # Physical boards count TRAIN in DWT cycles: a real count, never 0.
    physical = [i for i, device in enumerate(doc["devices"]) if device["board"] in HW_BOARDS]
    for r in doc["rounds"]:
        assert all(r["device_instructions"][i] > 0 for i in physical), r
