"""The evaluation battery on a real classifier (MiniLM head): every figure agrees with the records."""

from __future__ import annotations

import pytest

from classifier.dataset import load_examples, split
from classifier.embedding import EmbeddingClassifier
from finetune.evaluation import evaluate
from household.errors import InputError


@pytest.fixture(scope="module")
def held_out(embedder, taxonomy, small_questions):
    parts = split(load_examples(small_questions, taxonomy))
    return EmbeddingClassifier.train(embedder, taxonomy, parts.train), parts.test


def test_figures_agree_with_the_records(held_out, taxonomy) -> None:
    head, test = held_out
    ev = evaluate(head, test, latency_sample=5, progress=False)
    correct = [r.correct for r in ev.records]
    assert [r.question for r in ev.records] == [ex.question for ex in test]
    assert [r.expected for r in ev.records] == [ex.code for ex in test]
    assert ev.accuracy == sum(correct) / len(test) and 0 < sum(correct) < len(test)
    assert [r.question for r in ev.misses] == [ex.question for ex, ok in zip(test, correct) if not ok]
    assert ev.invalid == 0

    per_category = ev.per_category()
    assert sum(row["n"] for row in per_category.values()) == len(test)
    assert sum(row["correct"] for row in per_category.values()) == sum(correct)
    labels, matrix = ev.confusion()
    assert labels == taxonomy.codes  # no invalid column for a classifier that cannot answer off the list
    assert sum(matrix[i][i] for i in range(len(matrix))) == sum(correct)
    for name, row in per_category.items():
        assert sum(matrix[taxonomy.index(row["code"])]) == row["n"], name

    latency = ev.latency()
    assert latency["single_n"] == 5 and latency["batch_n"] == len(test) - 5
    assert 0 < latency["p50"] <= latency["p95"] and latency["batch_ms_per_question"] > 0


def test_the_same_questions_classified_singly_or_in_batches_agree(held_out) -> None:
    head, test = held_out
    test = test[:8]
    singly = evaluate(head, test, latency_sample=len(test), progress=False)
    batched = evaluate(head, test, latency_sample=0, progress=False)
    assert [r.predicted for r in singly.records] == [r.predicted for r in batched.records]
    assert singly.latency()["batch_n"] == 0 and batched.latency()["p50"] is None


def test_summary_is_json_ready(held_out) -> None:
    import json

    head, test = held_out
    summary = evaluate(head, test, latency_sample=2, progress=False).summary()
    assert set(summary) == {"name", "n", "correct", "accuracy", "top2_accuracy", "calibration", "two_topic",
                            "widening", "invalid", "latency_ms", "per_category", "confusion", "misses"}
    assert summary["two_topic"] is None and summary["widening"] is None  # no second categories, no threshold given
    assert json.loads(json.dumps(summary)) == summary
    assert all(set(m) >= {"question", "expected", "expected_name", "predicted", "predicted_name", "confidence"}
               for m in summary["misses"])


def test_no_questions_is_an_input_error(held_out) -> None:
    head, _ = held_out
    with pytest.raises(InputError):
        evaluate(head, [], progress=False)



def test_top2_two_topic_and_widening_figures_follow_the_records(taxonomy) -> None:
    from finetune.evaluation import Evaluation, Record

    pool, brick, fountain, car = (taxonomy.find(n).code for n in ("pool", "brick work", "fountain", "car"))
    records = [
        Record("pavers heaving by the skimmer", pool, brick, 0.55, None, (brick, pool), 0.99, brick),  # both topics
        Record("steps down to the fountain", brick, fountain, 0.95, None, (fountain, car), 0.999, None),  # sure, wrong
        Record("oil change", car, car, 0.97, None, (car, pool), 0.99, None),
        Record("pool pump", pool, pool, 0.6, None, (pool, fountain), 0.9, fountain),  # right but unsure: widened
    ]
    ev = Evaluation("t", taxonomy, records, widen_below=0.75)
    assert (ev.accuracy, ev.top2_accuracy) == (0.5, 0.75)
    assert [r.question for r in ev.confident_misses()] == ["steps down to the fountain"]
    assert ev.calibration()["confident_miss_share"] == 0.5 and ev.ece(raw=True) > ev.ece()
    two = ev.two_topic()
    assert (two["n"], two["both_in_top2"], two["either_first"], two["widened"]) == (2, 1.0, 1.0, 1.0)
    assert ev.widening() == {"min_confidence": 0.75, "misses_widened": 1, "misses_recovered": 1, "misses": 2,
                             "right_widened": 1, "right": 2}
