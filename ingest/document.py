"""What a reader returns: a document as a list of records, the units the chunker packs."""

from __future__ import annotations

from dataclasses import dataclass, field

from household.errors import DataError


@dataclass(frozen=True)
class Record:
    """A piece of a document. Atomic records (a CSV row, a calendar event, mail headers) are never split.

    `category` is the record's own raw category value (a CSV `category` column, an event's CATEGORIES),
    resolved against the taxonomy later, like a document's.
    """

    text: str
    atomic: bool = False
    category: str = ""


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
