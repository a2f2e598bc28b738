"""One reader per file format, each turning a file's bytes into `Document`s made of records.

Readers take bytes rather than a path so an e-mail attachment is read exactly like a file. Every
problem with the input becomes a `DataError` whose message is the one-line reason shown to the user.
"""

from __future__ import annotations

import codecs
import csv
import email
import email.policy
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import PurePath
from typing import Any

from household.errors import DataError
from ingest.document import Document, Record

FIELD_RE = re.compile(r"^(category|title|date)\s*:\s*(.*?)\s*$", re.IGNORECASE)
BLOCK_TAGS = (
    "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "section", "article",
    "header", "footer", "table", "ul", "ol", "dt", "dd", "address", "figcaption",
)


def supported(name: str) -> bool:
    return PurePath(name).suffix.lower() in _readers()


def read(source: str, data: bytes) -> list[Document]:
    """Parse a file's bytes by its extension; the first document is the file, any others its attachments."""
    suffix = PurePath(source.rsplit("#", 1)[-1]).suffix.lower()
    reader = _readers().get(suffix)
    if reader is None:
        raise DataError(source, None, f"unsupported file type {suffix or '(no extension)'}")
    if not data.strip():
        raise DataError(source, None, "empty file")
    documents = reader(source, data)
    if not any(r.text.strip() for r in documents[0].records):
        raise DataError(source, None, "no text found in the file")
    return documents


def _readers() -> dict[str, Callable[[str, bytes], list[Document]]]:
    return {
        ".md": read_markdown, ".markdown": read_markdown, ".txt": read_text, ".text": read_text,
        ".csv": read_csv, ".ics": read_calendar, ".eml": read_email, ".html": read_html, ".htm": read_html,
        ".pdf": read_pdf,
    }


def decode(source: str, data: bytes) -> str:
    """Text from bytes: UTF-8 (or a BOM's encoding), else charset-normalizer's best guess; binary is refused."""
    boms = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    for bom, encoding in boms:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise DataError(source, None, "binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        matches = from_bytes(data)
        best = matches.best()
        if best is None:
            raise DataError(source, None, "binary or undecodable text (no known encoding fits)") from None
        # Short texts often fit several code pages equally well; Windows-1252 is the likeliest for household files.
        ties = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
        text = str(next((m for m in ties if m.encoding == "cp1252"), best))
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > 0.05 * min(len(text), 8192):
        raise DataError(source, None, "binary file, not text")
    return text


def read_markdown(source: str, data: bytes) -> list[Document]:
    fields, body = _front_matter(decode(source, data))
    heading = next((line[2:].strip() for line in body.splitlines() if line.startswith("# ")), "")
    return [_prose(source, "md", body, fields, title=fields.get("title") or heading)]


def read_text(source: str, data: bytes) -> list[Document]:
    fields, body = _front_matter(decode(source, data))
    return [_prose(source, "txt", body, fields, title=fields.get("title", ""))]


def read_csv(source: str, data: bytes) -> list[Document]:
    """Each row is one atomic record, written `field: value; ...` so a chunk keeps the header's names."""
    text = decode(source, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(io.StringIO(text), dialect=dialect, restkey="extra"))
    except csv.Error as exc:
        raise DataError(source, None, f"malformed CSV: {exc}") from None
    records = []
    for row in rows:
        cells = [f"{key}: {_cell(value)}" for key, value in row.items() if key is not None and _cell(value)]
        category = next((_cell(value) for key, value in row.items() if key and key.strip().lower() == "category"), "")
        if cells:
            records.append(Record("; ".join(cells), atomic=True, category=category))
    return [Document(source, "csv", records)]


def _categories(event: Any) -> str:
    """An event's CATEGORIES values, comma-joined (the property may repeat, each holding a list)."""
    value = event.get("CATEGORIES", [])
    return ",".join(str(category) for prop in (value if isinstance(value, list) else [value]) for category in prop.cats)


def read_calendar(source: str, data: bytes) -> list[Document]:
    """Each VEVENT is one atomic record: summary, start (and end), location, repeat rule, description."""
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(decode(source, data))
    except ValueError as exc:
        raise DataError(source, None, f"malformed iCalendar: {str(exc).splitlines()[0]}") from None
    records = []
    for event in calendar.walk("VEVENT"):
        lines = [f"Event: {event.get('SUMMARY', '(no title)')}"]
        if event.get("DTSTART") is not None:
            when = _when(event.decoded("DTSTART"))
            if event.get("DTEND") is not None:
                when += f" to {_when(event.decoded('DTEND'))}"
            lines.append(f"When: {when}")
        if event.get("RRULE") is not None:
            lines.append(f"Repeats: {event['RRULE'].to_ical().decode()}")
        for key, label in (("LOCATION", "Where"), ("DESCRIPTION", "Details")):
            if str(event.get(key, "")).strip():
                lines.append(f"{label}: {str(event[key]).strip()}")
        records.append(Record("\n".join(lines), atomic=True, category=_categories(event)))
    return [Document(source, "ics", records, title=str(calendar.get("X-WR-CALNAME", "")))]


def read_email(source: str, data: bytes) -> list[Document]:
    """Headers as one atomic record, then the text body (HTML-only bodies converted); attachments follow."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not any(message.get(h) for h in ("From", "Subject", "Date")):
        raise DataError(source, None, "not an e-mail message (no From, Subject or Date header)")
    header = "\n".join(f"{h}: {message[h]}" for h in ("From", "To", "Cc", "Date", "Subject") if message.get(h))
    records = [Record(header, atomic=True)]
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, UnicodeError):  # an unknown or wrong charset label: guess from the bytes instead
            content = decode(source, body.get_payload(decode=True) or b"")
        if body.get_content_subtype() == "html":
            records += _html_records(content)
        else:
            records += _paragraphs(content)
    documents = [Document(
        source, "eml", records, title=str(message.get("Subject", "")), date=_mail_date(message.get("Date")),
        category=str(message.get("X-Category", "")),
    )]
    names: set[str] = set()
    for part in message.iter_attachments():
        name = PurePath(part.get_filename() or "").name
        if not name or not supported(name):
            continue
        if name in names:  # two attachments called bill.csv must not share chunk ids
            name = f"{PurePath(name).stem}-{len(names) + 1}{PurePath(name).suffix}"
        names.add(name)
        try:
            documents += read(f"{source}#{name}", part.get_payload(decode=True) or b"")
        except DataError as exc:
            documents[0].unreadable.append(exc)
    return documents


def read_html(source: str, data: bytes) -> list[Document]:
    """Visible text only: scripts and styles dropped, one line per block element."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(source, data), "html.parser")
    meta = {tag.get("name", "").lower(): tag.get("content", "") for tag in soup.find_all("meta") if tag.get("name")}
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    return [Document(
        source, "html", _html_records(soup), title=title or meta.get("title", ""), date=meta.get("date", ""),
        category=meta.get("category", ""),
    )]


def read_pdf(source: str, data: bytes) -> list[Document]:
    """The text layer, page by page; a scanned PDF without one is refused rather than stored empty."""
    from pypdf import PdfReader

    try:
        pdf = PdfReader(io.BytesIO(data))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise DataError(source, None, "encrypted PDF (needs a password)")
        pages = [page.extract_text() or "" for page in pdf.pages]
        info = pdf.metadata or {}
        title = str(info.get("/Title", "") or "")
        created = pdf.metadata.creation_date if pdf.metadata else None
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files; all mean the same here
        detail = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise DataError(source, None, f"corrupt PDF ({type(exc).__name__}: {detail})") from None
    records = [record for page in pages for record in _paragraphs(page)]
    if not records:
        raise DataError(source, None, "PDF has no text layer (a scanned image?)")
    return [Document(source, "pdf", records, title=title, date=created.date().isoformat() if created else "")]


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """`---` front matter, or leading `Category:`/`Title:`/`Date:` lines; returns (fields, the rest)."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            pairs = (line.partition(":") for line in lines[1:end] if ":" in line)
            fields = {k.strip().lower(): v.strip().strip("'\"") for k, _, v in pairs}
            return fields, "\n".join(lines[end + 1 :])
    fields: dict[str, str] = {}
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    i = start
    while i < len(lines) and (match := FIELD_RE.match(lines[i])):
        fields[match.group(1).lower()] = match.group(2).strip("'\"")
        i += 1
    return fields, "\n".join(lines[i:])


def _prose(source: str, fmt: str, body: str, fields: dict[str, str], title: str) -> Document:
    return Document(
        source, fmt, _paragraphs(body), title=title, date=fields.get("date", ""), category=fields.get("category", "")
    )


def _paragraphs(text: str) -> list[Record]:
    return [Record(block.strip()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _html_records(html) -> list[Record]:
    """Block elements become lines; `html` is markup or an already parsed soup."""
    from bs4 import BeautifulSoup

    soup = html if isinstance(html, BeautifulSoup) else BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for tag in soup.find_all(["td", "th"]):
        tag.insert_after(" | ")
    lines = (" ".join(line.split()).strip(" |") for line in soup.get_text().splitlines())
    return [Record(line) for line in lines if line]


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(v.strip() for v in value if v and v.strip())
    return (value or "").strip()


def _when(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.date().isoformat()
    return value.isoformat()


def _mail_date(header: object) -> str:
    try:
        return parsedate_to_datetime(str(header)).date().isoformat() if header else ""
    except (TypeError, ValueError):
        return ""
