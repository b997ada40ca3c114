"""bench.md: the bench.json numbers as Markdown tables, with the
definitions a reader needs to interpret them."""
from __future__ import annotations

from tifed.bench import reliability


def _n(v, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.3g}"
    return str(v)


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub Markdown table; `align`: one of l/r per column (default:
    first column left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


DEFINITIONS = """\
## Definitions

- **MAC**: one multiply-accumulate of the forward pass or of the weight
  update, per training sample. For a-b-c: a*b + b*c forward, the same again
  for the update, plus C*b for the feedback product e @ B of each hidden
  layer (784-200-10: 158,800 + 158,800 + 2,000 = 319,600). Instructions per
  MAC = the TRAIN instruction count (QEMU -icount, exact) / (samples x
  MACs per sample); everything TRAIN executes (activation, deltas,
  divisions, saturation, loop control) is in the count, so this is a cost
  per unit of work, not the cost of the multiply-accumulate loop alone.
- **Round time**: the server's wall time for one federated round: slicing
  the buffers, sending the changed global tensors (and, once per buffer,
  the samples), every device's TRAIN, reading the trained layers back,
  recomputing each update with the reference (validation, overlapped with
  the devices), aggregation, test accuracy, writing results.json.
- **Server overhead fraction** = 1 - T_train / T_round, where T_train is the
  length of the union of the intervals in which at least one device's TRAIN
  request was in flight (request sent until its response decoded). It is
  the share of the round in which no device was training. It splits into
  link-only time (some request other than TRAIN in flight, none training:
  the model and samples on the wire) and server-only time (no request in
  flight: aggregation, validation not hidden behind device work, test
  accuracy, results.json). Round 1 is not counted (the global model is
  still the devices' zero model, nothing goes down); the value is the
  median over the other rounds of one buffer.
- **Wire bytes per device-round**: every byte on one device's link (both
  directions, COBS framing, CRC, commands, answers, the samples once per
  buffer) in every round but the first (which sends no model down), divided
  by rounds and devices; by default a whole run of the paper's protocol
  with K = 8. **Raw int32 bytes**: the global model down and the trained
  layers up as bare int32 values (4 bytes per weight and bias, no framing,
  no samples), what protocol 1 moves. Protocol 2 (PROTOCOL.md) sends the
  model as Rice-coded deltas against what the device holds, the samples as
  background runs, and reads back a 64-bit digest when validating (the
  server's own copy of the update is aggregated once the digests match),
  else the low bits of the trained values.
- **Line-rate model**: every byte of every link takes 10 bit times (8N1) at
  the given baud in each direction (`tifed run --line-rate`). The projected
  round swaps the host's TRAIN time for the TRAIN instructions of the
  round at 64 MHz; protocol 1's round is computed from its bytes (1.03 x
  the raw int32 model down and up) at the same rate.
"""


def _reference(ref: dict | None) -> list[str]:
    if not ref:
        return ["## Reference", "", "not measured"]
    rnd = ref.get("federated_round") or {}
    rows = [
        ["vectorized (tifed_models)", _n(ref["samples_per_second"]), _n(ref.get("samples_per_second_best")),
         _n(ref.get("samples_per_second_all_threads"))],
        ["plain Python loops (tifed_models.naive)", _n(ref["naive_samples_per_second"], 1), "–", "–"],
    ]
    out = ["## Reference throughput", "",
           f"Model {ref['model']}, mini-batches of {ref.get('batch')}, 1/lr {ref.get('lr_inv')}, mnist5k samples, "
           f"BLAS threads: {ref.get('blas_threads')}. Speed-up, measured in the same run: "
           f"**{_n(ref.get('speedup'), 1)}x**; the loop twin's result equals the reference's: "
           f"{_n(ref.get('naive_matches_reference'))}.", "",
           table(["implementation", "samples/s (median)", "best", "all BLAS threads"], rows)]
    if rnd:
        naive = rnd.get("naive_seconds")
        out += ["", f"One federated round ({rnd['devices']} devices x {rnd['buffer']} samples, full mode, "
                    f"aggregation included): {rnd['seconds']:.3f} s vectorized"
                    + (f", {naive:.1f} s with plain loops" if naive else "") + "."]
    load = (ref.get("load_average_before"), ref.get("load_average_after"))
    if all(load):
        out += ["", f"Load average before/after: {load[0]} / {load[1]} (other work on the machine makes samples/s noisy)."]
    return out


def _firmware(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Firmware on QEMU and Renode", "", "not measured"]
    body = [[r["board"], r["model"], r.get("weights", "int32"), _n((r.get("train") or {}).get("samples")),
             f"{r['instructions_per_mac']:.3f}", _n(r["instructions_per_sample"]),
             _n(r.get("macs_per_sample")),
             " / ".join(_n(v) for v in r.get("single_layer_instructions_per_sample") or []),
             _n(r.get("trained_instructions_per_sample")),
             _n(r["flash_bytes"]), _n(r["ram_bytes"]), _n(r.get("arena_used_bytes")), _n(r["stack_peak_bytes"])]
            for r in rows]
    out = ["## Firmware on QEMU and Renode (instruction counts)", "",
           "Counted by the emulator: QEMU's -icount, exact; Renode's DWT cycle counter at one count per "
           "executed instruction (renode/README.md). Both count instructions, not a real core's cycles. "
           "One TRAIN of 50 samples (25 where a board has no room for 50: column 'buffer'), batch 25, one epoch, "
           "1/lr 2048, from the zero model; single-layer: "
           "the same TRAIN training only layer 0 / layer 1; trained: from a model the reference trained on "
           "1,000 samples (full bench only). Weights: the storage of weights and biases (--weights; int16 "
           "takes the SMLAD kernels, two MACs per instruction). Flash = text + data, static RAM = data + bss "
           "(stack included), arena = the model's RAM (CONFIGURE), stack peak from STATS (painted stack).", "",
           table(["board", "model", "weights", "buffer", "instr/MAC", "instr/sample", "MACs/sample",
                  "single-layer instr/sample", "trained instr/sample", "flash B", "static RAM B", "arena B",
                  "stack peak B"], body, "lll" + "r" * 10)]
    seen, mem = set(), []
    for r in rows:
        b, buffer, weights = r.get("arena_breakdown"), (r.get("train") or {}).get("samples"), r.get("weights", "int32")
        if not b or (r["model"], weights, buffer) in seen:
            continue
        seen.add((r["model"], weights, buffer))
        same = [x for x in rows if x["model"] == r["model"] and x.get("weights", "int32") == weights
                and (x.get("train") or {}).get("samples") == buffer]
        agree = all(x.get("arena_used_bytes") == b["total"] for x in same)
        mem.append([r["model"], weights, _n(buffer), _n(b["weights"]), _n(b["samples"]), _n(b["activation_rows"]),
                    _n(b["feedback"]), _n(b.get("pair_scratch", 0)), _n(b["total"]),
                    _pct((b["total"] - b["weights"] - b["samples"]) / b["total"]),
                    f"{'yes' if agree else 'NO'} ({len(same)})"])
    out += ["", "### RAM arena per model (batch 25)", "",
            "What the firmware allocates besides its static RAM: the weights, one buffer of samples, the "
            "activation rows of one mini-batch (activations, slopes, deltas per layer), the feedback "
            "matrices and, with int16 weights, the pair scratch of their kernels (tifed_models.arena_breakdown). "
            "'Devices agree': the arena each board reported in its CONFIGURE answer equals the total (number "
            "of boards).", "",
            table(["model", "weights", "buffer", "weights B", "one sample buffer B", "activation rows B",
                   "feedback B", "pair scratch B", "total B", "beyond weights + samples", "devices agree"], mem,
                  "ll" + "r" * 9)]
    return out


def _dataset(name: str | None) -> str:
    return "–" if not name else name.rsplit("/", 1)[-1] if name.startswith("idx:") else name


def _rounds(numbers: list[int] | None) -> str:
    return "–" if not numbers else f"{numbers[0]}-{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def _capacity(rows: list[dict], accuracy: list[dict]) -> list[str]:
    if not rows:
        return []
    acc = {(a["model"], a.get("weights", "int32")): a for a in accuracy
           if a.get("paper_set") == "Fashion-MNIST" and a.get("pool", 1) == 1 and a["mode"] == "full"
           and a["lr_inv"] == 2048 and a.get("buffers") == a.get("buffers_total")}
    boards = list(dict.fromkeys(r["board"] for r in rows))
    body = []
    for board in boards:
        mine = {(r["weights"], r["buffer"]): r for r in rows if r["board"] == board}
        cells = [board, _n(next(iter(mine.values()))["arena_bytes"])]
        for weights in ("int32", "int16"):
            for buffer in (50, 25):
                r = mine.get((weights, buffer))
                cells.append("–" if r is None or not r["largest_hidden"] else r["model"])
            r = mine.get((weights, 50))
            a = acc.get((r["model"], weights)) if r and r["largest_hidden"] else None
            cells.append("–" if a is None else f"{a['median']:.3f}")
        body.append(cells)
    return ["### Largest model per board", "",
            "The largest 784-H-10 whose arena fits each board's RAM (as `tifed boards` prints it), batch 25, "
            "for both weight widths and buffers of 50 and 25, with the Fashion-MNIST test accuracy of the "
            "buffer-50 model in sim (paper protocol, full mode, 1/lr 2048; section Accuracy) where measured.", "",
            table(["board", "RAM arena B", "int32, buffer 50", "int32, buffer 25", "int32 Fashion-MNIST",
                   "int16, buffer 50", "int16, buffer 25", "int16 Fashion-MNIST"], body, "lr" + "l" * 6)]


def _wire(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Wire cost", "", "not measured"]
    body = [[r["model"], _dataset(r.get("dataset")), r.get("mode", "full"), _n(r.get("validate", True)),
             _n(r.get("protocol", 1)), r.get("board", ""), _n(r.get("devices")), _rounds(r.get("rounds_measured")),
             _n(r["bytes_per_device_round"]), _n(r["raw_int32_bytes"]), f"{r.get('ratio_to_raw', 0):.4f}",
             _n(r.get("samples_raw_bytes_per_round")), _n(r.get("max_payload"))] for r in rows]
    return ["## Wire cost per device and round", "",
            "The ratio is the issue-14 yardstick: all bytes of a device-round (samples and framing included) "
            "against the raw int32 model down and the trained layers up.", "",
            table(["model", "data", "mode", "validate", "protocol", "board", "devices", "rounds",
                   "bytes/device-round", "raw int32 B", "ratio", "raw samples B/round", "max_payload"], body,
                  "llllrl" + "r" * 7)]


def _line_rate(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Round time at a UART's line rate", "", "not measured"]
    body = [[r["model"], _dataset(r["dataset"]), f"{r['baud']:,}", _n(r["devices"]), _rounds(r.get("rounds_measured")),
             _n(r["wire_bytes_per_device_round"]), f"{r['round_seconds']:.3f}", f"{r['host_train_seconds']:.3f}",
             "–" if r.get("board_train_seconds") is None else f"{r['board_train_seconds']:.3f}",
             "–" if r.get("projected_round_seconds") is None else f"{r['projected_round_seconds']:.3f}",
             "–" if r.get("projected_run_hours") is None else f"{r['projected_run_hours']:.2f}",
             f"{r['v1_round_seconds']:.2f}", f"{r['v1_run_hours']:.1f}"] for r in rows]
    sources = sorted({f"{r['model']}: {r.get('board_train_source')}" for r in rows})
    return ["## Round time at a UART's line rate (physical boards)", "",
            "Host devices behind the line-rate model (`--line-rate`), K = 8, full mode, validation on, "
            "protocol 2; the median of the measured rounds. Projected: the measured round with the host's "
            "TRAIN time replaced by the board's (TRAIN instructions of the round at 64 MHz; "
            + "; ".join(sources) + "), and the paper's 750-round run at that round time (the rounds measured "
            "are early ones, when the model changes most: an upper bound). Protocol 1: the raw int32 model "
            "down and up at the same rate, computed.", "",
            table(["model", "data", "baud", "devices", "rounds", "wire B/device-round", "round s (measured)",
                   "host TRAIN s", "board TRAIN s", "round s (projected)", "750 rounds, h", "protocol 1 round s",
                   "protocol 1, 750 rounds, h"], body, "ll" + "r" * 11)]


def _fleet(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Fleet scaling", "", "not measured"]
    def secs(v):
        return "–" if v is None else f"{v:.3f}"

    body = [[r["board"], _n(r["devices"]), f"{r['round_seconds']:.3f}", secs(r.get("train_seconds")),
             secs(r.get("server_only_seconds")), _pct(r["server_overhead_fraction"]),
             _pct(r.get("link_only_fraction")), _pct(r.get("server_only_fraction")),
             _n(r.get("wire_bytes_per_device_round")), _n(r.get("device_instructions_per_round"))] for r in rows]
    model = rows[0].get("model", "")
    return ["## Fleet scaling", "",
            f"Model {model} on digits (repeated where the fleet needs more samples), full mode, validation on, "
            "one buffer of 50 samples per device and round whatever the fleet size. With one device the "
            "aggregate is that device's own model, so nothing goes down (the server sends only tensors that "
            "changed): that row's wire bytes are the read-back alone. 'training s' is the time some TRAIN was "
            "in flight, which for the host board is mostly pty round trips and process scheduling (its TRAIN "
            "itself takes well under a millisecond); with many devices their TRAINs overlap other devices' "
            "transfers, so the overhead fraction falls while the server-only seconds grow with the fleet.", "",
            table(["board", "devices", "round s", "training s", "server-only s", "server overhead",
                   "of which link-only", "of which server-only", "wire B/device-round",
                   "device instructions/round"], body)]


ACCURACY_NOTE = (
    "K = 8, buffer 50, batch 25, 5 rounds per buffer, every whole buffer of each shard (unless the protocol "
    "column says fewer), final test accuracy on the whole test set. A seed is what `tifed run --seed S` "
    "takes: it draws the feedback matrices B_l and the shuffle that deals the training set into the shards "
    "(the order each device sees its samples in); for digits and mnist5k also their 80/20 train/test split. "
    "Medians include diverged runs, as the paper's do. Diverged: final accuracy at chance level (at most the "
    "commonest test class's share + 0.05), the paper's \"fell to chance level\". The paper's medians are over "
    "100 runs on the full 60,000-image sets; they are set against a row only when it ran the same "
    "protocol on the same set (784-200-10, all 150 buffers of 60,000 images); mnist5k has 4,000 training "
    "images (10 buffers per device instead of 150), so it ends far earlier in training.")


SMALL_NOTE = (
    "Weights int16 and pooled inputs (--pool 2: the floor of the mean of each 2x2 block of pixels, 196 "
    "inputs) are this project's extensions for boards with little RAM (models/README.md); on Fashion-MNIST "
    "the bench also measures 784-64-10 int16, 196-64-10 int16 and each board's largest 784-H-10 (section "
    "Firmware, 'Largest model per board'), full mode, 1/lr 2048, the same seeds and protocol as its row "
    "of the paper's model.")


def _protocol(r: dict) -> str:
    buffers, total = r.get("buffers"), r.get("buffers_total")
    if buffers is None:
        return "all buffers"
    if buffers == total:
        return f"all {total} buffers"
    return f"first {buffers} of {total} buffers"


def _paper_cell(r: dict) -> str:
    if r.get("paper_median") is None:
        return "–"
    text = f"{r['paper_median']:.3f} ({r['paper_set']})"
    return text if r.get("comparable", True) else text + ", not comparable"


def _paper_tables(rows: list[dict]) -> list[str]:
    """The paper's table (algorithm.md) with ours beside it, per data set
    that ran the paper's protocol."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows if r.get("comparable")):
        rs = [r for r in rows if r["dataset"] == dataset and r.get("comparable")]
        lrs = sorted({r["lr_inv"] for r in rs})
        cell = {(r["mode"], r["lr_inv"]): r for r in rs}
        body = []
        for mode, label in (("full", "full-network"), ("single", "single-layer")):
            mine = [cell.get((mode, lr)) for lr in lrs]
            if not any(mine):
                continue
            body.append([f"{label}: paper, median of 100"] +
                        ["–" if r is None else f"{100 * r['paper_median']:.1f} %" for r in mine])
            body.append([f"{label}: ours, median of {len(next(r for r in mine if r)['test_accuracies'])}"] +
                        ["–" if r is None else f"**{100 * r['median']:.1f} %** ({100 * r['min']:.1f}–{100 * r['max']:.1f})"
                         for r in mine])
            body.append([f"{label}: ours − paper (points)"] +
                        ["–" if r is None else f"{100 * (r['median'] - r['paper_median']):+.1f}" for r in mine])
            body.append([f"{label}: diverged (ours)"] +
                        ["–" if r is None else f"{r['diverged']}/{len(r['test_accuracies'])}" for r in mine])
        title = f"{rs[0]['paper_set']} ({dataset}), {rs[0]['model']}, K = 8"
        out += [f"### The paper's table and ours: {title}", "",
                table([title] + [f"1/lr {lr}" for lr in lrs], body, "l" + "r" * len(lrs)), ""]
    return out


def _flower(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    body = [[r["board"], _n(r["devices"]), _n(r["nodes"]), f"{r['round_seconds']:.3f}",
             f"{r['tifed_run_round_seconds']:.3f}", f"{r['overhead_seconds']:+.3f}", _n(r.get("network_bytes_per_round")),
             _n(r.get("same_model")), _n(len(r.get("rounds_measured") or []))] for r in rows]
    r0 = rows[0]
    return ["", "### The same fleets over Flower", "",
            f"Model {r0['model']} on {r0['dataset']}, full mode, {r0['buffers']} buffers, run as a user runs it: "
            "`tifed serve --address 127.0.0.1:PORT` and one `tifed node` per node (its boards), against `tifed "
            "run` on the same boards and data (docs/FLOWER.md). Round s: results.json's round time (the same "
            "clock in both), median over rounds 2 on; 'over tifed run' is what Flower adds to a round (the "
            "messages' way through the SuperLink and each node's SuperNode and back, all on 127.0.0.1 here; "
            "docs/FLOWER.md, \"Speed\"); network B: "
            "the tensors between server and nodes per round. 'Same model': the final weights of both runs are "
            "equal, bit for bit.", "",
            table(["board", "devices", "nodes", "round s (Flower)", "round s (tifed run)", "over tifed run s",
                   "network B/round", "same model", "rounds"], body)]


def _accuracy(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Accuracy (paper protocol, sim)", "", "not measured"]
    body = [[r["dataset"], r["model"], r.get("weights", "int32"),
             "–" if r.get("pool", 1) == 1 else f"{r['pool']}x{r['pool']}", r["mode"], str(r["lr_inv"]),
             _protocol(r), f"{r['median']:.3f}", f"{r['min']:.3f} – {r['max']:.3f}",
             f"{r['diverged']}/{len(r['test_accuracies'])}", _paper_cell(r)] for r in rows]
    return ["## Accuracy (paper protocol, sim)", "", ACCURACY_NOTE, ""] + _paper_tables(rows) + [
            "### Every cell", "", SMALL_NOTE, "",
            table(["data set", "model", "weights", "pool", "mode", "1/lr", "protocol", "median", "min – max",
                   "diverged", "paper median"], body, "lllllrlrrrl")]


def _reliability(rows: list[dict]) -> list[str]:
    if not rows:
        return ["## Reliability (noisy lines, resets)", "", "not measured"]

    def n(v, fmt="{:,}"):
        return "–" if v is None else fmt.format(v)

    body = [[r["board"], r["model"], r["fault"], "yes" if r["complete"] else "NO",
             "yes" if r["bitexact"] else ("–" if r["bitexact"] is None else "NO"), n(r["dropped"]),
             n(r["retransmissions_per_device_round"], "{:,.1f}"), n(r.get("resets")), n(r["rounds_redone"]),
             n(r["round_seconds"], "{:.3f}"), n(r["seconds_lost"], "{:+.1f}"), n(r["recovery_seconds"], "{:.1f}"),
             n(r["wire_bytes_per_device_round"]), n(r["frame_payload"]),
             n(r["estimated_byte_error_rate"], "{:.4f}")] for r in rows]
    model = rows[0]["model"]
    return ["## Reliability (noisy lines, resets; default options)", "",
            f"{reliability.DEVICES} devices, {model} on digits, full mode, validation on; the same rounds clean, with a "
            "share of the bytes corrupted in both directions (fault:// corrupt=, one random byte value "
            "replaced), and with each device power-cycled once every N rounds (fault:// reset=, the device "
            "off for 0.5 s; N rounds as requests, from the clean run's requests per round: the requests of a "
            "recovery count too, so resets come somewhat more often than every N rounds). 'frames sent again': "
            "retransmissions per device and round; 'resets': power cycles injected (one after the last round "
            "has nothing to redo); 'rounds redone': device-rounds run again after a reset; 'round s': median "
            "round time from round 2; 'time lost': the run's wall time minus the clean run's (on a shared "
            "machine a few seconds either way are noise); 'recovery s': "
            "finding the device again and re-provisioning it (rejoin with backoff); 'frame': the payload size "
            "the client settled on (median of the devices), 'error rate': its estimate of the byte error rate.",
            "",
            table(["board", "model", "fault", "complete", "bit-exact", "dropped", "frames sent again", "resets",
                   "rounds redone", "round s", "time lost s", "recovery s", "wire B/device-round", "frame B",
                   "error rate"], body, "lll" + "r" * 12)]


def render(doc: dict, plots: list[str] | None = None) -> str:
    m, run = doc["machine"], doc.get("run", {})
    out = ["# tifed bench", "",
           f"{'Quick' if run.get('quick') else 'Full'} bench, {run.get('started', '')}, {run.get('seconds', 0):.0f} s. "
           f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy {m['numpy']}"
           + (f", load average at start {m['load_average_start']}" if m.get("load_average_start") else "") + "."]
    for again in run.get("remeasured", []):
        out.append(f"Measured again: {', '.join(again.get('sections', []))}, {again.get('started', '')} "
                   f"(load average at start {again.get('load_average_start')}).")
    out.append("")
    tg = doc.get("targets") or []
    if tg:
        out += ["## Targets (reported, not asserted)", "",
                table(["target", "goal", "measured", "met", "note"],
                      [[t["target"], t["goal"], _n(t["value"]), _n(t["met"]), t.get("note", "")] for t in tg], "llrll"), ""]
    firmware = _firmware(doc.get("firmware", [])) + [""] + _capacity(doc.get("capacity", []), doc.get("accuracy", []))
    for part in (_reference(doc.get("reference")), firmware, _wire(doc.get("wire", [])),
                 _fleet(doc.get("fleet", [])) + _flower(doc.get("flower", [])), _line_rate(doc.get("line_rate", [])),
                 _accuracy(doc.get("accuracy", [])),
                 _reliability(doc.get("reliability", []))):
        out += part + [""]
    if doc.get("skipped"):
        out += ["## Not measured", "", table(["section", "what", "why"],
                                             [[s["section"], s["what"], s["reason"]] for s in doc["skipped"]], "lll"), ""]
    if plots:
        out += ["## Plots", ""] + [f"- [{p}]({p})" for p in plots] + [""]
    out.append(DEFINITIONS)
    return "\n".join(out)
