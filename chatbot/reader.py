"""The extractive reader: the answer is the best evidence the retrieved records already hold, quoted verbatim.

No generative model that fits in a wheel writes trustworthy answers, so the offline profile scores
instead of generating (as the classifier scores codes): each retrieved record is cut into evidence
units (a line, a CSV row, a calendar event, a sentence, a `key: value` field), every unit is scored
against the question (the question's words found in the unit and in its section, the kind of fact
the question asks for, recency for "last"/"next" questions), and the best one or two units are
returned with their citations. Below a threshold calibrated on the sample household's questions
(data/household/qa.jsonl and unanswerable.jsonl) it abstains rather than guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.facts import (
    AMOUNT,
    CLOCK,
    ISO_DATE,
    MONTH_DAY_YEAR,
    MONTHS,
    PHONE,
    SLASH_DATE,
    TIME,
    _is_code,
    fact_tokens,
)
from chatbot.retrieval import tokenize

if TYPE_CHECKING:
    from storage.store import Hit

THRESHOLD = 0.45  # calibrated on data/household qa.jsonl + unanswerable.jsonl: abstention first, then accuracy
W_UNIT, W_SECTION, W_FIT, W_RANK, W_YEAR, W_TOTAL = 0.45, 0.35, 0.3, 0.05, 0.3, 0.1
W_SLOT = 0.3
NOTHING = "I found nothing about that in your records."
MAX_ANSWER_CHARS = 300
MAX_ITEMS = 2

# Question words that say which kind of fact is wanted, not what it is about.
GENERIC = frozenset(
    fold for fold in tokenize(
        "much many long often get got put need ever tell know number cost price paid pay charge charged "
        "name model kind type time date day year go going happen happened done much"
    )
)
# Words of a question that name no thing of the household: a record need not hold them.
FUNCTION = frozenset(
    tokenize(
        "they them their new old all end after before use used using find found hold swap say says until night "
        "safely safe size take took down up each goes go flip cycle wrong start starting started fix fixed fell job "
        "replace replaced make made give gave spend spent itself still under over back front add added blew build "
        "built bring need needed should would could can may might must usually ever every also like about into out "
        "off any some thing things stuff place last next first recent recently latest current again only just "
        "right now today yesterday week month year done doing happen happened work working kind type sort around "
        "tell know want think look looks much many long often anything something everything whole total cost costs "
        "pay paid charge charged price priced quote quoted allowed run"
    )
)
MONTH_NAMES = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
)
HARD_KINDS = frozenset({"date", "time", "amount", "phone", "code"})
SECOND_WITHIN, SECOND_WITHIN_TWO_PART = 0.08, 0.25  # how close a second unit must score to be quoted too
TWO_PART = re.compile(r"\band (?:who|what|when|how|which|where)\b|\bname and\b|\band (?:number|phone|cost|price)", re.IGNORECASE)
BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
KEY_VALUE = re.compile(r"^[A-Z][\w /&().,'-]{0,40}?(?::\s|\s\|\s)")
ABBREVIATION = r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\bNo\.)(?<!\bvs\.)"
SENTENCE_END = re.compile(ABBREVIATION + r"(?<=[.!?])\s+(?=[A-Z0-9$(\"'])")
CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*")
FIELD = re.compile(r"^[a-z_]+: ")
FIELD_SPLIT = re.compile(r"; (?=[a-z_]+: )")
DURATION = re.compile(r"\b\d+(?:\.\d+)?(?: to \d+)?[ -](?:second|minute|hour|day|week|month|year)s?\b|\bevery \w+", re.IGNORECASE)
TEMPERATURE = re.compile(r"\d\s*°\s*[FC]?|\b\d+\s*(?:F|degrees)\b")
SLOT = re.compile(r"\b(?:what|which)(?:'s| is| was| are)?\s+(?:the\s+|our\s+)?([a-z]+)", re.IGNORECASE)
QUANTITY = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:°F|°C|F\b|%|[a-zA-Z]+)")


@dataclass(frozen=True)
class Unit:
    """One candidate answer: verbatim text from one retrieved record, with what it is scored against."""

    text: str
    rank: int  # the record's citation number, 1-based
    section: str  # heading, neighbouring lines: the context the unit's words are read in
    date: str  # the unit's own date, else its section's, else the record's


@dataclass(frozen=True)
class Pick:
    unit: Unit
    score: float


@dataclass(frozen=True)
class Reading:
    """What the reader found: the quoted picks (best first) or none when it abstains."""

    picks: list[Pick]
    best: float  # the best unit's score, kept for calibration even when abstaining

    @property
    def abstained(self) -> bool:
        return not self.picks

    def text(self) -> str:
        """The answer: the picks' text with their citations, at most MAX_ANSWER_CHARS."""
        if not self.picks:
            return NOTHING
        return "; ".join(f"{render(p.unit.text, MAX_ANSWER_CHARS - 6)} [{p.unit.rank}]" for p in self.picks)


def wanted(question: str) -> set[str]:
    """The kinds of fact the question asks for: date, time, amount, phone, code, person, quantity."""
    q = question.lower()
    kinds: set[str] = set()
    if re.search(r"^\W*when\b|(?:\band|,)\s+when\b|what date|which day|what day|until when|how long ago|what year", q):
        kinds.add("date")
    if re.search(r"what time|\bwhat hour", q):
        kinds.add("time")
    if re.search(r"how much|\bcost|\bprice|\bcharge|\bpay|\bpaid|\bfee|\bdues|\bquote|\bspend|\bspent|\bcopay", q):
        kinds.add("amount")
    if re.search(r"\bphone\b|\bcall\b|number (?:for|of) (?!the (?:model|part))|\bnumber\b(?!.*\bmodel)(?=.*\b(?:vet|manager|company|arborist|plumber|doctor|office|tech)\b)|'s number|s number\b", q):
        kinds.add("phone")
    if re.search(r"\bmodel\b|\bpart\b|\bserial\b|\bclaim\b|\bpermit\b|\bpolicy number|\binvoice\b|\bmember id|\baccount number", q):
        kinds.add("code")
    if re.search(r"\bwho\b|\bwhich company|\bwhat company|\bwhose\b|\bname\b", q):
        kinds.add("person")
    if re.search(r"how many|what size|what voltage|how big|how far|what pressure|how deep|at what|how much (?!did|was|were|is|will|does|do)", q):
        kinds.add("quantity")
    if re.search(r"how long|how often", q):
        kinds.add("duration")
    if re.search(r"temperature|how hot|\bwhat temp", q):
        kinds.add("temperature")
    return kinds


def kinds_in(text: str) -> set[str]:
    """The kinds of fact a unit holds (the same names as `wanted`)."""
    found: set[str] = set()
    if ISO_DATE.search(text) or MONTH_DAY_YEAR.search(text) or SLASH_DATE.search(text):
        found.add("date")
    if TIME.search(text) or CLOCK.search(text):
        found.add("time")
    if AMOUNT.search(text):
        found.add("amount")
    if PHONE.search(text):
        found.add("phone")
    if any(_is_code(token) for token in fact_tokens(text)):
        found.add("code")
    if len(CAPITALISED.findall(text)) >= 2:
        found.add("person")
    if QUANTITY.search(text):
        found.add("quantity")
    if DURATION.search(text):
        found.add("duration")
    if TEMPERATURE.search(text):
        found.add("temperature")
    return found


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
        return [Unit(line.strip(), rank, title, _date(line) or hit.meta.date) for line in body if line.strip()]
    blocks = _events(body) if hit.meta.format == "ics" else _blocks(body)
    out: list[Unit] = []
    for index, (heading, block) in enumerate(blocks):
        neighbours = " ".join(b for _, b in blocks[max(0, index - 2): index + 3])
        section = " ".join([title, heading, neighbours])
        date = _date(block) or _date(heading) or hit.meta.date
        pieces = [block] if len(block) <= 200 or hit.meta.format == "ics" else SENTENCE_END.split(block)
        out.extend(Unit(piece.strip(), rank, section, _date(piece) or date) for piece in pieces if piece.strip())
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
    """Prose cut into blocks: hard-wrapped lines joined back, bullets, table rows and `key: value` lines apart."""
    blocks: list[tuple[str, str]] = []
    heading, current, previous = "", "", ""
    for raw in lines:
        line = raw.strip()
        capitals = line.isupper() and len(line) < 60 and not any(ch.isdigit() for ch in line)
        if not line or line.startswith("#") or set(line) <= set("|-: ") or capitals:
            if current:
                blocks.append((heading, current))
            current, previous = "", ""
            if line.startswith("#") or capitals:
                heading = line.lstrip("#").strip()
            continue
        fresh = BULLET.match(line) or line.startswith("|") or KEY_VALUE.match(line)
        wrapped = line[0].islower() or (len(previous) >= 60 and not previous.rstrip().endswith((".", ":", ";", "|")))
        if current and wrapped and not fresh:
            current += " " + line
        else:
            if current:
                blocks.append((heading, current))
            current = line
        previous = raw
    if current:
        blocks.append((heading, current))
    return blocks


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
    """Scores the units of the retrieved records against a question; quotes the best or abstains."""

    name = "reader"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def status(self) -> str:
        return "reader (offline): quotes the best lines of your records, no generative model"

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        """The Generator protocol: the answer in one piece."""
        yield self.read(question, hits).text()

    def read(self, question: str, hits: list[Hit]) -> Reading:
        candidates = units(hits)
        if not candidates:
            return Reading([], 0.0)
        months = {MONTHS[t[:3]] for t in re.findall(r"[a-z]+", question.lower()) if t in MONTH_NAMES}
        terms = [t for t in dict.fromkeys(tokenize(question)) if t not in GENERIC and t not in MONTH_NAMES]
        unit_tokens = [set(tokenize(u.text)) for u in candidates]
        section_tokens = [set(tokenize(u.section)) | own for u, own in zip(candidates, unit_tokens)]
        everywhere = set().union(*section_tokens)
        if any(_topic(t) and not _covered(t, everywhere) for t in terms):
            return Reading([], 0.0)  # a thing the question is about appears in no retrieved record
        idf = {t: math.log(1 + len(candidates) / (1 + sum(_covered(t, s) for s in section_tokens))) + 0.2
               for t in terms}
        total = sum(idf.values()) or 1.0
        kinds = wanted(question)
        hard = kinds & HARD_KINDS
        years = set(re.findall(r"\b(?:19|20)\d{2}\b", question))
        slot = next((t for t in tokenize(" ".join(SLOT.findall(question))) if _topic(t) and t not in GENERIC), None)
        scored = []
        for unit, own, around in zip(candidates, unit_tokens, section_tokens, strict=True):
            has = kinds_in(unit.text)
            if hard and not hard & has:
                continue  # "how much" is answered by an amount, "when" by a date
            lex_unit = sum(idf[t] for t in terms if _covered(t, own)) / total
            lex_section = sum(idf[t] for t in terms if _covered(t, around)) / total
            fit = len(kinds & has) / len(kinds) if kinds else 0.5
            score = W_UNIT * lex_unit + W_SECTION * lex_section + W_FIT * fit + W_RANK / unit.rank
            context = " ".join([unit.text, unit.section, unit.date])
            if years and not all(y in context for y in years):
                score -= W_YEAR
            if months and not any(_in_month(context, m) for m in months):
                score -= W_YEAR
            if slot and not _covered(slot, around):
                score -= W_SLOT
            if "amount" in kinds and re.search(r"\btotal|\ball in\b", unit.text, re.IGNORECASE):
                score += W_TOTAL
            scored.append(Pick(unit, score))
        if not scored:
            return Reading([], 0.0)
        scored.sort(key=lambda p: -p.score)
        scored = _prefer_recent(question, scored)
        best = scored[0].score
        if best < self.threshold:
            return Reading([], best)
        picks = [scored[0]]
        within = SECOND_WITHIN_TWO_PART if TWO_PART.search(question) else SECOND_WITHIN
        for pick in scored[1:]:
            if pick.score >= best - within and len(Reading(picks + [pick], best).text()) <= MAX_ANSWER_CHARS:
                picks.append(pick)
                break
        return Reading(picks, best)


def _covered(term: str, tokens: set[str]) -> bool:
    """The term, or a word sharing its stem (`paint` covers `painters`), is among `tokens`."""
    if term in tokens:
        return True
    if not term.isalpha() or len(term) < 4:
        return False
    return any(len(token) >= 4 and token.isalpha() and (token.startswith(term) or term.startswith(token))
               for token in tokens)


def _topic(term: str) -> bool:
    """A word naming a thing (septic, piano, warranty), not a function word or a verb of the question."""
    return term.isalpha() and len(term) >= 3 and term not in FUNCTION


def _in_month(text: str, month: int) -> bool:
    return any(int(m[2]) == month for m in ISO_DATE.finditer(text)) or any(
        name[:3] == list(MONTHS)[month - 1] for name in re.findall(r"[a-z]+", text.lower()) if name in MONTH_NAMES)


RECENT = re.compile(r"\b(?:last|latest|most recent|recent|recently|next|upcoming|current)\b", re.IGNORECASE)


def _prefer_recent(question: str, scored: list[Pick]) -> list[Pick]:
    """For "last"/"next" questions, the most recently dated of the near-best units goes first."""
    if not RECENT.search(question):
        return scored
    best = scored[0].score
    near = [p for p in scored if p.score >= best - 0.05 and p.unit.date]
    if not near:
        return scored
    top = max(near, key=lambda p: p.unit.date)
    return [top] + [p for p in scored if p is not top]
