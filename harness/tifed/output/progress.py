"""What `tifed run` shows while it runs and when it ends.

On a terminal: a rich progress bar (round, buffer, accuracy, bit-exactness).
Anywhere else (a pipe, a CI log): one plain line per round, so logs stay
readable. The summary at the end is plain lines either way, easy to grep.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tifed.output.round_entry import measured as was_measured


def _check(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "off"}[value]


class RunProgress:
    def __init__(self, total_rounds: int, title: str, stream: TextIO | None = None, devices: int = 0):
        self.total = total_rounds
        self.devices = devices
        self.title = title
        self.stream = stream if stream is not None else sys.stdout
        self.fancy = bool(getattr(self.stream, "isatty", lambda: False)())
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "RunProgress":
        if self.fancy:
            from rich.console import Console

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("acc {task.fields[acc]}  bit-exact {task.fields[exact]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total, acc="-", exact="-")
        else:
            print(f"{self.title}: {self.total} rounds", file=self.stream, flush=True)
        return self

    def round_done(self, entry: dict[str, Any]) -> None:
        measured = was_measured(entry)
        acc = f"{entry['test_accuracy']:.4f}" if measured else "-"
        if self._progress is not None:
            update = {"acc": acc} if measured else {}  # the bar keeps the last measured accuracy
            self._progress.update(self._task, completed=entry["round"], exact=_check(entry["bitexact"]), **update)
            return
        line = (
            f"round {entry['round']}/{self.total} buffer {entry['buffer']} test_accuracy {acc} "
            f"bitexact {_check(entry['bitexact'])} wire_bytes {entry['wire_bytes']} seconds {entry['seconds']:.3f}"
        )
        if entry.get("mismatched_devices"):
            line += f" mismatched_devices {','.join(map(str, entry['mismatched_devices']))}"
        if entry.get("retransmissions"):
            line += f" retransmissions {entry['retransmissions']}"
        if len(entry.get("devices_used", ())) < self.devices:
            line += f" devices_used {','.join(map(str, entry['devices_used']))}"
        print(line, file=self.stream, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_summary(final: dict[str, Any], results_path: str, stream: TextIO | None = None) -> None:
    stream = stream if stream is not None else sys.stdout
    acc = final.get("test_accuracy")
    best = final.get("best_test_accuracy")
    lines = [
        f"rounds: {final['rounds']}",
        f"final test accuracy: {'-' if acc is None else f'{acc:.4f}'}"
        + ("" if best is None else f" (best {best:.4f})"),
        f"bit-exact: {_check(final['bitexact_all'])}",
        f"wall time: {final['wall_seconds']:.1f} s",
        f"wire bytes: {final.get('wire_bytes', 0)}",
    ]
    if final.get("retransmissions"):
        lines.append(f"retransmissions: {final['retransmissions']}")
    for dropped in final.get("dropped_devices") or ():
        lines.append(f"dropped: device {dropped['device']} in round {dropped['round']}: {dropped['reason']}")
    if final.get("divergence"):
        lines.append(f"diverged: {final['divergence']['message']}")
    if final.get("stopped"):
        lines.append(f"stopped early: {final['stopped']}")
    lines.append(f"results: {results_path}")
    for line in lines:
        print(line, file=stream)
    stream.flush()
