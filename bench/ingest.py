"""Section 3: ingest throughput, end to end, against the embedding model's raw encode rate.

The sample corpus is copied (copy after copy, file by file) until the copies hold the wanted
number of chunks; each copy is changed slightly so every file has its own content hash. The
pipeline then ingests the copies with an explicit category, so no classifier runs: what is
measured is walking, reading, chunking, embedding and writing to Chroma. The alternative is
`SentenceTransformer.encode` alone on (a random sample of) the very chunk texts that were stored.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.report import Section
from bench.timing import ratio, stopwatch
from bench.workspace import Workspace
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from ingest.readers import read, supported
from ingest.store import Store

RATIO_TARGET = 0.8


def vary(path: Path, data: bytes, copy: int) -> bytes:
    """Copy number `copy` of a file: a new content hash, still valid in its format."""
    note = f"Copy {copy} of the sample records."
    suffix = path.suffix.lower()
    if suffix in (".md", ".txt"):
        return data + f"\n\n{note}\n".encode()
    if suffix in (".html", ".htm") and b"</body>" in data:
        return data.replace(b"</body>", f"<p>{note}</p></body>".encode(), 1)
    return data + b"\n" * copy  # csv, ics, eml, pdf: trailing blank lines change the bytes, not the parse


def replicate(pipeline: Pipeline, corpus: Path, target: Path, chunks: int) -> tuple[int, int]:
    """Write copies of `corpus` under `target` until they hold about `chunks` chunks: (files, copies)."""
    files = [path for path, _ in (item for item in pipeline.discover(corpus) if isinstance(item, tuple))
             if supported(path.name)]
    sizes = {path: sum(len(pipeline.chunker.chunk(doc)) for doc in read(str(path), path.read_bytes())) for path in files}
    if not sum(sizes.values()):
        raise ValueError(f"the corpus {corpus} yields no chunks")
    written, total, copy = 0, 0, 0
    while total < chunks:
        copy += 1
        for path in files:
            if total >= chunks:
                break
            out = target / f"copy-{copy:03d}" / path.relative_to(corpus)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(vary(path, path.read_bytes(), copy))
            written, total = written + 1, total + sizes[path]
    return written, copy


def run(ws: Workspace) -> Section:
    section = Section("ingest", "3. Ingest throughput (end to end vs raw encode)")
    settings = ws.settings_for("ingest")
    code = ws.taxonomy.find(settings.unfiltered_category) or next(iter(ws.taxonomy))
    store = Store(settings, ws.embedder)
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, ws.taxonomy, code.code))
    copies = ws.root / "corpus-copies"
    files, n_copies = replicate(pipeline, settings.corpus_dir, copies, ws.sizes.chunks)
    ws.say(f"ingest: {files} files ({n_copies} copies of {settings.corpus_dir.name}) end to end, --category {code.name}")
    seconds, report = stopwatch(lambda: pipeline.run([copies], progress=True))
    if report.skipped:
        section.notes.append(f"{len(report.skipped)} files skipped, e.g. {report.skipped[0].path}: {report.skipped[0].reason}")
    texts = [text for _, text, _ in store.chunks()]
    chosen = random.Random(0).sample(texts, min(ws.sizes.encode_sample, len(texts)))
    ws.embedder.encode(chosen[:8], normalize_embeddings=True)  # warm-up
    ws.say(f"ingest: raw SentenceTransformer.encode on {len(chosen)} of the {len(texts)} stored chunk texts")
    encode_seconds, _ = stopwatch(lambda: ws.embedder.encode(chosen, normalize_embeddings=True, show_progress_bar=True))
    end_to_end = report.chunks_written / seconds
    raw = len(chosen) / encode_seconds
    tokens = [len(ids) for ids in ws.embedder.tokenizer(chosen[:200]).input_ids]
    share = ratio(end_to_end, raw)
    section.figures = {
        "files": files, "copies": n_copies, "category": code.code, "chunks_written": report.chunks_written,
        "seconds": round(seconds, 1), "chunks_per_s": round(end_to_end, 2),
        "raw_encode": {"chunks": len(chosen), "seconds": round(encode_seconds, 1), "chunks_per_s": round(raw, 2),
                       "batch_size": 32},
        "end_to_end_over_raw": share, "mean_tokens_per_chunk": round(sum(tokens) / len(tokens), 1),
        "store_batch_size": settings.batch_size,
    }
    section.targets = {f"end to end >= {RATIO_TARGET:g} of raw encode": bool(share and share >= RATIO_TARGET)}
    section.row("end to end: chunks/s", f"{end_to_end:.1f}", f"{share:.2f} of raw encode" if share else "")
    section.row("raw SentenceTransformer.encode: chunks/s", f"{raw:.1f}", f"on {len(chosen)} of the same texts")
    section.row("chunks, files, time", f"{report.chunks_written} chunks, {files} files, {seconds:.0f} s")
    section.notes.append(
        f"Explicit category ({code.name}): no classifier cost. Chunks average "
        f"{section.figures['mean_tokens_per_chunk']:.0f} tokens; the raw encode uses the library's default batch "
        f"size (32), the store embeds in batches of settings.batch_size ({settings.batch_size})."
    )
    return section
