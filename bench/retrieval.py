"""Section 4: retrieval latency and disk cost as the store grows (1k, 10k, 50k chunks).

Embedding 50k chunks would take longer than the whole benchmark, so the stores are synthetic:
~2k distinct texts (corpus records and dataset questions) are embedded once, and chunk i
reuses text i mod n with a slightly perturbed vector, written through `Store.write_files` like
real ingest. Chunks are spread evenly over the categories, so a filtered query sees 1/20 of
the store. One store grows from size to size; at each size four ways to answer a query are timed:

- retrieve: `Retriever.search`, the product's hybrid search (vector + BM25, rank fusion);
- store: `Store.search`, the vector half alone as the product runs it (query embedding, a
  short-lived Chroma client under the store lock);
- index: Chroma's `collection.query` on a client held open, with a precomputed query vector;
- exact: brute-force cosine in numpy over every vector, the alternative to an index.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.classification import sample
from bench.report import Section
from bench.timing import Latency, ratio, stopwatch, timed, times
from bench.workspace import Workspace
from ingest.readers import read, supported
from storage.chunk import ChunkMeta
from storage.store import FileChunks, Store

NOISE = 0.02  # std of the per-component noise added to a reused vector (unit vectors have components ~0.05)
WRITE_BATCH = 5_000
KINDS = ("filtered", "unfiltered")
WAYS = {
    "retrieve": "Retriever.search (hybrid)",
    "store": "Store.search (vector)",
    "index": "Chroma query, client held",
    "exact": "numpy exact search",
}


def distinct_texts(ws: Workspace, n: int, exclude: set[str]) -> list[str]:
    """Up to `n` different texts: the sample corpus's records and the labelled questions, in a fixed order."""
    texts = [ex.question for part in ("train", "val", "test") for ex in ws.split[part] if ex.question not in exclude]
    for path in sorted(ws.settings.corpus_dir.rglob("*")):
        if path.is_file() and supported(path.name):
            texts += [record.text for doc in read(str(path), path.read_bytes()) for record in doc.records]
    unique = sorted({" ".join(t.split()) for t in texts if t.strip()})
    random.Random(0).shuffle(unique)
    return unique[:n]


def synthetic(base: np.ndarray, texts: list[str], codes: list[str], start: int, stop: int, rng: np.random.Generator):
    """Chunks start..stop-1: ids, texts, pipeline-like metadata and noisy unit vectors."""
    index = np.arange(start, stop) % len(texts)
    vectors = base[index] + rng.normal(0, NOISE, (stop - start, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ids, docs, metas = [], [], []
    for i in range(start, stop):
        source = f"/bench/synthetic/doc-{i // 5:06d}.md"
        ids.append(f"synthetic-{i:07d}")
        docs.append(texts[i % len(texts)])
        metas.append(ChunkMeta(
            source=source, file=source, format="md", content_hash=f"{i // 5:064x}", chunk_index=i % 5,
            file_chunks=5, category=codes[i % len(codes)], category_confidence=1.0, category_origin="flag",
            ingested_at=now,
        ))
    return ids, docs, metas, vectors


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def exact(vectors: np.ndarray, categories: np.ndarray, k: int) -> Callable[[tuple[np.ndarray, str | None]], Any]:
    def search(query: tuple[np.ndarray, str | None]) -> np.ndarray:
        vector, code = query
        rows = np.flatnonzero(categories == code) if code else None
        scores = (vectors if rows is None else vectors[rows]) @ vector
        best = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        best = best[np.argsort(-scores[best])]
        return best if rows is None else rows[best]

    return search


def held(collection: Any, k: int) -> Callable[[tuple[np.ndarray, str | None]], Any]:
    def search(query: tuple[np.ndarray, str | None]) -> Any:
        vector, code = query
        where = {"category": code} if code else None
        return collection.query(query_embeddings=[vector.tolist()], n_results=k, where=where)

    return search


def measure(ways: dict[str, Callable[[Any], Any]], queries: list, vectors: np.ndarray, size: int) -> dict[str, Latency]:
    """Latency of each way, filtered by the question's own category and unfiltered.

    `retrieve` and `store` take the question text; the others its precomputed vector.
    """
    result: dict[str, Latency] = {}
    for way, call in ways.items():
        for kind in KINDS:
            items = [
                ((ex.question if way in ("retrieve", "store") else vector), ex.code if kind == "filtered" else None)
                for ex, vector in zip(queries, vectors)
            ]
            result[f"{way}_{kind}"], _ = timed(call, items, desc=f"{way} {kind} @ {size}")
    return result


def run(ws: Workspace) -> Section:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from chatbot.retrieval import Retriever

    section = Section("retrieval", "4. Retrieval latency and disk cost by store size")
    settings = ws.settings_for("retrieval")
    k = settings.top_k
    queries = sample(ws.split.test, ws.sizes.queries)
    texts = distinct_texts(ws, ws.sizes.distinct_texts, {ex.question for ex in queries})
    ws.say(f"retrieval: embedding {len(texts)} distinct texts once")
    base = np.asarray(ws.embedder.encode(texts, normalize_embeddings=True, show_progress_bar=True), dtype=np.float32)
    query_vectors = ws.embedder.encode([ex.question for ex in queries], normalize_embeddings=True).astype(np.float32)
    codes = ws.taxonomy.codes
    store = Store(settings, ws.embedder)
    retriever = Retriever(settings, store, ws.embedding)
    rng = np.random.default_rng(0)
    all_vectors: list[np.ndarray] = []
    latencies: dict[int, dict[str, Latency]] = {}
    sizes: dict[str, dict] = {}
    built = 0
    for size in sorted(ws.sizes.store_sizes):
        ws.say(f"retrieval: growing the store from {built} to {size} chunks")
        write_seconds = 0.0
        for start in range(built, size, WRITE_BATCH):
            ids, docs, metas, vectors = synthetic(base, texts, codes, start, min(size, start + WRITE_BATCH), rng)
            batch = FileChunks(f"synthetic-{start}", [], ids, docs, metas, vectors.tolist())
            seconds, _ = stopwatch(store.write_files, [batch])
            write_seconds += seconds
            all_vectors.append(vectors)
        added, built = size - built, size
        first, _ = stopwatch(retriever.search, queries[0].question, k, None)  # builds the BM25 index
        product = {
            "retrieve": lambda q: retriever.search(q[0], k, [q[1]] if q[1] else None),
            "store": lambda q: store.search(q[0], k, [q[1]] if q[1] else None),
        }
        latency = measure(product, queries, query_vectors, size)
        # Only now hold a client: Chroma shares one system per path, so a held client would keep the
        # product's short-lived clients warm and flatter `store` and `retrieve`.
        chroma = ChromaSettings(anonymized_telemetry=False)
        client = chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma)
        try:
            index = held(client.get_collection(settings.collection), k)
            latency |= measure({"index": index}, queries, query_vectors, size)
        finally:
            client.close()
        categories = np.array([codes[i % len(codes)] for i in range(size)])
        latency |= measure({"exact": exact(np.concatenate(all_vectors), categories, k)}, queries, query_vectors, size)
        latencies[size] = latency
        store_bytes = disk_bytes(settings.store_dir)
        sizes[str(size)] = {
            **{key: value.as_dict() for key, value in latency.items()},
            "chunks": store.count(), "disk_bytes": store_bytes, "disk_bytes_per_chunk": round(store_bytes / size),
            "write_chunks_per_s": round(added / write_seconds, 1), "first_retrieve_s_with_bm25_build": round(first, 2),
            "exact_over_index_unfiltered": ratio(latency["exact_unfiltered"].p50, latency["index_unfiltered"].p50),
        }
    smallest = min(latencies)
    for size, latency in latencies.items():
        figures = sizes[str(size)]
        for way, label in WAYS.items():
            growth = [ratio(latency[f"{way}_{kind}"].p50, latencies[smallest][f"{way}_{kind}"].p50) for kind in KINDS]
            figures[f"{way}_p50_growth_vs_{smallest}"] = growth
            versus = f"p50 {times(growth[0])} / {times(growth[1])} the {smallest:,}-chunk store"
            value = " · ".join(f"{kind} {latency[f'{way}_{kind}']}" for kind in KINDS)
            section.row(f"{size:,} chunks: {label} p50 / p95", value, versus if size != smallest else "")
        section.row(
            f"{size:,} chunks: disk per chunk", f"{figures['disk_bytes_per_chunk'] / 1024:.1f} KiB",
            f"{figures['disk_bytes'] / 2**20:.0f} MiB in all; exact search takes "
            f"{times(figures['exact_over_index_unfiltered'])} the index's time; first hybrid query "
            f"(builds BM25) {figures['first_retrieve_s_with_bm25_build']:.1f} s",
        )
    section.figures = {
        "k": k, "distinct_texts": len(texts), "queries": len(queries), "noise_std": NOISE, "sizes": sizes,
    }
    section.notes.append(
        f"p50 / p95 over {len(queries)} test-split questions, k={k}; filtered = the question's own category "
        f"(1/{len(codes)} of the chunks). {len(texts)} distinct texts embedded once, reused with noise."
    )
    return section
