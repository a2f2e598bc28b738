"""Section 3: ingest throughput, end to end, against the embedding model's raw encode rate.

The sample corpus is copied (copy after copy, file by file) until the copies hold the wanted
number of chunks; each copy is changed slightly so every file has its own content hash. The
pipeline then ingests the copies with an explicit category, so no classifier runs: what is
measured is walking, reading, chunking, embedding and writing to Chroma. The alternative is
`SentenceTransformer.encode` alone, in one call, on a random sample of the same chunk texts,
timed before and after the ingest so a change in the machine's load shows in both. A third
figure, the same sample embedded file by file through `Store.embed` (as the pipeline did before
it grouped files, `FLUSH_CHUNKS`), tells what small batches alone would cost. Last, one text file
that is a single paragraph (a chat export, a log) of `paragraph_kb` KB is ingested on its own: its
seconds per MB against the copies' tell whether chunking a long record stays linear.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from bench.report import Section
from bench.timing import ratio, stopwatch
from bench.workspace import Workspace
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from ingest.readers import read, supported
from storage.store import Store

RATIO_TARGET = 0.8
PARAGRAPH_TARGET = 2.0  # a one-paragraph file may cost at most this many times an ordinary file per MB
WORDS = ("the", "pool", "pump", "was", "serviced", "and", "the", "filter", "pressure", "read", "twelve", "psi", "after",
         "the", "backwash", "on", "tuesday")


def vary(path: Path, data: bytes, copy: int) -> bytes:
    """Copy number `copy` of a file: a new content hash, still valid in its format."""
    note = f"Copy {copy} of the sample records."
    suffix = path.suffix.lower()
    if suffix in (".md", ".txt"):
        return data + f"\n\n{note}\n".encode()
    if suffix in (".html", ".htm") and b"</body>" in data:
        return data.replace(b"</body>", f"<p>{note}</p></body>".encode(), 1)
    return data + b"\n" * copy  # csv, ics, eml, pdf: trailing blank lines change the bytes, not the parse


def replicate(pipeline: Pipeline, corpus: Path, target: Path, chunks: int) -> dict[Path, list[str]]:
    """Write copies of `corpus` under `target` until they hold about `chunks` chunks.

    Returns each written file with the chunk texts the pipeline will store for it (with an explicit
    category every document is chunked whole, exactly as here).
    """
    files = [item[0] for item in pipeline.discover(corpus) if isinstance(item, tuple) and supported(item[0].name)]
    written: dict[Path, list[str]] = {}
    total, copy = 0, 0
    while total < chunks:
        copy += 1
        for path in files:
            out = target / f"copy-{copy:03d}" / path.relative_to(corpus)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(vary(path, path.read_bytes(), copy))
            documents = read(str(out), out.read_bytes())
            written[out] = [chunk.text for doc in documents for chunk in pipeline.chunker.chunk(doc)]
            total += len(written[out])
            if total >= chunks:
                break
        if copy == 1 and not total:
            raise ValueError(f"the corpus {corpus} yields no chunks")
    return written


def sample_files(written: dict[Path, list[str]], chunks: int) -> list[list[str]]:
    """Randomly chosen files (their chunk texts) holding about `chunks` chunks: the raw-encode sample."""
    order = list(written)
    random.Random(0).shuffle(order)
    picked: list[list[str]] = []
    for path in order:
        if sum(map(len, picked)) >= chunks:
            break
        picked.append(written[path])
    return picked


def run(ws: Workspace) -> Section:
    section = Section("ingest", "3. Ingest throughput (end to end vs raw encode)")
    settings = ws.settings_for("ingest")
    category = ws.taxonomy.find(settings.unfiltered_category) or next(iter(ws.taxonomy))
    store = Store(settings, ws.embedder)
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, ws.taxonomy, category.code))
    copies = ws.root / "corpus-copies"
    written = replicate(pipeline, settings.corpus_dir, copies, ws.sizes.chunks)
    chunks = sum(map(len, written.values()))
    per_file = sample_files(written, ws.sizes.encode_sample)
    texts = [text for file in per_file for text in file]

    def encode() -> Any:
        return ws.embedder.encode(texts, normalize_embeddings=True)

    ws.embedder.encode(texts[:8], normalize_embeddings=True)  # warm-up
    ws.say(f"ingest: raw SentenceTransformer.encode on {len(texts)} of the {chunks} chunk texts (before)")
    before, _ = stopwatch(encode)
    ws.say(f"ingest: {len(written)} files, {chunks} chunks end to end, --category {category.name}")
    seconds, report = stopwatch(pipeline.run, [copies], progress=True)
    ws.say("ingest: raw encode again (after), then file by file")
    after, _ = stopwatch(encode)
    by_file, _ = stopwatch(lambda: [store.embed(file) for file in per_file])
    end_to_end = report.chunks_written / seconds
    raw = 2 * len(texts) / (before + after)
    file_rate = len(texts) / by_file
    share = ratio(end_to_end, raw)
    if report.chunks_written != chunks or report.skipped:
        section.notes.append(
            f"expected {chunks} chunks, {report.chunks_written} written; {len(report.skipped)} files skipped"
        )
    tokens = [len(ids) for ids in ws.embedder.tokenizer(texts[:200]).input_ids]
    section.figures = {
        "files": len(written), "category": category.code, "chunks_written": report.chunks_written,
        "seconds": round(seconds, 1), "chunks_per_s": round(end_to_end, 2),
        "raw_encode": {"chunks": len(texts), "files": len(per_file), "seconds_before": round(before, 1),
                       "seconds_after": round(after, 1), "chunks_per_s": round(raw, 2), "batch_size": 32},
        "encode_file_by_file": {"chunks_per_s": round(file_rate, 2), "batch_size": settings.batch_size},
        "end_to_end_over_raw": share, "file_by_file_over_raw": ratio(file_rate, raw),
        "mean_chunks_per_file": round(chunks / len(written), 1),
        "mean_tokens_per_chunk": round(sum(tokens) / len(tokens), 1),
        "minutes_for_10000_chunks": round(10_000 / end_to_end / 60, 1),
    }
    section.targets = {f"end to end >= {RATIO_TARGET:g} of raw encode": bool(share and share >= RATIO_TARGET)}
    section.row("end to end (walk, read, chunk, embed, write): chunks/s", f"{end_to_end:.1f}",
                f"{share:.2f} of raw encode" if share else "")
    section.row("raw `SentenceTransformer.encode`, one call: chunks/s", f"{raw:.1f}",
                f"{len(texts)} of the same texts, timed before and after")
    section.row("`Store.embed` file by file (the alternative to grouping files): chunks/s", f"{file_rate:.1f}",
                f"{section.figures['file_by_file_over_raw']:.2f} of raw encode")
    section.row("ingested", f"{report.chunks_written:,} chunks from {len(written):,} files in {seconds:.0f} s",
                f"10,000 chunks would take {section.figures['minutes_for_10000_chunks']:.0f} min")
    section.notes.append(
        f"Explicit category ({category.name}): no classifier cost. {chunks / len(written):.1f} chunks per file, "
        f"{section.figures['mean_tokens_per_chunk']:.0f} tokens per chunk."
    )
    megabytes = sum(path.stat().st_size for path in written) / 2**20
    _paragraph(ws, section, category.code, seconds / megabytes)
    return section


def one_paragraph(path: Path, megabytes: float) -> None:
    """A text file of `megabytes` MB with no blank line in it: one record for the chunker."""
    rng = random.Random(0)
    words, size = [], 0
    while size < megabytes * 2**20:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    path.write_text(" ".join(words)[: int(megabytes * 2**20)], encoding="utf-8")


def _paragraph(ws: Workspace, section: Section, code: str, ordinary_s_per_mb: float) -> None:
    settings = ws.settings_for("ingest-paragraph")
    megabytes = min(ws.sizes.paragraph_kb / 1024, settings.max_file_mb * 0.99)
    path = ws.root / "one-paragraph" / "chat-export.txt"
    path.parent.mkdir()
    one_paragraph(path, megabytes)
    pipeline = Pipeline(settings, Store(settings, ws.embedder), CategoryAssigner(settings, ws.taxonomy, code))
    ws.say(f"ingest: one paragraph of {megabytes:g} MB")
    seconds, report = stopwatch(pipeline.run, [path.parent], progress=True)
    per_mb = seconds / megabytes
    times = ratio(per_mb, ordinary_s_per_mb)
    section.figures["one_paragraph"] = {
        "megabytes": round(megabytes, 2), "seconds": round(seconds, 1), "chunks": report.chunks_written,
        "seconds_per_mb": round(per_mb, 1), "ordinary_seconds_per_mb": round(ordinary_s_per_mb, 1),
        "over_ordinary": times,
    }
    section.row(f"one-paragraph file, {megabytes:g} MB: seconds per MB", f"{per_mb:.1f}",
                f"{times:.2f}x ordinary files ({ordinary_s_per_mb:.1f} s/MB)" if times else "")
    section.targets[f"one paragraph within {PARAGRAPH_TARGET:g}x of ordinary files per MB"] = bool(
        times and times <= PARAGRAPH_TARGET
    )
