"""The held-out set (data/eval/questions): independent of the training data, split by writer, readable by eval."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.dataset import load_examples
from classifier.heldout import (
    HeldOutQuestion,
    calibration_set,
    load_heldout,
    near_duplicates,
    part,
    writers,
)
from household.errors import DataError

REPO = Path(__file__).resolve().parents[2]
HELDOUT = REPO / "data" / "eval" / "questions"


@pytest.fixture(scope="module")
def rows(taxonomy) -> list[HeldOutQuestion]:
    return load_heldout(HELDOUT, taxonomy)


@pytest.fixture(scope="module")
def training(taxonomy):
    return load_examples(REPO / "data" / "questions", taxonomy) + load_examples(REPO / "data" / "questions-extra", taxonomy)


def test_the_heldout_set_shares_no_paraphrase_group_and_no_near_duplicate_with_training(rows, training) -> None:
    assert not {r.group_id for r in rows} & {ex.group_id for ex in training}
    found = near_duplicates(rows, training)
    assert not found, [(row.group_id, text, question) for row, text, question in found[:5]]


def test_the_overlap_check_catches_a_reworded_training_question(rows, training) -> None:
    copied = HeldOutQuestion(training[0].question.upper() + "?", training[0].code, None, "x-1", "x", ("unrelated words",))
    assert [(text, q) for _, text, q in near_duplicates([copied], training)][:1] == [(copied.question,
                                                                                       training[0].question)]


def test_the_set_is_people_typed_with_two_topic_questions_and_paraphrases(rows, taxonomy) -> None:
    assert len(rows) >= 300
    assert {r.code for r in rows} == set(taxonomy.codes)
    two_topic = [r for r in rows if r.second_code]
    assert len(two_topic) >= 40 and all(r.second_code != r.code for r in two_topic)
    assert all(len(r.paraphrases) == 2 for r in rows)


def test_the_parts_split_by_writer(rows, settings, taxonomy) -> None:
    chosen = writers(settings.calibration_writers)
    calibration, test = part(rows, chosen, "calibration"), part(rows, chosen, "test")
    assert {r.writer for r in calibration} == set(chosen) == {"a", "b"}
    assert not {r.writer for r in test} & set(chosen) and len(calibration) + len(test) == len(rows)
    examples, described = calibration_set(settings, taxonomy)
    assert len(examples) == 3 * len(calibration) and "held-out writers a,b" in described


def test_eval_reads_the_rows_with_their_second_category(taxonomy, rows) -> None:
    examples = load_examples(HELDOUT, taxonomy, require_group=False)
    assert [(ex.question, ex.code, ex.second_code) for ex in examples] == [(r.question, r.code, r.second_code)
                                                                           for r in rows]


def test_an_unknown_second_category_names_its_line(tmp_path: Path, taxonomy) -> None:
    bad = tmp_path / "writer-z.jsonl"
    bad.write_text('{"question": "pool and deck", "category": "pool", "second_category": "decking", '
                   '"group_id": "z-1", "writer": "z", "paraphrases": []}\n', encoding="utf-8")
    with pytest.raises(DataError, match="writer-z.jsonl.*1.*unknown second_category 'decking'"):
        load_heldout(tmp_path, taxonomy)
