"""From paths on disk to chunks in the store: walk, read, chunk, categorize, embed, write.

Each file is one unit of work. Its content hash decides whether anything is written at all (an
unchanged, completely stored file is left alone), and its chunks reach the store whole, so an
interrupted run never leaves half a file behind and re-running finishes the job. Files are read
one by one but embedded and written several at a time (`FLUSH_CHUNKS`): per-call costs, not
vectors, dominate embedding and writing small files one by one. A bad file is skipped with a
one-line reason; the run goes on.

A run makes the store match the folders it is given: stored files under them that are gone from
disk are forgotten, unless the folder looks unmounted (missing, unreadable, or without a single
supported file while the store holds files from it): then nothing is written or forgotten.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from household.errors import DataError, InputError
from household.settings import Settings
from ingest.category import Assignment, CategoryAssigner
from ingest.chunker import Chunk, Chunker, stamp
from ingest.document import NOT_OCR, Document
from ingest.ocr import Ocr
from ingest.readers import read, supported
from storage.chunk import ChunkMeta
from storage.store import FileChunks, Store, StoredFile

log = logging.getLogger(__name__)

FLUSH_CHUNKS = 512  # chunks of whole files embedded and written together (bench: python -m bench --only ingest)
EMBED_BATCH = 128  # chunks embedded between progress-bar updates


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class LowConfidence:
    """A stored chunk read by OCR less surely than `ocr_min_confidence`: worth a look at the original."""

    source: str
    chunk_index: int
    confidence: float


@dataclass
class Report:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    low_confidence: list[LowConfidence] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # files forgotten because they are gone from disk
    set_aside: str = ""  # where --rebuild moved the old store
    chunks_written: int = 0
    chunks_removed: int = 0
    written: Counter = field(default_factory=Counter)  # chunks written now, per category code
    store: dict = field(default_factory=dict)  # Store.stats() after the run
    seconds: float = 0.0

    @property
    def read_anything(self) -> bool:
        return bool(self.ingested or self.unchanged or self.removed)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["written"] = dict(self.written)
        return out


class Pipeline:
    """Ingests files and folders into a `Store`; one instance per run."""

    def __init__(
        self, settings: Settings, store: Store, assigner: CategoryAssigner,
        include: Sequence[str] = (), exclude: Sequence[str] = (),
    ) -> None:
        self.settings, self.store, self.assigner = settings, store, assigner
        self.include, self.exclude = list(include), list(exclude)

    @cached_property
    def chunker(self) -> Chunker:
        """Built on first use: a re-run over unchanged files never loads the embedder."""
        tokens = min(self.settings.chunk_tokens, self.store.embedder.max_seq_length - 2)
        return Chunker(self.store.embedder.tokenizer, tokens, self.settings.chunk_overlap)

    @cached_property
    def chunking(self) -> str:
        """How this run cuts files (ChunkMeta.chunking), known without loading the embedder."""
        return stamp(self.settings.chunk_tokens, self.settings.chunk_overlap)

    @cached_property
    def ocr(self) -> Ocr:
        """One per run: whether Tesseract and the languages are installed is checked once."""
        return Ocr(self.settings.ocr_languages)

    def run(
        self, paths: Sequence[Path], keep_missing: bool = False, force: bool = False, rebuild: bool = False,
        progress: bool = False,
    ) -> Report:
        """Ingest `paths` and forget their files gone from disk (not with `keep_missing`).

        `force` forgets even under a folder that looks unmounted; `rebuild` first moves the store
        aside (a damaged one is kept for inspection) and ingests into a new one.
        """
        from tqdm import tqdm

        started = time.monotonic()
        report = Report()
        with self.store.writer():
            if rebuild:
                report.set_aside = str(self.store.set_aside())
            stored = self.store.files()
            work = self._work(paths, report)
            gone = [] if keep_missing else self._missing(paths, work, stored, force)
            bars = {"disable": None if progress else True}  # None: shown on a terminal only
            with tqdm(total=len(work), unit="file", **bars) as files, tqdm(
                unit="chunk", desc="chunks", position=1, **bars
            ) as chunks:
                pending: list[FileChunks] = []
                for path, root in work:
                    files.set_postfix_str(path.name[-40:])
                    new = self._read(path, root, stored, report)
                    pending += [new] if new else []
                    if sum(len(f.ids) for f in pending) >= FLUSH_CHUNKS:
                        self._write(pending, stored, report, chunks)
                        pending = []
                    files.update()
                self._write(pending, stored, report, chunks)
            report.chunks_removed += self.store.delete_files([stored.pop(file) for file in gone])
            report.removed += gone
            report.store = self.store.stats()
        report.seconds = round(time.monotonic() - started, 2)
        return report

    def _work(self, paths: Sequence[Path], report: Report) -> list[tuple[Path, Path]]:
        """Every file to read once, in order: a file reached twice (overlapping paths, a symlink) is read once."""
        work, seen = [], set()
        for item in (item for root in paths for item in self.discover(Path(root))):
            if isinstance(item, Skipped):
                report.skipped.append(item)
            elif item[0].resolve() not in seen:
                seen.add(item[0].resolve())
                work.append(item)
        return work

    def discover(self, root: Path) -> Iterator[tuple[Path, Path] | Skipped]:
        """(file, the root it was found under) for every candidate file; hidden ones are ignored silently.

        A folder that cannot be listed (no permission) is Skipped with its reason, not left out unseen.
        """
        if not root.is_dir():
            yield (root, root)
            return
        top = root.resolve()
        unreadable: list[OSError] = []
        for folder, dirs, names in os.walk(root, onerror=unreadable.append):
            yield from _unlisted(unreadable)
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in dirs:
                if (here / name).is_symlink() and not (here / name).resolve().is_relative_to(top):
                    yield Skipped(str(here / name), "symlink leads outside the folder")
            for name in sorted(names):
                path = here / name
                if name.startswith(".") or not self._wanted(path.relative_to(root).as_posix(), name):
                    continue
                if path.is_symlink() and not path.resolve().is_relative_to(top):
                    yield Skipped(str(path), "symlink leads outside the folder")
                else:
                    yield (path, root)
        yield from _unlisted(unreadable)

    def _wanted(self, relative: str, name: str) -> bool:
        def matches(globs: list[str]) -> bool:
            return any(fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(name, g) for g in globs)

        return (not self.include or matches(self.include)) and not matches(self.exclude)

    def _read(self, path: Path, root: Path, stored: dict[str, StoredFile], report: Report) -> FileChunks | None:
        """The file's chunks, categorized; None if it is unchanged (recorded) or unreadable (skipped)."""
        file = str(path.resolve())
        fixed = self.assigner.before_reading(path, root)
        try:
            data = self._bytes(path)
            content_hash = hashlib.sha256(data).hexdigest()
            old = stored.get(file)
            refiled = fixed is not None and old is not None and set(old.categories) != {fixed.code}
            if old and old.complete(content_hash, self.chunking) and not refiled:
                report.unchanged.append(file)
                return None
            documents = read(file, data, self.ocr)
        except DataError as exc:
            report.skipped.append(Skipped(str(path), exc.problem))
            return None
        except Exception as exc:  # a parser library choking on odd input must not end the run
            log.debug("reading %s failed", path, exc_info=True)
            report.skipped.append(Skipped(str(path), f"cannot parse ({type(exc).__name__}: {exc})".splitlines()[0]))
            return None
        report.skipped += [Skipped(e.path, e.problem) for doc in documents for e in doc.unreadable]
        ids, texts, metadatas = self._chunks(file, content_hash, documents, fixed)
        floor = self.settings.ocr_min_confidence
        report.low_confidence += [
            LowConfidence(m.source, m.chunk_index, m.ocr_confidence) for m in metadatas if 0 <= m.ocr_confidence < floor
        ]
        return FileChunks(file, old.ids if old else [], ids, texts, metadatas)

    def _write(self, files: list[FileChunks], stored: dict[str, StoredFile], report: Report, bar: Any) -> None:
        """Embed and store whole files together, then record them as ingested."""
        texts = [text for f in files for text in f.texts]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors += self.store.embed(texts[start : start + EMBED_BATCH])
            bar.update(len(texts[start : start + EMBED_BATCH]))
        for f in files:
            f.embeddings, vectors = vectors[: len(f.ids)], vectors[len(f.ids) :]
        self.store.write_files(files)
        for f in files:
            categories = Counter(m.category for m in f.metadatas)
            hashes = {m.content_hash for m in f.metadatas}
            stored[f.file] = StoredFile(f.file, list(f.ids), hashes, len(f.ids), categories)
            report.ingested.append(f.file)
            report.chunks_written += len(f.ids)
            report.written.update(categories)

    def _bytes(self, path: Path) -> bytes:
        """The file's bytes, after the checks that need no reading: kind, type, size."""
        if not path.is_file():
            problem = "not a regular file" if path.exists() else "cannot read: the file does not exist"
            raise DataError(path, None, problem)
        if not supported(path.name):
            raise DataError(path, None, f"unsupported file type {path.suffix.lower() or '(no extension)'}")
        size, limit = path.stat().st_size / 1024 / 1024, self.settings.max_file_mb
        if size > limit:
            raise DataError(path, None, f"{size:.3g} MB is over the {limit:g} MB limit (max_file_mb)")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(path, None, f"cannot read: {exc.strerror or exc}") from None

    def _chunks(
        self, file: str, content_hash: str, documents: list[Document], fixed: Assignment | None
    ) -> tuple[list[str], list[str], list[ChunkMeta]]:
        ingested_at = datetime.now(UTC).isoformat(timespec="seconds")
        parts = [
            (doc, chunk, assignment)
            for doc in documents
            for chunk, assignment in self._categorized(doc, documents[0], fixed)
        ]
        ids, texts, metadatas = [], [], []
        position: Counter = Counter()
        for doc, chunk, assignment in parts:
            index = position[doc.source]
            position[doc.source] += 1
            meta = ChunkMeta(
                source=doc.source, file=file, format=doc.format, content_hash=content_hash, chunk_index=index,
                file_chunks=len(parts), category=assignment.code, category_confidence=round(assignment.confidence, 4),
                category_origin=assignment.origin, ingested_at=ingested_at, title=doc.title, date=doc.date,
                categories=(assignment.code, *assignment.also),
                ocr_confidence=_ocr_confidence(doc, chunk), chunking=self.chunking,
            )
            ids.append(f"{hashlib.sha1(doc.source.encode()).hexdigest()[:16]}-{content_hash[:12]}-{index}")
            texts.append(chunk.text)
            metadatas.append(meta)
        return ids, texts, metadatas

    def _categorized(self, doc: Document, parent: Document, fixed: Assignment | None) -> list[tuple[Chunk, Assignment]]:
        """Chunks with their category: explicit for the whole document, else the classifier's.

        Rows and events are categorized one by one (their own `category` field first) and only
        same-category neighbours share a chunk, so a calendar mixing pool and car reminders is not
        filed under one of them. A chunk of several records carries every category any of them has.
        """
        explicit = fixed or self.assigner.from_document(doc) or self.assigner.from_document(parent)
        if explicit:
            return [(chunk, explicit) for chunk in self.chunker.chunk(doc)]
        if doc.records and all(record.atomic for record in doc.records):
            found = [self.assigner.from_record(record, doc.source) for record in doc.records]
            unlabelled = [i for i, assignment in enumerate(found) if assignment is None]
            guesses = iter(self.assigner.classify([doc.records[i].text for i in unlabelled]))
            assignments = [assignment or next(guesses) for assignment in found]
            chunks = self.chunker.chunk(doc, groups=[a.code for a in assignments])
            return [(chunk, _merged([assignments[i] for i in chunk.records])) for chunk in chunks]
        chunks = self.chunker.chunk(doc)
        return list(zip(chunks, self.assigner.classify([chunk.text for chunk in chunks])))

    def _missing(
        self, paths: Sequence[Path], work: list[tuple[Path, Path]], stored: dict[str, StoredFile], force: bool
    ) -> list[str]:
        """Stored files under `paths` that are gone from disk; refused where a path looks unmounted."""
        found = [path.resolve() for path, _ in work if supported(path.name)]
        gone: list[str] = []
        for path in dict.fromkeys(Path(p) for p in paths):
            top = path.resolve()
            missing = [f for f in stored if Path(f).is_relative_to(top) and f not in gone and _gone(Path(f))]
            problem = _unmounted(path, found)
            if missing and problem and not force:
                held = sum(Path(f).is_relative_to(top) for f in stored)
                raise InputError(
                    f"{path} {problem} but the store holds {held} files from it: it looks unmounted, so nothing "
                    f"was ingested or forgotten; mount it and run again, or pass --force to forget its "
                    f"{len(missing)} files (--keep-missing to keep them)"
                )
            gone += missing
        return gone


def _ocr_confidence(doc: Document, chunk: Chunk) -> float:
    """The least sure OCR page among the chunk's records; NOT_OCR when none of them was read by OCR."""
    read_by_ocr = [doc.records[i].ocr_confidence for i in chunk.records if doc.records[i].ocr_confidence >= 0]
    return min(read_by_ocr, default=NOT_OCR)


def _unlisted(errors: list[OSError]) -> Iterator[Skipped]:
    """The folders os.walk could not list so far, as Skipped; the list is emptied."""
    for error in errors:
        yield Skipped(str(error.filename), f"cannot read the folder: {error.strerror or error}")
    errors.clear()


def _gone(file: Path) -> bool:
    """The file is certainly not there any more (a permission error is not proof it is gone)."""
    try:
        file.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _unmounted(path: Path, found: list[Path]) -> str:
    """Why `path` looks like a folder that is not there right now ("" when it looks fine)."""
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return ""
    try:
        os.listdir(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    top = path.resolve()
    return "" if any(f.is_relative_to(top) for f in found) else "holds no supported file"


def _merged(assignments: list[Assignment]) -> Assignment:
    """One chunk's assignment from its records': the least confident primary, every category of any of them."""
    primary = min(assignments, key=lambda a: a.confidence)
    codes = dict.fromkeys(code for a in assignments for code in (a.code, *a.also))
    return replace(primary, also=tuple(code for code in codes if code != primary.code))


def forget(store: Store, path: Path) -> tuple[list[str], int]:
    """Remove a stored file, or every stored file under a folder (the path need not exist any more).

    Returns the files removed and how many chunks went with them.
    """
    target = path.resolve()
    with store.writer():
        files = [f for f in store.files().values() if Path(f.file).is_relative_to(target)]
        return [f.file for f in files], store.delete_files(files)
