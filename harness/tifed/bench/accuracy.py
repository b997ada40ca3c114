"""Accuracy with the paper's protocol, in `sim` (the reference is every
device): K = 8 devices, buffers of 50, mini-batches of 25, 5 rounds per
buffer, 1/lr 2048, 4096 and 8192, full-network and single-layer mode, over
several feedback seeds. The data split and the shards stay fixed (seed 0);
only the feedback matrices B_l change from seed to seed, so the spread of a
box is the algorithm's sensitivity to its random feedback.

The loop below is the server's schedule (tifed.server.federation) without
devices, files or per-round test evaluation: a unit test checks it ends
with the model `tifed run --board sim` ends with.
"""
from __future__ import annotations

import statistics

import numpy as np

import tifed_models
from tifed.training import datasets
from tifed.bench.macs import model_name
from tifed.training.schedule import plan as plan_rounds

K, BUFFER, BATCH, EPOCHS = 8, 50, 25, 5
LR_INVS = (2048, 4096, 8192)
MODES = ("full", "single")
DIVERGED = 0.2  # final accuracy below this counts as a diverged run (chance is 0.1)

# algorithm.md "Published results" (784-200-10, K = 8, median of 100 runs)
PAPER = {
    "MNIST": {("full", 2048): 0.925, ("full", 4096): 0.917, ("full", 8192): 0.905,
              ("single", 2048): 0.891, ("single", 4096): 0.898, ("single", 8192): 0.888},
    "Fashion-MNIST": {("full", 2048): 0.832, ("full", 4096): 0.825, ("full", 8192): 0.817,
                      ("single", 2048): 0.810, ("single", 4096): 0.811, ("single", 8192): 0.805},
}


def model_for(data: datasets.Dataset) -> tuple[int, ...]:
    """The paper's 784-200-10 for 28x28 images; 64-32-10 for 8x8 digits."""
    hidden = 200 if data.inputs >= 256 else 32
    return (data.inputs, hidden, data.classes)


def paper_set(name: str) -> str | None:
    """Which published table a data set compares with, if any."""
    low = name.lower()
    if "fashion" in low:
        return "Fashion-MNIST"
    if "mnist" in low:
        return "MNIST"
    return None


def federated_run(data: datasets.Dataset, dims, mode: str, lr_inv: int, feedback_seed: int, *,
                  devices: int = K, buffer_len: int = BUFFER, batch: int = BATCH, epochs: int = EPOCHS,
                  data_seed: int = 0, rounds: int | None = None) -> tifed_models.Model:
    """The global model after a whole run (or its first `rounds` rounds)."""
    shards = data.shards(devices, data_seed)
    schedule = plan_rounds(shards[0][0].shape[0], buffer_len, epochs, rounds=rounds)
    feedback = tifed_models.feedback_matrices(dims, feedback_seed)
    layers = tifed_models.layer_groups(devices, len(dims) - 1) if mode == "single" else [-1] * devices
    targets = [tifed_models.targets(y, dims[-1]) for _, y in shards]
    g = tifed_models.Model.zeros(dims)
    for rnd in schedule:
        part = rnd.samples(buffer_len)
        models = [tifed_models.train(g, feedback, x[part], t[part], lr_inv, batch, 1, layer)
                  for (x, _), t, layer in zip(shards, targets, layers)]
        g = tifed_models.aggregate(models) if mode == "full" else tifed_models.aggregate_layers(g, models, layers)
    return g


def final_accuracy(model: tifed_models.Model, data: datasets.Dataset) -> float:
    return float(np.mean(tifed_models.predict(model, data.x_test) == data.y_test))


def measure(dataset_names, seeds: int, log=print) -> list[dict]:
    """One row per (data set, mode, 1/lr): the final test accuracy of each seed."""
    rows = []
    for name in dataset_names:
        data = datasets.load(name, 0)
        dims = model_for(data)
        for mode in MODES:
            for lr_inv in LR_INVS:
                accs = [final_accuracy(federated_run(data, dims, mode, lr_inv, s), data) for s in range(seeds)]
                paper = PAPER.get(paper_set(name) or "", {}).get((mode, lr_inv))
                rows.append({
                    "dataset": name,
                    "model": model_name(dims),
                    "mode": mode,
                    "lr_inv": lr_inv,
                    "devices": K,
                    "feedback_seeds": list(range(seeds)),
                    "test_accuracies": [round(a, 4) for a in accs],
                    "median": round(statistics.median(accs), 4),
                    "min": round(min(accs), 4),
                    "max": round(max(accs), 4),
                    "diverged": sum(a < DIVERGED for a in accs),
                    "paper_median": paper,
                    "paper_set": paper_set(name),
                    "train_samples": int(data.x_train.shape[0]),
                    "test_samples": int(data.x_test.shape[0]),
                })
                log(f"  accuracy {name} {mode} 1/lr {lr_inv}: median {rows[-1]['median']:.3f} over {seeds} seeds")
    return rows
