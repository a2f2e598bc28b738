"""An answer and what supports it: the text (streamed), the quoted evidence, and the facts no record holds.

Both kinds of answer end up in the same shape. The reader's answer *is* its evidence, quoted. A
generated answer (SmolLM2, Ollama) is checked once streamed: its evidence is the record lines that
hold its fact tokens, and every fact token found in no retrieved record is listed as unverified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.facts import fact_tokens, normalise, unverified
from chatbot.reader import NOTHING, Reading, render, units
from chatbot.retrieval import source_name

if TYPE_CHECKING:
    from storage.store import Hit

CITATION = re.compile(r"\[(\d{1,2})\]")
EVIDENCE_CHARS = 300


@dataclass(frozen=True)
class Evidence:
    """A quoted line that supports the answer, with where and when it was written."""

    rank: int  # the citation number [n] of its record
    text: str
    source: str  # the file name
    date: str
    category: str  # the record's category code

    def as_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "text": self.text, "source": self.source, "date": self.date,
                "category": self.category}


class Answer:
    """Iterate to stream the pieces; afterwards `text`, `evidence` and `unverified` are complete."""

    def __init__(self, hits: list[Hit], pieces: Iterable[str], evidence: list[Evidence] | None = None,
                 abstained: bool = False) -> None:
        self.hits, self.abstained = hits, abstained
        self._pieces = pieces
        self._parts: list[str] = []
        self._evidence = evidence
        self.evidence: list[Evidence] = list(evidence or [])
        self.unverified: list[str] = []
        self.done = False

    @classmethod
    def quoted(cls, hits: list[Hit], reading: Reading) -> Answer:
        """The reader's answer: its picks are the evidence, in one piece."""
        evidence = [_evidence(hits[p.unit.rank - 1], p.unit.rank, p.unit.text, p.unit.date) for p in reading.picks]
        return cls(hits, [reading.text()], evidence, abstained=reading.abstained)

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self._parts.append(piece)
            yield piece
        self._finish()

    def wait(self) -> Answer:
        """Consume the whole stream (for callers that do not show pieces as they come)."""
        for _ in self:
            pass
        return self

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def citations(self) -> list[int]:
        return [int(n) for n in dict.fromkeys(CITATION.findall(self.text))]

    def _finish(self) -> None:
        self.done = True
        self.unverified = unverified(self.text, [hit.text for hit in self.hits])
        if self._evidence is None:
            self.evidence = supporting(self.text, self.hits)
        if not self.abstained and NOTHING.lower().rstrip(".") in self.text.lower():
            self.abstained = True

    def as_dict(self) -> dict[str, object]:
        return {"answer": self.text, "abstained": self.abstained, "citations": self.citations,
                "evidence": [e.as_dict() for e in self.evidence], "unverified": self.unverified}


def supporting(text: str, hits: list[Hit]) -> list[Evidence]:
    """For a generated answer: the first record line holding each of its verified fact tokens."""
    found: list[Evidence] = []
    candidates = units(hits)
    for token in fact_tokens(text):
        form = normalise(token)
        unit = next((u for u in candidates if form in normalise(u.text)), None)
        if unit is not None and all(e.text != render(unit.text, EVIDENCE_CHARS) for e in found):
            found.append(_evidence(hits[unit.rank - 1], unit.rank, unit.text, unit.date))
    return found


def _evidence(hit: Hit, rank: int, text: str, date: str) -> Evidence:
    return Evidence(rank, render(text, EVIDENCE_CHARS), source_name(hit), date or hit.meta.date, hit.category)
