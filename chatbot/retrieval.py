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
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from classifier.prediction import Classifier, Prediction
from household.settings import Settings

if TYPE_CHECKING:
    from chatbot.followup import FollowUp
    from storage.chunk import ChunkMeta
    from storage.store import Hit, Store

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
    follow_up: "FollowUp | None" = None  # how a follow-up was read in its conversation (chatbot/followup.py)


def source_name(hit: "Hit") -> str:
    """The file name a person recognizes (sources are absolute paths; attachments keep `#name`)."""
    return hit.source.replace("\\", "/").rsplit("/", 1)[-1]


def tokenize(text: str) -> list[str]:
    """Lower-case words, plus exact tokens kept whole (`ad-55107`, `2025-05-12`, `555-0142`) and their parts.

    Single letters (the `s` of "what's") and common function words carry no topic and are dropped;
    word endings are folded so "replaced" meets "replace" and "lighting" meets "lights".
    """
    tokens: list[str] = []
    for match in TOKEN_RE.findall(text.lower()):
        parts = re.split(r"[.,:/-]", match)
        if len(parts) > 1:
            tokens.append(match)
        tokens.extend(fold(p) for p in parts if (len(p) > 1 or p.isdigit()) and p not in STOPWORDS)
    return tokens


def fold(word: str) -> str:
    """A light stemmer: strip one plural or tense ending from an alphabetic word (batteries -> battery)."""
    if not word.isalpha() or len(word) <= 3:
        return word
    for suffix in ("ies", "ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word.endswith("ss")):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


@dataclass(frozen=True)
class _Snapshot:
    """The store's chunks as BM25 saw them; replaced whole, so a search never mixes two versions."""

    generation: str
    ids: list[str]
    chunks: dict[str, tuple[str, "ChunkMeta"]]
    categories: np.ndarray
    bm25: Any


class LexicalIndex:
    """BM25 over every chunk in the store; built on first use and rebuilt when the store changes."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def _fresh(self) -> _Snapshot:
        with self._lock:
            generation = self.store.generation()
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = self._build(generation)
            return self._snapshot

    def _build(self, generation: str) -> _Snapshot:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.NOTSET)  # it forces DEBUG on import; follow the app's level
        rows = list(self.store.chunks())
        bm25 = bm25s.BM25()
        if rows:
            bm25.index([tokenize(text) or [""] for _, text, _ in rows], show_progress=False)
        categories = np.array([meta.category for _, _, meta in rows], dtype=object)
        return _Snapshot(generation, [i for i, _, _ in rows], {i: (t, m) for i, t, m in rows}, categories, bm25)

    def search(self, question: str, n: int, codes: Sequence[str] | None = None) -> list[tuple[str, str, "ChunkMeta"]]:
        """(id, text, metadata) of up to `n` chunks sharing a word with the question, best BM25 score first."""
        snapshot = self._fresh()
        terms = [t for t in tokenize(question) if t in snapshot.bm25.vocab_dict] if snapshot.ids else []
        if not terms:
            return []
        scores = snapshot.bm25.get_scores(terms)
        if codes is not None:
            scores = np.where(np.isin(snapshot.categories, list(codes)), scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(snapshot.ids[i], *snapshot.chunks[snapshot.ids[i]]) for i in order if scores[i] > 0]


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
        steps: list[tuple[str, list[str]]] = [("widened-2", ranked[:2]), ("widened-3", ranked[:3])]
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
        if len(hits) < self.settings.min_hits:
            return False
        return not hits or min(h.distance for h in hits) <= self.settings.max_distance

    def search(self, question: str, k: int, codes: list[str] | None) -> list["Hit"]:
        """The top `k` chunks by fused vector and BM25 ranks, within `codes` (None: all)."""
        dense = self.store.search(question, k * self.depth if self.lexical else k, codes)
        if self.lexical is None:
            return dense[:k]
        lexical = self.lexical.search(question, k * self.depth, codes)
        ids = fuse([[h.id for h in dense], [row[0] for row in lexical]])[:k]
        by_id = {h.id: h for h in dense}
        by_id.update(self.lexical_hits(question, [row for row in lexical if row[0] in ids and row[0] not in by_id]))
        return [by_id[i] for i in ids]

    def lexical_hits(self, question: str, rows: list[tuple[str, str, "ChunkMeta"]]) -> dict[str, "Hit"]:
        """Chunks found by BM25 alone, as Hits with the distance the store would give them.

        The store's distance is squared L2 between unit vectors (see storage/store.py): 2 - 2 cos.
        """
        if not rows:
            return {}
        from storage.store import Hit

        vectors = np.asarray(self.store.embed([question] + [text for _, text, _ in rows]), dtype=np.float32)
        distances = 2.0 - 2.0 * vectors[1:] @ vectors[0]
        return {
            i: Hit(i, text, float(d), meta)
            for (i, text, meta), d in zip(rows, distances, strict=True)
        }
