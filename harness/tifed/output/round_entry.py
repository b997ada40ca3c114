"""Reading a round's results.json entry (interfaces.md "rounds")."""
from __future__ import annotations

from typing import Any


def measured(entry: dict[str, Any]) -> bool:
    """Did this round measure its own model's test accuracy? A round that
    --eval-every skips carries an earlier round's and names it in
    test_accuracy_round."""
    return entry.get("test_accuracy_round", entry["round"]) == entry["round"]
