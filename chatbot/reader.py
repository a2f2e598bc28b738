"""The extractive reader: the answer is the best evidence the retrieved records already hold, quoted verbatim.

No generative model that fits in a wheel writes trustworthy answers, so the offline profile scores
instead of generating (as the classifier scores codes): each retrieved record is cut into evidence
units (a line, a CSV row, a calendar event, a sentence, a `key: value` field), a learned ranker
(chatbot/ranker.py) scores each unit against "nothing here answers it", and the best one or two are
returned with their citations. Below the ranker's threshold (a question about a thing no retrieved
record mentions scores low everywhere) it abstains rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.facts import ISO_DATE
from chatbot.ranker import RankerModel, VectorCache, features

if TYPE_CHECKING:
    from household.settings import Settings
    from storage.store import Hit

NOTHING = "I found nothing about that in your records."
MAX_ANSWER_CHARS = 300

BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
KEY_VALUE = re.compile(r"^[A-Z][\w /&().,'-]{0,40}?(?::\s|\s\|\s)")
DATED = re.compile(r"^(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})\b")  # a log entry
ABBREVIATION = r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\bNo\.)(?<!\bvs\.)"
SENTENCE_END = re.compile(ABBREVIATION + r"(?<=[.!?])\s+(?=[A-Z0-9$(\"'])")
FIELD = re.compile(r"^[a-z_]+: ")
WORD = re.compile(r"[A-Za-z]{3,}")
FIELD_SPLIT = re.compile(r"; (?=[a-z_]+: )")


@dataclass(frozen=True)
class Unit:
    """One candidate answer: verbatim text from one retrieved record, with what it is scored against."""

    text: str
    rank: int  # the record's citation number, 1-based
    section: str  # heading, neighbouring lines: the context the unit's words are read in
    date: str  # the unit's own date, else its section's, else the record's
    heading: str  # the record's title and the unit's heading: what the unit is about


@dataclass(frozen=True)
class Pick:
    unit: Unit
    score: float


@dataclass(frozen=True)
class Reading:
    """What the reader found: the quoted picks (best first) or none when it abstains."""

    picks: list[Pick]
    best: float  # the best unit's ranker score (log-odds against "nothing here"), kept even when abstaining

    @property
    def abstained(self) -> bool:
        return not self.picks

    def text(self) -> str:
        """The answer: the picks' text with their citations, at most MAX_ANSWER_CHARS."""
        if not self.picks:
            return NOTHING
        return "; ".join(f"{render(p.unit.text, MAX_ANSWER_CHARS - 6)} [{p.unit.rank}]" for p in self.picks)


def units(hits: list[Hit]) -> list[Unit]:
    """Every candidate unit of the retrieved records, best-ranked record first, each text once."""
    seen: set[str] = set()
    out: list[Unit] = []
    for rank, hit in enumerate(hits, 1):
        for unit in _record_units(hit, rank):
            key = " ".join(unit.text.split())
            if key not in seen:
                seen.add(key)
                out.append(unit)
    return out


def _record_units(hit: Hit, rank: int) -> list[Unit]:
    lines = hit.text.splitlines()
    label, body = (lines[0], lines[1:]) if lines else ("", [])
    title = " ".join(filter(None, [hit.meta.title, label, hit.source]))  # folder names say what a file is about
    if hit.meta.format == "csv":
        return [Unit(line.strip(), rank, title, _date(line) or hit.meta.date, title) for line in body if line.strip()]
    blocks = _events(body) if hit.meta.format == "ics" else _blocks(body)
    out: list[Unit] = []
    for index, (heading, block) in enumerate(blocks):
        neighbours = " ".join(b for _, b in blocks[max(0, index - 2): index + 3])
        section = " ".join([title, heading, neighbours])
        date = _date(block) or _date(heading) or hit.meta.date
        pieces = [block] if len(block) <= 200 or hit.meta.format == "ics" else SENTENCE_END.split(block)
        out.extend(Unit(piece.strip(), rank, section, _date(piece) or date, f"{title} {heading}".strip())
                   for piece in pieces if piece.strip())
    return out


def _events(lines: list[str]) -> list[tuple[str, str]]:
    """Calendar events: the event's summary and time as the heading, each sentence of its details a block."""
    blocks: list[tuple[str, str]] = []
    heading = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Event:"):
            heading = line[len("Event:"):].strip()
        elif line.startswith("When:"):
            heading += ", " + line[len("When:"):].strip()
        elif line.startswith("Details:"):
            details = line[len("Details:"):].strip()
            pieces = [details] if len(details) <= 200 else SENTENCE_END.split(details)
            blocks.extend((heading, f"{heading}: {piece}") for piece in pieces)
        elif line.startswith(("Where:", "Repeats:")):
            heading += ", " + line.split(":", 1)[1].strip()
        elif line:
            blocks.append((heading, f"{heading}: {line}"))
    return blocks


def _blocks(lines: list[str]) -> list[tuple[str, str]]:
    """Prose cut into blocks: hard-wrapped lines and bare values joined back, bullets, table rows, `key: value`
    lines and log entries (a line opening with a date) apart. A table row is read under its heading and its
    table's header (`| 25 | 15 | Patio GFCI |` is about a breaker only under `| Breaker | Amps | Circuit |`)."""
    blocks: list[tuple[str, str]] = []
    heading, current, previous, columns = "", "", "", ""
    for raw in lines:
        line = raw.strip()
        capitals = line.isupper() and len(line) < 60 and not any(ch.isdigit() for ch in line)
        if not line or line.startswith("#") or set(line) <= set("|-: ") or capitals:
            if current:
                blocks.append((_under(heading, columns, current), current))
            if line and set(line) <= set("|-: ") and "-" in line and current.startswith("|"):
                columns = " ".join(cell.strip() for cell in current.strip("|").split("|"))
            elif not line.startswith("|"):
                columns = ""
            current, previous = "", ""
            if line.startswith("#") or capitals:
                heading = line.lstrip("#").strip()
            continue
        fresh = BULLET.match(line) or line.startswith("|") or KEY_VALUE.match(line) or DATED.match(line)
        wrapped = line[0].islower() or (len(previous) >= 60 and not previous.rstrip().endswith((".", ":", ";", "|")))
        bare_value = not WORD.search(line) and not line.startswith("|")  # `- $742.50` under its item says nothing alone
        if current and (bare_value or (wrapped and not fresh)):
            current += " " + line
        else:
            if current:
                blocks.append((_under(heading, columns, current), current))
            if not line.startswith("|"):
                columns = ""
            current = line
        previous = raw
    if current:
        blocks.append((_under(heading, columns, current), current))
    return blocks


def _under(heading: str, columns: str, block: str) -> str:
    """The heading a block is read under: a table row's adds its table's column names."""
    return f"{heading} ({columns})".strip() if columns and block.startswith("|") else heading


def _date(text: str) -> str:
    match = ISO_DATE.search(text)
    return f"{int(match[1]):04d}-{int(match[2]):02d}-{int(match[3]):02d}" if match else ""


def render(text: str, limit: int) -> str:
    """A unit as said in an answer: markdown emphasis and table pipes dropped, one line, within `limit`."""
    if FIELD.match(text) and "; " in text:  # a CSV row: its values, as a person would read them out
        text = ", ".join(v for v in (f.split(": ", 1)[-1] for f in FIELD_SPLIT.split(text)) if v.lower() != "none")
    text = re.sub(r"\*\*|__", "", text)
    text = re.sub(r"\s*\|\s*", " | ", text.strip().strip("|")).strip(" |")
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return cut[: cut.rfind(" ")] + "…" if " " in cut else cut + "…"


class Reader:
    """Ranks the units of the retrieved records against a question (chatbot/ranker.py); quotes the best or abstains."""

    name = "reader"

    def __init__(self, embedder: Any, model: RankerModel) -> None:
        self.embed = VectorCache(embedder)
        self.model = model

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Any | None = None) -> Reader:
        """The reader with the configured ranker model (settings.reader_model) and embedder."""
        from household.models import load_embedder

        return cls(embedder or load_embedder(settings.embedding_model), RankerModel.load(settings.reader_model))

    def status(self) -> str:
        return "reader (offline): quotes the best lines of your records, no generative model"

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        """The Generator protocol: the answer in one piece."""
        yield self.read(question, hits).text()

    def rerank(self, question: str, hits: list[Hit], k: int, today: date | None = None) -> list[Hit]:
        """The k records whose best unit scores highest (ties keep the search order): a record at rank 6 to 20
        that holds the answer line moves up, and the answer is then quoted from the records shown."""
        candidates = units(hits)
        if not candidates:
            return hits[:k]
        best: dict[int, float] = {}
        for unit, score in zip(candidates, self.model.scores(features(question, candidates, self.embed, today)),
                               strict=True):
            best[unit.rank] = max(best.get(unit.rank, -np.inf), float(score))
        order = sorted(range(1, len(hits) + 1), key=lambda rank: (-best.get(rank, -np.inf), rank))
        return [hits[rank - 1] for rank in order[:k]]

    def read(self, question: str, hits: list[Hit], today: date | None = None, margin: float = 0.0) -> Reading:
        """The best one or two units by the ranker's score, or none when the best is more than `margin` below
        its threshold (a follow-up's short ask scores lower against records already chosen by its conversation)."""
        candidates = units(hits)
        if not candidates:
            return Reading([], 0.0)
        return choose(candidates, self.model.scores(features(question, candidates, self.embed, today)),
                      self.model, margin)


def _repeats(text: str, quoted: str) -> bool:
    """Whether `text` says nothing `quoted` does not: overlapping chunks cut the same line at another word
    ("$40.00 trip charge)." beside "... plus a $40.00 trip charge)."), and quoting it twice reads as a stutter."""
    a, b = " ".join(text.lower().split()), " ".join(quoted.lower().split())
    return a in b or b in a


def choose(candidates: list[Unit], scores: np.ndarray, model: RankerModel, margin: float = 0.0) -> Reading:
    """The best unit, and a second one within `second_within` of it when both fit in an answer (at most two
    evidence items) and it is not the same words again; none when the best is below the threshold less `margin`."""
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    if best < model.threshold - margin:
        return Reading([], best)
    picks = [Pick(candidates[order[0]], best)]
    for index in order[1:]:
        pick = Pick(candidates[index], float(scores[index]))
        if pick.score < best - model.second_within:
            break
        if _repeats(pick.unit.text, picks[0].unit.text):
            continue
        if len(Reading(picks + [pick], best).text()) <= MAX_ANSWER_CHARS:
            picks.append(pick)
            break
    return Reading(picks, best)
