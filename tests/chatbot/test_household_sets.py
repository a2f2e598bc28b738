"""Every household's question sets are usable: a known category, an existing record, and each answer string
in the text ingest reads from that record (so a miss in eval-answers is the product's, never the data's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.reader_training import development_households
from ingest.readers import read

DATA = Path(__file__).resolve().parents[2] / "data"
HOUSEHOLDS = [*development_households(DATA), DATA / "eval" / "household"]
ANSWERED = ("qa.jsonl", "time-questions.jsonl", "conversations*.jsonl")  # a conversation's facts: its last turn's


def _rows(household: Path) -> list[tuple[str, dict]]:
    return [(f"{path.name}:{n}", json.loads(line)) for pattern in ANSWERED for path in sorted(household.glob(pattern))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.mark.parametrize("household", HOUSEHOLDS, ids=lambda p: str(p.relative_to(DATA)))
def test_each_answer_is_in_the_text_ingest_reads_from_its_record(household: Path, taxonomy) -> None:
    rows = _rows(household)
    assert rows, f"{household} has no questions"
    texts: dict[str, str] = {}
    for where, row in rows:
        assert taxonomy.find(row["category"]), f"{where}: unknown category {row['category']!r}"
        if row["doc"] not in texts:
            path = household / row["doc"]
            assert path.is_file(), f"{where}: no record {row['doc']}"
            documents = read(str(path), path.read_bytes())
            texts[row["doc"]] = _normalised(" ".join(r.text for doc in documents for r in doc.records))
        for answer in [*row["answer_contains"], *row.get("older_contains", [])]:
            assert _normalised(answer) in texts[row["doc"]], f"{where}: {answer!r} is not in {row['doc']}"
