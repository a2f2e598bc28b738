"""Section 7: does the category filter earn its keep as the store grows? The sample household planted in a crowd.

The sample corpus is ingested through the real pipeline (the product's classifier files each
chunk), then synthetic distractors are added until the store holds 1k, 10k and 50k chunks, and
the corpus's QA set (data/household/qa.jsonl) is asked at each size: hit@5 with the strict
predicted-category filter, with the widening policy, and unfiltered. Distractors look like real
records of every category:

- near duplicates of the corpus's own chunks (same wording, other names, numbers and dates: a
  neighbour's pool-pump quote), filed under the original chunk's categories;
- records written from each category's scope note (a service visit, a receipt, a note) with
  vendors, dates and amounts, filed under that category.

A distractor is never a hit (hits must come from the QA row's own file). Embedding 50k texts takes
long on 2 cores, so the distractor vectors are cached under the model cache (`bench-planted/`,
keyed by the texts and the model) and reused by the next run; a run that is cut short keeps what
it embedded.
"""

from __future__ import annotations

import hashlib
import random
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from bench.report import Section
from bench.workspace import Workspace
from storage.chunk import ChunkMeta
from storage.store import FileChunks, Store

MODES = {"filter": "strict filter", "widening": "widening policy", "no_filter": "unfiltered"}
OUTSIDE_SLOTS = (0, 1, 2)  # widening measured with each (settings.outside_slots; 0 = strict)
EMBED_BATCH = 512  # texts embedded (and cached) per step
WRITE_BATCH = 5_000
VENDORS = (
    "Cedar Hollow Services", "Lone Star Home Care", "Bluebonnet Repair", "Hill Country Pros", "Riverside Supply",
    "Oak & Iron Co.", "Pecan Street Fixers", "Lakeline Handyman", "Brushy Creek Outfitters", "Sunbelt Maintenance",
)
PEOPLE = ("Avery", "Jordan", "Priya", "Mateo", "Keiko", "Sam", "Rosa", "Ilse", "Omar", "Tess")
KINDS = (
    "{day}: {vendor} ({person}) checked the {a} and the {b}; replaced the {c}. ${cost}. Next visit in {months} months.",
    "Receipt {day} - {vendor}: {a} parts, {b} kit; total ${cost}, paid with Visa {card}.",
    "Note {day}: the {a} acts up again when it is cold; {person} says the {b} may need replacing (quote ${cost}).",
    "date: {day}; vendor: {vendor}; item: {a} and {b} service; cost: ${cost}; tech: {person}",
    "{vendor} estimate for the {a}: {b} and {c}, ${cost}, good for 30 days. Contact {person}, (512) 555-{card}.",
)


def scope_items(scope: str) -> list[str]:
    """The things a category's scope note names ("pool pump, skimmer, ..."), lower case."""
    body = scope.split(":", 1)[-1]
    return [item.strip(" .").lower() for item in re.split(r",| and | or ", body) if 2 < len(item.strip(" .")) < 40]


def template_record(rng: random.Random, items: list[str]) -> str:
    a, b, c = (rng.choice(items) for _ in range(3))
    day = date(2022, 1, 1) + timedelta(days=rng.randrange(1500))
    return rng.choice(KINDS).format(
        day=day.isoformat(), vendor=rng.choice(VENDORS), person=rng.choice(PEOPLE), a=a, b=b, c=c,
        cost=f"{rng.randrange(20, 2500)}.{rng.randrange(100):02d}", months=rng.choice((3, 6, 12)),
        card=f"{rng.randrange(10_000):04d}",
    )


def near_duplicate(rng: random.Random, text: str, names: list[str]) -> str:
    """The chunk with other digits (new dates, prices, phone numbers) and another household's names."""
    text = re.sub(r"\d", lambda _: str(rng.randrange(10)), text)
    for name in names:
        if name in text:
            text = text.replace(name, rng.choice(PEOPLE + VENDORS))
    return text


def proper_names(texts: list[str]) -> list[str]:
    """Capitalized words that recur in the corpus (people, vendors), longest first."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in re.findall(r"\b[A-Z][a-z]{3,}\b", text):
            counts[word] = counts.get(word, 0) + 1
    return sorted((w for w, n in counts.items() if n >= 3), key=len, reverse=True)


def distractors(ws: Workspace, corpus: list[tuple[str, ChunkMeta]], n: int) -> list[tuple[str, tuple[str, ...]]]:
    """`n` (text, categories): alternately a near duplicate of a corpus chunk and a scope-note record."""
    rng = random.Random(13)
    names = proper_names([text for text, _ in corpus])
    items = {c.code: scope_items(c.scope) for c in ws.taxonomy}
    codes = [code for code, found in items.items() if found]
    out: list[tuple[str, tuple[str, ...]]] = []
    for i in range(n):
        if i % 2 == 0:
            text, meta = corpus[rng.randrange(len(corpus))]
            out.append((near_duplicate(rng, text, names), meta.categories))
        else:
            code = codes[i // 2 % len(codes)]
            out.append((template_record(rng, items[code]), (code,)))
    return out


def cached_vectors(ws: Workspace, texts: list[str]) -> np.ndarray:
    """The texts' unit vectors, from the cache where a previous run embedded them (in EMBED_BATCH steps)."""
    folder = ws.settings.cache_dir / "bench-planted"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        key = hashlib.sha256("\n".join([ws.settings.embedding_model, *batch]).encode()).hexdigest()[:24]
        path = folder / f"{key}.npy"
        if path.exists():
            parts.append(np.load(path))
            continue
        vectors = np.asarray(ws.embedder.encode(batch, normalize_embeddings=True, batch_size=64), dtype=np.float32)
        np.save(path, vectors)
        parts.append(vectors)
        if start // EMBED_BATCH % 10 == 9:
            ws.say(f"planted: {start + len(batch):,} of {len(texts):,} distractors embedded")
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def write(store: Store, rows: list[tuple[str, tuple[str, ...]]], vectors: np.ndarray, start: int) -> None:
    now = "2026-01-01T00:00:00+00:00"
    for begin in range(0, len(rows), WRITE_BATCH):
        part = rows[begin : begin + WRITE_BATCH]
        ids, metas = [], []
        for offset, (_, categories) in enumerate(part):
            i = start + begin + offset
            source = f"/bench/planted/other-{i // 4:06d}.md"
            ids.append(f"planted-{i:07d}")
            metas.append(ChunkMeta(
                source=source, file=source, format="md", content_hash=f"{i // 4:064x}", chunk_index=i % 4,
                file_chunks=4, category=categories[0], category_confidence=1.0, category_origin="flag",
                ingested_at=now, categories=categories,
            ))
        embeddings = vectors[begin : begin + len(part)].tolist()
        store.write_files([FileChunks(f"planted-{start + begin}", [], ids, [t for t, _ in part], metas, embeddings)])


def run(ws: Workspace) -> Section:
    from chatbot.evaluation import evaluate, load_qa
    from chatbot.reader import Reader
    from chatbot.retrieval import Retriever
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline

    section = Section("planted", "7. The category filter as the store grows: the sample household planted among distractors")
    settings = ws.settings_for("planted")
    corpus_dir = settings.corpus_dir
    rows = load_qa(corpus_dir / "qa.jsonl", ws.taxonomy)
    if ws.smoke:  # a few questions over their own files only
        rows = rows[: ws.sizes.queries]
    paths = ws.corpus_paths(corpus_dir, [qa.doc for qa in rows])
    store = Store(settings, ws.embedder)
    ws.say(f"planted: ingesting {len(paths)} path(s) under {corpus_dir}")
    Pipeline(settings, store, CategoryAssigner(settings, ws.taxonomy, classifier=ws.embedding)).run(paths)
    corpus = [(text, meta) for _, text, meta in store.chunks()]
    rerank = Reader.from_settings(settings, ws.embedder).rerank  # the product's search: a pool, reranked
    retriever = Retriever(settings, store, ws.embedding, rerank=rerank)
    sizes = sorted(s for s in ws.sizes.store_sizes if s > len(corpus)) or [len(corpus) + 100]
    crowd = distractors(ws, corpus, sizes[-1] - len(corpus))
    ws.say(f"planted: {len(corpus)} corpus chunks, {len(crowd):,} distractors to embed (cached after the first run)")
    vectors = cached_vectors(ws, [text for text, _ in crowd])
    figures: dict[str, dict] = {}
    built = 0
    for size in sizes:
        wanted = size - len(corpus)
        write(store, crowd[built:wanted], vectors[built:wanted], built)
        built = wanted
        report = evaluate(retriever, rows, settings.top_k)
        rates = {mode: report.rate(mode) for mode in MODES}
        by_slots = {}
        for slots in OUTSIDE_SLOTS:
            other = Retriever(settings.replace(outside_slots=slots), store, ws.embedding, rerank=rerank)
            by_slots[slots] = rates["widening"] if slots == settings.outside_slots else evaluate(
                other, rows, settings.top_k).rate("widening")
        figures[str(size)] = {
            "chunks": store.count(), "hit_at_k": {m: round(r, 4) for m, r in rates.items()},
            "widening_by_outside_slots": {str(n): round(r, 4) for n, r in by_slots.items()},
            "paths": dict(report.paths), "misses": report.misses,
        }
        value = " · ".join(f"{label} {rates[mode]:.1%}" for mode, label in MODES.items())
        gain = rates["widening"] - rates["no_filter"]
        by_n = ", ".join(f"{n}: {r:.1%}" for n, r in by_slots.items())
        section.row(f"{store.count():,} chunks: hit@{settings.top_k}", value,
                    f"widening vs unfiltered {gain:+.1%}; widening by outside_slots {by_n}")
        section.targets[f"widening >= unfiltered at {size:,} chunks"] = gain >= 0
    section.figures = {"questions": len(rows), "corpus_chunks": len(corpus), "k": settings.top_k, "sizes": figures}
    section.notes.append(
        f"{len(rows)} questions of {corpus_dir.name}/qa.jsonl; {len(corpus)} corpus chunks filed by the embedding "
        "classifier; distractors: half near duplicates of corpus chunks (other digits and names), half records "
        "written from each category's scope note."
    )
    return section
