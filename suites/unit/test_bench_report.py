"""bench.json against interfaces.md (schema 1, the contract's keys and
types), merging re-measured sections, the targets and the Markdown."""
from __future__ import annotations

import json

import pytest

from tifed.bench import markdown, report


def _doc(**changes):
    machine = {"cpu": "test cpu", "cores": 2, "python": "3.11", "numpy": "2.0"}
    reference = {"model": "784-200-10", "samples_per_second": 6000.0, "naive_samples_per_second": 20.0,
                 "blas_threads": 1}
    firmware = [{"board": "qemu-mps2-an386", "model": "784-200-10", "instructions_per_mac": 2.5,
                 "instructions_per_sample": 799_000, "flash_bytes": 13_000, "ram_bytes": 12_000,
                 "stack_peak_bytes": 700, "arena_used_bytes": 716_044, "train": {"samples": 50},
                 "arena_breakdown": {"weights": 636_040, "feedback": 4_000, "samples": 39_252,
                                     "activation_rows": 36_752, "total": 716_044}}]
    wire = [{"model": "64-32-10", "bytes_per_device_round": 20_551, "raw_int32_bytes": 19_280}]
    fleet = [{"board": "host", "devices": 4, "round_seconds": 0.07, "server_overhead_fraction": 0.9}]
    parts = dict(machine=machine, reference=reference, firmware=firmware, wire=wire, fleet=fleet)
    parts.update(changes)
    return report.build_document(parts["machine"], parts["reference"], parts["firmware"], parts["wire"],
                                 parts["fleet"], run={"quick": True, "started": "now", "seconds": 1.0})


def test_a_full_document_meets_the_contract():
    doc = _doc()
    assert report.check_document(doc) == []
    assert list(doc)[:6] == ["schema", "machine", "reference", "firmware", "wire", "fleet"] and doc["schema"] == 1
    json.dumps(doc)  # serializable as it is


def test_reference_may_be_null_but_sections_must_exist():
    assert report.check_document(_doc(reference=None)) == []
    doc = _doc()
    del doc["wire"]
    assert report.check_document(doc) == ["lacks section 'wire'"]


@pytest.mark.parametrize("section, key, value, expect", [
    ("firmware", "instructions_per_mac", None, "firmware[0].instructions_per_mac"),
    ("firmware", "flash_bytes", True, "firmware[0].flash_bytes"),  # a bool is not a byte count
    ("wire", "raw_int32_bytes", 1.5, "wire[0].raw_int32_bytes"),
    ("fleet", "server_overhead_fraction", 1.7, "not a fraction"),
])
def test_wrong_values_are_named(section, key, value, expect):
    doc = _doc()
    doc[section][0][key] = value
    problems = report.check_document(doc)
    assert len(problems) == 1 and expect in problems[0]


def test_missing_machine_key_and_wrong_schema():
    doc = _doc()
    del doc["machine"]["cores"]
    doc["schema"] = 2
    problems = report.check_document(doc)
    assert "schema must be 1, got 2" in problems and "machine lacks 'cores'" in problems


def test_write_json_refuses_a_broken_document(tmp_path):
    doc = _doc()
    doc["fleet"][0].pop("devices")
    with pytest.raises(AssertionError, match="fleet\\[0\\] lacks 'devices'"):
        report.write_json(tmp_path / "bench.json", doc)
    assert not (tmp_path / "bench.json").exists()
    report.write_json(tmp_path / "bench.json", _doc())
    assert report.load(tmp_path / "bench.json")["schema"] == 1


def test_targets_are_reported_with_their_values():
    rows = {t["target"].split(",")[0]: t for t in _doc()["targets"]}
    assert rows["reference 784-200-10 samples/s"]["met"] is True
    assert rows["reference speed-up over the plain loops"]["value"] == 300.0
    fw = next(t for t in _doc()["targets"] if "instructions per MAC" in t["target"])
    assert fw["met"] is True and fw["note"] == "1.50 above 1 instruction per MAC"
    slow = _doc(reference={"model": "784-200-10", "samples_per_second": 900.0, "naive_samples_per_second": 30.0})
    assert [t["met"] for t in slow["targets"][:5]] == [False, False, True, None, None]
    assert [t["met"] for t in _doc(reference=None, firmware=[])["targets"][:5]] == [None] * 5


def _wire_row(model, dataset, mode, validate, ratio, protocol=2):
    raw = 1_000_000
    return {"model": model, "dataset": dataset, "mode": mode, "validate": validate, "protocol": protocol,
            "bytes_per_device_round": int(raw * ratio), "raw_int32_bytes": raw, "ratio_to_raw": ratio}


def test_issue_14_targets_take_the_worst_mode_of_protocol_2():
    wire = [_wire_row("784-200-10", "mnist5k", "full", True, 0.09), _wire_row("784-200-10", "mnist5k", "single", True, 0.13),
            _wire_row("784-200-10", "mnist5k", "full", True, 1.03, protocol=1),
            _wire_row("784-200-10", "mnist5k", "full", False, 0.28), _wire_row("64-32-10", "digits", "full", True, 0.14)]
    fleet = [{"board": "qemu-mps2-an386", "devices": 8, "round_seconds": 0.3, "server_overhead_fraction": 0.4}]
    rows = {t["target"]: t for t in _doc(wire=wire, fleet=fleet)["targets"]}
    valid = rows["wire 784-200-10 mnist5k, validation on: bytes per device-round / raw int32 model down + up"]
    assert valid["value"] == 0.13 and valid["met"] is False and valid["note"] == "full 0.0900, single 0.1300"
    loose = rows["wire 784-200-10 mnist5k, --no-validate: bytes per device-round / raw int32 model down + up"]
    assert loose["met"] is True and loose["goal"] == "<= 0.333"
    assert rows["wire 64-32-10 digits, --no-validate: bytes per device-round / raw int32 model down + up"]["met"] is None
    assert rows["fleet 8 x qemu-mps2-an386, server overhead fraction"]["met"] is True


def test_int16_targets_take_the_int16_rows():
    """The 784-64-10 int16 targets read the int16 firmware row and the
    Fashion-MNIST accuracy row of that model and width, nothing else."""
    base = _doc()["firmware"][0]
    fw = [dict(base, model="784-64-10", weights="int32", instructions_per_mac=2.1),
          dict(base, model="784-64-10", weights="int16", instructions_per_mac=1.18)]
    acc = {"dataset": "idx:f", "model": "784-64-10", "weights": "int16", "pool": 1, "mode": "full",
           "lr_inv": 2048, "median": 0.83, "paper_set": "Fashion-MNIST"}
    doc = report.build_document(_doc()["machine"], None, fw, [], [], accuracy=[dict(acc, weights="int32", median=0.5),
                                                                             acc, dict(acc, pool=2, median=0.1)])
    ipm, accuracy = doc["targets"][3], doc["targets"][4]
    assert ipm["value"] == 1.18 and ipm["met"] is True and "784-64-10 int16" in ipm["target"]
    assert accuracy["value"] == 0.83 and accuracy["met"] is True
    assert doc["targets"][2]["value"] is None  # the int32 target names 784-200-10, which is not here


def test_merge_keeps_sections_not_remeasured():
    old = _doc()
    old["skipped"] = [{"section": "fleet", "what": "qemu x8", "reason": "r"}]
    new = _doc(fleet=[], reference={"model": "784-200-10", "samples_per_second": 9000.0,
                                    "naive_samples_per_second": 20.0})
    new["run"] = {"quick": False, "started": "later", "seconds": 2.0, "sections": ["reference"]}
    merged = report.merge(old, new, ["reference"])
    assert merged["reference"]["samples_per_second"] == 9000.0
    assert merged["fleet"] == old["fleet"] and merged["skipped"] == old["skipped"]
    assert merged["run"]["started"] == "now" and merged["run"]["remeasured"][0]["started"] == "later"
    assert merged["targets"][0]["value"] == 9000.0
    assert report.check_document(merged) == []


def test_merge_forgets_a_re_measurement_that_was_measured_again():
    doc = _doc()
    for started, sections in (("first", ["reference", "firmware"]), ("second", ["firmware"]),
                              ("third", ["firmware"])):
        new = _doc()
        new["run"] = {"quick": False, "started": started, "seconds": 1.0, "sections": sections}
        doc = report.merge(doc, new, sections)
    # "first" still stands behind the reference numbers; "second" stands behind nothing.
    assert [a["started"] for a in doc["run"]["remeasured"]] == ["first", "third"]


def test_markdown_table_shape_and_escaping():
    text = markdown.table(["a", "b"], [["x|y", 1], ["z", 22]])
    lines = text.splitlines()
    assert lines[0] == "| a | b |" and lines[1] == "| :--- | ---: |"
    assert lines[2] == "| x\\|y | 1 |" and len(lines) == 4


def test_markdown_line_rate_table():
    row = {"model": "784-200-10", "dataset": "idx:/usr/share/datasets/fashion-mnist", "baud": 115200, "devices": 8,
           "round_seconds": 9.5, "host_train_seconds": 0.02, "wire_bytes_per_device_round": 110_000,
           "board_train_seconds": 0.52, "board_train_source": "measured (qemu-mps2-an386)",
           "projected_round_seconds": 10.0, "projected_run_hours": 2.08, "v1_round_seconds": 114.0,
           "v1_run_hours": 23.8, "rounds_measured": [2, 3, 4, 5]}
    doc = _doc()
    doc["line_rate"] = [row]
    text = markdown.render(doc)
    assert "| 784-200-10 | fashion-mnist | 115,200 | 8 | 2-5 | 110,000 | 9.500 | 0.020 | 0.520 | 10.000 | 2.08 | " \
           "114.00 | 23.8 |" in text


def test_markdown_report_has_every_section_and_the_definitions():
    text = markdown.render(_doc(), ["fleet.png"])
    for heading in ("## Targets", "## Reference throughput", "## Firmware on QEMU", "### RAM arena per model",
                    "## Wire cost", "## Fleet scaling", "## Round time at a UART", "## Accuracy", "## Plots",
                    "## Definitions"):
        assert heading in text
    assert "| qemu-mps2-an386 | 784-200-10 | int32 | 50 | 2.500 | 799,000 |" in text
    assert "| 784-200-10 | int32 | 50 | 636,040 | 39,252 | 36,752 | 4,000 | 0 | 716,044 | 5.7% | yes (1) |" in text
    assert "Server overhead fraction** = 1 - T_train / T_round" in text
    assert "[fleet.png](fleet.png)" in text


def _acc_row(dataset, mode, lr, accs, paper, comparable, buffers=150):
    return {"dataset": dataset, "model": "784-200-10", "mode": mode, "lr_inv": lr, "test_accuracies": accs,
            "median": sorted(accs)[len(accs) // 2], "min": min(accs), "max": max(accs), "diverged": 0,
            "paper_median": paper, "paper_set": "Fashion-MNIST", "comparable": comparable,
            "buffers": buffers, "buffers_total": 150}


def test_the_papers_table_beside_ours_only_for_the_papers_protocol():
    rows = [_acc_row("fashion-mnist", "full", 2048, [0.82, 0.825, 0.83], 0.832, True),
            _acc_row("fashion-mnist", "single", 2048, [0.80, 0.81, 0.09], 0.810, True)]
    text = "\n".join(markdown._accuracy(rows))
    assert "### The paper's table and ours: Fashion-MNIST (fashion-mnist), 784-200-10, K = 8" in text
    assert "| full-network: paper, median of 100 | 83.2 % |" in text
    assert "| full-network: ours, median of 3 | **82.5 %** (82.0–83.0) |" in text
    assert "| full-network: ours − paper (points) | -0.7 |" in text
    assert "| single-layer: ours, median of 3 | **80.0 %** (9.0–81.0) |" in text
    short = [_acc_row("fashion-mnist", "full", 2048, [0.3, 0.35, 0.4], 0.832, False, buffers=10)]
    text = "\n".join(markdown._accuracy(short))
    assert "The paper's table and ours" not in text
    assert "| first 10 of 150 buffers |" in text and "0.832 (Fashion-MNIST), not comparable" in text


FLOWER_ROW = {"board": "host", "devices": 4, "nodes": 2, "round_seconds": 0.412, "tifed_run_round_seconds": 0.021,
              "overhead_seconds": 0.391, "model": "64-32-10", "dataset": "digits", "buffers": 2,
              "rounds_measured": list(range(2, 11)), "same_model": True, "bitexact": True,
              "network_bytes_per_round": 77_120}


def test_flower_rows_are_kept_by_merge_and_shown_under_the_fleet():
    old = report.build_document(*[_doc()[k] for k in ("machine", "reference", "firmware", "wire", "fleet")],
                                flower=[FLOWER_ROW], run={"quick": False, "started": "now", "seconds": 1.0})
    assert report.check_document(old) == [] and old["flower"] == [FLOWER_ROW]
    new = _doc()
    new["run"] = {"quick": False, "started": "later", "seconds": 2.0, "sections": ["fleet"]}
    assert report.merge(old, new, ["fleet"])["flower"] == [FLOWER_ROW]
    assert report.merge(old, new, ["flower"])["flower"] == []  # measured again: the new (empty) rows
    text = markdown.render(old)
    fleet, flower = text.index("## Fleet scaling"), text.index("### The same fleets over Flower")
    assert fleet < flower < text.index("## Accuracy")
    assert "| host | 4 | 2 | 0.412 | 0.021 | +0.391 | 77,120 | yes | 9 |" in text
    assert "### The same fleets over Flower" not in markdown.render(_doc())  # no rows, no table


def test_the_cli_offers_every_bench_section():
    from tifed.bench.runner import SECTIONS
    from tifed.cli import build_parser

    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    only = next(a for a in bench._actions if a.dest == "only")
    assert tuple(only.choices) == SECTIONS


def test_markdown_capacity_table_names_the_largest_models_and_their_accuracy():
    capacity = [{"board": "qemu-netduinoplus2", "arena_bytes": 188_720, "weights": w, "buffer": b, "batch": 25,
                 "largest_hidden": h, "model": f"784-{h}-10"}
                for (w, b), h in {("int32", 50): 43, ("int32", 25): 49, ("int16", 50): 80, ("int16", 25): 91}.items()]
    acc = [{"dataset": "idx:f", "model": "784-80-10", "weights": "int16", "pool": 1, "mode": "full", "lr_inv": 2048,
            "median": 0.831, "min": 0.831, "max": 0.831, "diverged": 0, "test_accuracies": [0.831],
            "paper_median": None, "paper_set": "Fashion-MNIST", "comparable": False,
            "buffers": 150, "buffers_total": 150}]
    doc = report.build_document(_doc()["machine"], None, [], [], [], accuracy=acc, capacity=capacity)
    text = markdown.render(doc)
    assert "### Largest model per board" in text
    assert "| qemu-netduinoplus2 | 188,720 | 784-43-10 | 784-49-10 | – | 784-80-10 | 784-91-10 | 0.831 |" in text
    assert "| idx:f | 784-80-10 | int16 | – | full | 2048 | all 150 buffers | 0.831 |" in text
