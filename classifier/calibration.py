"""Confidence the product can act on: temperature scaling of each classifier's log-scores, and its measures.

A softmax over a fine-tuned model's log-scores is over-confident: it says 0.999 on questions it
gets wrong, so retrieval's widening (which triggers on low confidence) never sees them. Dividing
the log-scores by one temperature T > 1, fitted by maximum likelihood on questions the model was
not trained on, keeps every ranking as it was and makes the top confidence a probability: of the
answers given with confidence ~0.7, ~70% are right. Expected calibration error (ECE) measures how
far from that a classifier is; the reliability diagram in the eval report shows it per bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

BINS = 10
ROLES = ("llm", "embedding", "ensemble")
BOUNDS = (0.01, 20.0)  # the inverse temperature searched: T from 0.05 to 100


@dataclass(frozen=True)
class Calibration:
    """The temperature of each classifier role, where it was fitted, and the ECE there before and after."""

    temperature: dict[str, float]  # by role: llm, embedding, ensemble
    fitted_on: str  # what data, e.g. "held-out writers a,b: 315 questions"
    n: int
    ece_before: dict[str, float] = field(default_factory=dict)
    ece_after: dict[str, float] = field(default_factory=dict)

    def of(self, role: str) -> float:
        return self.temperature.get(role, 1.0)


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(scores: np.ndarray, gold: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the gold labels under softmax(scores / temperature)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    top = z.max(axis=1, keepdims=True)
    log_norm = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(log_norm - z[np.arange(len(gold)), gold]))


def fit_temperature(scores: np.ndarray, gold: np.ndarray) -> float:
    """The temperature that maximises the likelihood of `gold` (the NLL is convex in 1/T, so one minimum)."""
    from scipy.optimize import minimize_scalar

    if len(gold) == 0:
        return 1.0
    found = minimize_scalar(lambda beta: nll(scores, gold, 1.0 / beta), bounds=BOUNDS, method="bounded")
    return round(float(1.0 / found.x), 4)


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float:
    """Share-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    return sum(row.n * abs(row.accuracy - row.confidence) for row in reliability(confidence, correct, bins)) / max(
        1, len(confidence))


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    n: int
    confidence: float  # mean confidence in the bin
    accuracy: float


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[Bin]:
    """The non-empty bins of a reliability diagram (confidence in [low, high), the last bin closed)."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    return [Bin(b / bins, (b + 1) / bins, int((index == b).sum()), float(conf[index == b].mean()),
                float(ok[index == b].mean())) for b in range(bins) if (index == b).any()]
