"""The time a question names, and the dates a record holds: what time-aware retrieval compares.

A question such as "what went wrong with the AC last summer?" names a period (summer of last year,
relative to `today`, a parameter so answers and tests do not move with the calendar); "when did we
last flush the water heater?" asks for the most recent entry; "when is the next dentist
appointment?" for the first one from today on. A record's dates are read from its text (ISO dates,
`2024-07` months, "March 25, 2025", "3/25/2025"), so every row of a service log counts, not just
the file's date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

Span = tuple[date, date]  # first and last day, inclusive

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}  # jan..dec: 3 letters tell them apart
MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
SEASONS = {"spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11), "winter": (12, 2)}

ISO_DAY = re.compile(r"\b(20\d\d|19\d\d)-(\d\d)-(\d\d)\b")
ISO_MONTH = re.compile(r"\b(20\d\d|19\d\d)-(\d\d)\b(?!-\d)")
US_DAY = re.compile(r"\b(\d{1,2})/(\d{1,2})/(20\d\d)\b")
NAMED_DAY = re.compile(rf"\b{MONTH}\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (20\d\d)\b", re.IGNORECASE)
NAMED_MONTH = re.compile(rf"\b{MONTH}\.?,? (20\d\d)\b", re.IGNORECASE)

NEXT = re.compile(r"\b(next|upcoming|coming up|soonest)\b")
EARLIEST = re.compile(r"\b(first|earliest|oldest)\b")
PERIOD = rf"(?:spring|summer|fall|autumn|winter|month|year|week|{MONTH})"
LATEST = re.compile(rf"\b(latest|most recent(?:ly)?|newest|last(?! {PERIOD}\b)|recent)\b")
SEASON = re.compile(r"\b(this|last|next|past) (spring|summer|fall|autumn|winter)\b")
RELATIVE = re.compile(r"\b(this|last|next|past) (month|year|week)\b")
# a month without a year only with this/last/next/past: "in July" in a log of several years names no one July
MONTH_WORD = re.compile(rf"\b(this|last|next|past) (?:mid-|early |late )?{MONTH}\b(?!\.? ?\d)")
YEAR = re.compile(r"\b(?:(in|of|during|before|after|since|until) )?(?:mid-|early |late )?(?:" + MONTH + r" )?(20\d\d)\b")
MOVED_IN = re.compile(r"\b(before|after|since) we (?:moved in|bought the house|moved here)\b")


@dataclass(frozen=True)
class TimeFrame:
    """What a question asks of time: a period (either end open) and/or an order among dated records.

    `order` is "latest" (the most recent entry up to today), "next" (the first from today on),
    "earliest", or "" for none. An empty frame (no period, no order) changes nothing.
    """

    today: date
    start: date | None = None
    end: date | None = None
    order: str = ""

    @property
    def active(self) -> bool:
        return bool(self.order) or self.start is not None or self.end is not None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    def within(self, span: Span) -> bool:
        """The span overlaps the period (no period: everything is within)."""
        return (self.start is None or span[1] >= self.start) and (self.end is None or span[0] <= self.end)

    def key(self, spans: list[Span]) -> date | None:
        """The date a record is ordered by for this frame, or None when it has none that qualifies.

        Latest: its last date inside the period and not after today; next: its first date from today
        on; earliest: its first date inside the period.
        """
        inside = [span for span in spans if self.within(span)]
        if self.order == "latest":
            past = [min(span[1], self.today) for span in inside if span[0] <= self.today]
            return max(past, default=None)
        if self.order == "next":
            return min((max(span[0], self.today) for span in inside if span[1] >= self.today), default=None)
        if self.order == "earliest":
            return min((span[0] for span in inside), default=None)
        return None


def parse(question: str, today: date, moved_in: date | None = None) -> TimeFrame:
    """The time frame of a question, relative to `today` (and to the move-in date, when it is known)."""
    text = question.lower()
    start, end = _period(text, today, moved_in)
    order = ""
    if NEXT.search(text):
        order = "next"
    elif EARLIEST.search(text):
        order = "earliest"
    elif LATEST.search(text):
        order = "latest"
    return TimeFrame(today, start, end, order)


def time_words(question: str) -> set[str]:
    """The words of the question that name its time ("this year", "last", "in 2024", "next"): what a follow-up
    that names none of its own ("who was doing it?") keeps of the earlier question's."""
    text = question.lower()
    found = [m for pattern in (MOVED_IN, SEASON, RELATIVE, YEAR, MONTH_WORD, NEXT, EARLIEST, LATEST)
             if (m := pattern.search(text))]
    return {word for m in found for word in re.findall(r"[a-z0-9-]+", m.group(0))}


def _period(text: str, today: date, moved_in: date | None) -> tuple[date | None, date | None]:
    if (match := MOVED_IN.search(text)) and moved_in is not None:
        return (None, moved_in - timedelta(days=1)) if match.group(1) == "before" else (moved_in, None)
    if match := SEASON.search(text):
        return _season(match.group(2), match.group(1), today)
    if match := RELATIVE.search(text):
        return _relative(match.group(2), match.group(1), today)
    if match := YEAR.search(text):
        word, month, year = match.group(1), match.group(2), int(match.group(3))
        if month:
            span = _month_span(year, _number(month))
        else:
            span = (date(year, 1, 1), date(year, 12, 31))
        return _bounded(span, word)
    if match := MONTH_WORD.search(text):
        word, month = match.group(1), _number(match.group(2))
        if word == "next":
            year = today.year if month > today.month else today.year + 1
        else:  # this: of today's year; last, past ("this past"): the latest one over before this month
            year = today.year if word == "this" or month < today.month else today.year - 1
        return _month_span(year, month)
    return None, None


def _bounded(span: Span, word: str | None) -> tuple[date | None, date | None]:
    """A span, or the open period before / after it."""
    if word in ("before", "until"):
        return None, span[0] - timedelta(days=1)
    if word in ("after",):
        return span[1] + timedelta(days=1), None
    if word == "since":
        return span[0], None
    return span


def _season(name: str, word: str, today: date) -> Span:
    """This season (the one of today's year, winter spanning the new year), the last one ended, or the next."""
    first, last = SEASONS[name]

    def occurrence(year: int) -> Span:  # the season that ends in `year`
        begin = date(year - 1 if first > last else year, first, 1)
        return begin, _month_span(year, last)[1]

    year = today.year + (1 if first > last and today.month >= first else 0)
    current = occurrence(year)
    if word == "this":
        return current
    if word == "next":
        return current if current[0] > today else occurrence(year + 1)
    return current if current[1] < today else occurrence(year - 1)


def _relative(unit: str, word: str, today: date) -> Span:
    if unit == "year":
        year = today.year + {"this": 0, "next": 1}.get(word, -1)
        return date(year, 1, 1), date(year, 12, 31)
    if unit == "month":
        step = {"this": 0, "next": 1}.get(word, -1)
        index = today.year * 12 + today.month - 1 + step
        return _month_span(index // 12, index % 12 + 1)
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks={"this": 0, "next": 1}.get(word, -1))
    return monday, monday + timedelta(days=6)


def _month_span(year: int, month: int) -> Span:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def dates_in(text: str) -> list[Span]:
    """Every date the text names, as spans (a month is its whole month); impossible dates are ignored."""
    spans: list[Span] = []
    for pattern, build in (
        (ISO_DAY, lambda m: _day(int(m[1]), int(m[2]), int(m[3]))),
        (US_DAY, lambda m: _day(int(m[3]), int(m[1]), int(m[2]))),
        (NAMED_DAY, lambda m: _day(int(m[3]), _number(m[1]), int(m[2]))),
        (ISO_MONTH, lambda m: _month(int(m[1]), int(m[2]))),
        (NAMED_MONTH, lambda m: _month(int(m[2]), _number(m[1]))),
    ):
        spans += [span for span in map(build, pattern.finditer(text)) if span is not None]
    return spans


def _number(month: str) -> int:
    return MONTHS[month.lower()[:3]]


def _day(year: int, month: int, day: int) -> Span | None:
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return value, value


def _month(year: int, month: int) -> Span | None:
    return _month_span(year, month) if 1 <= month <= 12 else None
