"""The hardware benchmark: per fleet device, the link's throughput against
its line rate (a large tensor written, then read back) and TRAIN's cost in
CPU cycles per sample and per MAC (DWT CYCCNT on the physical boards).
Writes a JSON document (--hw-bench-out FILE, else hw-bench.json in the
session's temporary folder) and prints where."""
from __future__ import annotations

import json
import platform
import time

import numpy as np
import pytest

import tifed_models
from tifed.links.settings import line_bytes_per_second
from tifed.protocol.payloads import TensorKind, tensor_id

pytestmark = pytest.mark.hw
LINK_MODEL = (64, 128, 10)  # W0 = 8192 int32 = 32 KB each way; fits 128 KB of RAM
TRAIN_MODELS = ((64, 16, 10), (64, 32, 10))
SAMPLES, BATCH, LR_INV, SEED = 50, 25, 2048, 0


def _link(client, baud, url):
    client.configure(LINK_MODEL, 1, 1)
    rng = np.random.default_rng(SEED)
    w0 = rng.integers(-(2**31), 2**31, size=LINK_MODEL[0] * LINK_MODEL[1], dtype=np.int64)
    tensor = tensor_id(TensorKind.WEIGHTS, 0)
    before, t0 = client.counters.snapshot(), time.monotonic()
    client.write_tensor(tensor, w0)
    mid, t1 = client.counters.snapshot(), time.monotonic()
    back = client.read_tensor(tensor, w0.size)
    after, t2 = client.counters.snapshot(), time.monotonic()
    assert np.array_equal(back.astype(np.int64), w0)  # the link moved every byte intact
    line = line_bytes_per_second(url, baud)
    write = (mid.wire_bytes - before.wire_bytes) / (t1 - t0)
    read = (after.wire_bytes - mid.wire_bytes) / (t2 - t1)
    return {
        "payload_bytes": 4 * int(w0.size),
        "write_bytes_per_second": round(write, 1),
        "read_bytes_per_second": round(read, 1),
        "line_bytes_per_second": line,
        "write_utilisation": None if line is None else round(write / line, 4),
        "read_utilisation": None if line is None else round(read / line, 4),
        "retransmissions": after.retransmissions - before.retransmissions,
    }


def _train(client, dims, counter_kind):
    from tifed.bench.macs import macs_per_sample, model_name  # interfaces.md's MAC count

    rng = np.random.default_rng(SEED)
    x = rng.integers(-128, 128, size=(SAMPLES, dims[0])).astype(np.int8)
    labels = rng.integers(0, dims[-1], size=SAMPLES)
    client.configure(dims, SAMPLES, BATCH)
    client.set_feedback_seed(SEED)
    client.write_samples(x, labels)
    t0 = time.monotonic()
    count = client.train(SAMPLES, BATCH, 1, LR_INV, -1)
    seconds = time.monotonic() - t0
    trained = SAMPLES // BATCH * BATCH
    row = {"model": model_name(dims), "samples": trained, "counter": count, "seconds_with_link": round(seconds, 4)}
    if counter_kind != 0 and count > 0:
        unit = "cycles" if counter_kind == 2 else "instructions"  # PROTOCOL.md IDENTIFY counter_kind
        row[f"{unit}_per_sample"] = round(count / trained, 1)
        row[f"{unit}_per_mac"] = round(count / (trained * macs_per_sample(dims)), 3)
    # The counted TRAIN is the reference's, bit for bit.
    fb = tifed_models.feedback_matrices(dims, SEED)
    want = tifed_models.train(tifed_models.Model.zeros(dims), fb, x, tifed_models.targets(labels, dims[-1]),
                              LR_INV, BATCH, 1)
    got = client.read_model(dims)
    assert all(np.array_equal(g, w) for g, w in zip(got.weights, want.weights))
    return row


def test_link_throughput_and_train_cost(clients, tmp_path_factory, pytestconfig):
    rows = []
    for d, client in clients:
        info = client.identify()
        rows.append({
            "label": d.label, "board": d.board or info.board, "url": d.port, "baud": d.link.baud,
            "max_payload": client.max_payload, "counter": info.counter_name,
            "link": _link(client, d.link.baud, d.port),
            "train": [_train(client, dims, info.counter_kind) for dims in TRAIN_MODELS
                      if tifed_models.arena_bytes(dims, SAMPLES, BATCH) <= info.arena_bytes],
        })
    out = pytestconfig.getoption("--hw-bench-out", default=None)
    path = out or str(tmp_path_factory.getbasetemp() / "hw-bench.json")
    doc = {"schema": 1, "python": platform.python_version(), "devices": rows}
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=2)
    print(f"\nhardware benchmark: {path}")
    for r in rows:
        link = r["link"]
        print(f"  {r['label']}: write {link['write_bytes_per_second']:.0f} B/s, read {link['read_bytes_per_second']:.0f} B/s"
              + (f" of {link['line_bytes_per_second']:.0f} B/s line rate" if link["line_bytes_per_second"] else ""))
    for r in rows:
        assert r["link"]["write_bytes_per_second"] > 0 and r["link"]["read_bytes_per_second"] > 0
        if r["link"]["line_bytes_per_second"]:
            assert r["link"]["read_utilisation"] <= 1.05  # a UART cannot beat its line rate
