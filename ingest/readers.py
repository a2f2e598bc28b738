"""One reader per file format, each turning a file's bytes into `Document`s made of records.

Readers take bytes rather than a path so an e-mail attachment is read exactly like a file. Every
problem with the input becomes a `DataError` whose message is the one-line reason shown to the user;
a bad part of a file (a calendar event, a CSV row, a scanned page that cannot be read) is left out
and listed in the document's `unreadable`, and the rest is kept. Pictures and PDF pages without a
text layer are read by OCR (`ingest.ocr`), Word and Excel files by `ingest.office`.
"""

from __future__ import annotations

import codecs
import csv
import email
import email.policy
import io
import re
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import PurePath
from typing import Any

from household.errors import DataError
from ingest.document import Document, Record, row_record, when
from ingest.ocr import Ocr
from ingest.office import read_docx, read_xlsx

FIELD_RE = re.compile(r"^(category|title|date)\s*:\s*(.*?)\s*$", re.IGNORECASE)
BLOCK_TAGS = (
    "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "section", "article",
    "header", "footer", "table", "ul", "ol", "dt", "dd", "address", "figcaption",
)
IMAGES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tiff", ".tiff": "tiff", ".webp": "webp",
          ".heic": "heic", ".heif": "heic"}
NO_TEXT_IN_IMAGE = "no text found in the image by OCR"
PDF_DPI = 300  # scanned pages are rendered at the resolution Tesseract is trained for


def supported(name: str) -> bool:
    return PurePath(name).suffix.lower() in _readers(Ocr())


def read(source: str, data: bytes, ocr: Ocr | None = None) -> list[Document]:
    """Parse a file's bytes by its extension; the first document is the file, any others its attachments.

    `ocr` reads pictures and scanned pages (Tesseract for the `ocr_languages` setting; English if None).
    """
    suffix = PurePath(source.rsplit("#", 1)[-1]).suffix.lower()
    reader = _readers(ocr or Ocr()).get(suffix)
    if reader is None:
        raise DataError(source, None, f"unsupported file type {suffix or '(no extension)'}")
    if not data.strip():
        raise DataError(source, None, "empty file")
    documents = reader(source, data)
    if not any(r.text.strip() for doc in documents[:1] for r in doc.records):
        parts = documents[0].unreadable if documents else []
        raise DataError(source, None, f"no readable part ({parts[0].problem})" if parts else "no text found in the file")
    return documents


def _readers(ocr: Ocr) -> dict[str, Callable[[str, bytes], list[Document]]]:
    pictures = partial(read_image, ocr=ocr)
    return {
        ".md": read_markdown, ".markdown": read_markdown, ".txt": read_text, ".text": read_text,
        ".csv": read_csv, ".ics": read_calendar, ".eml": partial(read_email, ocr=ocr), ".html": read_html,
        ".htm": read_html, ".pdf": partial(read_pdf, ocr=ocr), ".docx": read_docx, ".xlsx": read_xlsx,
        **{suffix: pictures for suffix in IMAGES},
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
    """Each row is one atomic record, written `field: value; ...` so a chunk keeps the header's names.

    A malformed row (an unterminated quote that would swallow the rows after it) is left out and
    named by its line; reading goes on at the next line.
    """
    text = decode(source, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = _csv_rows(text, dialect)
    header: list[str] | None = None
    records, bad = [], []
    for line, cells in rows:
        if isinstance(cells, str):
            bad.append(DataError(source, None, f"row at line {line} left out: {cells}"))
        elif header is None:
            header = cells
        elif cells:
            extra = [("extra", ", ".join(c for c in cells[len(header) :] if c))] if len(cells) > len(header) else []
            record = row_record(list(zip(header, cells)) + extra)
            records += [record] if record else []
    return [Document(source, "csv", records, unreadable=bad)]


def _csv_rows(text: str, dialect: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(first line, cells) per row, or (line, why it is malformed); a bad row costs only its own line.

    A quoted field may hold line breaks, but a row that spans lines and comes out with the wrong
    number of cells, or whose extra lines each look like a row of their own, is an unterminated
    quote: the csv module would silently merge the rows that follow into it.
    """
    lines = text.splitlines(keepends=True)
    position, width = 0, 0
    while position < len(lines):
        try:
            cells, end = _row(lines, position, dialect, strict=True)
        except csv.Error:  # a quirk such as `"5" pipe` passes leniently if it stays on its line
            try:
                cells, end = _row(lines, position, dialect, strict=False)
            except csv.Error as exc:
                cells, end = [f"malformed CSV ({exc})"], -1
            if end > position + 1:
                cells, end = ["unterminated quote"], -1
        if end < 0 or (end > position + 1 and width and _merged(cells, lines[position + 1 : end], width, dialect)):
            yield position + 1, cells[0] if end < 0 else "unterminated quote"
            position += 1
            continue
        if not cells and end == position:
            return
        if any(c.strip() for c in cells):
            width = width or len(cells)
            yield position + 1, [c.strip() for c in cells]
        position = end


def _row(lines: list[str], position: int, dialect: Any, strict: bool) -> tuple[list[str], int]:
    """The row starting at `position` and the index of the line after it."""
    feed = _Lines(lines, position)
    cells = next(csv.reader(feed, dialect, strict=strict), [])
    return cells, feed.position


def _merged(cells: list[str], following: list[str], width: int, dialect: Any) -> bool:
    """Whether a row spanning lines swallowed rows: wrong cell count, or every extra line is a row itself."""
    if len(cells) != width:
        return True
    return all(len(next(csv.reader([line], dialect), [])) == width for line in following if line.strip())


class _Lines:
    """The lines of a file from a position on, remembering how far a csv reader has read."""

    def __init__(self, lines: list[str], position: int) -> None:
        self.lines, self.position = lines, position

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


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
    records, bad = [], []
    starts = [i + 1 for i, line in enumerate(decode(source, data).splitlines()) if line.strip().upper() == "BEGIN:VEVENT"]
    events = calendar.walk("VEVENT")
    for number, event in enumerate(events):
        try:
            records.append(_event(event))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            where = f" at line {starts[number]}" if len(starts) == len(events) else ""
            uid = f" {event['UID']}" if event.get("UID") else f" {number + 1}"
            bad.append(DataError(source, None, f"event{uid}{where} left out: {str(exc).splitlines()[0]}"))
    return [Document(source, "ics", records, title=str(calendar.get("X-WR-CALNAME", "")), unreadable=bad)]


def _event(event: Any) -> Record:
    """One VEVENT as a record; a property icalendar could not parse is a ValueError naming it."""
    errors = [(name, problem) for name, problem in getattr(event, "errors", []) if name in ("DTSTART", "DTEND", "RRULE")]
    if errors:
        raise ValueError(f"{errors[0][0]}: {errors[0][1]}")
    lines = [f"Event: {event.get('SUMMARY', '(no title)')}"]
    if event.get("DTSTART") is not None:
        span = when(event.decoded("DTSTART"))
        if event.get("DTEND") is not None:
            span += f" to {when(event.decoded('DTEND'))}"
        lines.append(f"When: {span}")
    if event.get("RRULE") is not None:
        lines.append(f"Repeats: {event['RRULE'].to_ical().decode()}")
    for key, label in (("LOCATION", "Where"), ("DESCRIPTION", "Details")):
        if str(event.get(key, "")).strip():
            lines.append(f"{label}: {str(event[key]).strip()}")
    return Record("\n".join(lines), atomic=True, category=_categories(event))


def read_email(source: str, data: bytes, ocr: Ocr) -> list[Document]:
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
            documents += read(f"{source}#{name}", part.get_payload(decode=True) or b"", ocr)
        except DataError as exc:
            if exc.problem != NO_TEXT_IN_IMAGE:  # a mailed photo of a thing, or a logo: nothing to read, nothing lost
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


def read_pdf(source: str, data: bytes, ocr: Ocr) -> list[Document]:
    """The text layer, page by page; a page without one (a scan) is rendered and read by OCR."""
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
    scanned = [number for number, page in enumerate(pages) if not any(ch.isalnum() for ch in page)]
    records, bad = [], []
    read_by_ocr = dict(_scanned_pages(source, data, scanned, ocr, bad)) if scanned and not ocr.problem else {}
    for number, page in enumerate(pages):
        records += read_by_ocr.get(number) or _paragraphs(page)
    if scanned and ocr.problem:
        listed = ", ".join(str(n + 1) for n in scanned)
        problem = f"{'scanned PDF' if len(scanned) == len(pages) else f'scanned pages {listed}'}: {ocr.problem}"
        if not records:
            raise DataError(source, None, problem)
        bad.append(DataError(source, None, problem))
    if not records:
        raise DataError(source, None, "PDF has no text layer and OCR found no text on its pages")
    date = created.date().isoformat() if created else ""
    return [Document(source, "pdf", records, title=title, date=date, unreadable=bad)]


def _scanned_pages(
    source: str, data: bytes, numbers: list[int], ocr: Ocr, bad: list[DataError]
) -> Iterator[tuple[int, list[Record]]]:
    """(page index, its paragraphs) for pages read by OCR; a page OCR fails on is added to `bad`."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        bad.append(DataError(source, None, f"scanned pages cannot be rendered ({exc})"))
        return
    try:
        for number in numbers:
            image = pdf[number].render(scale=PDF_DPI / 72, grayscale=True).to_pil()
            try:
                page = ocr.read(f"{source}#page={number + 1}", image)
            except DataError as exc:
                bad.append(exc)
                continue
            yield number, [Record(text, ocr_confidence=page.confidence) for text in page.paragraphs]
    finally:
        pdf.close()


def read_image(source: str, data: bytes, ocr: Ocr) -> list[Document]:
    """A photo or scan read by OCR, frame by frame (a multi-page TIFF); dated by the camera's EXIF date."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    if PurePath(source.rsplit("#", 1)[-1]).suffix.lower() in (".heic", ".heif"):
        from pillow_heif import register_heif_opener

        register_heif_opener()
    if ocr.problem:
        raise DataError(source, None, ocr.problem)
    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        taken = _exif_date(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(source, None, f"not a readable image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    records = []
    for frame in frames:
        page = ocr.read(source, frame)
        records += [Record(text, ocr_confidence=page.confidence) for text in page.paragraphs]
    if not records:
        raise DataError(source, None, NO_TEXT_IN_IMAGE)
    suffix = PurePath(source.rsplit("#", 1)[-1]).suffix.lower()
    return [Document(source, IMAGES[suffix], records, date=taken)]


def _exif_date(image: Any) -> str:
    """The day a photo was taken (EXIF DateTimeOriginal, else DateTime) as YYYY-MM-DD, or ""."""
    exif = image.getexif()
    stamp = str(exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132) or "")
    match = re.match(r"(\d{4}):(\d{2}):(\d{2})", stamp)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else ""


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


def _mail_date(header: object) -> str:
    try:
        return parsedate_to_datetime(str(header)).date().isoformat() if header else ""
    except (TypeError, ValueError):
        return ""
