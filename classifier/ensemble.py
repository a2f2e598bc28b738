"""Sum of the LLM's code log-probabilities and the embedding head's, weighted.

The two make different mistakes (the LLM reads phrasing, the head reads topic), so their sum
can beat both; `household finetune` chooses the weight on the held-out calibration part (classifier/heldout.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from classifier.embedding import EmbeddingClassifier
from classifier.llm import LLMClassifier
from classifier.prediction import Prediction


class EnsembleClassifier:
    name = "ensemble"

    def __init__(
        self, llm: LLMClassifier, embedding: EmbeddingClassifier, weight: float = 1.0, temperature: float = 1.0
    ) -> None:
        self.llm, self.embedding, self.weight, self.temperature = llm, embedding, weight, temperature
        self.taxonomy, self.version = llm.taxonomy, llm.version

    def log_probs(self, questions: Sequence[str]) -> np.ndarray:
        """The raw sum (each part uncalibrated, as the weight was chosen); the ensemble's own temperature
        calibrates the sum."""
        with torch.no_grad():
            llm = torch.log_softmax(llm_scores(self.llm, questions), -1).cpu().numpy()
        return llm + self.weight * self.embedding.log_probs(questions)

    def classify(self, question: str) -> Prediction:
        return self.classify_many([question])[0]

    def classify_many(self, questions: Sequence[str]) -> list[Prediction]:
        return [Prediction.from_scores(row, self.taxonomy, self.version, self.temperature)
                for row in self.log_probs(questions).tolist()]


def llm_scores(llm: LLMClassifier, questions: Sequence[str]) -> torch.Tensor:
    """All-label scores for many questions, in batches of the classifier's size."""
    parts = [llm.score(questions[i : i + llm.batch_size]) for i in range(0, len(questions), llm.batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, len(llm.label_ids))
