"""Reference throughput: training samples per second of the vectorized
NumPy reference (tifed_models) against its plain-Python-loop twin
(tifed_models.naive, the arithmetic the way the original TIFeD code reads),
measured in the same process on the same data, so the speed-up is a ratio
of two numbers taken minutes apart at most.

Samples are the paper's: 784-200-10 on mnist5k, mini-batches of 25,
1/lr 2048, starting from a model already trained on 2,000 samples (weights
of realistic size). BLAS is held to one thread (machine.one_blas_thread).
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import tifed_models
from tifed.training import datasets
from tifed.bench.machine import all_blas_threads, load_average, one_blas_thread
from tifed.bench.macs import model_name
from tifed.training.config import default_of
from tifed_models import naive

DIMS = (784, 200, 10)
BATCH, LR_INV, BUFFER = default_of("batch"), default_of("lr_inv"), default_of("buffer_len")
K = 8  # the paper's devices


def _setup(dims, seed: int = 0):
    data = datasets.load("mnist5k" if dims[0] == 784 else "digits", seed)
    fb = tifed_models.feedback_matrices(dims, seed)
    x, y = data.x_train, data.y_train
    warm = min(2000, x.shape[0] // 2)
    model = tifed_models.train(tifed_models.Model.zeros(dims), fb, x[:warm], tifed_models.targets(y[:warm], dims[-1]),
                               LR_INV, BATCH, 1)
    return model, fb, x[warm:], tifed_models.targets(y[warm:], dims[-1])


def _naive_args(model, fb):
    return ([w.tolist() for w in model.weights], [b.tolist() for b in model.biases], [f.tolist() for f in fb])


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def federated_round(model, fb, xs, ts, lr_inv=LR_INV, batch=BATCH):
    """One full-mode round of the reference: every device one pass over its
    buffer from the global model, then the truncating mean."""
    return tifed_models.aggregate([tifed_models.train(model, fb, x, t, lr_inv, batch, 1) for x, t in zip(xs, ts)])


def naive_federated_round(w, b, fb, xs, ts, lr_inv=LR_INV, batch=BATCH):
    """The same round with plain loops, the mean included (trunc toward 0)."""
    trained = [naive.train(w, b, fb, x, t, lr_inv, batch, 1) for x, t in zip(xs, ts)]
    k = len(trained)

    def mean(values):
        s = sum(values)
        return -((-s) // k) if s < 0 else s // k

    new_w = [[[mean([tw[l][i][j] for tw, _ in trained]) for j in range(len(w[l][0]))] for i in range(len(w[l]))]
             for l in range(len(w))]
    new_b = [[mean([tb[l][j] for _, tb in trained]) for j in range(len(b[l]))] for l in range(len(b))]
    return new_w, new_b


def measure(quick: bool, dims=DIMS, log=print) -> dict:
    """bench.json "reference" (the contract's three keys first, then extras)."""
    model, fb, x, t = _setup(dims)
    n = 500 if quick else 1000
    repeats = 5 if quick else 15
    naive_batches = 1 if quick else 4
    load_before = load_average()
    with one_blas_thread() as threads:
        times = _timed(lambda: tifed_models.train(model, fb, x[:n], t[:n], LR_INV, BATCH, 1), repeats)
        xs = [x[i * BUFFER:(i + 1) * BUFFER] for i in range(K)]
        ts = [t[i * BUFFER:(i + 1) * BUFFER] for i in range(K)]
        round_times = _timed(lambda: federated_round(model, fb, xs, ts), 3 if quick else 7)
        log(f"  reference {model_name(dims)}: {n / statistics.median(times):,.0f} samples/s (1 BLAS thread)")
        w, b, nfb = _naive_args(model, fb)
        m = naive_batches * BATCH
        xl, tl = x[:m].tolist(), t[:m].tolist()
        t0 = time.perf_counter()
        nw, nb = naive.train(w, b, nfb, xl, tl, LR_INV, BATCH, 1)
        naive_seconds = time.perf_counter() - t0
        log(f"  naive loops {model_name(dims)}: {m / naive_seconds:,.1f} samples/s")
        naive_round = None
        if not quick:
            t0 = time.perf_counter()
            naive_federated_round(w, b, nfb, [v.tolist() for v in xs], [v.tolist() for v in ts])
            naive_round = time.perf_counter() - t0
    vec = tifed_models.train(model, fb, x[:m], t[:m], LR_INV, BATCH, 1)
    matches = all(np.array_equal(np.asarray(a), v) for a, v in zip(nw + nb, vec.weights + vec.biases))
    with all_blas_threads():
        with_all_threads = _timed(lambda: tifed_models.train(model, fb, x[:n], t[:n], LR_INV, BATCH, 1), 3)
    sps = n / statistics.median(times)
    naive_sps = m / naive_seconds
    return {
        "model": model_name(dims),
        "samples_per_second": round(sps, 1),
        "naive_samples_per_second": round(naive_sps, 2),
        "speedup": round(sps / naive_sps, 1),
        "samples_per_second_best": round(n / min(times), 1),
        "samples_per_second_all_threads": round(n / statistics.median(with_all_threads), 1),
        "blas_threads": threads,
        "timed_samples": n,
        "repeats": repeats,
        "naive_timed_samples": m,
        "naive_matches_reference": matches,
        "batch": BATCH,
        "lr_inv": LR_INV,
        "federated_round": {"devices": K, "buffer": BUFFER, "seconds": round(statistics.median(round_times), 4),
                            "naive_seconds": None if naive_round is None else round(naive_round, 2)},
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
