"""results.json (interfaces.md schema 1), rounds.csv and their atomic writing."""
from __future__ import annotations

import json
import os

import pytest

import tifed_models
from tifed.output import results
from tifed.output.round_entry import measured
from tifed.output.results import ResultsWriter, atomic_write

ROUND_KEYS = {"round", "buffer", "test_accuracy", "bitexact", "wire_bytes", "seconds", "device_instructions"}
FINAL_KEYS = {"rounds", "test_accuracy", "bitexact_all", "wall_seconds"}


def entry(n, acc, exact=True, buffer=0):
    return {"round": n, "buffer": buffer, "test_accuracy": acc, "bitexact": exact, "wire_bytes": 100,
            "seconds": 0.5, "device_instructions": [10, None]}


def writer(tmp_path):
    devices = [{"id": 0, "board": "host", "layer": None, "firmware": None}]
    return ResultsWriter(tmp_path / "out", {"mode": "full", "model": "4-3-2"}, devices)


def test_written_after_every_round_with_the_schema(tmp_path):
    w = writer(tmp_path)
    w.write()
    doc = json.loads(w.json_path.read_text())
    assert doc["schema"] == 1 and doc["rounds"] == [] and doc["final"]["rounds"] == 0
    w.add_round(entry(1, 0.5), wall_seconds=1.0)
    w.add_round(entry(2, 0.75, buffer=1), wall_seconds=2.0)
    doc = json.loads(w.json_path.read_text())
    assert set(doc) == {"schema", "config", "devices", "rounds", "final"}
    assert [set(r) for r in doc["rounds"]] == [ROUND_KEYS, ROUND_KEYS]
    assert set(doc["devices"][0]) == {"id", "board", "layer", "firmware"}
    assert FINAL_KEYS <= set(doc["final"])
    assert doc["final"]["rounds"] == 2 and doc["final"]["test_accuracy"] == 0.75
    assert doc["final"]["bitexact_all"] is True and doc["final"]["complete"] is False
    csv_lines = (tmp_path / "out" / "rounds.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(results.CSV_FIELDS)
    assert csv_lines[2] == "2,1,0.75,True,100,0.5,10;,,"  # no devices_used, retransmissions here


def test_finish_writes_model_and_plot(tmp_path):
    w = writer(tmp_path)
    w.add_round(entry(1, 0.5), wall_seconds=1.0)
    model = tifed_models.Model.zeros((4, 3, 2))
    model.weights[0][1, 2] = 7
    w.finish(3.0, model)
    doc = json.loads(w.json_path.read_text())
    assert doc["final"]["complete"] is True and doc["final"]["error"] is None
    assert "plot_error" not in doc["final"]
    import numpy as np

    with np.load(tmp_path / "out" / "model.npz") as saved:
        assert tifed_models.Model.from_arrays(saved).equal(model)
    assert (tmp_path / "out" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "checks, expected", [([True, True], True), ([True, False], False), ([None, None], None), ([], None)]
)
def test_bitexact_all(checks, expected):
    rounds = [entry(i + 1, 0.5, exact=c) for i, c in enumerate(checks)]
    assert results.final_summary(rounds, 1.0, complete=True, error=None)["bitexact_all"] is expected


def test_final_accuracy_is_the_last_round(tmp_path):
    final = results.final_summary([entry(1, 0.9), entry(2, 0.8)], 1.0, complete=True, error=None)
    assert final["test_accuracy"] == 0.8 and final["best_test_accuracy"] == 0.9


def test_unmeasured_rounds_carry_the_last_measured_accuracy_and_say_whose(tmp_path):
    carried = {**entry(3, 0.6), "test_accuracy_round": 2}
    assert [measured(e) for e in (entry(2, 0.6), carried)] == [True, False]
    final = results.final_summary([entry(1, 0.2), entry(2, 0.6), carried, entry(4, 0.5)], 1.0,
                                  complete=True, error=None)
    assert final["test_accuracy"] == 0.5 and final["best_test_accuracy"] == 0.6
    w = writer(tmp_path)
    w.add_round(carried, wall_seconds=1.0)
    assert (tmp_path / "out" / "rounds.csv").read_text().splitlines()[1].startswith("3,0,0.6,True")


def test_files_equal_a_fresh_encoding_through_appends_and_a_replaced_history(tmp_path):
    """write() encodes each round once; the files must still be exactly what
    encoding the whole document gives, also after the rounds list is replaced
    (a resume) or cut."""
    w = writer(tmp_path)

    def check():
        assert w.json_path.read_text() == json.dumps(w.document(), indent=2) + "\n"
        rows = [list(results.CSV_FIELDS)] + [[str(v) for v in results._csv_row(r)] for r in w.rounds]
        import csv

        with open(tmp_path / "out" / "rounds.csv", newline="") as f:
            assert list(csv.reader(f)) == rows

    w.write()
    check()
    for n in range(1, 5):
        w.add_round({**entry(n, 0.1 * n), "events": [{"device": 0, "event": "x\ny \"q\""}]}, wall_seconds=n)
        check()
    w.rounds = [entry(1, 0.9), entry(2, None)]  # what a resume does
    w.write()
    check()
    del w.rounds[1:]
    w.add_round(entry(2, 0.3), wall_seconds=9)
    check()


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write(path, b"old")
    atomic_write(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]  # no temporary left behind
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    atomic_write(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]
