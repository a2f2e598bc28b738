"""Token-aware chunking: records packed into chunks that fit the embedder, with overlap.

Counting in the embedder's own tokens (not characters) is what keeps a chunk inside the model's
window, so no text is silently truncated before it is embedded. Atomic records (a CSV row, a
calendar event) are never cut: they are packed whole, and overlap repeats whole records. A long
prose record is tokenized once and cut by binary search over its word starts, so the cost grows
linearly with its length (a 20 MB one-paragraph file: `python -m bench --only ingest`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from household.errors import ConfigError
from ingest.document import Document, Record


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int
    group: str = ""
    records: tuple[int, ...] = ()  # indices of the document's records this chunk holds (whole or in part)


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
        pieces = [
            piece
            for index, (record, group) in enumerate(zip(document.records, groups or [""] * len(document.records)))
            for piece in self._pieces(record, index, group, budget)
        ]
        chunks: list[Chunk] = []
        current: list[_Piece] = []
        for piece in pieces:
            if current and (current[-1].group != piece.group or _size(current) + piece.tokens > budget):
                chunks.append(self._emit(label, current))
                current = self._carry(current, piece, budget) if current[-1].group == piece.group else []
            current.append(piece)
        if current:
            chunks.append(self._emit(label, current))
        return chunks

    def _pieces(self, record: Record, index: int, group: str, budget: int) -> list[_Piece]:
        """The record whole, or a long prose record as overlapping token windows cut where words start."""
        offsets = self._offsets(record.text)
        if record.atomic or len(offsets) <= budget:
            return [_Piece(record.text, len(offsets), group, record.atomic, index)]
        starts = _word_starts(offsets)
        pieces, begin = [], 0
        while True:
            end = len(offsets)
            if begin + budget < end:  # the last word start within the budget, else a cut mid-word
                last = bisect_right(starts, begin + budget) - 1
                end = starts[last] if last >= 0 and starts[last] > begin else begin + budget
            text = record.text[offsets[begin][0] : offsets[end - 1][1]]
            pieces.append(_Piece(text, self.count(text), group, False, index))
            if end == len(offsets):
                return pieces
            first = bisect_left(starts, end - self.overlap)  # the first word start inside the overlap
            overlap_start = starts[first] if first < len(starts) and starts[first] < end else end - self.overlap
            begin = max(begin + 1, overlap_start)

    def _carry(self, previous: list[_Piece], piece: _Piece, budget: int) -> list[_Piece]:
        """The overlap: trailing whole pieces of the previous chunk, else the tail of its last prose piece."""
        if piece.record == previous[-1].record:
            return []  # the next window of the same long record: windows overlap already
        room = min(self.overlap, budget - piece.tokens)
        carried: list[_Piece] = []
        for old in reversed(previous):
            if _size(carried) + old.tokens > room:
                break
            carried.insert(0, old)
        last = previous[-1]
        if carried or last.atomic or room <= 0:
            return carried
        offsets = self._offsets(last.text)
        begin = min((s for s in _word_starts(offsets) if s >= len(offsets) - room), default=len(offsets))
        if begin >= len(offsets):
            return []
        tail = last.text[offsets[begin][0] :]
        return [_Piece(tail, self.count(tail), last.group, False, last.record)]

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return encoding["offset_mapping"]

    def _emit(self, label: str, pieces: list[_Piece]) -> Chunk:
        text = label + "\n" + "\n".join(piece.text.strip() for piece in pieces)
        records = tuple(sorted({piece.record for piece in pieces}))
        return Chunk(text, self.count(text), pieces[0].group, records)


@dataclass(frozen=True)
class _Piece:
    text: str
    tokens: int
    group: str
    atomic: bool
    record: int


def _word_starts(offsets: list[tuple[int, int]]) -> list[int]:
    """Token positions preceded by whitespace: safe places to cut without splitting a word."""
    return [i for i in range(1, len(offsets)) if offsets[i][0] > offsets[i - 1][1]]


def _size(pieces: list[_Piece]) -> int:
    return sum(piece.tokens for piece in pieces)
