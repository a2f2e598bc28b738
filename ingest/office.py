"""Word and Excel files: `.docx` with python-docx, `.xlsx` with openpyxl.

A Word document is its paragraphs in order, headings as their own short records, and each table
row after the first read as a record like a CSV row (the first row names the columns). A workbook
is one document per sheet (`car.xlsx#Service history`, so every chunk names its sheet), one
record per row under the sheet's header row, dates written as dates.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from typing import Any

from household.errors import DataError
from ingest.document import Document, Record, row_record, when

CURRENCIES = ("$", "€", "£", "¥")


def read_docx(source: str, data: bytes) -> list[Document]:
    """Paragraphs, headings and tables in document order."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DataError(source, None, f"not a readable Word file ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    records: list[Record] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            records += _table(block)
        elif block.text.strip():
            records.append(Record(block.text.strip()))
    properties = document.core_properties
    heading = next((p.text.strip() for p in document.paragraphs if _is_heading(p) and p.text.strip()), "")
    created = properties.created.date().isoformat() if properties.created else ""
    return [Document(source, "docx", records, title=(properties.title or "").strip() or heading, date=created)]


def _is_heading(paragraph: Any) -> bool:
    name = paragraph.style.name if paragraph.style is not None else ""
    return name == "Title" or name.startswith("Heading")


def _table(table: Any) -> list[Record]:
    """Rows under the first row's names; a one-row table is a line of cells."""
    rows = [_unmerged(row.cells) for row in table.rows]
    rows = [row for row in rows if any(row)]
    if len(rows) == 1:
        return [Record(" | ".join(cell for cell in rows[0] if cell))]
    header, *body = rows
    records = [row_record(zip(header, row)) for row in body]
    return [record for record in records if record]


def _unmerged(cells: Any) -> list[str]:
    """A row's texts; python-docx repeats a merged cell once per grid column it spans."""
    texts, seen = [], []
    for cell in cells:
        if any(cell._tc is other for other in seen):
            continue
        seen.append(cell._tc)
        texts.append(" ".join(cell.text.split()))
    return texts


def read_xlsx(source: str, data: bytes) -> list[Document]:
    """One document per non-empty sheet; each row below the header row one atomic record."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DataError(source, None, f"not a readable Excel file ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    try:
        sheets = [(sheet.title, _sheet(sheet)) for sheet in workbook.worksheets]
        title = (workbook.properties.title or "").strip()
    finally:
        workbook.close()
    sheets = [(name, records) for name, records in sheets if records]
    if not sheets:
        raise DataError(source, None, "no text found in the workbook")
    if len(sheets) == 1:
        return [Document(source, "xlsx", sheets[0][1], title=title)]
    return [Document(f"{source}#{name}", "xlsx", records, title=title) for name, records in sheets]


def _sheet(sheet: Any) -> list[Record]:
    header: list[str] | None = None
    records = []
    for row in sheet.iter_rows():
        values = [_value(cell) for cell in row]
        if not any(values):
            continue
        if header is None:
            header = values
            continue
        names = [name or f"column {i + 1}" for i, name in enumerate(header + [""] * (len(values) - len(header)))]
        record = row_record(zip(names, values))
        records += [record] if record else []
    if header is not None and not records:  # a sheet of one row: that row is the content
        return [Record(" | ".join(value for value in header if value))]
    return records


def _value(cell: Any) -> str:
    """A cell as text: dates as YYYY-MM-DD, money with its symbol, whole numbers without `.0`."""
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return when(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        number_format = getattr(cell, "number_format", "") or ""
        symbol = next((c for c in CURRENCIES if c in number_format), "")
        if symbol:
            return f"{symbol}{value:,.2f}"
        return str(int(value)) if float(value).is_integer() else f"{value:g}"
    return " ".join(str(value).split())
