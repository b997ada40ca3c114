"""accuracy.png: test accuracy per round, with the buffer boundaries marked."""
from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in threads and on CI
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from tifed.output.round_entry import measured as was_measured  # noqa: E402


def accuracy_png(rounds: list[dict[str, Any]], title: str = "") -> bytes:
    """Only the rounds that measured test accuracy (--eval-every) are points."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        measured = [r for r in rounds if was_measured(r)]
        xs = [r["round"] for r in measured]
        ys = [r["test_accuracy"] for r in measured]
        ax.plot(xs, ys, marker="." if len(xs) < 60 else None, linewidth=1.5)
        starts = [r["round"] for prev, r in zip(rounds, rounds[1:]) if r["buffer"] != prev["buffer"]]
        for x in starts:
            ax.axvline(x - 0.5, color="0.85", linewidth=0.8, zorder=0)
        bad = [r for r in measured if r.get("bitexact") is False]
        if bad:
            ax.scatter([r["round"] for r in bad], [r["test_accuracy"] for r in bad], color="red",
                       zorder=3, label="not bit-exact")
            ax.legend(loc="lower right")
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0.0, 1.0)
        if rounds:
            ax.set_xlim(0.5, rounds[-1]["round"] + 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(title or "test accuracy")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)

