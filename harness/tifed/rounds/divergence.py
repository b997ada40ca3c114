"""Has the run collapsed? (algorithm.md: "Some of those 100 runs fell to
chance level ... the algorithm can diverge".)

A collapsed integer DFA network has its hidden activations stuck on the
flat ends of PLA tanh (inverse slope g = 128), where updates are divided by
128 and learning stops, and it predicts no better than chance. A young
network also scores at chance (round 1 starts from zeros) but its
activations are small, so both signs are required, for `patience`
evaluations in a row (rounds that measured test accuracy, --eval-every), to
tell the two apart. Chance is the share of the test set's most
common class (what always answering that class scores).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import tifed_models

MARGIN = 0.05  # accuracy within this of chance counts as chance
SATURATED = 0.9  # share of hidden activations on the flat ends of PLA tanh
PATIENCE = 3  # evaluations in a row


def chance_level(labels: np.ndarray, classes: int) -> float:
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)
    return float(counts.max() / counts.sum()) if counts.sum() else 1.0 / classes


def at_chance(accuracy: float, chance: float) -> bool:
    """No better than always answering the commonest class (within MARGIN):
    the paper's "fell to chance level"; the bench counts final models so."""
    return accuracy <= chance + MARGIN


def evaluate(model: tifed_models.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(test accuracy, saturation): the prediction is tifed_models.predict's
    (argmax, first index wins); saturation is the share of hidden-layer
    activations (the last layer's for a one-layer model) with g = 128.
    The forward pass is tifed_models.fleet's (the reference's integers); x
    may be given as float64 already, converted once for many calls."""
    acts, slopes = tifed_models.fleet.forward_exact(model, x)
    pred = np.argmax(acts[-1], axis=1)
    accuracy = float(np.mean(pred == y)) if len(y) else 0.0
    hidden = slopes[:-1] or slopes[-1:]
    flat = sum(int(np.count_nonzero(g == 128)) for g in hidden)
    total = sum(g.size for g in hidden)
    return accuracy, (flat / total if total else 0.0)


@dataclasses.dataclass
class DivergenceGuard:
    chance: float
    streak: int = 0
    first_round: int | None = None
    found: dict[str, Any] | None = None

    def observe(self, round_number: int, accuracy: float, saturation: float) -> dict[str, Any] | None:
        """The finding, once, on the round the collapse is confirmed; else None."""
        if self.found is not None:
            return None
        if at_chance(accuracy, self.chance) and saturation >= SATURATED:
            self.streak += 1
            self.first_round = self.first_round or round_number
        else:
            self.streak, self.first_round = 0, None
        if self.streak < PATIENCE:
            return None
        self.found = {
            "round": self.first_round,
            "detected_at_round": round_number,
            "test_accuracy": round(accuracy, 6),
            "chance": round(self.chance, 6),
            "saturation": round(saturation, 4),
            "message": (f"the run collapsed at round {self.first_round}: test accuracy {accuracy:.4f} is at "
                        f"chance ({self.chance:.4f}) with {saturation:.0%} of hidden activations saturated "
                        f"for {PATIENCE} evaluations in a row"),
        }
        return self.found

    def state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "DivergenceGuard":
        return cls(**state)
