"""The reference (tifed_models) against its plain-loop twin (tifed_models.naive):
one training step (one mini-batch of the paper's 784-200-10) and one
federated round (8 devices x 50 samples, then the truncating mean; on the
64-32-10 digits model so the loop version stays in seconds)."""
from __future__ import annotations

import numpy as np
import pytest

import tifed_models
from tifed.training import datasets
from tifed.bench.reference import federated_round, naive_federated_round
from tifed_models import naive

LR_INV, BATCH = 2048, 25
STEP = "train step 784-200-10 (batch 25)"
ROUND = "federated round 64-32-10 (8 x 50 samples)"


def _warm_model(dims, x, y, fb):
    """A model trained on a few hundred samples: weights of realistic size."""
    return tifed_models.train(tifed_models.Model.zeros(dims), fb, x, tifed_models.targets(y, dims[-1]), LR_INV, BATCH, 1)


@pytest.fixture(scope="module")
def step_case():
    dims = (784, 200, 10)
    data = datasets.load("mnist5k", 0)
    fb = tifed_models.feedback_matrices(dims, 0)
    model = _warm_model(dims, data.x_train[:500], data.y_train[:500], fb)
    x = data.x_train[500:500 + BATCH].astype(np.int64)
    t = tifed_models.targets(data.y_train[500:500 + BATCH], 10)
    return model, fb, x, t


@pytest.fixture(scope="module")
def round_case():
    dims = (64, 32, 10)
    data = datasets.load("digits", 0)
    fb = tifed_models.feedback_matrices(dims, 0)
    model = _warm_model(dims, data.x_train[:400], data.y_train[:400], fb)
    xs = [data.x_train[400 + 50 * k: 450 + 50 * k].astype(np.int64) for k in range(8)]
    ts = [tifed_models.targets(data.y_train[400 + 50 * k: 450 + 50 * k], 10) for k in range(8)]
    return model, fb, xs, ts


def _as_lists(model, fb):
    return [w.tolist() for w in model.weights], [b.tolist() for b in model.biases], [f.tolist() for f in fb]


def _equal(model, w, b) -> bool:
    return all(np.array_equal(np.asarray(a), m) for a, m in zip(w + b, model.weights + model.biases))


@pytest.mark.benchmark(group=STEP)
def test_train_step_vectorized(benchmark, record, step_case):
    model, fb, x, t = step_case
    out = benchmark(tifed_models.train, model, fb, x, t, LR_INV, BATCH, 1)
    record(benchmark, STEP, "vectorized")
    assert not out.equal(model)  # the step changed the weights


@pytest.mark.benchmark(group=STEP)
def test_train_step_plain_loops(benchmark, record, step_case):
    model, fb, x, t = step_case
    w, b, lfb = _as_lists(model, fb)
    nw, nb = benchmark.pedantic(naive.train, args=(w, b, lfb, x.tolist(), t.tolist(), LR_INV, BATCH, 1), rounds=3)
    record(benchmark, STEP, "plain loops")
    assert _equal(tifed_models.train(model, fb, x, t, LR_INV, BATCH, 1), nw, nb)


@pytest.mark.benchmark(group=ROUND)
def test_federated_round_vectorized(benchmark, record, round_case):
    model, fb, xs, ts = round_case
    out = benchmark(federated_round, model, fb, xs, ts)
    record(benchmark, ROUND, "vectorized")
    assert not out.equal(model)


@pytest.mark.benchmark(group=ROUND)
def test_federated_round_plain_loops(benchmark, record, round_case):
    model, fb, xs, ts = round_case
    w, b, lfb = _as_lists(model, fb)
    args = (w, b, lfb, [x.tolist() for x in xs], [t.tolist() for t in ts])
    nw, nb = benchmark.pedantic(naive_federated_round, args=args, rounds=3)
    record(benchmark, ROUND, "plain loops")
    assert _equal(federated_round(model, fb, xs, ts), nw, nb)
