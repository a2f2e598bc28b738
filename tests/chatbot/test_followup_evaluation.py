"""Conversation rows in eval-retrieval: loading, and the follow-up figures reported apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.evaluation import load_qa
from chatbot.followup_evaluation import evaluate_conversations, load_conversations
from chatbot.retrieval import Retriever
from household.errors import DataError

ROWS = [
    {"question": "When was the pool pump replaced?", "category": "pool", "doc": "pool/pump-replacement.md",
     "answer_contains": ["2025-05-12"]},
    {"turns": ["When was the pool pump replaced?", "How much did it cost?"], "category": "pool",
     "doc": "pool/pump-replacement.md", "answer_contains": ["$1,140"], "switch": False,
     "standalone": "How much did the pool pump replacement cost?"},
    {"turns": ["What's the model number of our dishwasher?", "And the fountain?"], "category": "fountain",
     "doc": "fountain/fountain-pump.md", "answer_contains": ["2024-09-03"], "switch": True},
]


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_conversation_rows_load_apart_from_questions(tmp_path, taxonomy) -> None:
    path = _write(tmp_path, ROWS)
    [question] = load_qa(path, taxonomy)
    first, second = load_conversations(path, taxonomy)
    assert question.question == ROWS[0]["question"]
    assert first.last.question == "How much did it cost?" and first.standalone and not first.switch
    assert second.switch and second.standalone is None and second.last.line == 3
    only = _write(tmp_path, ROWS[1:])
    assert load_qa(only, taxonomy, required=False) == []
    with pytest.raises(DataError, match="no questions"):
        load_qa(only, taxonomy)


def test_a_conversation_of_one_turn_is_refused_with_its_line(tmp_path, taxonomy) -> None:
    path = _write(tmp_path, [{**ROWS[1], "turns": ["How much did it cost?"]}])
    with pytest.raises(DataError, match=r"qa.jsonl:1: turns must list at least two"):
        load_conversations(path, taxonomy)


def test_follow_up_figures_alone_resolved_and_standalone(tmp_path, taxonomy, store_settings, store, router) -> None:
    rows = load_conversations(_write(tmp_path, ROWS), taxonomy)
    report = evaluate_conversations(Retriever(store_settings.replace(min_hits=1), store, router), rows, 3)
    assert (report.conversations, report.switches, report.with_standalone) == (2, 1, 1)
    assert report.rate("resolved") == 1.0 and report.category_rate("resolved", switches_only=True) == 1.0
    assert report.rate("resolved") >= report.rate("alone")
    assert set(report.as_dict()["hit_at_k"]) == {"alone", "resolved", "standalone"}
