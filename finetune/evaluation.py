"""The evaluation battery: accuracy, top-2 accuracy, calibration (ECE before and after, confident misses),
two-topic questions, per-category accuracy, confusion, invalid answers, latency, misses.

Latency is measured the way a user meets it: one question at a time (after one warm-up call, so a
one-off prefix cache does not count) for a small sample; the rest are classified in batches, which
gives the throughput that ingest and evaluation see.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from classifier.calibration import Bin, expected_calibration_error, reliability, softmax
from classifier.dataset import Example
from classifier.prediction import Classifier, Prediction
from household.errors import InputError
from household.taxonomy import Taxonomy

INVALID_LABEL = "invalid"
CONFIDENT = 0.9  # a wrong answer this sure is one the widening cannot recover


@dataclass(frozen=True)
class Record:
    question: str
    expected: str  # code
    predicted: str  # code, "" when the answer held no valid label
    confidence: float
    output: str | None = None  # the raw generated answer, for generating classifiers
    top2: tuple[str, ...] = ()  # the two best codes
    raw_confidence: float | None = None  # the top probability before calibration (temperature 1)
    second: str | None = None  # a two-topic question's other category

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected

    @property
    def top2_correct(self) -> bool:
        return self.expected in self.top2

    @property
    def both_topics(self) -> bool:
        """A two-topic question whose two best codes are its two topics."""
        return self.second is not None and {self.expected, self.second} == set(self.top2)


@dataclass
class Evaluation:
    name: str
    taxonomy: Taxonomy
    records: list[Record]
    single_ms: list[float] = field(default_factory=list)  # one-question latencies
    batch_seconds: float = 0.0
    batch_questions: int = 0
    widen_below: float | None = None  # Settings.min_confidence: retrieval searches the top 2 below it

    @property
    def accuracy(self) -> float:
        return sum(r.correct for r in self.records) / len(self.records)

    @property
    def top2_accuracy(self) -> float:
        return sum(r.top2_correct for r in self.records) / len(self.records)

    def ece(self, raw: bool = False) -> float:
        """Expected calibration error of the confidences (`raw`: before calibration)."""
        confidence = [r.raw_confidence if raw and r.raw_confidence is not None else r.confidence for r in self.records]
        return expected_calibration_error(confidence, [r.correct for r in self.records])

    def reliability(self, raw: bool = False) -> list[Bin]:
        confidence = [r.raw_confidence if raw and r.raw_confidence is not None else r.confidence for r in self.records]
        return reliability(confidence, [r.correct for r in self.records])

    def confident_misses(self, threshold: float = CONFIDENT) -> list[Record]:
        return [r for r in self.misses if r.confidence >= threshold]

    def calibration(self) -> dict[str, Any]:
        """ECE before and after calibration, and how many wrong answers were given with confidence >= 0.9."""
        misses = self.misses
        return {
            "ece": round(self.ece(), 4),
            "ece_raw": round(self.ece(raw=True), 4),
            "confident_misses": len(self.confident_misses()),
            "confident_miss_share": round(len(self.confident_misses()) / len(misses), 4) if misses else 0.0,
            "reliability": [asdict(b) for b in self.reliability()],
        }

    def two_topic(self) -> dict[str, Any] | None:
        """The two-topic questions: both topics in the top 2, either topic first, and how unsure it said it was."""
        rows = [r for r in self.records if r.second is not None]
        if not rows:
            return None
        out = {
            "n": len(rows),
            "both_in_top2": round(sum(r.both_topics for r in rows) / len(rows), 4),
            "either_first": round(sum(r.predicted in (r.expected, r.second) for r in rows) / len(rows), 4),
            "mean_confidence": round(float(np.mean([r.confidence for r in rows])), 4),
        }
        if self.widen_below is not None:
            out["widened"] = round(sum(r.confidence < self.widen_below for r in rows) / len(rows), 4)
        return out

    def widening(self) -> dict[str, Any] | None:
        """What retrieval's widening does with these confidences: misses it widens (and, with the right
        category in the top 2, recovers), and right answers it widens needlessly."""
        if self.widen_below is None:
            return None
        misses = self.misses
        widened = [r for r in misses if r.confidence < self.widen_below]
        return {
            "min_confidence": self.widen_below,
            "misses_widened": len(widened),
            "misses_recovered": sum(r.top2_correct for r in widened),
            "misses": len(misses),
            "right_widened": sum(r.correct and r.confidence < self.widen_below for r in self.records),
            "right": len(self.records) - len(misses),
        }

    @property
    def invalid(self) -> int:
        return sum(not r.predicted for r in self.records)

    @property
    def misses(self) -> list[Record]:
        return [r for r in self.records if not r.correct]

    def latency(self) -> dict[str, float | int | None]:
        single = np.array(self.single_ms) if self.single_ms else None
        per_question = 1000 * self.batch_seconds / self.batch_questions if self.batch_questions else None
        return {
            "p50": round(float(np.percentile(single, 50)), 2) if single is not None else None,
            "p95": round(float(np.percentile(single, 95)), 2) if single is not None else None,
            "single_n": len(self.single_ms),
            "batch_ms_per_question": round(per_question, 2) if per_question is not None else None,
            "batch_n": self.batch_questions,
        }

    def per_category(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for category in self.taxonomy:
            rows = [r for r in self.records if r.expected == category.code]
            if rows:
                correct = sum(r.correct for r in rows)
                out[category.name] = {
                    "code": category.code, "n": len(rows), "correct": correct, "accuracy": round(correct / len(rows), 4)
                }
        return out

    def confusion(self) -> tuple[list[str], list[list[int]]]:
        """Rows: expected code; columns: predicted code, plus an `invalid` column when there were any."""
        labels = list(self.taxonomy.codes) + ([INVALID_LABEL] if self.invalid else [])
        index = {code: i for i, code in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in self.taxonomy.codes]
        for r in self.records:
            matrix[index[r.expected]][index[r.predicted or INVALID_LABEL]] += 1
        return labels, matrix

    def summary(self) -> dict[str, Any]:
        labels, matrix = self.confusion()
        return {
            "name": self.name,
            "n": len(self.records),
            "correct": sum(r.correct for r in self.records),
            "accuracy": round(self.accuracy, 4),
            "top2_accuracy": round(self.top2_accuracy, 4),
            "calibration": self.calibration(),
            "two_topic": self.two_topic(),
            "widening": self.widening(),
            "invalid": self.invalid,
            "latency_ms": self.latency(),
            "per_category": self.per_category(),
            "confusion": {"labels": labels, "matrix": matrix},
            "misses": [self._row(r) for r in self.misses],
        }

    def _row(self, r: Record) -> dict[str, Any]:
        row = {
            "question": r.question,
            "expected": r.expected,
            "expected_name": self.taxonomy.by_code(r.expected).name,
            "predicted": r.predicted or INVALID_LABEL,
            "predicted_name": self.taxonomy.by_code(r.predicted).name if r.predicted else INVALID_LABEL,
            "confidence": round(r.confidence, 4),
        }
        if r.output is not None:
            row["output"] = r.output
        return row

    def predictions(self) -> list[dict[str, Any]]:
        """Every question with its answer: predictions.jsonl."""
        return [{**self._row(r), "correct": r.correct} for r in self.records]


@dataclass(frozen=True)
class Skipped:
    """A scenario that could not run (no adapter trained in that label mode yet), and why."""

    name: str
    reason: str

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "skipped": self.reason}


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    name: str | None = None,
    latency_sample: int = 20,
    batch_size: int = 64,
    progress: bool = True,
    widen_below: float | None = None,
) -> Evaluation:
    """Classify every example: the first `latency_sample` one by one (timed), the rest in batches."""
    if not examples:
        raise InputError("there are no questions to evaluate")
    questions = [ex.question for ex in examples]
    label = name or classifier.name
    classifier.classify(questions[0])  # warm-up: prefix caches, lazy weights
    predictions, single_ms = [], []
    bar = tqdm(total=len(questions), desc=f"evaluating {label}", unit="q", disable=not progress)
    for question in questions[:latency_sample]:
        start = time.perf_counter()
        predictions.append(classifier.classify(question))
        single_ms.append(1000 * (time.perf_counter() - start))
        bar.update(1)
    rest = questions[latency_sample:]
    start = time.perf_counter()
    for i in range(0, len(rest), batch_size):
        predictions.extend(classifier.classify_many(rest[i : i + batch_size]))
        bar.update(len(rest[i : i + batch_size]))
    batch_seconds = time.perf_counter() - start
    bar.close()
    records = [Record(ex.question, ex.code, p.code, p.confidence, p.text, tuple(c for c, _ in p.ranking[:2]),
                      raw_confidence(p), ex.second_code) for ex, p in zip(examples, predictions)]
    return Evaluation(label, classifier.taxonomy, records, single_ms, batch_seconds, len(rest), widen_below)


def raw_confidence(prediction: Prediction) -> float:
    """The top probability of the raw scores (temperature 1), or the confidence itself when there are none."""
    if not prediction.scores:
        return prediction.confidence
    return float(softmax(np.array([prediction.scores])).max())
