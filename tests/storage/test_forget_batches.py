"""Forgetting many files goes in batches of whole files: a reader in another process gets in between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import forget
from storage.chunk import ChunkMeta
from storage.store import DELETE_BATCH, FileChunks, Store

WORKER = Path(__file__).parent / "store_worker.py"
FILES, CHUNKS = 40, 20  # 800 chunks: several batches of DELETE_BATCH


def log_file(store: Store, i: int, vector: list[float]) -> FileChunks:
    source = f"/h/logs/log-{i:02d}.txt"
    texts = [f"Pump log {i}, line {n}." for n in range(CHUNKS)]
    metas = [
        ChunkMeta(
            source=source, file=source, format="txt", content_hash=f"h{i}", chunk_index=n, file_chunks=CHUNKS,
            category="pool", category_confidence=1.0, category_origin="flag", ingested_at="2025-01-01T00:00:00+00:00",
        )
        for n in range(CHUNKS)
    ]
    return FileChunks(source, [], [f"log-{i}-{n}" for n in range(CHUNKS)], texts, metas, [vector] * CHUNKS)


def test_a_reader_gets_in_between_the_batches_of_a_long_forget(store: Store):
    assert FILES * CHUNKS > 2 * DELETE_BATCH
    vector = store.embed(["pump log"])[0]
    store.write_files([log_file(store, i, vector) for i in range(FILES)])
    watcher = subprocess.Popen(
        [sys.executable, WORKER, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not Path("watcher.ready").exists() and watcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        files, chunks = forget(store, Path("/h/logs"))
        out, err = watcher.communicate(timeout=240)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err[-3000:]
    assert len(files) == FILES and chunks == FILES * CHUNKS and store.count() == 0
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["problems"] == [], "a reader saw a file half forgotten"
    assert seen["counts"][0] == FILES * CHUNKS and seen["counts"][-1] == 0
    between = sorted({c for c in seen["counts"] if 0 < c < FILES * CHUNKS})
    assert between, f"the reader only saw the store before and after the whole forget: {seen['counts']}"
