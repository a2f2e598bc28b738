"""Corpus replication for the ingest benchmark: every copy is new bytes and still reads as the original."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.ingest import replicate, vary
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from ingest.readers import read, supported
from storage.store import Store

CORPUS = Path(__file__).resolve().parents[2] / "data" / "household"


def records(path: Path, data: bytes) -> list[str]:
    return [record.text for doc in read(str(path), data) for record in doc.records]


def test_a_varied_copy_has_new_bytes_and_the_same_records() -> None:
    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and supported(p.name)]
    assert {p.suffix for p in files} >= {".md", ".txt", ".csv", ".ics", ".eml", ".html", ".pdf"}
    for path in files:
        data = path.read_bytes()
        first, second = vary(path, data, 1), vary(path, data, 2)
        assert len({data, first, second}) == 3, path
        original, copy = records(path, data), records(path, second)
        assert copy[: len(original)] == original and len(copy) - len(original) <= 1, path


def test_replicate_writes_copies_until_the_chunk_target(settings, taxonomy, embedder, tmp_path: Path) -> None:
    store = Store(settings, embedder)
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, taxonomy, taxonomy.codes[0]))
    written = replicate(pipeline, CORPUS, tmp_path / "copies", 300)
    chunks = sum(map(len, written.values()))
    assert 300 <= chunks < 300 + max(map(len, written.values())) + 1
    copy_of = {p: p.relative_to(tmp_path / "copies").parts[0] for p in written}
    copies = sorted(set(copy_of.values()))
    assert copies == [f"copy-{n:03d}" for n in range(1, len(copies) + 1)]
    originals = [p for p in CORPUS.rglob("*") if p.is_file() and supported(p.name)]
    if len(copies) > 1:  # a copy is complete before the next one begins
        assert list(copy_of.values()).count("copy-001") == len(originals)
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in written}
    assert len(hashes) == len(written)
    assert not store.count()  # replication reads and chunks; it writes nothing to the store
