"""What a reader returns: a document as a list of records, the units the chunker packs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from household.errors import DataError

NOT_OCR = -1.0  # the ocr_confidence of text that was not read from a picture


@dataclass(frozen=True)
class Record:
    """A piece of a document. Atomic records (a CSV row, a calendar event, mail headers) are never split.

    `category` is the record's own raw category value (a CSV `category` column, an event's CATEGORIES),
    resolved against the taxonomy later, like a document's. `ocr_confidence` (0..1) is the mean word
    confidence of the page the text was read from by OCR, NOT_OCR for text that came as text.
    """

    text: str
    atomic: bool = False
    category: str = ""
    ocr_confidence: float = NOT_OCR


@dataclass
class Document:
    """One readable unit of a file: the file itself, or an e-mail attachment (`mail.eml#bill.csv`).

    `category` is the raw value of a front-matter / `category:` field, resolved against the taxonomy later.
    `title` and `date` are empty where the format has none (Chroma metadata cannot hold None).
    `unreadable` lists the parts left out (an e-mail's broken attachments), for the ingest report.
    """

    source: str
    format: str
    records: list[Record] = field(default_factory=list)
    title: str = ""
    date: str = ""
    category: str = ""
    unreadable: list[DataError] = field(default_factory=list)

    @property
    def label(self) -> str:
        """What heads every chunk so a passage names its document even out of context."""
        name = self.source.rsplit("/", 1)[-1]
        return f"{self.title} ({name})" if self.title and self.title != name else name


def row_record(pairs: Iterable[tuple[str, str]]) -> Record | None:
    """A table row (CSV, spreadsheet, Word table) as one atomic `name: value; ...` record, None if empty.

    Keeping the header's names in the text lets a chunk say what each value is; a `category` column
    files the row like a CSV's.
    """
    cells = [(name.strip(), value.strip()) for name, value in pairs if value and value.strip()]
    if not cells:
        return None
    category = next((value for name, value in cells if name.lower() == "category"), "")
    return Record("; ".join(f"{name}: {value}" if name else value for name, value in cells), True, category)


def when(value: date | datetime) -> str:
    """A date as YYYY-MM-DD, a date-time with its time (HH:MM) unless that is midnight."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.date().isoformat()
    return value.isoformat()
