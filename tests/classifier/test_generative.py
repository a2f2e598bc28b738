"""The seed-style generating baseline: parsing a label out of free text, and counting invalid answers."""

from __future__ import annotations

import copy

import pytest
import torch

from classifier.dataset import Example
from classifier.generative import GenerativeClassifier, parse_label
from finetune.evaluation import evaluate


@pytest.fixture
def coder(tiny_lm, taxonomy) -> GenerativeClassifier:
    model, tokenizer = tiny_lm
    return GenerativeClassifier(copy.deepcopy(model), tokenizer, taxonomy, "code")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OO", "OO"),
        ("The code is GI.", "GI"),
        ("ZM, or maybe OO", "ZM"),  # the first valid code counts
        ("XX then YE", "YE"),  # XX is no code
        ("QFX", None),  # part of a longer word
        ("oo", None),  # codes are capitals, as the prompt asks
        ("pool", None),
        ("", None),
    ],
)
def test_parse_codes(taxonomy, text: str, expected: str | None) -> None:
    assert parse_label(text, taxonomy, "code") == expected


@pytest.mark.parametrize(
    ("text", "expected_name"),
    [
        ("pool", "pool"),
        ("Category: Water-Heater", "water heater"),
        ("garden_lights, then pool", "garden lights"),
        ("tree service.", "tree service"),
        ("the AC (hvac)", "hvac"),
        ("apartments", None),  # an invented category: the seed's base model did this
        ("ac", None),  # a fragment of a name is not the name
    ],
)
def test_parse_names(taxonomy, text: str, expected_name: str | None) -> None:
    expected = taxonomy.by_name(expected_name).code if expected_name else None
    assert parse_label(text, taxonomy, "name") == expected


@pytest.mark.slow
def test_an_answer_without_a_label_is_an_invalid_prediction(coder: GenerativeClassifier, taxonomy) -> None:
    """The random tiny model writes no code: every answer is invalid, kept raw, and counted."""
    questions = ["when did we buy the fridge", "pool pump broke", "who trims the oak"]
    predictions = coder.classify_many(questions)
    assert all(p.text is not None and coder.parse(p.text) is None for p in predictions)
    assert [p.code for p in predictions] == ["", "", ""] and all(p.confidence == 0.0 for p in predictions)
    ev = evaluate(coder, [Example(q, "QF", "g") for q in questions], latency_sample=1, progress=False)
    assert ev.invalid == 3 and ev.accuracy == 0.0
    assert ev.confusion()[0][-1] == "invalid" and ev.confusion()[1][taxonomy.index("QF")][-1] == 3
    assert [m["output"] for m in ev.summary()["misses"]] == [p.text for p in predictions]


@pytest.mark.slow
def test_smollm_answers_are_parsed_or_counted_invalid(smollm, taxonomy, settings) -> None:
    """The un-tuned SmolLM2 prompted the seed's way: whatever it writes is either a code or invalid."""
    from classifier.dataset import load_examples, split

    model, tokenizer = smollm
    coder = GenerativeClassifier(model, tokenizer, taxonomy, "code", batch_size=4)
    examples = split(load_examples(settings.questions_dir, taxonomy)).test[::40]
    ev = evaluate(coder, examples, latency_sample=2, progress=False)
    written = [r.output for r in ev.records]
    parsed = [coder.parse(text) for text in written]
    assert ev.invalid == parsed.count(None)
    assert [r.predicted or None for r in ev.records] == parsed
    assert all(len(tokenizer(text).input_ids) <= 8 for text in written)

    # The batch with its shared prefix cache writes what the model writes for each prompt alone.
    for ex, text in zip(examples[:2], written):
        ids = torch.tensor([coder.prefix_ids + coder._ids(ex.question) + coder.suffix_ids])
        alone = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
        assert tokenizer.decode(alone[0, ids.shape[1]:], skip_special_tokens=True).strip() == text
