"""The issue's acceptance numbers (slow: full default schedules).

- digits, 64-32-10, 4 devices on sim: test accuracy >= 0.88 (full), >= 0.85 (single)
- mnist5k, 784-200-10, 4 devices, full, paper defaults, on sim: >= 0.80
- 4 host firmware processes: the same accuracies as sim, bit-exact, both modes
"""
from __future__ import annotations

import json

import pytest

from tifed.cli import main

pytestmark = pytest.mark.slow


def run(out, board, mode, dataset="digits", model="64-32-10", devices=4):
    code = main(["run", "--board", board, "--devices", str(devices), "--mode", mode, "--dataset", dataset,
                 "--model", model, "--out", str(out)])
    doc = json.loads((out / "results.json").read_text())
    assert code == 0 and doc["final"]["complete"] is True
    return doc


@pytest.mark.parametrize("mode, floor", [("full", 0.88), ("single", 0.85)])
def test_digits_on_sim(tmp_path, mode, floor):
    doc = run(tmp_path / mode, "sim", mode)
    assert doc["final"]["rounds"] == 35  # 7 whole buffers of 50 in each shard of 359, 5 rounds each
    assert doc["final"]["test_accuracy"] >= floor


def test_mnist5k_on_sim(tmp_path):
    doc = run(tmp_path / "mnist", "sim", "full", dataset="mnist5k", model="784-200-10")
    assert doc["final"]["rounds"] == 100
    assert doc["final"]["test_accuracy"] >= 0.80


@pytest.mark.parametrize("mode", ["full", "single"])
def test_host_matches_sim(tmp_path, host_image, mode):
    sim = run(tmp_path / "sim", "sim", mode)
    host = run(tmp_path / "host", "host", mode)
    assert host["final"]["bitexact_all"] is True
    assert [r["test_accuracy"] for r in host["rounds"]] == [r["test_accuracy"] for r in sim["rounds"]]
    assert all(r["wire_bytes"] > 0 for r in host["rounds"])
