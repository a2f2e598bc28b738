"""Category-filtered hybrid retrieval: the classifier narrows the search, widening so no answer is lost.

The predicted category filters the search. When the classifier is unsure, or the filtered search
finds too few or too distant chunks, the filter widens to the top-2 codes, then the top-3, then
none; the catch-all category (settings.unfiltered_category) searches everything. A filtered
answer keeps its last slot (settings.outside_slots per top_k records) for the best match of the unfiltered
search, so a record filed under another category is not lost to the filter. Every search is
hybrid: the store's vector ranks fused with BM25 ranks over the same chunks (reciprocal rank
fusion), because embeddings blur exact tokens (model numbers, dates, phone numbers) that BM25
matches exactly. A chunk can carry several categories; a filter matches any of them.

Time-aware: a question that names a period ("last summer", "in 2024") moves the chunks whose dates
all fall outside it below the others (a chunk without a date is never moved, nor dropped), and one
that asks for the latest, next or first entry adds a third ranking to the fusion: the candidates
ordered by that date (chatbot/timeframe.py), so among the relevant records the newest one rises.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from chatbot.timeframe import Span, TimeFrame, dates_in, parse
from classifier.prediction import Classifier, Prediction
from household.errors import ConfigError
from household.settings import Settings

if TYPE_CHECKING:
    from chatbot.followup import FollowUp
    from storage.chunk import ChunkMeta
    from storage.store import Hit, Store

log = logging.getLogger(__name__)

# (question, pooled hits best first, k, today) -> the k hits to keep, best first (chatbot/reader.py: Reader.rerank)
Rerank = Callable[[str, list["Hit"], int, date | None], list["Hit"]]

RRF_K = 60  # the constant of reciprocal rank fusion: damps the weight of the very first ranks
SIBLINGS = 200  # a time question also weighs up to this many chunks of each of the top-k hits' documents
MIN_CORRECTED = 5  # shorter misspelt words are not corrected: one edit from "pool" is "poll", "tool", "pools"...
TIME_WEIGHT = 2.0  # weight of the by-date ranking against the vector and BM25 ones (time-questions.jsonl)
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
    frame: TimeFrame | None = None  # the time the question names, when it names one
    follow_up: "FollowUp | None" = None  # how a follow-up was read in its conversation (chatbot/followup.py)
    today: date | None = None  # what "last" and "next" were read against (None: the real date)


@dataclass(frozen=True)
class _Found:
    """What every Retrieval of one question shares; called with the path taken, it makes the Retrieval."""

    question: str
    prediction: Prediction
    frame: TimeFrame | None
    today: date | None

    def __call__(self, path: str, codes: list[str] | None, hits: list["Hit"]) -> Retrieval:
        return Retrieval(self.question, self.prediction, path, codes, hits, self.frame, today=self.today)


def source_name(hit: "Hit") -> str:
    """The file name a person recognizes (sources are absolute paths; attachments keep `#name`)."""
    return hit.source.replace("\\", "/").rsplit("/", 1)[-1]


# Irregular past forms a question and a record may use for the same work ("swept" / "sweep"); forms that are
# also household nouns (saw, rose, led, shot, wound, rung) are left alone.
IRREGULAR = {
    "swept": "sweep", "paid": "pay", "bought": "buy", "dug": "dig", "laid": "lay", "spent": "spend", "built": "build",
    "rebuilt": "rebuild", "sold": "sell", "brought": "bring", "caught": "catch", "threw": "throw", "thrown": "throw",
    "blew": "blow", "blown": "blow", "froze": "freeze", "frozen": "freeze", "broke": "break", "broken": "break",
    "ran": "run", "went": "go", "came": "come", "gave": "give", "given": "give", "took": "take", "taken": "take",
    "made": "make", "hung": "hang", "shook": "shake", "stole": "steal", "stolen": "steal", "wore": "wear",
    "worn": "wear", "tore": "tear", "torn": "tear", "struck": "strike", "fed": "feed", "kept": "keep",
    "wrote": "write", "written": "write", "mown": "mow", "grew": "grow", "grown": "grow", "drew": "draw",
    "drawn": "draw", "drove": "drive", "driven": "drive", "flew": "fly", "flown": "fly", "rang": "ring",
    "sank": "sink", "sunk": "sink", "shrank": "shrink", "shrunk": "shrink", "stuck": "stick", "lit": "light",
    "bent": "bend", "sent": "send", "lent": "lend", "dealt": "deal", "bled": "bleed", "chose": "choose",
    "chosen": "choose", "began": "begin", "begun": "begin", "bitten": "bite", "hid": "hide", "hidden": "hide",
    "sewn": "sew", "sawn": "saw", "spun": "spin", "swung": "swing", "woven": "weave", "wove": "weave", "told": "tell",
    "sought": "seek", "thought": "think", "taught": "teach", "fought": "fight", "met": "meet", "spoke": "speak",
    "spoken": "speak", "rode": "ride", "ridden": "ride", "risen": "rise", "slid": "slide", "stood": "stand",
    "understood": "understand", "won": "win", "dove": "dive", "ate": "eat", "eaten": "eat", "forgot": "forget",
    "forgotten": "forget", "got": "get", "gotten": "get", "knew": "know", "known": "know", "seen": "see", "did": "do",
    "done": "do", "gone": "go",
}


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
    """A light stemmer: an irregular past back to its verb (swept -> sweep, froze -> freeze), then one plural or
    tense ending stripped from an alphabetic word (batteries -> battery, freeze -> freez)."""
    word = IRREGULAR.get(word, word)
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
    members: dict[str, np.ndarray]  # per category code: which chunks carry it
    bm25: Any
    frequency: Counter[str]  # per token: how many chunks hold it

    def terms(self, question: str) -> list[str]:
        """The question's tokens the index knows; a misspelt one ("chimeny") read as the word it most likely meant."""
        terms = []
        for token in tokenize(question):
            if token in self.frequency:
                terms.append(token)
            elif (known := self.spelling(token)) is not None:
                terms.append(known)
        return terms

    def spelling(self, word: str) -> str | None:
        """The indexed word one edit away from `word` (a letter dropped, added, changed or two swapped) that the
        most chunks hold; None for short or non-alphabetic tokens, where one edit makes another word too easily."""
        if len(word) < MIN_CORRECTED or not word.isalpha():
            return None
        known = [w for w in edits(word) if w in self.frequency]
        return max(known, key=lambda w: (self.frequency[w], w)) if known else None

    def within(self, codes: Sequence[str]) -> np.ndarray:
        """Chunks carrying any of `codes`."""
        mask = np.zeros(len(self.ids), dtype=bool)
        for code in codes:
            if code in self.members:
                mask |= self.members[code]
        return mask

    @cached_property
    def by_source(self) -> dict[str, list[str]]:
        """Chunk ids per source document, in the document's order."""
        sources: dict[str, list[tuple[int, str]]] = {}
        for chunk_id, (_, meta) in self.chunks.items():
            sources.setdefault(meta.source, []).append((meta.chunk_index, chunk_id))
        return {source: [i for _, i in sorted(rows)] for source, rows in sources.items()}


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
        tokens = [tokenize(text) for _, text, _ in rows]
        bm25 = bm25s.BM25()
        if rows:
            bm25.index([t or [""] for t in tokens], show_progress=False)
        members: dict[str, np.ndarray] = {}
        for index, (_, _, meta) in enumerate(rows):
            for code in meta.categories:
                members.setdefault(code, np.zeros(len(rows), dtype=bool))[index] = True
        frequency = Counter(token for chunk in tokens for token in set(chunk))
        return _Snapshot(generation, [i for i, _, _ in rows], {i: (t, m) for i, t, m in rows}, members, bm25, frequency)

    def search(self, question: str, n: int, codes: Sequence[str] | None = None) -> list[tuple[str, str, "ChunkMeta"]]:
        """(id, text, metadata) of up to `n` chunks sharing a word with the question, best BM25 score first."""
        snapshot = self._fresh()
        terms = snapshot.terms(question) if snapshot.ids else []
        if not terms:
            return []
        scores = snapshot.bm25.get_scores(terms)
        if codes is not None:
            scores = np.where(snapshot.within(codes), scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(snapshot.ids[i], *snapshot.chunks[snapshot.ids[i]]) for i in order if scores[i] > 0]

    def siblings(
        self, sources: Iterable[str], limit: int, codes: Sequence[str] | None = None
    ) -> list[tuple[str, str, "ChunkMeta"]]:
        """(id, text, metadata) of the chunks of these documents within `codes`, at most `limit` per document."""
        snapshot = self._fresh()
        rows = [(i, *snapshot.chunks[i]) for s in sources for i in snapshot.by_source.get(s, [])[:limit]]
        return [row for row in rows if codes is None or set(codes) & set(row[2].categories)]


def edits(word: str) -> set[str]:
    """Every string one edit from `word`: a letter deleted, swapped with the next, replaced or inserted."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in letters}
        | {a + c + b for a, b in splits for c in letters}
    ) - {word}


def fuse(rankings: Iterable[Sequence[str]], k: int = RRF_K, weights: Sequence[float] = ()) -> list[str]:
    """Reciprocal rank fusion: ids ordered by the sum of w/(k + rank) over the rankings they appear in (w = 1 unless given)."""
    scores: dict[str, float] = {}
    for index, ranking in enumerate(rankings):
        weight = weights[index] if index < len(weights) else 1.0
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def spans(text: str, meta: "ChunkMeta") -> list[Span]:
    """A chunk's dates: those its text names, else its document's date (an e-mail's, a page's)."""
    found = dates_in(text)
    if not found and meta.date:
        found = dates_in(meta.date[:10])
    return found


def by_time(
    ids: list[str], chunks: dict[str, tuple[str, "ChunkMeta"]], frame: TimeFrame, sources: set[str]
) -> tuple[list[str], list[str]]:
    """The frame's own ranking of the candidates from `sources`, and the ids it moves down.

    The ranking: by the frame's date (newest first for "latest"), or without an order the
    candidates dated inside the period, in their given (relevance) order. Only the most relevant
    documents are ranked by date, so a dated record on another topic cannot rise by being recent.

    Moved down: chunks with dates, none of which qualifies (outside the period; for "latest" all
    still to come, for "next" all past). Undated chunks are never moved.
    """
    dated = {i: spans(*chunks[i]) for i in ids}
    if frame.order:
        keys = {i: frame.key(dated[i]) for i in ids}
    else:
        keys = {i: 0 if any(frame.within(s) for s in dated[i]) else None for i in ids}  # 0: any constant
    outside = [i for i in ids if dated[i] and keys[i] is None]
    ranked = [i for i in ids if keys[i] is not None and chunks[i][1].source in sources]
    return sorted(ranked, key=keys.__getitem__, reverse=frame.order == "latest"), outside


class Retriever:
    def __init__(
        self, settings: Settings, store: "Store", classifier: Classifier, lexical: bool = True, depth: int = 4,
        rerank: Rerank | None = None,
    ) -> None:
        self.settings, self.store, self.classifier = settings, store, classifier
        self.rerank = rerank  # orders a pool of settings.search_pool records and keeps the best k
        self.lexical = LexicalIndex(store) if lexical else None
        self.depth = depth  # each ranking contributes depth*k candidates to the fusion
        catch_all = classifier.taxonomy.find(settings.unfiltered_category) if settings.unfiltered_category else None
        self.catch_all = catch_all.code if catch_all else None
        try:
            self.moved_in = date.fromisoformat(settings.moved_in) if settings.moved_in else None
        except ValueError:
            raise ConfigError(f"moved_in {settings.moved_in!r} is not a YYYY-MM-DD date") from None

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        code: str | None = None,
        use_filter: bool = True,
        prediction: Prediction | None = None,
        today: date | None = None,
        time_aware: bool = True,
    ) -> Retrieval:
        """Classify (unless `prediction` is given), then search along the widening policy.

        `code` forces one category (the user corrected the tag): path "override", no widening.
        `today` anchors the question's time words ("last summer"); the default is the real date.
        `time_aware=False` ignores them (what eval-retrieval compares against).
        With a `rerank`, each path searches a pool of settings.search_pool records and the reranker keeps
        the k best: an answer at rank 6 to 20 of the search still reaches the top k.
        """
        k = k or self.settings.top_k
        if self.rerank is None or self.settings.search_pool <= k:
            return self._retrieve(question, k, code, use_filter, prediction, today, time_aware)
        pooled = self._retrieve(question, self.settings.search_pool, code, use_filter, prediction, today, time_aware)
        return replace(pooled, hits=self.rerank(question, pooled.hits, k, today))

    def _retrieve(
        self, question: str, k: int, code: str | None, use_filter: bool, prediction: Prediction | None,
        today: date | None, time_aware: bool,
    ) -> Retrieval:
        """The k best records along the widening policy (the search order, before any rerank)."""
        prediction = prediction or self.classifier.classify(question)
        frame: TimeFrame | None = parse(question, today or date.today(), self.moved_in) if time_aware else None
        frame = frame if frame and frame.active else None
        found = _Found(question, prediction, frame, today)
        if code is not None:
            return found("override", [code], self.search(question, k, [code], frame))
        if not use_filter:
            return found("no-filter", None, self.search(question, k, None, frame))
        if prediction.code == self.catch_all:
            return found("general", None, self.search(question, k, None, frame))
        ranked = [c for c, _ in prediction.ranking]
        steps: list[tuple[str, list[str]]] = [("widened-2", ranked[:2]), ("widened-3", ranked[:3])]
        if prediction.confidence >= self.settings.min_confidence:
            steps.insert(0, ("filtered", ranked[:1]))
        for path, codes in steps:
            if self.catch_all in codes:
                break
            hits = self.search(question, k, codes, frame)
            if self._enough(hits[:k]):
                return found(path, codes, self._blended(question, k, frame, hits))
            log.info("%s search (%s) not good enough: %d hits", path, ",".join(codes), len(hits))
        return found("unfiltered", None, self.search(question, k, None, frame))

    def _blended(self, question: str, k: int, frame: TimeFrame | None, hits: list["Hit"]) -> list["Hit"]:
        """The filtered top k with its last `outside_slots` per top_k given to the best unfiltered matches it lacks.

        A record filed under another category (the panel map's pool-pump breaker, filed under electric)
        still reaches the reader when it is the best match anywhere, while the category's own records
        keep the first places. A longer list (the reranker's pool of 20) keeps the same share for them
        (4 of 20). Slots the unfiltered search cannot fill stay with the filtered hits, and at least one
        slot always does.
        """
        slots = min(self.settings.outside_slots * max(1, k // self.settings.top_k), k - 1)
        if slots <= 0:
            return hits[:k]
        kept = hits[: k - slots]
        held = {h.id for h in kept}
        outside = [h for h in self.search(question, k, None, frame) if h.id not in held][:slots]
        taken = held | {h.id for h in outside}
        return (kept + outside + [h for h in hits if h.id not in taken])[:k]

    def _enough(self, hits: list["Hit"]) -> bool:
        if len(hits) < self.settings.min_hits:
            return False
        return not hits or min(h.distance for h in hits) <= self.settings.max_distance

    def search(self, question: str, k: int, codes: list[str] | None, frame: TimeFrame | None = None) -> list["Hit"]:
        """The top `k` chunks by fused vector, BM25 (and, for a time question, date) ranks, within `codes` (None: all)."""
        timed = frame is not None and frame.active
        dense = self.store.search(question, k * self.depth if self.lexical or timed else k, codes)
        lexical = self.lexical.search(question, k * self.depth, codes) if self.lexical else []
        if not timed and self.lexical is None:
            return dense[:k]
        rankings = [[h.id for h in dense], [row[0] for row in lexical]]
        ids = fuse(rankings)
        if timed:
            chunks = {h.id: (h.text, h.meta) for h in dense} | {i: (t, m) for i, t, m in lexical}
            if self.lexical is not None:  # a log's other entries: the newest visit is as relevant as any
                sources = dict.fromkeys(chunks[i][1].source for i in ids[:k])
                extra = [row for row in self.lexical.siblings(sources, SIBLINGS, codes) if row[0] not in chunks]
                lexical += extra
                chunks |= {i: (t, m) for i, t, m in extra}
            fused = set(ids)
            top = {chunks[i][1].source for i in ids[:k]}
            ranking, outside = by_time([*ids, *(i for i in chunks if i not in fused)], chunks, frame, top)
            ids = fuse([*rankings, ranking], weights=(1.0, 1.0, TIME_WEIGHT))
            moved = set(outside)
            ids = [i for i in ids if i not in moved] + [i for i in ids if i in moved]
        ids = ids[:k]
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
