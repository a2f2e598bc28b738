"""What every classifier returns, and the one small interface they share."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from household.errors import InputError
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """A category with its confidence and ranking, the raw scores behind them, and who produced it.

    `version` names the model that made the prediction (a version such as v0003, "base", "default"):
    a correction is stamped with it, so the next fine-tune knows which model was wrong. `origin` is
    "classifier", or "correction" when an earlier correction of the same question decided it.
    """

    code: str
    category: str
    confidence: float
    ranking: list[tuple[str, float]]  # (code, probability), best first
    scores: tuple[float, ...] = ()  # the classifier's raw per-code log-scores, in taxonomy order
    text: str | None = None  # what a generating classifier wrote (None for scorers, which write nothing)
    version: str = ""
    origin: str = "classifier"

    @classmethod
    def from_scores(
        cls, scores: Sequence[float], taxonomy: Taxonomy, version: str = "", temperature: float = 1.0
    ) -> "Prediction":
        """Softmax over per-code log-scores (log-likelihoods or logits) divided by the classifier's calibrated
        temperature (classifier/calibration.py), in taxonomy order; `scores` keeps the raw log-scores."""
        top = max(scores)
        weights = [math.exp((s - top) / temperature) for s in scores]
        total = sum(weights)
        ranking = sorted(zip(taxonomy.codes, (w / total for w in weights)), key=lambda kv: -kv[1])
        code, confidence = ranking[0]
        return cls(code, taxonomy.by_code(code).name, confidence, ranking, tuple(float(s) for s in scores), version=version)

    def top(self, n: int = 3) -> list[tuple[str, float]]:
        return self.ranking[:n]

    def as_dict(self, taxonomy: Taxonomy, n: int = 3) -> dict[str, Any]:
        return {
            "code": self.code,
            "category": self.category,
            "confidence": round(self.confidence, 4),
            "top": [
                {"code": c, "category": taxonomy.by_code(c).name, "confidence": round(p, 4)} for c, p in self.top(n)
            ],
        }


class Classifier(Protocol):
    """`classify` one question; `classify_many` batches for evaluation and ingest."""

    taxonomy: Taxonomy
    name: str
    version: str  # stamped on every Prediction (see Prediction.version)
    temperature: float  # divides the log-scores before the softmax: 1.0 raw, else the version's calibration

    def classify(self, question: str) -> Prediction: ...

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]: ...


def clean_question(question: object, max_chars: int) -> str:
    """Reject non-text and empty input; truncate over-long input with a warning."""
    if not isinstance(question, str):
        raise InputError(f"a question must be text, not {type(question).__name__}")
    text = " ".join(question.split())
    if not text:
        raise InputError("the question is empty")
    if len(text) > max_chars:
        log.warning("question of %d characters truncated to %d", len(text), max_chars)
        text = text[:max_chars]
    return text
