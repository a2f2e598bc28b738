"""Maps a household question to one opaque category code (LLM scorer, embedding head, or both)."""

from classifier.prediction import Classifier, Prediction

__all__ = ["Classifier", "Prediction"]
