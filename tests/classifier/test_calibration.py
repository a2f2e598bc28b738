"""Temperature scaling: it lowers the ECE of an over-confident scorer, keeps every ranking, and is what
Prediction's confidence uses."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.calibration import expected_calibration_error, fit_temperature, reliability, softmax
from classifier.prediction import Prediction


def scorer(sharpness: float, n: int = 3000, classes: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Log-scores `sharpness` times the true log-odds, and labels drawn from the true probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, classes))
    probs = softmax(logits)
    gold = np.array([rng.choice(classes, p=row) for row in probs])
    return sharpness * logits, gold


def ece(scores: np.ndarray, gold: np.ndarray, temperature: float = 1.0) -> float:
    probs = softmax(scores, temperature)
    return expected_calibration_error(probs.max(1), probs.argmax(1) == gold)


def test_calibration_lowers_the_ece_of_an_over_confident_scorer() -> None:
    scores, gold = scorer(sharpness=5.0)
    fit, check = slice(0, 1500), slice(1500, None)  # fitted on one half, measured on the other
    temperature = fit_temperature(scores[fit], gold[fit])
    assert 3.5 < temperature < 7.0  # the true over-confidence is 5x
    before, after = ece(scores[check], gold[check]), ece(scores[check], gold[check], temperature)
    assert before > 0.3 and after < 0.05
    over_sure = softmax(scores[check]).max(1) >= 0.9
    assert softmax(scores[check], temperature).max(1)[over_sure].mean() < 0.9  # sure answers now say less


def test_an_under_confident_scorer_gets_a_temperature_below_one() -> None:
    scores, gold = scorer(sharpness=0.3)
    temperature = fit_temperature(scores, gold)
    assert temperature < 0.5
    assert ece(scores, gold, temperature) < ece(scores, gold) / 3


def test_a_calibrated_scorer_keeps_its_temperature_near_one() -> None:
    scores, gold = scorer(sharpness=1.0)
    assert fit_temperature(scores, gold) == pytest.approx(1.0, abs=0.15)


def test_reliability_bins_cover_every_answer() -> None:
    confidence, correct = [0.05, 0.55, 0.58, 0.95, 1.0], [False, True, False, True, True]
    bins = reliability(confidence, correct)
    assert [(b.low, b.n) for b in bins] == [(0.0, 1), (0.5, 2), (0.9, 2)]
    assert bins[1].accuracy == 0.5 and bins[1].confidence == pytest.approx(0.565)
    expected = (1 * 0.05 + 2 * abs(0.5 - 0.565) + 2 * abs(1.0 - 0.975)) / 5
    assert expected_calibration_error(confidence, correct) == pytest.approx(expected)


def test_a_temperature_changes_the_confidence_not_the_ranking(taxonomy) -> None:
    scores = [-0.5 * i for i in range(len(taxonomy))]
    raw, scaled = Prediction.from_scores(scores, taxonomy), Prediction.from_scores(scores, taxonomy, temperature=4.0)
    assert [c for c, _ in raw.ranking] == [c for c, _ in scaled.ranking]
    assert scaled.confidence < raw.confidence and scaled.scores == raw.scores == tuple(scores)
    assert sum(p for _, p in scaled.ranking) == pytest.approx(1.0)
