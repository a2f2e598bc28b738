"""Corrections that take effect at once, measured on the held-out set.

The chat's "Wrong category?" calls `Assistant.correct`; from the next question on, a question
within `correction_similarity` (cosine) of a corrected one gets the corrected category
(classifier/corrected.py). Measured here through that same path: correct k of the classifier's
held-out misses (the first k in file order, not chosen), then ask every held-out text again and count
  - the corrected questions' paraphrases that are now right (they were written for this: 2 per row);
  - every other held-out text (other rows and their paraphrases) whose answer changed, for the
    better or the worse: a correction must not capture questions it was not about.
Every text is classified once; the threshold sweep replays those predictions behind a fresh
Assistant, so choosing `correction_similarity` (on the calibration part only) costs little.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from classifier.heldout import HeldOutQuestion
from classifier.prediction import Classifier, Prediction
from household.settings import Settings
from household.taxonomy import Taxonomy


@dataclass(frozen=True)
class Change:
    text: str
    expected: str
    before: str
    after: str


@dataclass(frozen=True)
class CorrectionReport:
    threshold: float
    corrected: int  # held-out misses corrected
    paraphrases: int  # their paraphrases
    paraphrases_right_before: int
    paraphrases_right_after: int
    others: int  # every other held-out text
    others_right_before: int
    others_right_after: int
    dropped: tuple[Change, ...]  # other texts right before the corrections, wrong after
    fixed: int  # other texts wrong before, right after (a correction that generalised)

    @property
    def paraphrase_rate(self) -> float:
        return self.paraphrases_right_after / self.paraphrases if self.paraphrases else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "paraphrase_rate": round(self.paraphrase_rate, 4)}


class Replay:
    """A classifier that answers from predictions already made (each text classified once for the sweep)."""

    def __init__(self, inner: Classifier, predictions: dict[str, Prediction]) -> None:
        self.taxonomy, self.name, self.version = inner.taxonomy, inner.name, inner.version
        self.temperature = getattr(inner, "temperature", 1.0)
        self.predictions = predictions

    def classify(self, question: str) -> Prediction:
        return self.predictions[question]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        return [self.predictions[q] for q in questions]


def evaluate_corrections(
    settings: Settings, taxonomy: Taxonomy, classifier: Classifier, rows: Sequence[HeldOutQuestion],
    k: int | None = None, thresholds: Sequence[float] | None = None, batch_size: int = 64,
) -> list[CorrectionReport]:
    """One report per threshold (default: `settings.correction_similarity`) after correcting k misses (None: all)."""
    from chatbot.assistant import Assistant

    texts = list(dict.fromkeys(text for row in rows for text in row.texts()))
    predictions: dict[str, Prediction] = {}
    for i in range(0, len(texts), batch_size):
        predictions.update(zip(texts[i : i + batch_size], classifier.classify_many(texts[i : i + batch_size])))
    misses = [row for row in rows if predictions[row.question].code != row.code][:k]
    corrected_groups = {row.group_id for row in misses}
    paraphrases = [(text, row.code) for row in misses for text in row.paraphrases]
    others = [(text, row.code) for row in rows if row.group_id not in corrected_groups for text in row.texts()]
    reports = []
    with tempfile.TemporaryDirectory(prefix="household-corrections-") as tmp:
        assistant = Assistant(settings.replace(data_dir=Path(tmp)), taxonomy, classifier=Replay(classifier, predictions))
        for row in misses:
            assistant.correct(row.question, predictions[row.question], row.code)  # no context: a standalone question
        for threshold in thresholds or [settings.correction_similarity]:
            assistant.classifier.threshold = threshold
            after = dict(zip(texts, assistant.classifier.classify_many(texts)))
            dropped = tuple(Change(t, code, predictions[t].code, after[t].code) for t, code in others
                            if predictions[t].code == code != after[t].code)
            reports.append(CorrectionReport(
                threshold, len(misses), len(paraphrases),
                sum(predictions[t].code == code for t, code in paraphrases),
                sum(after[t].code == code for t, code in paraphrases),
                len(others), sum(predictions[t].code == code for t, code in others),
                sum(after[t].code == code for t, code in others), dropped,
                sum(predictions[t].code != code == after[t].code for t, code in others),
            ))
    return reports
