"""The sample corpus end to end: `household ingest data/household` with the product's own classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from storage.store import Store

CORPUS = Path(__file__).resolve().parents[2] / "data" / "household"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CORPUS / "qa.jsonl").exists(), reason="the sample corpus data/household is not there"),
]


def test_the_corpus_ingests_every_category_keeps_every_answer_and_reruns_to_nothing(
    settings, taxonomy, embedder, monkeypatch
):
    monkeypatch.setattr("household.models.load_embedder", lambda spec: embedder)
    first = CliRunner().invoke(main, ["ingest", str(CORPUS), "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    question_sets = sorted(p.name for p in CORPUS.glob("*.jsonl"))  # qa, unanswerable, conversations, time questions
    assert sorted(Path(s["path"]).name for s in report["skipped"]) == question_sets
    assert set(report["store"]["categories"]) == set(taxonomy.codes)

    chunks = [(text, meta) for _, text, meta in Store(settings, embedder).chunks()]
    questions = [json.loads(line) for line in (CORPUS / "qa.jsonl").read_text().splitlines() if line.strip()]
    filed_right = 0
    for q in questions:
        holding = [
            m for t, m in chunks if m.file == str(CORPUS / q["doc"]) and all(a in t for a in q["answer_contains"])
        ]
        assert holding, f"no chunk of {q['doc']} holds {q['answer_contains']}"
        filed_right += any(m.category == taxonomy.by_name(q["category"]).code for m in holding)
    assert filed_right >= 0.9 * len(questions)

    again = json.loads(CliRunner().invoke(main, ["ingest", str(CORPUS), "--json"], catch_exceptions=False).output)
    assert again["chunks_written"] == 0 and again["ingested"] == []
    assert len(again["unchanged"]) == len(report["ingested"])
