"""The evidence ranker: how likely a unit of the retrieved records is the answer to a question, learned, not hand-tuned.

Each candidate unit (chatbot/reader.py cuts the records into lines, rows, events, sentences) is
described by a few dozen features: the question's words found in the unit and in its section,
MiniLM similarity of question and unit (alone and read under its heading), whether the unit holds
the kind of fact asked for (who -> a name, how much -> an amount, when -> a date), year and month
agreement, recency for "last" and "next" questions, the record's retrieval rank, the question's
topic words found in no record. A linear score over them (log-odds against "nothing here answers
it") is trained by `household train-reader` on questions whose answer strings mark the right units
(chatbot/reader_training.py); the model, its abstention threshold and what it was trained on are one
JSON file (`RankerModel`, its one reader and writer). The packaged model is data/reader-ranker.json.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.facts import AMOUNT, CLOCK, ISO_DATE, MONTH_DAY_YEAR, MONTHS, PHONE, SLASH_DATE, TIME, _is_code, fact_tokens
from chatbot.retrieval import edits, tokenize
from chatbot.timeframe import Span, TimeFrame, dates_in, parse
from household.errors import DataError

if TYPE_CHECKING:
    from chatbot.reader import Unit

Embed = Callable[[list[str]], np.ndarray]  # texts -> unit-normalised vectors, one row each

KINDS = ("date", "time", "amount", "phone", "code", "person", "quantity", "duration", "temperature")
HARD_KINDS = frozenset({"date", "time", "amount", "phone", "code"})
# Longer than the search's MIN_CORRECTED: here a false correction ("termit" read as "permit") makes a
# question about a thing no record holds look answered, which costs more than a wasted search candidate.
MIN_RESPELL = 7
FEATURES = (
    "lex_unit", "lex_section", "exact_unit", "fit", "hard_missing", "no_kind", "cos_unit", "cos_heading",
    "cos_unit_best", "inv_rank", "top_record", "year_match", "year_miss", "month_miss", "slot_miss", "total",
    "in_frame", "frame_miss", "ordered", "ordered_x_lex", "log_chars", "too_long", "short", "structured", "two_part", "missing_topics",
    "any_missing", "unit_topics", "key_topics", "key_kind", "cos_context",
    *(f"kind_{k}" for k in KINDS),
)
FORMAT = 1

# Question words that say which kind of fact is wanted, or lead to it ("what about the vent, when..."), not what
# it is about.
GENERIC = frozenset(tokenize(
    "much many long often get got put need ever tell know number cost price paid pay charge charged "
    "name model kind type time date day year go going happen happened done about"
))
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
        "pay paid charge charged price priced quote quoted allowed run come came keep kept see seen"
    )
)
MONTH_NAMES = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
)
CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*")
DURATION = re.compile(r"\b\d+(?:\.\d+)?(?: to \d+)?[ -](?:second|minute|hour|day|week|month|year)s?\b|\bevery \w+"
                      r"|\b(?:second|minute|hour|day|week|month|year)s?:\s*\d",
                      re.IGNORECASE)
TEMPERATURE = re.compile(r"\d\s*°\s*[FC]?|\b\d+\s*(?:F|degrees)\b")
QUANTITY = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:°F|°C|F\b|%|[a-zA-Z]+)")
SLOT = re.compile(r"\b(?:what|which)(?:'s| is| was| are)?\s+(?:the\s+|our\s+)?([a-z]+)", re.IGNORECASE)
TWO_PART = re.compile(r"\band (?:who|what|when|how|which|where)\b|\bname and\b|\band (?:number|phone|cost|price)",
                      re.IGNORECASE)
STRUCTURED = re.compile(r"^(?:[A-Za-z][\w /&().,'-]{0,40}?(?::\s|\s\|\s)|[a-z_]+: |\|)")
KEY = re.compile(r"^(?:[-*•]\s+|\|\s*)?([A-Za-z][\w /&().,'-]{0,40}?)\s*(?::\s|\|)")
FIELD_ROW = re.compile(r"^[a-z_]+: .*; [a-z_]+: ")  # a CSV row: its keys are the file's columns, the same on every row
ID_NUMBER = re.compile(r"(?<![\d$.,-])\d{6,}(?![\d-]|[,.]\d)")  # case 55012947: a long bare number is an identifier
# After "how much", these words ask for money ("how much did it cost", "how much for"); a noun asks for a quantity
# ("how much vinegar", "how much dog food").
MONEY_NEXT = r"(?:did|was|were|is|are|will|would|should|could|does|do|has|have|had|to|for|more|extra|total|of|we|i|it|that|this|they|the)\b"
MAX_UNIT_CHARS = 294  # longer units cannot be quoted whole in an answer


def wanted(question: str) -> set[str]:
    """The kinds of fact the question asks for (names as in KINDS)."""
    q = question.lower()
    kinds: set[str] = set()
    if re.search(r"^\W*when\b|(?:\band|,)\s+when\b|what date|which day|what day|until when|how long ago|what year", q):
        kinds.add("date")
    if re.search(r"what time|\bwhat hour", q):
        kinds.add("time")
    if re.search(r"how much(?! (?!" + MONEY_NEXT + r")[a-z])|\btotal\b|\bcost(?:s|ing)?\b|\bprice|\bcharge[sd]?\b"
                 r"|\bpay|\bpaid|\bfees?\b|\bdues|\bquote|\bspend|\bspent|\bcopay", q):
        kinds.add("amount")
    code = re.search(r"\bmodel\b|\b(?:what|which) part\b|\bparts? (?:numbers?|no\b|#)|\bserial\b|\bclaim\b|\bpermit\b"
                     r"|\bpolicy number|\binvoice\b|\bmember id|\baccount number|\bcase number|\bconfirmation"
                     r"|\border number|\bticket|\breference number", q)
    if code:
        kinds.add("code")
    said = re.search(r"\bphone\b|\bcall\b|'s number|s number\b|\b(?:his|her|their) number", q)
    # "the number for the plumber" is a phone; "the claim number for the window" is not
    implied = not code and re.search(
        r"number (?:for|of) |\bnumber\b(?=.*\b(?:vet|manager|company|arborist|plumber|doctor|office|tech)\b)", q)
    if said or implied:
        kinds.add("phone")
    if re.search(r"\bwho\b|\bwhich company|\bwhat company|\bwhose\b|\bname\b", q):
        kinds.add("person")
    if re.search(r"how many|what size|what voltage|how big|how far|what pressure|how deep|at what"
                 r"|how much (?!" + MONEY_NEXT + r")[a-z]", q):
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
    if any(_is_code(token) for token in fact_tokens(text)) or ID_NUMBER.search(text):
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


def covered(term: str, tokens: set[str]) -> bool:
    """The term, or a word sharing its stem (`paint` covers `painters`), is among `tokens`."""
    if term in tokens:
        return True
    if not term.isalpha() or len(term) < 4:
        return False
    return any(len(token) >= 4 and token.isalpha() and (token.startswith(term) or term.startswith(token))
               for token in tokens)


def respell(term: str, vocabulary: set[str]) -> str:
    """A question word found in no record, read as the record word one typing slip away ("fountian" ->
    "fountain", "pediatritian" -> "pediatrician"), as the search reads it (`_Snapshot.spelling`)."""
    if len(term) < MIN_RESPELL or not term.isalpha() or covered(term, vocabulary):
        return term
    return min(edits(term) & vocabulary, default=term)


def is_topic(term: str) -> bool:
    """A word naming a thing (septic, piano, warranty), not a function word or a verb of the question."""
    return term.isalpha() and len(term) >= 3 and term not in FUNCTION


def question_terms(question: str) -> list[str]:
    """The words of a question that a record answering it should hold."""
    return [t for t in dict.fromkeys(tokenize(question)) if t not in GENERIC and t not in MONTH_NAMES]


def features(question: str, candidates: Sequence[Unit], embed: Embed, today: date | None = None) -> np.ndarray:
    """One row of FEATURES per candidate unit."""
    if not candidates:
        return np.zeros((0, len(FEATURES)))
    today = today or date.today()
    unit_tokens = [set(tokenize(u.text)) for u in candidates]
    section_tokens = [set(tokenize(u.section)) | own for u, own in zip(candidates, unit_tokens, strict=True)]
    everywhere = set().union(*section_tokens)
    terms = list(dict.fromkeys(respell(t, everywhere) for t in question_terms(question)))
    idf = {t: math.log(1 + len(candidates) / (1 + sum(covered(t, s) for s in section_tokens))) + 0.2 for t in terms}
    total = sum(idf.values()) or 1.0
    kinds, years = wanted(question), set(re.findall(r"\b(?:19|20)\d{2}\b", question))
    months = {MONTHS[t[:3]] for t in re.findall(r"[a-z]+", question.lower()) if t in MONTH_NAMES}
    hard = kinds & HARD_KINDS
    slot = next((respell(t, everywhere) for t in tokenize(" ".join(SLOT.findall(question)))
                 if t.isalpha() and len(t) >= 3 and t not in GENERIC), None)
    vectors = embed([question] + [u.text for u in candidates] + [u.heading for u in candidates]  # headings repeat
                    + [f"{u.heading}: {u.text}" for u in candidates])
    q, n = vectors[0], len(candidates)
    cos_unit, cos_heading, cos_context = (vectors[1 + i * n: 1 + (i + 1) * n] @ q for i in range(3))
    lex_section = [sum(idf[t] for t in terms if covered(t, s)) / total for s in section_tokens]
    topics = [t for t in terms if is_topic(t)]
    missing = sum(not covered(t, everywhere) for t in topics) / (len(topics) or 1)  # septic: in no record at all
    frame = parse(question, today)
    spans = [dates_in(u.text) or dates_in(u.date) for u in candidates]
    topic_total = sum(idf[t] for t in topics) or 1.0  # "first", "out", "come" say nothing of which entries count
    about = [sum(idf[t] for t in topics if covered(t, s)) / topic_total for s in section_tokens]
    ordered = _ordered(frame, spans, about)
    two_part = bool(TWO_PART.search(question))
    rows = []
    for i, (unit, own) in enumerate(zip(candidates, unit_tokens, strict=True)):
        has = kinds_in(unit.text)
        context = " ".join([unit.text, unit.section, unit.date])
        lex_unit = sum(idf[t] for t in terms if covered(t, own)) / total
        row = {
            "lex_unit": lex_unit, "lex_section": lex_section[i],
            "exact_unit": sum(t in own for t in terms) / (len(terms) or 1),
            "fit": len(kinds & has) / len(kinds) if kinds else 0.5,
            "hard_missing": float(bool(hard) and not hard & has), "no_kind": float(not kinds),
            "cos_unit": cos_unit[i], "cos_heading": cos_heading[i], "cos_unit_best": float(cos_unit[i] >= cos_unit.max()),
            "cos_context": cos_context[i],
            "inv_rank": 1 / unit.rank, "top_record": float(unit.rank == 1),
            "year_match": float(bool(years) and all(y in context for y in years)),
            "year_miss": float(bool(years) and not all(y in context for y in years)),
            "month_miss": float(bool(months) and not any(_in_month(context, m) for m in months)),
            "slot_miss": float(slot is not None and not covered(slot, section_tokens[i])),
            "total": float("amount" in kinds and bool(re.search(r"\btotal|\ball in\b", unit.text, re.IGNORECASE))),
            "in_frame": float(frame.bounded and any(frame.within(span) for span in spans[i])),
            "frame_miss": float(frame.bounded and bool(spans[i]) and not any(frame.within(span) for span in spans[i])),
            "ordered": ordered[i], "ordered_x_lex": ordered[i] * lex_section[i],
            "log_chars": math.log(1 + len(unit.text)) / 6, "too_long": float(len(unit.text) > MAX_UNIT_CHARS),
            "short": float(len(unit.text) < 20), "structured": float(bool(STRUCTURED.match(unit.text))),
            "two_part": float(two_part) * len(has & kinds) / (len(kinds) or 1),
            "missing_topics": missing, "any_missing": float(missing > 0),
            "unit_topics": sum(covered(t, own) for t in topics) / (len(topics) or 1),
            **_key_value(unit.text, topics, kinds),
            **{f"kind_{k}": float(k in kinds and k in has) for k in KINDS},
        }
        rows.append([row[name] for name in FEATURES])
    return np.asarray(rows, dtype=np.float64)


def _key_value(text: str, topics: list[str], kinds: set[str]) -> dict[str, float]:
    """A `Member ID: PHX 448` line or `| Installed | 2025-06-14 |` row: does its key name what the question
    asks about (key_topics), and does its value hold the kind of fact asked for (key_kind)?"""
    match = KEY.match(text)
    if not match or FIELD_ROW.match(text):
        return {"key_topics": 0.0, "key_kind": 0.0}
    key, value = set(tokenize(match[1])), text[match.end():]
    held = kinds_in(value) | ({"person"} if CAPITALISED.search(value) else set())  # `Crew lead: Wade Simmons`
    return {"key_topics": sum(covered(t, key) for t in topics) / (len(topics) or 1),
            "key_kind": len(kinds & held) / len(kinds) if kinds else 0.0}


def _ordered(frame: TimeFrame, spans: list[list[Span]], relevance: list[float]) -> list[float]:
    """For a "last" / "next" / "first" question: 1 for the unit whose date comes first in that order (the newest
    up to today, the first from today on), 1/2 for the one after, ...; among the units about as relevant as the
    most relevant dated one; 0 for the others and for every unit of a question without an order."""
    keys = [frame.key(s) if frame.order and s else None for s in spans]
    dated = [i for i, key in enumerate(keys) if key is not None]
    out = [0.0] * len(spans)
    if not dated:
        return out
    best = max(relevance[i] for i in dated)
    near = [i for i in dated if relevance[i] >= best - 0.15]
    order = sorted({keys[i] for i in near}, reverse=frame.order == "latest")
    for i in near:
        out[i] = 1 / (1 + order.index(keys[i]))
    return out


def _in_month(text: str, month: int) -> bool:
    return any(int(m[2]) == month for m in ISO_DATE.finditer(text)) or any(
        name[:3] == list(MONTHS)[month - 1] for name in re.findall(r"[a-z]+", text.lower()) if name in MONTH_NAMES)


class VectorCache:
    """Unit-normalised MiniLM vectors of texts, kept between questions: the same records come back again and again."""

    def __init__(self, embedder: Any, size: int = 50_000) -> None:
        self.embedder, self.size = embedder, size
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            if len(self._vectors) + len(missing) > self.size:
                self._vectors.clear()
            vectors = self.embedder.encode(missing, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            self._vectors.update(zip(missing, vectors, strict=True))
        return np.stack([self._vectors[t] for t in texts])


@dataclass(frozen=True)
class RankerModel:
    """A trained ranker as saved: standardisation, weights, the abstention threshold, what it learned from."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # below this score for the best unit, the reader abstains
    second_within: float  # a second unit is quoted when its score is this close to the best's
    trained_on: dict = field(default_factory=dict)
    format: int = FORMAT

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Each unit's score: log-odds against "nothing in these records answers it" (0)."""
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights) + self.bias

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        temp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RankerModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            model = cls(**{**raw, "features": tuple(raw["features"]), "mean": tuple(raw["mean"]),
                           "scale": tuple(raw["scale"]), "weights": tuple(raw["weights"])})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(path, None, f"not a reader ranker model: {exc}") from exc
        if model.format != FORMAT or model.features != FEATURES:
            raise DataError(path, None, "made for another version of the reader: run `household train-reader`")
        return model
