"""A `tifed step` case made up for an acceptance test (interfaces.md "tifed
step"), and the comparison of two engines' results (the case maker and the
comparison themselves live in tifed.step_cases, shared with pytest users)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tifed.step_cases import first_difference, make_case

__all__ = ["first_difference", "load", "make_case", "trained_keys"]


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def trained_keys(case: dict[str, np.ndarray], result: dict[str, np.ndarray]) -> list[str]:
    """The weight and bias arrays the step changed."""
    keys = [k for k in case if k[:1] in "wb" and k[1:].isdigit()]
    return sorted(k for k in keys if k in result and not np.array_equal(case[k], result[k]))
