"""Training data = dataset + corrections: overrides, deduplication, always in train, bad rows located."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.feedback import FeedbackStore
from classifier.dataset import load_examples, normalize, split
from finetune.data import assemble, extra_examples, merge, read_feedback_file, scope_examples
from household.errors import DataError


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_a_correction_overrides_the_dataset_label_and_moves_to_train(settings, taxonomy, tmp_path: Path) -> None:
    examples = load_examples(settings.questions_dir, taxonomy)
    original = split(examples)
    in_test = original.test[0]
    new_code = next(c for c in taxonomy.codes if c != in_test.code)
    fixes = write_jsonl(tmp_path / "fixes.jsonl", [
        {"question": "  " + in_test.question.upper() + "  ", "category": taxonomy.by_code(new_code).name},
        {"question": "the hot tub heater trips the breaker", "category": "electric"},
        {"question": "The hot tub heater  trips the breaker", "category": "pool"},  # later row wins
    ])
    data = assemble(settings, taxonomy, fixes)

    def codes(part):
        return {normalize(ex.question): ex.code for ex in part}

    train, val, test = codes(data.split.train), codes(data.split.val), codes(data.split.test)
    assert train[normalize(in_test.question)] == new_code
    assert normalize(in_test.question) not in test and normalize(in_test.question) not in val
    assert train[normalize("the hot tub heater trips the breaker")] == taxonomy.find("pool").code
    assert len(data.corrections) == 2 and data.relabelled == 1 and data.moved == 1
    # Nothing else moved: the held-out splits are the dataset's, minus the corrected question.
    assert len(data.split.test) == len(original.test) - 1 and len(data.split.val) == len(original.val)
    extra = len(extra_examples(settings, taxonomy))
    assert len(data.split.train) == len(original.train) + 2 + extra + len(scope_examples(taxonomy))
    assert len({normalize(ex.question) for ex in data.split.train}) == len(data.split.train)


def test_extra_questions_train_only_and_never_repeat_a_held_out_one(settings, taxonomy, tmp_path: Path) -> None:
    original = split(load_examples(settings.questions_dir, taxonomy))
    held_out = original.test[0]
    extra = tmp_path / "extra"
    extra.mkdir()
    write_jsonl(extra / "pool.jsonl", [
        {"question": "who winterized the pool cover last fall", "category": "pool", "group_id": "pool-x01"},
        {"question": held_out.question, "category": taxonomy.by_code(held_out.code).name, "group_id": "pool-x02"},
    ])
    data = assemble(settings.replace(extra_questions_dir=extra), taxonomy)
    train = [normalize(ex.question) for ex in data.split.train]
    assert normalize("who winterized the pool cover last fall") in train
    assert normalize(held_out.question) not in train
    assert (len(data.split.val), len(data.split.test)) == (len(original.val), len(original.test))
    write_jsonl(extra / "bad.jsonl", [{"question": "gate latch", "category": "no such category", "group_id": "g"}])
    with pytest.raises(DataError, match="bad.jsonl"):
        assemble(settings.replace(extra_questions_dir=extra), taxonomy)


def test_stored_feedback_is_included_and_an_explicit_file_wins(settings, taxonomy, tmp_path: Path) -> None:
    store = FeedbackStore(settings.feedback_db)
    store.add("pump is loud", "RH", "OO", "v0001")
    store.add("trim the big oak", "NQ", "FB", "embedding")
    fixes = write_jsonl(tmp_path / "fixes.jsonl", [{"question": "pump is loud", "category": "fountain"}])
    train = {ex.question: ex.code for ex in assemble(settings, taxonomy, fixes).split.train}
    assert train["pump is loud"] == "RH" and train["trim the big oak"] == "FB"
    assert {ex.question: ex.code for ex in assemble(settings, taxonomy).split.train}["pump is loud"] == "OO"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["pump", "pool"]', "a row must be a JSON object"),
        ('{"question": "   ", "category": "pool"}', "empty or missing question"),
        ('{"question": "pump is loud", "category": "attic"}', "unknown category 'attic'"),
        ('{"question": "pump is loud"}', "unknown category None"),
    ],
)
def test_a_bad_feedback_row_is_reported_with_file_and_line(taxonomy, tmp_path: Path, row: str, problem: str) -> None:
    path = write_jsonl(tmp_path / "fixes.jsonl", ['{"question": "ok row", "category": "pool"}', "", row])
    with pytest.raises(DataError) as caught:
        read_feedback_file(path, taxonomy)
    assert (caught.value.path, caught.value.line) == (str(path), 3)
    assert problem in str(caught.value) and str(caught.value).startswith(f"{path}:3: ")


def test_a_bad_dataset_row_is_reported_with_file_and_line(settings, taxonomy, tmp_path: Path) -> None:
    questions = tmp_path / "questions"
    questions.mkdir()
    write_jsonl(questions / "pool.jsonl", [
        {"question": "pool pump is loud", "category": "pool", "group_id": "p1"},
        {"question": "pool is green", "category": "pool", "group_id": "p2"},
        {"question": "pool heater", "category": "swimming", "group_id": "p3"},
    ])
    with pytest.raises(DataError) as caught:
        assemble(settings.replace(questions_dir=questions), taxonomy)
    assert str(caught.value) == f"{questions / 'pool.jsonl'}:3: unknown category 'swimming'"


def test_merge_without_corrections_is_the_plain_split(settings, taxonomy) -> None:
    examples = load_examples(settings.questions_dir, taxonomy)
    data = merge(examples, [])
    assert data.split == split(examples) and (data.relabelled, data.moved) == (0, 0)


def test_scope_examples_teach_every_category_its_own_vocabulary(taxonomy) -> None:
    examples = scope_examples(taxonomy)
    by_code = {code: [ex.question for ex in examples if ex.code == code] for code in taxonomy.codes}
    assert all(len(phrases) >= 3 for phrases in by_code.values())
    assert "anode rod" in by_code[taxonomy.find("water heater").code]
    assert len({ex.question.casefold() for ex in examples}) >= len(examples) - 5


def test_no_shipped_extra_question_nearly_repeats_a_held_out_one(settings, taxonomy) -> None:
    """Training-only questions must not leak the validation or test split, even reworded slightly."""
    import re

    def words(question: str) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", question.lower()))

    parts = split(load_examples(settings.questions_dir, taxonomy))
    held_out = [words(ex.question) for ex in parts.val + parts.test]
    extra = extra_examples(settings, taxonomy)
    assert len(extra) > 20 * 30
    close = [ex.question for ex in extra if any(len(words(ex.question) & h) / len(words(ex.question) | h) >= 0.6
                                                for h in held_out)]
    assert close == []
