"""Fact tokens (dates, times, amounts, phone numbers, model or part numbers) and the normal form they are compared in.

An answer is only as trustworthy as its facts: the same date or amount may be written many ways
(`June 12, 2024` / `2024-06-12`, `$1,250` / `$1250.00`), so both the answer and the records are
brought to one normal form before a fact is looked up. A fact of an answer that appears in no
retrieved record is *unverified*: the generator may have invented it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MONTHS = {name: index for index, name in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)
DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH}),?\s+(\d{{4}})\b", re.IGNORECASE)
SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?(?![a-z])", re.IGNORECASE)
CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
AMOUNT = re.compile(r"\$\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
PHONE = re.compile(r"(?:\(\d{3}\)\s?|\b\d{3}[-. ])?\b\d{3}[-.]\d{4}\b")
# 512-55107: a number no date or phone pattern explains; not the tail of a lettered code (PL-7781-2025)
DIGIT_CODE = re.compile(r"(?<![\w-])\d{2,}(?:-\d{2,})+\b")
CODE = re.compile(r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")
_UNITS = {"mfd", "psi", "gpm", "gph", "ppm", "va", "mph", "am", "pm", "th", "st", "nd", "rd", "x"}


def _iso(year: str, month: int, day: str) -> str:
    return f"{int(year):04d}-{month:02d}-{int(day):02d}"


def normalise(text: str) -> str:
    """One comparable form: dates as ISO, amounts as `$1250` (cents kept when not .00), times as `hh:mm`,
    phone digits alone, lower case, single spaces."""
    text = MONTH_DAY_YEAR.sub(lambda m: _iso(m[3], _month(m[1]), m[2]), text)
    text = DAY_MONTH_YEAR.sub(lambda m: _iso(m[3], _month(m[2]), m[1]), text)
    text = SLASH_DATE.sub(lambda m: _iso(m[3], int(m[1]), m[2]), text)
    text = ISO_DATE.sub(lambda m: _iso(m[1], int(m[2]), m[3]), text)
    text = AMOUNT.sub(_amount, text)
    text = TIME.sub(_time, text)
    text = PHONE.sub(lambda m: "tel:" + re.sub(r"\D", "", m[0]), text)
    return " ".join(text.lower().split())


def _month(name: str) -> int:
    return MONTHS[name.lower()[:3]]


def _amount(match: re.Match) -> str:
    whole, cents = match[1].replace(",", ""), match[2]
    if cents and int(cents) != 0:
        return f"${int(whole)}.{cents.ljust(2, '0')}"
    return f"${int(whole)}"


def _time(match: re.Match) -> str:
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3].lower()
    if hour > 12:
        return match[0]
    hour = hour % 12 + (12 if half == "p" else 0)
    return f"{hour:02d}:{minute:02d}"


def contains(text: str, wanted: str) -> bool:
    """`wanted` appears in `text` once both are normalised (a date or amount written another way counts),
    not as the start or end of a longer word or number ($1250 is not in $1250.50)."""
    form = normalise(wanted)
    before = r"(?<![a-z0-9])" if form[:1].isalnum() else ""
    after = r"(?![a-z0-9]|\.\d)" if form[-1:].isalnum() else ""
    return re.search(before + re.escape(form) + after, normalise(text)) is not None


def fact_tokens(text: str) -> list[str]:
    """The checkable facts of a text, as written: dates, times, amounts, phone numbers, model or part numbers."""
    spans: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for pattern in (MONTH_DAY_YEAR, DAY_MONTH_YEAR, SLASH_DATE, ISO_DATE, AMOUNT, TIME, PHONE, CLOCK, DIGIT_CODE, CODE):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in spans):
                continue
            token = match[0].strip()
            if pattern is CODE and not _is_code(token):
                continue
            spans.append((start, end))
            found.append((start, token))
    return [token for _, token in sorted(found)]


def _is_code(token: str) -> bool:
    """A model or part number (WB44T10011, BP-2024-11873, 16ZULW-C), not a quantity (20x25x4 is one; 35 is not)."""
    letters = re.sub(r"[^A-Za-z]", "", token)
    if len(token) < 4 or not letters:
        return False
    if re.fullmatch(r"\d+(?:st|nd|rd|th|s)", token, re.IGNORECASE) or letters.lower() in _UNITS:
        return bool(re.fullmatch(r"\d+x\d+(?:x\d+)?", token, re.IGNORECASE))
    return True


def unverified(answer: str, records: Iterable[str]) -> list[str]:
    """Fact tokens of `answer` that appear in none of `records` (each once, in answer order)."""
    corpus = [normalise(text) for text in records]
    missing: list[str] = []
    for token in fact_tokens(answer):
        form = normalise(token)
        if not any(form in text for text in corpus) and token not in missing:
            missing.append(token)
    return missing
