from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from household.errors import ServiceError
from storage.chunk import ChunkMeta
from storage.store import FileChunks, Store

WORKER = Path(__file__).parent / "store_worker.py"


def put(store: Store, source: str, texts: list[str], code: str) -> list[str]:
    """Write one file's chunks directly, as the pipeline would."""
    ids = [f"{Path(source).name}-{i}" for i in range(len(texts))]
    metas = [
        ChunkMeta(
            source=source, file=source, format="md", content_hash="h" + source, chunk_index=i, file_chunks=len(texts),
            category=code, category_confidence=1.0, category_origin="flag", ingested_at="2025-01-01T00:00:00+00:00",
        )
        for i in range(len(texts))
    ]
    store.write_files([FileChunks(source, [], ids, texts, metas, store.embed(texts))])
    return ids


@pytest.fixture
def filled(store: Store, taxonomy) -> Store:
    pool = taxonomy.by_name("pool").code
    put(store, "/h/pool.md", ["The pool pump hums at night.", "Pool filter cartridge replaced."], pool)
    put(store, "/h/fountain.md", ["The fountain pump clogged with algae."], taxonomy.by_name("fountain").code)
    put(store, "/h/heater.md", ["Water heater anode rod replaced."], taxonomy.by_name("water heater").code)
    return store


def test_an_empty_store_answers_without_creating_anything(store, settings):
    assert store.search("pump", 5) == [] and store.count() == 0 and list(store.chunks()) == []
    assert store.sources() == [] and store.stats() == {"chunks": 0, "sources": 0, "categories": {}}
    assert not settings.store_dir.exists()


def test_search_filters_by_no_one_or_several_category_codes(filled, taxonomy):
    pool, fountain = taxonomy.by_name("pool").code, taxonomy.by_name("fountain").code
    everything = filled.search("pump", 10)
    assert len(everything) == 4
    assert {h.category for h in everything} == {pool, fountain, taxonomy.by_name("water heater").code}
    assert filled.search("pump", 10, []) == everything
    assert {h.category for h in filled.search("pump", 10, [pool])} == {pool}
    assert {h.category for h in filled.search("pump", 10, [pool, fountain])} == {pool, fountain}
    assert [h.distance for h in everything] == sorted(h.distance for h in everything)
    best = everything[0]
    assert "pump" in best.text and best.source == best.meta.source and 0 <= best.distance <= 4


def test_distances_are_squared_l2_of_unit_vectors(filled):
    hit = filled.search("The pool pump hums at night.", 1)[0]
    assert hit.distance == pytest.approx(0.0, abs=1e-4)
    query, text = filled.embed(["fountain algae", hit.text])
    cosine = sum(a * b for a, b in zip(query, text))
    same = next(h for h in filled.search("fountain algae", 4) if h.id == hit.id)
    assert same.distance == pytest.approx(2 - 2 * cosine, abs=1e-3)


def test_chunks_sources_and_stats(filled, taxonomy):
    rows = list(filled.chunks())
    assert len(rows) == filled.count() == 4
    assert {meta.file for _, _, meta in rows} == {"/h/pool.md", "/h/fountain.md", "/h/heater.md"}
    sources = {s["file"]: s for s in filled.sources()}
    assert sources["/h/pool.md"]["chunks"] == 2 and sources["/h/pool.md"]["category"] == taxonomy.by_name("pool").code
    per_category = {taxonomy.by_name(n).code: c for n, c in [("pool", 2), ("fountain", 1), ("water heater", 1)]}
    assert filled.stats() == {"chunks": 4, "sources": 3, "categories": per_category}


def test_writes_are_split_into_batches_the_client_accepts(store, monkeypatch, taxonomy):
    sizes = []
    from chromadb.api.models.Collection import Collection

    real = Collection.upsert
    monkeypatch.setattr(Collection, "upsert", lambda self, **kw: (sizes.append(len(kw["ids"])), real(self, **kw))[1])
    monkeypatch.setattr(Store, "_batch_size", lambda self: 3)
    put(store, "/h/many.md", [f"line {i}" for i in range(7)], taxonomy.by_name("general").code)
    assert sizes == [3, 3, 1] and store.count() == 7


def test_a_second_writer_is_refused(store):
    second = Store(store.settings)
    with store.writer(), pytest.raises(ServiceError, match="another `household ingest`"), second.writer():
        pass


def test_an_unreachable_server_is_a_service_error(settings, embedder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store(settings.replace(chroma_url=f"http://127.0.0.1:{port}"), embedder)
    with pytest.raises(ServiceError, match="cannot reach the Chroma server"):
        store.count()


def test_one_process_ingests_while_another_searches(tmp_path, settings):
    folder = tmp_path / "pool"
    folder.mkdir()
    for i in range(4):
        (folder / f"log-{i}.txt").write_text("placeholder")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two torch processes on a small machine: no oversubscription
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    writer = subprocess.Popen([sys.executable, WORKER, "ingest", folder, "3"], **pipes)
    reader = subprocess.Popen([sys.executable, WORKER, "search"], **pipes)
    try:
        _, writer_err = writer.communicate(timeout=500)
        reader_out, reader_err = reader.communicate(timeout=120)
    finally:
        for process in (writer, reader):
            process.kill()
    assert writer.returncode == 0, writer_err[-3000:]
    assert reader.returncode == 0, reader_err[-3000:]
    result = json.loads(reader_out.strip().splitlines()[-1])
    assert result["problems"] == []
    assert result["snapshots"] >= 3 and len(result["rounds"]) >= 2, f"the reader should see the store change: {result}"
    final = Store(settings).files()
    assert len(final) == 4 and all(f.complete(next(iter(f.hashes)), next(iter(f.chunkings))) for f in final.values())
    lines = {line for _, text, _ in Store(settings).chunks() for line in text.splitlines()}
    assert {f"Round 2 of log-{i}." for i in range(4)} <= lines and not any(line.startswith("Round 1") for line in lines)


def test_an_invalid_collection_name_is_a_config_error(settings, embedder, taxonomy):
    from household.errors import ConfigError

    store = Store(settings.replace(collection="x"), embedder)
    with pytest.raises(ConfigError, match="collection name 'x'"):
        put(store, "/h/a.md", ["text"], taxonomy.codes[0])
