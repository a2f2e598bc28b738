"""Corrections that take effect at once: a question close to one the family corrected gets their category.

A fine-tune folds corrections into the model durably, but it takes minutes and runs when someone
starts it. Until then this wrapper remembers every correction (question -> code) and, when a new
question's MiniLM embedding is within `threshold` cosine of a corrected one, answers with the
corrected code (origin "correction"); any other question goes to the wrapped classifier unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from classifier.embedding import embed
from classifier.prediction import Classifier, Prediction, clean_question

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class CorrectedClassifier:
    def __init__(self, inner: Classifier, embedder: "SentenceTransformer", threshold: float, max_chars: int = 1000):
        self.inner, self.embedder, self.threshold, self.max_chars = inner, embedder, threshold, max_chars
        self.taxonomy, self.name, self.version = inner.taxonomy, inner.name, inner.version
        self.temperature = getattr(inner, "temperature", 1.0)
        self._codes: list[str] = []
        self._vectors = np.zeros((0, 1), dtype=np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def remember(self, corrections: Sequence[tuple[str, str]]) -> None:
        """Replace the memory with these (question, code) pairs; codes outside the taxonomy are ignored."""
        kept = [(q, c) for q, c in corrections if c in self.taxonomy.codes]
        new = [q for q, _ in kept if q not in self._cache]
        if new:
            self._cache.update(zip(new, embed(self.embedder, new)))
        self._codes = [c for _, c in kept]
        self._vectors = np.stack([self._cache[q] for q, _ in kept]) if kept else np.zeros((0, 1), dtype=np.float32)

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        predictions = self.inner.classify_many(questions)
        if not self._codes or not predictions:
            return predictions
        vectors = embed(self.embedder, [clean_question(q, self.max_chars) for q in questions])
        similarity = vectors @ self._vectors.T
        out = []
        for prediction, row in zip(predictions, similarity):
            best = int(row.argmax())
            out.append(self._corrected(prediction, self._codes[best], float(row[best]))
                       if row[best] >= self.threshold else prediction)
        return out

    def _corrected(self, prediction: Prediction, code: str, similarity: float) -> Prediction:
        """The corrected code first, with the similarity as its confidence; the rest keep their order."""
        rest = [(c, p) for c, p in prediction.ranking if c != code]
        total = sum(p for _, p in rest) or 1.0
        ranking = [(code, similarity)] + [(c, (1 - similarity) * p / total) for c, p in rest]
        return replace(prediction, code=code, category=self.taxonomy.by_code(code).name, confidence=similarity,
                       ranking=ranking, origin="correction")
