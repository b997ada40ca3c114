"""The bench's PNG plots; each function returns the file name it wrote, or
None when its section has no data."""
from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe on CI
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)

from tifed.output.results import atomic_write  # noqa: E402


def _save(fig, path: Path) -> str:
    try:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        atomic_write(path, buf.getvalue())
    finally:
        plt.close(fig)
    return path.name


def reference(doc: dict, out: Path) -> str | None:
    ref = doc.get("reference")
    if not ref:
        return None
    fig, ax = plt.subplots(figsize=(7, 2.8))
    names = ["plain Python loops", "vectorized reference"]
    values = [ref["naive_samples_per_second"], ref["samples_per_second"]]
    ax.barh(names, values, color=["0.6", "tab:blue"])
    ax.set_xscale("log")
    ax.axvline(5000, color="tab:red", linestyle="--", linewidth=1, label="target 5,000/s")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:,.0f}" if v >= 100 else f" {v:.1f}", va="center")
    ax.set_xlabel(f"training samples per second, {ref['model']} (BLAS threads: {ref.get('blas_threads')})")
    ax.set_title(f"reference throughput: {ref['samples_per_second'] / ref['naive_samples_per_second']:.0f}x the loops")
    ax.legend(loc="lower right")
    ax.set_xlim(right=max(values) * 8)
    return _save(fig, out / "reference_throughput.png")


def firmware(doc: dict, out: Path) -> str | None:
    rows = doc.get("firmware") or []
    if not rows:
        return None
    labels = [f"{r['board'].removeprefix('qemu-')} {r['model']} {r.get('weights', 'int32')}" for r in rows]
    colors = ["tab:orange" if r.get("weights") == "int16" else "tab:blue" for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(11, 0.55 * len(rows)), 6))
    bars = a1.bar(labels, [r["instructions_per_mac"] for r in rows], color=colors)
    a1.bar_label(bars, fmt="%.2f", fontsize=8)
    a1.axhline(3.0, color="tab:red", linestyle="--", linewidth=1, label="target 3")
    a1.axhline(1.0, color="0.4", linestyle=":", linewidth=1, label="1 per MAC")
    a1.set_ylabel("instructions per MAC (TRAIN)")
    a1.legend()
    a2.bar(labels, [r["instructions_per_sample"] for r in rows], color="tab:green")
    a2.set_yscale("log")
    a2.set_ylabel("instructions per training sample")
    for ax in (a1, a2):
        ax.tick_params(axis="x", labelsize=7, labelrotation=90)
    fig.suptitle("firmware cost under QEMU -icount and Renode (batch 25, 1/lr 2048; orange: int16 weights)")
    fig.tight_layout()
    return _save(fig, out / "firmware_instructions.png")


def memory(doc: dict, out: Path) -> str | None:
    rows = doc.get("firmware") or []
    if not rows:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(12, 0.7 * len(rows)), 6.5), gridspec_kw={"width_ratios": [3, 2]})
    labels = [f"{r['board'].removeprefix('qemu-')} {r['model']} {r.get('weights', 'int32')}" for r in rows]
    kinds = [("flash_bytes", "flash"), ("ram_bytes", "static RAM"), ("arena_used_bytes", "arena (model)"),
             ("stack_peak_bytes", "stack peak")]
    width = 0.2
    for k, (key, name) in enumerate(kinds):
        a1.bar([i + (k - 1.5) * width for i in range(len(rows))], [r.get(key) or 0 for r in rows], width, label=name)
    a1.set_xticks(range(len(rows)), labels, fontsize=7, rotation=90)
    a1.set_yscale("log")
    a1.set_ylabel("bytes")
    a1.legend(fontsize=8)
    models = {}
    for r in rows:
        models.setdefault(f"{r['model']} {r.get('weights', 'int32')}\nbuffer {(r.get('train') or {}).get('samples')}",
                          r["arena_breakdown"])
    parts = [("weights", "weights"), ("samples", "one sample buffer"), ("activation_rows", "activation rows"),
             ("feedback", "feedback B"), ("pair_scratch", "pair scratch")]
    bottom = [0.0] * len(models)
    names = list(models)
    for key, name in parts:
        vals = [models[m].get(key, 0) / models[m]["total"] for m in names]
        a2.bar(names, vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals)]
    a2.tick_params(axis="x", labelsize=7, labelrotation=90)
    a2.set_ylabel("share of the model's RAM arena")
    a2.legend(fontsize=8, loc="lower right")
    fig.suptitle("firmware memory (batch 25)")
    fig.tight_layout()
    return _save(fig, out / "firmware_memory.png")


def wire(doc: dict, out: Path) -> str | None:
    rows = doc.get("wire") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(rows)), 4.2))
    labels = [f"{r['model']}\n{_dataset(r.get('dataset', ''))}\n{r.get('mode', '')}"
              f"{'' if r.get('validate', True) else ', no-val.'}{' v1' if r.get('protocol', 1) == 1 else ''}"
              for r in rows]
    xs = range(len(rows))
    bars = ax.bar([x - 0.2 for x in xs], [r["bytes_per_device_round"] for r in rows], 0.4, label="on the wire")
    ax.bar_label(bars, labels=[f"{r['bytes_per_device_round'] / r['raw_int32_bytes']:.3f}x" for r in rows], fontsize=8)
    ax.bar([x + 0.2 for x in xs], [r["raw_int32_bytes"] for r in rows], 0.4, label="raw int32 model", color="0.6")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("bytes per device and round")
    ax.legend()
    ax.set_title("wire cost vs the bare int32 model")
    return _save(fig, out / "wire.png")


def _dataset(name: str) -> str:
    return Path(name[4:]).name if name.startswith("idx:") else name


def line_rate(doc: dict, out: Path) -> str | None:
    rows = doc.get("line_rate") or []
    if not rows:
        return None
    bauds = sorted({r["baud"] for r in rows})
    models = list(dict.fromkeys((r["model"], r["dataset"]) for r in rows))
    fig, axes = plt.subplots(1, len(bauds), figsize=(5.5 * len(bauds), 4), squeeze=False)
    for ax, baud in zip(axes[0], bauds):
        rs = [next((r for r in rows if (r["model"], r["dataset"]) == m and r["baud"] == baud), None) for m in models]
        xs = range(len(models))
        v1 = [r["v1_round_seconds"] if r else 0 for r in rs]
        v2 = [(r["projected_round_seconds"] or r["round_seconds"]) if r else 0 for r in rs]
        b1 = ax.bar([x - 0.2 for x in xs], v1, 0.4, color="0.6", label="protocol 1 (raw int32, computed)")
        b2 = ax.bar([x + 0.2 for x in xs], v2, 0.4, color="tab:blue", label="protocol 2 (measured, board training)")
        ax.bar_label(b1, labels=[f"{v:.3g} s" for v in v1], fontsize=7)
        ax.bar_label(b2, labels=[f"{v:.3g} s" for v in v2], fontsize=7)
        ax.set_xticks(list(xs), [f"{m}\n{_dataset(d)}" for m, d in models], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("seconds per round (K = 8)")
        ax.set_title(f"{baud:,} baud (8N1)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("round time of physical boards behind a UART: the line-rate model")
    return _save(fig, out / "line_rate.png")


def fleet(doc: dict, out: Path) -> str | None:
    rows = doc.get("fleet") or []
    if not rows:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for board in dict.fromkeys(r["board"] for r in rows):
        rs = sorted((r for r in rows if r["board"] == board), key=lambda r: r["devices"])
        ks = [r["devices"] for r in rs]
        line, = a1.plot(ks, [r["round_seconds"] for r in rs], marker="o", label=board)
        a2.plot(ks, [r["server_overhead_fraction"] for r in rs], marker="o", color=line.get_color(), label=board)
        if all(r.get("server_only_fraction") is not None for r in rs):
            a2.plot(ks, [r["server_only_fraction"] for r in rs], linestyle=":", color=line.get_color(),
                    label=f"{board}: server-only part")
    sizes = sorted({r["devices"] for r in rows})
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(k) for k in sizes])
        ax.set_xlabel("devices")
        ax.grid(alpha=0.3)
    a1.set_yscale("log")
    a1.set_ylabel("round wall time, s")
    a2.set_ylabel("server overhead fraction")
    a2.set_ylim(0, 1.02)
    a1.legend(fontsize=8)
    a2.legend(fontsize=7)
    fig.suptitle(f"fleet scaling ({rows[0].get('model', '')}, one 50-sample buffer per device and round)")
    return _save(fig, out / "fleet.png")


def accuracy(doc: dict, out: Path) -> list[str]:
    """Box plots of the final accuracy per (mode, 1/lr), as the paper draws
    them, with the paper's median beside each box: black where the row ran
    the paper's protocol on the paper's set, grey where it is only a
    reference point (mnist5k, a shortened quick protocol). The y axis spans
    0-1 when some run fell low (a divergence shows as such), else it zooms
    on the boxes and the paper's marks, which would be flat lines at 0-1."""
    rows = [r for r in doc.get("accuracy") or [] if not r.get("small_model")]  # the paper's model only
    names = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == dataset]
        lrs = sorted({r["lr_inv"] for r in rs})
        comparable = all(r.get("comparable", False) for r in rs)
        mark = "k" if comparable else "0.6"
        fig, ax = plt.subplots(figsize=(7, 4))
        for m, (mode, color) in enumerate((("full", "tab:blue"), ("single", "tab:orange"))):
            data = [next((r["test_accuracies"] for r in rs if r["mode"] == mode and r["lr_inv"] == lr), []) for lr in lrs]
            pos = [i * 3 + m for i in range(len(lrs))]
            bp = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True, showfliers=True,
                            medianprops={"color": "k"})
            for box in bp["boxes"]:
                box.set_facecolor(color)
                box.set_alpha(0.6)
            paper = [next((r["paper_median"] for r in rs if r["mode"] == mode and r["lr_inv"] == lr), None) for lr in lrs]
            if any(p is not None for p in paper):  # beside the box, pointing at it
                ax.scatter([p + 0.55 for p, v in zip(pos, paper) if v is not None], [v for v in paper if v is not None],
                           marker="<", s=50, color=mark, zorder=3)
            ax.plot([], [], color=color, linewidth=8, alpha=0.6, label=f"{mode}-network" if mode == "full" else "single-layer")
        if any(r.get("paper_median") is not None for r in rs):
            what = "" if comparable else ", another protocol: for reference only"
            ax.scatter([], [], marker="<", s=50, color=mark,
                       label=f"paper median ({rs[0].get('paper_set')}, 100 runs{what})")
        ax.set_xticks([i * 3 + 0.5 for i in range(len(lrs))], [f"1/lr = {lr}" for lr in lrs])
        ax.set_ylabel("final test accuracy")
        values = [a for r in rs for a in r["test_accuracies"]] + [r["paper_median"] for r in rs
                                                                  if r.get("paper_median") is not None]
        low, high = min(values), max(values)
        ax.set_ylim((0, 1) if low < 0.5 else (max(0.0, low - 0.03), min(1.0, high + 0.02)))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        seeds = len(rs[0]["test_accuracies"])
        buffers, total = rs[0].get("buffers"), rs[0].get("buffers_total")
        short = "" if buffers is None or buffers == total else f", first {buffers} of {total} buffers"
        ax.set_title(f"{dataset}, {rs[0]['model']}, K = 8: {seeds} seeds (feedback, shard order){short}", fontsize=9)
        short = f"idx_{Path(dataset[4:]).name}" if dataset.startswith("idx:") else dataset
        slug = re.sub(r"[^A-Za-z0-9]+", "_", short).strip("_") or "data"
        names.append(_save(fig, out / f"accuracy_{slug}.png"))
    return names


def write_all(doc: dict, out: Path) -> list[str]:
    names = [reference(doc, out), firmware(doc, out), memory(doc, out), wire(doc, out), fleet(doc, out),
             line_rate(doc, out)]
    return [n for n in names if n] + accuracy(doc, out)
