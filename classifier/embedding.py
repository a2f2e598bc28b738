"""Classifiers on sentence embeddings: a trained logistic-regression head, and a zero-shot router.

The head trains in seconds from the labelled dataset, so it is the instant default before any
LoRA adapter exists and the baseline a fine-tune has to beat. The router needs no training at
all: it compares the question with each category's name and scope note.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from classifier.dataset import Example
from classifier.prediction import Prediction, clean_question
from household.errors import ModelNotFoundError
from household.taxonomy import Taxonomy

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EmbeddingClassifier:
    """MiniLM embeddings + multinomial logistic regression over the taxonomy's codes."""

    name = "embedding"
    version = ""
    temperature = 1.0

    def __init__(
        self, embedder: "SentenceTransformer", taxonomy: Taxonomy, coef: np.ndarray, intercept: np.ndarray,
        max_chars: int = 1000,
    ) -> None:
        self.embedder, self.taxonomy, self.max_chars = embedder, taxonomy, max_chars
        self.coef, self.intercept = coef, intercept

    @classmethod
    def train(
        cls, embedder: "SentenceTransformer", taxonomy: Taxonomy, examples: Sequence[Example], c: float = 10.0,
        max_chars: int = 1000,
    ) -> "EmbeddingClassifier":
        from sklearn.linear_model import LogisticRegression

        x = embed(embedder, [ex.question for ex in examples])
        y = np.array([taxonomy.index(ex.code) for ex in examples])
        head = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        coef = np.zeros((len(taxonomy), x.shape[1]), dtype=np.float32)
        intercept = np.full(len(taxonomy), -1e4, dtype=np.float32)  # classes absent from training: never chosen
        coef[head.classes_], intercept[head.classes_] = head.coef_, head.intercept_
        return cls(embedder, taxonomy, coef, intercept, max_chars)

    def save(self, path: Path) -> None:
        """Write the head (coefficients, the codes they belong to, its temperature) as a small .npz, atomically.

        The temperature is the one the default head uses; a version's parts take theirs from version.json.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, coef=self.coef, intercept=self.intercept, codes=np.array(self.taxonomy.codes),
                 temperature=np.array(self.temperature))
        tmp.replace(path)

    @classmethod
    def load(
        cls, path: Path, embedder: "SentenceTransformer", taxonomy: Taxonomy, max_chars: int = 1000
    ) -> "EmbeddingClassifier":
        """A head written by `save`; one trained for another taxonomy is refused rather than misread."""
        saved = np.load(path)
        if list(saved["codes"]) != taxonomy.codes:
            raise ModelNotFoundError(f"the embedding head {path} was trained for another taxonomy: retrain it")
        head = cls(embedder, taxonomy, saved["coef"], saved["intercept"], max_chars)
        head.temperature = float(saved["temperature"]) if "temperature" in saved.files else 1.0
        return head

    def log_probs(self, questions: Sequence[str]) -> np.ndarray:
        """[B, C] log-probabilities in taxonomy order (used by the ensemble)."""
        x = embed(self.embedder, [clean_question(q, self.max_chars) for q in questions])
        logits = x @ self.coef.T + self.intercept
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        return [Prediction.from_scores(row, self.taxonomy, self.version, self.temperature)
                for row in self.log_probs(questions).tolist()]


class ZeroShotRouter:
    """Cosine between the question and each category's 'name: scope' text, no training."""

    name = "zero-shot"
    version = "zero-shot"

    def __init__(self, embedder: "SentenceTransformer", taxonomy: Taxonomy, temperature: float = 0.05) -> None:
        self.embedder, self.taxonomy, self.temperature = embedder, taxonomy, temperature
        self.anchors = embed(embedder, [f"{c.name}: {c.scope}" for c in taxonomy])

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        x = embed(self.embedder, [clean_question(q, 10_000) for q in questions])
        sims = x @ self.anchors.T / self.temperature
        return [Prediction.from_scores(row, self.taxonomy, self.version) for row in sims.tolist()]


def embed(embedder: "SentenceTransformer", texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    return embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
