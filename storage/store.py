"""The category-aware Chroma collection, embedded on disk or on a Chroma server.

Concurrency (one writer, many readers). Two Chroma clients that keep one on-disk folder open in
different processes can hang or corrupt each other, so in embedded mode no client outlives one
short operation: every read or write opens a client under `<store_dir>.lock`, works, closes it and
releases the lock. A reader therefore always sees the last committed state, and waits at most for
one file's commit. `household ingest` and `forget` also hold `<store_dir>.writer.lock` for the
whole run, so two writers never interleave. With `chroma_url` set the server serializes access
and one long-lived HTTP client is used instead. Forgetting files goes in batches of whole files
(`DELETE_BATCH` chunks), each its own session, so a reader waits for one batch, not the whole run.

The change marker (`generation`) is part of the collection's own metadata, rewritten in the
session of every write, so it lives and dies with the data in both modes: a long-lived reader
(the BM25 index) never serves a chunk that is gone, even when a change keeps the chunk count or
the store folder is deleted under it.

Distances are squared L2 between unit-length MiniLM vectors: distance = 2 - 2 * cosine, so 0 is
identical, 2 unrelated, and `max_distance = 1.2` keeps hits with cosine >= 0.4.
Chunk sources are absolute, resolved paths (attachments: `/abs/mail.eml#bill.csv`), so the same
file reached from another working directory or through a symlink is still one source.

Every chunk carries a `ChunkMeta` (storage/chunk.py), translated to and from Chroma's dicts only there.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from household.errors import ConfigError, ServiceError
from household.settings import Settings
from storage.chunk import ChunkMeta, category_filter

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 120.0  # longest a reader waits for one file's commit before reporting the store busy
LOCK_POLL_S = 0.02  # how often a waiting session retries the store lock
DELETE_BATCH = 256  # chunks forgotten per session: a reader waits at most for one such batch
GENERATION_KEY = "household_generation"  # the collection metadata field every write renews
DAMAGED = ("(code: 11)", "(code: 26)", "file is not a database", "malformed")  # SQLite: corrupt / not a database


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    distance: float
    meta: ChunkMeta

    @property
    def source(self) -> str:
        return self.meta.source

    @property
    def category(self) -> str:
        return self.meta.category


@dataclass
class FileChunks:
    """One file's new chunks and the ids they replace: written whole or not at all."""

    file: str
    old_ids: list[str]
    ids: list[str]
    texts: list[str]
    metadatas: list[ChunkMeta]
    embeddings: list[list[float]] = field(default_factory=list)


@dataclass
class StoredFile:
    """What the store holds for one file: enough to tell unchanged, changed and half-written apart."""

    file: str
    ids: list[str] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    chunkings: set[str] = field(default_factory=set)
    expected: int = 0
    categories: Counter = field(default_factory=Counter)
    ingested_at: str = ""

    def complete(self, content_hash: str, chunking: str) -> bool:
        """All chunks of this content, cut this way, are there and nothing else: a crash mid-write fails this
        test, and so does a store cut by another version of the chunker or another chunk size."""
        return self.hashes == {content_hash} and self.chunkings == {chunking} and len(self.ids) == self.expected


class Store:
    """The category-aware Chroma collection (settings.collection) with our embeddings."""

    def __init__(self, settings: Settings, embedder: SentenceTransformer | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._remote = None
        self._max_batch = 0
        self._chroma_settings: Any = None

    @property
    def embedder(self) -> SentenceTransformer:
        if self._embedder is None:
            from household.models import load_embedder

            self._embedder = load_embedder(self.settings.embedding_model)
        return self._embedder

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.store_dir)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors, always ours: Chroma never embeds (it would download its own model)."""
        if not texts:
            return []
        vectors = self.embedder.encode(
            list(texts), batch_size=self.settings.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.tolist()

    def search(self, query: str, k: int, codes: list[str] | None = None) -> list[Hit]:
        """The k nearest chunks carrying any of the given category codes (None or empty: all)."""
        if k <= 0 or not self._exists():
            return []
        where = category_filter(codes) if codes else None
        vector = self.embed([query])
        with self._session() as collection:
            found = collection.query(
                query_embeddings=vector, n_results=k, where=where, include=["documents", "metadatas", "distances"]
            )
        rows = zip(found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0])
        return [Hit(id_, text, float(dist), ChunkMeta.from_chroma(meta)) for id_, text, meta, dist in rows]

    def chunks(self) -> Iterator[tuple[str, str, ChunkMeta]]:
        """(id, text, metadata) of every chunk, read page by page in one consistent snapshot."""
        yield from self._all(include=["documents", "metadatas"])

    def generation(self) -> str:
        """Changes whenever the store's content does: caches of it (the BM25 index) compare it.

        Read from the collection itself: its id (a deleted and recreated store is another one),
        the marker our writes renew, and the count (for writers that leave no marker).
        """
        if not self._exists():
            return "empty"
        with self._session() as collection:
            marker = (collection.metadata or {}).get(GENERATION_KEY, "unmarked")
            return f"{collection.id}:{marker}:{collection.count()}"

    def count(self) -> int:
        if not self._exists():
            return 0
        with self._session() as collection:
            return collection.count()

    def files(self) -> dict[str, StoredFile]:
        """Per-file state, keyed by the absolute path of the file on disk."""
        files: dict[str, StoredFile] = {}
        for id_, _, meta in self._all(include=["metadatas"]):
            stored = files.setdefault(meta.file, StoredFile(meta.file))
            stored.ids.append(id_)
            stored.hashes.add(meta.content_hash)
            stored.chunkings.add(meta.chunking)
            stored.expected = meta.file_chunks
            stored.categories[meta.category] += 1
            stored.ingested_at = max(stored.ingested_at, meta.ingested_at)
        return files

    def sources(self) -> list[dict]:
        """One row per stored file: file, its main category and all its categories, chunks, ingested at."""
        return [
            {
                "file": f.file, "category": f.categories.most_common(1)[0][0], "categories": dict(f.categories),
                "chunks": len(f.ids), "ingested_at": f.ingested_at,
            }
            for f in sorted(self.files().values(), key=lambda f: f.file)
        ]

    def stats(self) -> dict:
        files = self.files().values()
        categories: Counter = sum((f.categories for f in files), Counter())
        return {"chunks": sum(categories.values()), "sources": len(files), "categories": dict(categories)}

    @contextmanager
    def writer(self) -> Iterator[Store]:
        """Hold the one-writer lock for a whole ingest or forget; a second writer is refused, not queued."""
        from filelock import FileLock, Timeout

        path = self._lock_path("writer.lock")
        try:
            with FileLock(path, timeout=1):
                yield self
        except Timeout:
            raise ServiceError(
                f"another `household ingest` or `forget` is writing to {self.location}; wait for it to finish"
            ) from None

    def write_files(self, files: Sequence[FileChunks]) -> None:
        """Replace several files' chunks, each as one unit: upsert the new ones, then delete the old ones.

        One session and Chroma calls of its largest batch size for all of them: per-call overhead,
        not vectors, dominates the cost of writing small files one by one. Readers are locked out
        for the duration, so they see each file old or new, never a mix. If anything fails midway
        (an error, Ctrl-C), the chunks this call added are removed again; if the process dies
        outright, `StoredFile.complete` fails on the next run and the file is rewritten.
        """
        if not files:
            return
        kept = {i for f in files for i in f.old_ids}
        new = {i for f in files for i in f.ids}
        ids = [i for f in files for i in f.ids]
        texts = [t for f in files for t in f.texts]
        metadatas = [m.to_chroma() for f in files for m in f.metadatas]
        embeddings = [e for f in files for e in f.embeddings]
        stale = [i for f in files for i in f.old_ids if i not in new]
        with self._session() as collection:
            step = self._batch_size()
            written: list[str] = []
            try:
                for start in range(0, len(ids), step):
                    part = slice(start, start + step)
                    collection.upsert(
                        ids=ids[part], documents=texts[part], metadatas=metadatas[part], embeddings=embeddings[part]
                    )
                    written += ids[part]
                for start in range(0, len(stale), step):
                    collection.delete(ids=stale[start : start + step])
                self._bump(collection)
            except BaseException:
                added = [i for i in written if i not in kept]
                try:
                    for start in range(0, len(added), step):
                        collection.delete(ids=added[start : start + step])
                except Exception:  # noqa: BLE001 - the store itself failed; the next run repairs the files
                    log.warning("could not roll back %d chunks; re-run the ingest to repair", len(added))
                raise

    def delete_files(self, files: Sequence[StoredFile]) -> int:
        """Remove every chunk of these files by id, whole files per batch; returns how many chunks went.

        Each batch is one session, and the lock is left free for a moment after it, so readers
        queued behind a long forget get their turn (they poll every `LOCK_POLL_S`) and see
        every file either whole or gone.
        """
        removed = 0
        for batch in _batches([f.ids for f in files], DELETE_BATCH):
            if not self._exists():
                break
            with self._session() as collection:
                for start in range(0, len(batch), self._batch_size()):
                    collection.delete(ids=batch[start : start + self._batch_size()])
                self._bump(collection)
            removed += len(batch)
            time.sleep(2 * LOCK_POLL_S)
        return removed

    def set_aside(self) -> Path:
        """Rename the embedded store folder out of the way (a damaged store is kept, not deleted)."""
        if self.settings.chroma_url:
            raise ServiceError(
                f"--rebuild sets aside the embedded store; the collection {self.settings.collection!r} "
                f"lives on the Chroma server {self.settings.chroma_url}: delete it there, then ingest again"
            )
        from filelock import FileLock

        store = self.settings.store_dir
        aside = store.with_name(f"{store.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        with FileLock(self._lock_path("lock"), timeout=LOCK_TIMEOUT_S):
            if store.exists():
                store.rename(aside)
        return aside

    @staticmethod
    def _bump(collection: Collection) -> None:
        """A new change marker in the collection's metadata, in the session (and lock) of the write."""
        collection.modify(metadata={**(collection.metadata or {}), GENERATION_KEY: uuid.uuid4().hex})

    def _exists(self) -> bool:
        return bool(self.settings.chroma_url) or self.settings.store_dir.exists()

    def _all(self, include: list[str]) -> Iterator[tuple[str, str, ChunkMeta]]:
        if not self._exists():
            return
        rows: list[tuple[str, str, ChunkMeta]] = []
        with self._session() as collection:
            page = self._batch_size()
            offset = 0
            while True:
                got = collection.get(include=include, limit=page, offset=offset)
                documents = got.get("documents") or [""] * len(got["ids"])
                rows += [(i, d, ChunkMeta.from_chroma(m)) for i, d, m in zip(got["ids"], documents, got["metadatas"])]
                if len(got["ids"]) < page:
                    break
                offset += page
        yield from rows

    def _batch_size(self) -> int:
        """Chroma's limit on ids per call, read from the client when the first session opened."""
        return self._max_batch

    def _lock_path(self, suffix: str) -> Path:
        store = self.settings.store_dir
        store.parent.mkdir(parents=True, exist_ok=True)
        return store.with_name(f"{store.name}.{suffix}")

    @contextmanager
    def _session(self) -> Iterator[Collection]:
        """The collection for one short operation (see the module docstring for why it is short)."""
        import chromadb
        import httpx
        from chromadb.errors import ChromaError

        try:
            if self.settings.chroma_url:
                yield self._collection(self._remote_client())
                return  # the server serializes access; no lock needed
            from filelock import FileLock, Timeout

            lock = FileLock(self._lock_path("lock"), timeout=LOCK_TIMEOUT_S, poll_interval=LOCK_POLL_S)
            try:
                lock.acquire()
            except Timeout:
                stuck = f"the store {self.location} stayed locked for {LOCK_TIMEOUT_S:.0f} s; is a process stuck?"
                raise ServiceError(stuck) from None
            try:
                try:
                    client = chromadb.PersistentClient(
                        path=str(self.settings.store_dir), settings=self._client_settings()
                    )
                except Exception:
                    _drop_failed_client(str(self.settings.store_dir))
                    raise
                try:
                    yield self._collection(client)
                finally:
                    client.close()
            finally:
                lock.release()
        except (ChromaError, httpx.TransportError) as exc:
            problem = f"Chroma store {self.location}: {exc}".splitlines()[0]
            if not self.settings.chroma_url and any(sign in str(exc) for sign in DAMAGED):
                problem += (
                    "; the store is damaged: run `household ingest --rebuild FOLDER...` with your document "
                    "folders to move it aside and ingest them again"
                )
            raise ServiceError(problem) from exc

    def _collection(self, client: Any) -> Collection:
        from chromadb.errors import InvalidArgumentError

        self._max_batch = self._max_batch or client.get_max_batch_size()
        try:
            return client.get_or_create_collection(
                self.settings.collection, embedding_function=None, configuration={"hnsw": {"space": "l2"}}
            )
        except (ValueError, InvalidArgumentError) as exc:
            raise ConfigError(f"collection name {self.settings.collection!r}: {exc}") from exc

    def _remote_client(self) -> Any:
        if self._remote is None:
            import chromadb

            given = self.settings.chroma_url
            url = urlparse(given if "//" in given else f"http://{given}")
            try:
                self._remote = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=self._client_settings(),
                )
                self._remote.heartbeat()
            except Exception as exc:  # connection refused, DNS, TLS: all mean "the server is not there"
                self._remote = None
                down = f"cannot reach the Chroma server at {given}: {exc}".splitlines()[0]
                raise ServiceError(down) from exc
        return self._remote

    def _client_settings(self) -> Any:
        """Chroma's own settings: no telemetry (nothing leaves the machine); built once, it is slow to build."""
        if self._chroma_settings is None:
            from chromadb.config import Settings as ChromaSettings

            self._chroma_settings = ChromaSettings(anonymized_telemetry=False)
        return self._chroma_settings


def _batches(groups: Sequence[list[str]], size: int) -> Iterator[list[str]]:
    """Consecutive groups joined into lists of about `size` items; a group is never split."""
    batch: list[str] = []
    for group in groups:
        if batch and len(batch) + len(group) > size:
            yield batch
            batch = []
        batch += group
    if batch:
        yield batch


def _drop_failed_client(path: str) -> None:
    """Chroma caches a client's system per path even when it failed to start (a damaged database);
    dropping it lets this process open the path again once the store is repaired or rebuilt."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(path, None)  # noqa: SLF001 - no public way to drop one path
