import logging

import pytest
import torch

from classifier.llm import LLMClassifier
from household.errors import InputError
from household.taxonomy import Taxonomy

QUESTIONS = [
    "when did we last backwash the pool filter",
    "who serviced the AC last summer?",
    "Biscuit needs his rabies shot, when is the vet appt",
]


def brute_force(llm: LLMClassifier, question: str) -> list[float]:
    """Reference: the full prompt + question + label through the model, one label at a time, no cache."""
    scores = []
    for label in llm.label_ids:
        ids = llm.prefix_ids + llm.question_ids([question])[0] + label
        with torch.no_grad():
            logp = torch.log_softmax(llm.model(torch.tensor([ids])).logits[0].float(), -1)
        start = len(ids) - len(label)
        scores.append(sum(logp[start - 1 + j, token].item() for j, token in enumerate(label)))
    return scores


@pytest.fixture(scope="module")
def tiny(tiny_lm, taxonomy: Taxonomy) -> LLMClassifier:
    model, tokenizer = tiny_lm
    return LLMClassifier(model, tokenizer, taxonomy)


def test_some_codes_span_several_tokens(tiny: LLMClassifier) -> None:
    # Every label is the code plus the end-of-answer token; SmolLM2 splits many codes in two.
    assert max(len(ids) for ids in tiny.label_ids) >= 3
    assert min(len(ids) for ids in tiny.label_ids) >= 2


def test_scores_equal_full_sequence_likelihood_on_tiny_model(tiny: LLMClassifier) -> None:
    with torch.no_grad():
        scores = tiny.score(QUESTIONS[:2])
    for row, question in zip(scores.tolist(), QUESTIONS):
        assert row == pytest.approx(brute_force(tiny, question), abs=1e-3)
        prediction = tiny.classify(question)
        assert prediction.code == tiny.taxonomy.codes[max(range(len(row)), key=row.__getitem__)]


def test_prefix_cache_equals_uncached(tiny: LLMClassifier) -> None:
    with torch.no_grad():
        cached, uncached = tiny.score(QUESTIONS), tiny.score(QUESTIONS, prefix=False)
    assert torch.allclose(cached, uncached, atol=1e-4)


def test_single_candidate_scoring_matches_the_full_table(tiny: LLMClassifier) -> None:
    with torch.no_grad():
        table = tiny.score(QUESTIONS)
        gold = tiny.score(QUESTIONS, candidates=[[3], [7], [18]]).squeeze(1)
    assert torch.allclose(gold, table[[0, 1, 2], [3, 7, 18]], atol=1e-4)


def test_prediction_is_a_distribution_over_valid_codes(tiny: LLMClassifier) -> None:
    prediction = tiny.classify(QUESTIONS[0])
    assert {code for code, _ in prediction.ranking} == set(tiny.taxonomy.codes)
    assert sum(p for _, p in prediction.ranking) == pytest.approx(1.0)
    assert prediction.confidence == prediction.ranking[0][1]
    assert prediction.category == tiny.taxonomy.by_code(prediction.code).name


def test_batched_results_do_not_depend_on_batch_company(tiny: LLMClassifier) -> None:
    alone = [tiny.classify(q) for q in QUESTIONS]
    together = tiny.classify_many(QUESTIONS)
    for a, b in zip(alone, together):
        assert a.code == b.code and a.confidence == pytest.approx(b.confidence, abs=1e-4)


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 42, ["a list"]])
def test_empty_and_non_text_input_raise_input_error(tiny: LLMClassifier, bad) -> None:
    with pytest.raises(InputError):
        tiny.classify(bad)


def test_over_long_input_is_truncated_with_a_warning(tiny: LLMClassifier, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        prediction = tiny.classify("pool pump " * 2000)
    assert prediction.code in tiny.taxonomy.codes
    assert "truncated" in caplog.text


@pytest.mark.slow
def test_real_smollm2_scores_match_full_sequence_likelihood(smollm, taxonomy: Taxonomy) -> None:
    model, tokenizer = smollm
    llm = LLMClassifier(model, tokenizer, taxonomy)
    with torch.no_grad():
        row = llm.score([QUESTIONS[0]])[0].tolist()
        uncached = llm.score([QUESTIONS[0]], prefix=False)[0].tolist()
    reference = brute_force(llm, QUESTIONS[0])
    assert row == pytest.approx(reference, abs=2e-3)
    assert uncached == pytest.approx(reference, abs=2e-3)
    best = max(range(len(reference)), key=reference.__getitem__)
    assert llm.classify(QUESTIONS[0]).code == taxonomy.codes[best]
