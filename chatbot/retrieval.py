"""Category-filtered hybrid retrieval: the classifier narrows the search, widening so no answer is lost.

The predicted category filters the search. When the classifier is unsure, or the filtered search
finds too few or too distant chunks, the filter widens to the top-2 codes, then the top-3, then
none; the catch-all category (settings.unfiltered_category) searches everything. Every search is
hybrid: the store's vector ranks fused with BM25 ranks over the same chunks (reciprocal rank
fusion), because embeddings blur exact tokens (model numbers, dates, phone numbers) that BM25
matches exactly.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from classifier.prediction import Classifier, Prediction
from household.settings import Settings

if TYPE_CHECKING:
    from ingest.store import Hit, Store

log = logging.getLogger(__name__)

RRF_K = 60  # the constant of reciprocal rank fusion: damps the weight of the very first ranks
TOKEN_RE = re.compile(r"[a-z0-9]+(?:[.,:/-][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its last me my of on or our so "
    "that the their them there this to us was we were what when where which who whom why will with you your".split()
)


@dataclass(frozen=True)
class Retrieval:
    question: str
    prediction: Prediction
    path: str  # filtered | widened-2 | widened-3 | unfiltered | general | no-filter | override
    codes: list[str] | None  # what the final search was filtered by; None = everything
    hits: list["Hit"]


def source_name(hit: "Hit") -> str:
    """The file name a person recognizes (sources are absolute paths; attachments keep `#name`)."""
    return hit.source.replace("\\", "/").rsplit("/", 1)[-1]


def tokenize(text: str) -> list[str]:
    """Lower-case words, plus exact tokens kept whole (`ad-55107`, `2025-05-12`, `555-0142`) and their parts.

    Single letters (the `s` of "what's") and common function words carry no topic and are dropped.
    """
    tokens: list[str] = []
    for match in TOKEN_RE.findall(text.lower()):
        parts = re.split(r"[.,:/-]", match)
        if len(parts) > 1:
            tokens.append(match)
        tokens.extend(p for p in parts if (len(p) > 1 or p.isdigit()) and p not in STOPWORDS)
    return tokens


class LexicalIndex:
    """BM25 over every chunk in the store; built on first use and rebuilt when the store's size changes."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self._lock = threading.Lock()
        self._size = -1
        self._bm25 = None
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._metadata: list[dict] = []
        self._categories = np.array([], dtype=object)

    def _fresh(self) -> None:
        import bm25s

        with self._lock:
            size = self.store.count()
            if size == self._size:
                return
            rows = list(self.store.chunks())
            self._ids = [r[0] for r in rows]
            self._texts = [r[1] for r in rows]
            self._metadata = [dict(r[2]) for r in rows]
            self._categories = np.array([m.get("category", "") for m in self._metadata], dtype=object)
            corpus = [tokenize(text) or [""] for text in self._texts]
            self._bm25 = bm25s.BM25()
            if corpus:
                self._bm25.index(corpus, show_progress=False)
            self._size = size

    def search(self, question: str, n: int, codes: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of up to `n` chunks sharing a word with the question, best first."""
        self._fresh()
        terms = [t for t in tokenize(question) if t in self._bm25.vocab_dict] if self._ids else []
        if not terms:
            return []
        scores = self._bm25.get_scores(terms)
        if codes is not None:
            scores = np.where(np.isin(self._categories, list(codes)), scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(self._ids[i], float(scores[i])) for i in order if scores[i] > 0]

    def chunk(self, chunk_id: str) -> tuple[str, dict]:
        i = self._ids.index(chunk_id)
        return self._texts[i], self._metadata[i]


def fuse(rankings: Iterable[Sequence[str]], k: int = RRF_K) -> list[str]:
    """Reciprocal rank fusion: ids ordered by the sum of 1/(k + rank) over the rankings they appear in."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


class Retriever:
    def __init__(
        self, settings: Settings, store: "Store", classifier: Classifier, lexical: bool = True, depth: int = 4
    ) -> None:
        self.settings, self.store, self.classifier = settings, store, classifier
        self.lexical = LexicalIndex(store) if lexical else None
        self.depth = depth  # each ranking contributes depth*k candidates to the fusion
        catch_all = classifier.taxonomy.find(settings.unfiltered_category) if settings.unfiltered_category else None
        self.catch_all = catch_all.code if catch_all else None

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        code: str | None = None,
        use_filter: bool = True,
        prediction: Prediction | None = None,
    ) -> Retrieval:
        """Classify (unless `prediction` is given), then search along the widening policy.

        `code` forces one category (the user corrected the tag): path "override", no widening.
        """
        k = k or self.settings.top_k
        prediction = prediction or self.classifier.classify(question)
        if code is not None:
            return Retrieval(question, prediction, "override", [code], self.search(question, k, [code]))
        if not use_filter:
            return Retrieval(question, prediction, "no-filter", None, self.search(question, k, None))
        if prediction.code == self.catch_all:
            return Retrieval(question, prediction, "general", None, self.search(question, k, None))
        ranked = [c for c, _ in prediction.ranking]
        steps: list[tuple[str, list[str] | None]] = [("widened-2", ranked[:2]), ("widened-3", ranked[:3])]
        if prediction.confidence >= self.settings.min_confidence:
            steps.insert(0, ("filtered", ranked[:1]))
        for path, codes in steps:
            if self.catch_all in codes:
                break
            hits = self.search(question, k, codes)
            if self._enough(hits):
                return Retrieval(question, prediction, path, codes, hits)
            log.info("%s search (%s) not good enough: %d hits", path, ",".join(codes), len(hits))
        return Retrieval(question, prediction, "unfiltered", None, self.search(question, k, None))

    def _enough(self, hits: list["Hit"]) -> bool:
        return len(hits) >= self.settings.min_hits and min(h.distance for h in hits) <= self.settings.max_distance

    def search(self, question: str, k: int, codes: list[str] | None) -> list["Hit"]:
        """The top `k` chunks by fused vector and BM25 ranks, within `codes` (None: all)."""
        dense = self.store.search(question, k * self.depth if self.lexical else k, codes)
        if self.lexical is None:
            return dense[:k]
        lexical = self.lexical.search(question, k * self.depth, codes)
        ids = fuse([[h.id for h in dense], [chunk_id for chunk_id, _ in lexical]])[:k]
        by_id = {h.id: h for h in dense}
        missing = [i for i in ids if i not in by_id]
        by_id.update(self._lexical_hits(question, missing))
        return [by_id[i] for i in ids]

    def _lexical_hits(self, question: str, ids: list[str]) -> dict[str, "Hit"]:
        """Hits found by BM25 alone, with the distance the store would have given them (squared L2 of unit vectors)."""
        if not ids:
            return {}
        from ingest.store import Hit

        chunks = [self.lexical.chunk(i) for i in ids]
        vectors = np.asarray(self.store.embed([question] + [text for text, _ in chunks]), dtype=np.float32)
        distances = 2.0 - 2.0 * vectors[1:] @ vectors[0]
        return {
            i: Hit(i, text, meta.get("source", ""), meta.get("category", ""), float(d), meta)
            for i, (text, meta), d in zip(ids, chunks, distances)
        }
