"""The divergence guard: a run that collapses to chance level (saturated
hidden layers, chance accuracy, three rounds in a row) is reported with the
round it happened in, on the console and in results.json, and
--stop-on-divergence ends it there; a young or a healthy run is not."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import tifed_models
from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.server.federation import Federation
from tifed.rounds.divergence import PATIENCE, DivergenceGuard, chance_level, evaluate

RUN = ["run", "--board", "sim", "--devices", "2", "--mode", "full", "--dataset", "digits", "--model", "64-32-10"]


def tifed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tifed.cli", *args], capture_output=True, text=True, timeout=300)


def test_guard_needs_chance_accuracy_and_saturation_three_rounds_running():
    guard = DivergenceGuard(chance=0.1)
    # Round 1-2: a young model at chance, activations small; 3: learning.
    assert guard.observe(1, 0.10, 0.05) is None and guard.observe(2, 0.10, 0.3) is None
    assert guard.observe(3, 0.60, 0.3) is None
    # 4-5 collapsed, 6 a fluke above chance, then 7-9 collapsed for good.
    assert guard.observe(4, 0.11, 0.95) is None and guard.observe(5, 0.10, 0.99) is None
    assert guard.observe(6, 0.30, 0.99) is None
    assert [guard.observe(r, 0.09, 1.0) for r in (7, 8)] == [None, None]
    found = guard.observe(9, 0.10, 1.0)
    assert found["round"] == 7 and found["detected_at_round"] == 9 and PATIENCE == 3
    assert "collapsed at round 7" in found["message"]
    assert guard.observe(10, 0.1, 1.0) is None  # reported once
    assert DivergenceGuard.from_state(guard.state()) == guard  # what a checkpoint keeps


def test_chance_is_the_most_common_class_and_evaluate_is_predict():
    assert chance_level(np.array([0, 1, 1, 2]), 3) == 0.5
    rng = np.random.default_rng(0)
    model = tifed_models.Model.zeros((5, 4, 3))
    for w in model.weights:
        w[...] = rng.integers(-5000, 5000, size=w.shape)
    x = rng.integers(-128, 128, size=(40, 5)).astype(np.int8)
    y = rng.integers(0, 3, size=40)
    accuracy, saturation = evaluate(model, x, y)
    assert accuracy == float(np.mean(tifed_models.predict(model, x) == y))
    assert 0.0 <= saturation <= 1.0
    big = model.copy()
    big.weights[0][...] = 10**7  # every hidden unit on the flat end of PLA tanh
    assert evaluate(big, x, y)[1] == 1.0


def test_collapsing_run_is_reported_and_stopped(tmp_path):
    # 1/lr = 8 diverges at once (algorithm.md: 512 and below almost always do).
    done = tifed(*RUN, "--lr-inv", "8", "--rounds", "20", "--stop-on-divergence", "--out", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "d" / "results.json").read_text())
    found = doc["final"]["divergence"]
    # Test accuracy is measured after round 1 and once per buffer (rounds 5, 10): PATIENCE evaluations in a row.
    assert found["round"] == 1 and found["detected_at_round"] == 10
    assert doc["final"]["stopped"] == "divergence" and len(doc["rounds"]) == 10
    assert doc["rounds"][9]["diverged"] is True
    assert done.stderr.splitlines() == [f"tifed: warning: {found['message']}"]
    assert f"diverged: {found['message']}" in done.stdout


def test_collapse_without_stop_runs_to_the_end_and_a_healthy_run_is_not_flagged(tmp_path):
    def run(name, **changes):
        told: list[str] = []
        config = RunConfig.of(boards=("sim",), devices=2, mode="full", dataset="digits", model="64-32-10",
                              out=str(tmp_path / name), eval_every="round", **changes)
        final = Federation(prepare(config), on_event=told.append).run()
        return final, told

    final, told = run("collapsed", lr_inv=8, rounds=6)
    assert final["rounds"] == 6 and final["stopped"] is None and final["divergence"]["round"] == 1
    assert told == [final["divergence"]["message"]]
    final, told = run("healthy", rounds=15)
    assert final["divergence"] is None and told == [] and final["test_accuracy"] > 0.5
