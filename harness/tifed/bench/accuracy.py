"""Accuracy with the paper's protocol, in `sim` (the reference is every
device): K = 8 devices, buffers of 50, mini-batches of 25, 5 rounds per
buffer, every whole buffer of each shard, 1/lr 2048, 4096 and 8192,
full-network and single-layer mode, over several seeds.

A seed means what `tifed run --seed S` means: it draws the feedback matrices
B_l and shuffles the training set and deals it into the K shards (so it sets
the order in which every device sees its samples); for the data sets that
ship as one set (digits, mnist5k) it also draws the 80/20 train/test split.
Fashion-MNIST and other IDX sets keep their files' test set. Run s of a box
is therefore `tifed run --board sim --seed s` with the same options, which a
unit test checks; the box's spread is the algorithm's sensitivity to its
random feedback and to the data order, as over the paper's 100 runs.

A protocol may be shortened to the first N buffers of each shard (the quick
bench, which must fit CI): such a row says so (`buffers` < `buffers_total`)
and is not set against the paper's median.
"""
from __future__ import annotations

import statistics
import time


import tifed_models
from tifed.bench.macs import model_name
from tifed.rounds.divergence import at_chance, chance_level, evaluate
from tifed.training import datasets
from tifed.training.schedule import plan as plan_rounds, whole_buffers

K, BUFFER, BATCH, EPOCHS = 8, 50, 25, 5
LR_INVS = (2048, 4096, 8192)
MODES = ("full", "single")

# algorithm.md "Published results" (784-200-10, K = 8, median of 100 runs)
PAPER = {
    "MNIST": {("full", 2048): 0.925, ("full", 4096): 0.917, ("full", 8192): 0.905,
              ("single", 2048): 0.891, ("single", 4096): 0.898, ("single", 8192): 0.888},
    "Fashion-MNIST": {("full", 2048): 0.832, ("full", 4096): 0.825, ("full", 8192): 0.817,
                      ("single", 2048): 0.810, ("single", 4096): 0.811, ("single", 8192): 0.805},
}
PAPER_RUNS = 100


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
                  data_seed: int = 0, rounds: int | None = None, buffers: int | None = None,
                  weight_bits: int = 32) -> tifed_models.Model:
    """The global model after a whole run (or its first `rounds` rounds or
    `buffers` buffers): the server's schedule with every device a sim device,
    trained together (tifed_models.fleet, as tifed.server.workers does) and
    aggregated with the reference's rule; no files, no per-round test."""
    shards = data.shards(devices, data_seed)
    schedule = plan_rounds(shards[0][0].shape[0], buffer_len, epochs, rounds=rounds, buffers=buffers)
    feedback = tifed_models.feedback_matrices(dims, feedback_seed)
    layers = tifed_models.layer_groups(devices, len(dims) - 1) if mode == "single" else [-1] * devices
    targets = [tifed_models.targets(y, dims[-1]) for _, y in shards]
    g = tifed_models.Model.zeros(dims)
    for rnd in schedule:
        part = rnd.samples(buffer_len)
        models = tifed_models.fleet.train_fleet(g, feedback, [x[part] for x, _ in shards], [t[part] for t in targets],
                                                lr_inv, batch, 1, layers, weight_bits)
        g = tifed_models.aggregate(models) if mode == "full" else tifed_models.aggregate_layers(g, models, layers)
    return g


def final_accuracy(model: tifed_models.Model, data: datasets.Dataset) -> float:
    return evaluate(model, data.x_test, data.y_test)[0]


def measure(dataset_names, seeds: int, log=print, buffers: int | None = None) -> list[dict]:
    """One row per (data set, mode, 1/lr): the final test accuracy of each
    seed 0 .. seeds-1 (module docstring); `buffers` shortens the protocol."""
    rows = []
    for name in dataset_names:
        sets = [datasets.load(name, s) for s in range(seeds)]
        data = sets[0]
        dims = model_for(data)
        total = whole_buffers(data.x_train.shape[0] // K, BUFFER)
        used = total if buffers is None else min(buffers, total)
        chance = chance_level(data.y_test, data.classes)
        for mode in MODES:
            for lr_inv in LR_INVS:
                started = time.monotonic()
                accs = [final_accuracy(federated_run(d, dims, mode, lr_inv, s, data_seed=s, buffers=used), d)
                        for s, d in enumerate(sets)]
                full_protocol = used == total
                paper = PAPER.get(paper_set(name) or "", {}).get((mode, lr_inv))
                rows.append({
                    "dataset": name,
                    "model": model_name(dims),
                    "mode": mode,
                    "lr_inv": lr_inv,
                    "devices": K,
                    "seeds": list(range(seeds)),
                    "test_accuracies": [round(a, 4) for a in accs],
                    "median": round(statistics.median(accs), 4),
                    "min": round(min(accs), 4),
                    "max": round(max(accs), 4),
                    "diverged": sum(at_chance(a, chance) for a in accs),
                    "chance": round(chance, 4),
                    "buffers": used,
                    "buffers_total": total,
                    "rounds": used * EPOCHS,
                    "paper_median": paper,
                    "paper_set": paper_set(name),
                    # the paper's setting: its network, every buffer, the 60,000 training images
                    "comparable": (paper is not None and full_protocol and dims == (784, 200, 10)
                                   and data.x_train.shape[0] == 60000),
                    "train_samples": int(data.x_train.shape[0]),
                    "test_samples": int(data.x_test.shape[0]),
                    "seconds_per_run": round((time.monotonic() - started) / seeds, 2),
                })
                r = rows[-1]
                versus = f" (paper {paper:.3f})" if r["comparable"] else ""
                log(f"  accuracy {name} {mode} 1/lr {lr_inv}: median {r['median']:.3f}{versus} over {seeds} seeds, "
                    f"{r['rounds']} rounds, {r['seconds_per_run']:.1f} s a run")
    return rows


# Small models for boards with little RAM (issue 16), full mode, 1/lr 2048,
# on a 28x28 data set: 784-64-10 with 16-bit weights, the same on 2x2-pooled
# inputs (196-64-10, --pool 2), and the largest 784-H-10 of each board and
# width of the capacity table at buffer 50.
SMALL = ((64, "int16", 1), (64, "int16", 2))
SMALL_BUFFER = 50


def small_models(capacity: list[dict]) -> list[tuple[int, str, int, list[str]]]:
    """(hidden, weights, pool, boards it is the largest model of), each once;
    the capacity rows of the big boards (H past the paper's 200) are left out."""
    found: dict[tuple[int, str, int], list[str]] = {key: [] for key in SMALL}
    for r in capacity:
        if r["buffer"] == SMALL_BUFFER and 0 < r["largest_hidden"] <= 200:
            found.setdefault((r["largest_hidden"], r["weights"], 1), []).append(r["board"])
    return [(h, w, p, boards) for (h, w, p), boards in found.items()]


def measure_small(dataset_names, seeds: int, capacity: list[dict], log=print,
                  buffers: int | None = None) -> list[dict]:
    """Rows like measure()'s (full mode, 1/lr 2048, seeds 0 .. seeds-1, the
    same protocol) for small_models() on every 28x28 data set."""
    rows = []
    for name in dataset_names:
        sets = [datasets.load(name, s) for s in range(seeds)]
        if sets[0].inputs != 784:
            continue
        total = whole_buffers(sets[0].x_train.shape[0] // K, BUFFER)
        used = total if buffers is None else min(buffers, total)
        chance = chance_level(sets[0].y_test, sets[0].classes)
        for hidden, weights, pool, boards in small_models(capacity):
            pooled = [datasets.pooled(d, pool) for d in sets]
            dims = (pooled[0].inputs, hidden, pooled[0].classes)
            bits = 16 if weights == "int16" else 32
            started = time.monotonic()
            accs = [final_accuracy(federated_run(d, dims, "full", 2048, s, data_seed=s, buffers=used,
                                                 weight_bits=bits), d) for s, d in enumerate(pooled)]
            rows.append({
                "dataset": name, "model": model_name(dims), "weights": weights, "pool": pool, "mode": "full",
                "lr_inv": 2048, "devices": K, "seeds": list(range(seeds)),
                "test_accuracies": [round(a, 4) for a in accs], "median": round(statistics.median(accs), 4),
                "min": round(min(accs), 4), "max": round(max(accs), 4),
                "diverged": sum(at_chance(a, chance) for a in accs), "chance": round(chance, 4),
                "buffers": used, "buffers_total": total, "rounds": used * EPOCHS,
                "paper_median": None, "paper_set": paper_set(name), "comparable": False, "small_model": True,
                "largest_on": boards,
                "train_samples": int(sets[0].x_train.shape[0]), "test_samples": int(sets[0].x_test.shape[0]),
                "seconds_per_run": round((time.monotonic() - started) / seeds, 2),
            })
            log(f"  accuracy {name} {rows[-1]['model']} {weights}" + (f" pool {pool}" if pool > 1 else "")
                + f": median {rows[-1]['median']:.3f} over {seeds} seeds")
    return rows
