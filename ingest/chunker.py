"""Token-aware chunking: records packed into chunks that fit the embedder, with overlap.

Counting in the embedder's own tokens (not characters) is what keeps a chunk inside the model's
window, so no text is silently truncated before it is embedded. Atomic records (a CSV row, a
calendar event) are never cut: they are packed whole, and overlap repeats whole records. A long
prose record is tokenized once and cut by binary search over its word starts, so the cost grows
linearly with its length (a 20 MB one-paragraph file: `python -m bench --only ingest`).
A chunk that begins inside a section repeats the section's heading, and one that begins inside a
table its header row, so the rows of a long panel map or paint schedule still say what they are.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from household.errors import ConfigError
from ingest.document import Document, Record

VERSION = 2  # raise it when a change would cut a stored file differently: the next ingest cuts it again
HEADING = re.compile(r"^#{1,6}[ \t]+\S.*$", re.MULTILINE)
SEPARATOR = re.compile(r"^\s*\|?[\s:|-]*-[\s:|-]*$")  # a markdown table's |---|---| line


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int
    group: str = ""
    records: tuple[int, ...] = ()  # indices of the document's records this chunk holds (whole or in part)


def stamp(max_tokens: int, overlap: int) -> str:
    """How a file is cut (ChunkMeta.chunking): the chunker's version and its token budget and overlap."""
    return f"{VERSION}/{max_tokens}/{overlap}"


class Chunker:
    """Packs a document's records into chunks of at most `max_tokens` tokens, label line included.

    `group` (one value per record, e.g. a per-record category code) keeps records of different groups
    out of the same chunk. A single atomic record longer than the budget becomes a chunk of its own
    (the embedder then sees its beginning; the full text is still stored and searchable by keyword).
    """

    def __init__(self, tokenizer: Any, max_tokens: int, overlap: int) -> None:
        if max_tokens < 16 or not 0 <= overlap < max_tokens // 2:
            raise ConfigError(f"chunk_tokens {max_tokens}, chunk_overlap {overlap}: need size >= 16, overlap < size/2")
        self.tokenizer, self.max_tokens, self.overlap = tokenizer, max_tokens, overlap

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def chunk(self, document: Document, groups: Sequence[str] | None = None) -> list[Chunk]:
        label = document.label
        budget = max(self.max_tokens - self.count(label), 8)
        outlines = _outlines(document.records)
        pieces = [
            piece
            for index, (record, group) in enumerate(zip(document.records, groups or [""] * len(document.records)))
            for piece in self._pieces(record, index, group, budget, outlines[index])
        ]
        chunks: list[Chunk] = []
        current: list[_Piece] = []
        for piece in pieces:
            room = budget - current[0].context_tokens if current else budget
            if current and (current[-1].group != piece.group or _size(current) + piece.tokens > room):
                chunks.append(self._emit(label, current))
                same = current[-1].group == piece.group
                current = self._carry(current, piece, budget, outlines) if same else []
            current.append(piece)
        if current:
            chunks.append(self._emit(label, current))
        return chunks

    def _pieces(self, record: Record, index: int, group: str, budget: int, outline: _Outline) -> list[_Piece]:
        """The record whole, or a long prose record as overlapping token windows cut where lines (else words)
        start, each small enough to be shown under the heading and table header it opens in."""
        offsets = self._offsets(record.text)
        if record.atomic or len(offsets) <= budget:
            return [self._piece(record.text, len(offsets), group, index, 0, None if record.atomic else outline, budget)]
        size = budget - min(budget // 3, self._reserve(outline))
        starts, lines = _word_starts(offsets), _line_starts(record.text, offsets)
        pieces, begin = [], 0
        while True:
            end = len(offsets)
            if begin + size < end:  # at a line's end in the window's second half, else a word's, else mid-word
                end = _last(lines, begin + size // 2, begin + size, _last(starts, begin, begin + size, begin + size))
            start = offsets[begin][0]
            text = record.text[start : offsets[end - 1][1]]
            pieces.append(self._piece(text, self.count(text), group, index, start, outline, budget))
            if end == len(offsets):
                return pieces
            low = end - self.overlap  # the next window opens on a whole line in the overlap or where this one
            begin = max(begin + 1, _first(lines, low, end + 1, _first(starts, low, end, low)))  # ended, else a word

    def _piece(self, text: str, tokens: int, group: str, record: int, start: int, outline: _Outline | None,
               budget: int) -> _Piece:
        """A piece with the context a chunk opening on it shows (none for an atomic record, whose `outline` is
        None), left out where the two would not fit in `budget`."""
        context = outline.context(start) if outline else ""
        context_tokens = self.count(context) + 1 if context else 0  # its own line
        if tokens + context_tokens > budget:
            context, context_tokens = "", 0
        return _Piece(text, tokens, group, outline is None, record, start, context, context_tokens)

    def _reserve(self, outline: _Outline) -> int:
        """About the most tokens a window's context may take: the record's longest heading and table header (a
        context that still does not fit is left out)."""
        heading = max([outline.under, *outline.headings], key=len)
        header = max((header for _, header in outline.tables), key=len, default="")
        return self.count(heading) + self.count(header) + 2

    def _carry(self, previous: list[_Piece], piece: _Piece, budget: int, outlines: list[_Outline]) -> list[_Piece]:
        """The overlap: trailing whole pieces of the previous chunk, else the tail of its last prose piece;
        with the context the first of them shows, all within the budget."""
        if piece.record == previous[-1].record:
            return []  # the next window of the same long record: windows overlap already
        room = min(self.overlap, budget - piece.tokens)
        carried: list[_Piece] = []
        for old in reversed(previous):
            if _size(carried) + old.tokens > room:
                break
            carried.insert(0, old)
        while carried and _size(carried) + piece.tokens + carried[0].context_tokens > budget:
            carried.pop(0)
        last = previous[-1]
        if carried or last.atomic or room <= 0:
            return carried
        offsets = self._offsets(last.text)
        begin = min((s for s in _word_starts(offsets) if s >= len(offsets) - room), default=len(offsets))
        if begin >= len(offsets):
            return []
        tail = last.text[offsets[begin][0] :]
        carried = [self._piece(tail, self.count(tail), last.group, last.record, last.start + offsets[begin][0],
                               outlines[last.record], budget - piece.tokens)]
        return carried if carried[0].tokens + carried[0].context_tokens + piece.tokens <= budget else []

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return encoding["offset_mapping"]

    def _emit(self, label: str, pieces: list[_Piece]) -> Chunk:
        context = [pieces[0].context] if pieces[0].context else []
        text = label + "\n" + "\n".join(context + [piece.text.strip() for piece in pieces])
        records = tuple(sorted({piece.record for piece in pieces}))
        return Chunk(text, self.count(text), pieces[0].group, records)


@dataclass(frozen=True)
class _Piece:
    text: str
    tokens: int
    group: str
    atomic: bool
    record: int
    start: int = 0  # where the piece begins in its record's text
    context: str = ""  # the heading, and table header, a chunk opening on this piece repeats first
    context_tokens: int = 0


def _word_starts(offsets: list[tuple[int, int]]) -> list[int]:
    """Token positions preceded by whitespace: safe places to cut without splitting a word."""
    return [i for i in range(1, len(offsets)) if offsets[i][0] > offsets[i - 1][1]]


def _line_starts(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """Token positions that open a line: where a window reads best when it starts or stops."""
    return [i for i in range(1, len(offsets)) if "\n" in text[offsets[i - 1][1] : offsets[i][0]]]


def _last(positions: list[int], low: int, high: int, default: int) -> int:
    """The last of the sorted `positions` in (low, high], else `default`."""
    i = bisect_right(positions, high) - 1
    return positions[i] if i >= 0 and positions[i] > low else default


def _first(positions: list[int], low: int, high: int, default: int) -> int:
    """The first of the sorted `positions` in [low, high), else `default`."""
    i = bisect_left(positions, low)
    return positions[i] if i < len(positions) and positions[i] < high else default


def _size(pieces: list[_Piece]) -> int:
    return sum(piece.tokens for piece in pieces)


def _outlines(records: Sequence[Record]) -> list[_Outline]:
    """Each record's outline, opening under the last markdown heading of the records before it."""
    outlines, heading = [], ""
    for record in records:
        outlines.append(_Outline.of(record.text, heading))
        heading = outlines[-1].headings[-1] if outlines[-1].headings else heading
    return outlines


@dataclass(frozen=True)
class _Outline:
    """Where a record's headings and tables are, so the context of any point in it is a bisection away (a
    20 MB record is cut into thousands of windows)."""

    under: str  # the heading in force before the record
    heading_starts: list[int]
    headings: list[str]
    table_starts: list[int]  # where each table's first row under its header begins
    tables: list[tuple[int, str]]  # where each table ends, its header row and separator

    @classmethod
    def of(cls, text: str, under: str) -> _Outline:
        found = [(m.start(), m.group().strip()) for m in HEADING.finditer(text)]
        tables, run, position = [], [], 0
        for line in [*text.split("\n"), ""]:  # the empty last line ends a table at the record's end
            if line.lstrip().startswith("|"):
                run.append((position, line.strip()))
            else:
                if len(run) > 2 and SEPARATOR.match(run[1][1]):
                    tables.append((run[2][0], position, f"{run[0][1]}\n{run[1][1]}"))
                run = []
            position += len(line) + 1
        return cls(under, [p for p, _ in found], [h for _, h in found], [t[0] for t in tables],
                   [(end, header) for _, end, header in tables])

    def context(self, start: int) -> str:
        """What a chunk opening at `start` repeats to be read alone: the heading it sits under (none when it opens
        on a heading) and, inside a table, the table's header row and separator."""
        i = bisect_right(self.heading_starts, start) - 1
        if i >= 0 and self.heading_starts[i] == start:
            return ""
        heading = self.headings[i] if i >= 0 else self.under
        j = bisect_right(self.table_starts, start) - 1
        header = self.tables[j][1] if j >= 0 and start < self.tables[j][0] else ""
        return "\n".join(part for part in (heading, header) if part)
