"""What every bench section collects: its rows, and the cases it skipped
with the reason (bench.json "skipped"), so a case that cannot run here is
reported instead of failing the whole bench."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from tifed.errors import TifedError, one_line


@dataclasses.dataclass
class Skipped:
    section: str
    what: str
    reason: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def measure_each(section: str, cases: Iterable[Any], describe: Callable[[Any], str],
                 row_of: Callable[[Any], dict], summary: Callable[[dict], str],
                 log=print) -> tuple[list[dict], list[Skipped]]:
    """One row per case; a case whose measurement raises TifedError becomes
    a Skipped with the error's first line, and the next case runs. Logs
    "  <section> <what>: <summary(row)>" for every row measured."""
    rows: list[dict] = []
    skipped: list[Skipped] = []
    for case in cases:
        what = describe(case)
        try:
            row = row_of(case)
        except TifedError as exc:
            skipped.append(Skipped(section, what, one_line(exc)))
            continue
        log(f"  {section} {what}: {summary(row)}")
        rows.append(row)
    return rows, skipped
