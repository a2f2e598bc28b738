"""The SQLite feedback store: round trip, latest-wins, export for finetune, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from storage.feedback import FeedbackStore
from classifier.dataset import load_examples
from household.errors import InputError


def test_round_trip(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    first = store.add("who cleaned the gutters", "UZ", "LJ", "embedding")
    second = store.add("  when is the  HOA meeting ", "YE", "EC", "v0002")
    rows = FeedbackStore(tmp_path / "fb.sqlite3").list()
    assert [r.id for r in rows] == [first, second]
    assert (rows[0].question, rows[0].predicted_code, rows[0].corrected_code, rows[0].model_version) == (
        "who cleaned the gutters", "UZ", "LJ", "embedding")
    assert rows[1].question == "when is the HOA meeting" and rows[1].created_at.endswith("+00:00")
    assert store.delete(first) is True and store.delete(first) is False
    assert [r.id for r in store.list()] == [second]


def test_wal_mode(tmp_path: Path) -> None:
    FeedbackStore(tmp_path / "fb.sqlite3")
    with sqlite3.connect(tmp_path / "fb.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_question_is_refused(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    with pytest.raises(InputError):
        store.add("   ", "UZ", "LJ", "embedding")
    assert store.list() == []


def test_latest_correction_wins(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add("pump is loud", "RH", "OO", "embedding")
    store.add("trim the oak", "NQ", "FB", "embedding")
    store.add("pump is loud", "OO", "RH", "embedding")
    assert sorted(store.corrections()) == [("pump is loud", "RH"), ("trim the oak", "FB")]


def test_export_is_a_dataset_the_finetune_module_reads(tmp_path: Path, taxonomy) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add("pump is loud", "RH", "OO", "v0001")
    store.add("trim the oak", "NQ", "FB", "embedding")
    store.add("pump is loud", "OO", "RH", "v0002")
    out = tmp_path / "export" / "feedback.jsonl"
    assert store.export_jsonl(out, taxonomy) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_question = {r["question"]: r for r in rows}
    assert by_question["pump is loud"]["category"] == taxonomy.by_code("RH").name
    assert by_question["pump is loud"]["predicted"] == taxonomy.by_code("OO").name
    assert by_question["pump is loud"]["model_version"] == "v0002"
    assert {r.code for r in load_examples(out, taxonomy)} == {"RH", "FB"}


def _write_many(path: str, worker: int, count: int) -> None:
    store = FeedbackStore(Path(path))
    for i in range(count):
        store.add(f"question {worker}-{i}", "UZ", "LJ", f"worker-{worker}")


def test_concurrent_writers_from_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite3"
    context = multiprocessing.get_context("fork")  # the worker lives in this test module
    workers = [context.Process(target=_write_many, args=(str(path), w, 25)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    rows = FeedbackStore(path).list()
    assert len(rows) == 100 and len({r.id for r in rows}) == 100
    assert {r.question for r in rows} == {f"question {w}-{i}" for w in range(4) for i in range(25)}


def test_a_follow_ups_correction_is_kept_but_not_applied_to_its_bare_words(tmp_path, taxonomy) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    hvac, pool = taxonomy.find("hvac").code, taxonomy.find("pool").code
    store.add("who did it?", pool, hvac, "v0001", context='{"turns": ["when was the AC serviced?"]}')
    store.add("is the pump loud?", hvac, pool, "v0001")
    assert [row.question for row in store.list()] == ["who did it?", "is the pump loud?"]
    assert store.corrections() == [("is the pump loud?", pool)]
