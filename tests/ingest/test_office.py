"""Word and Excel files built here with python-docx and openpyxl, read back by the product's readers."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest

from household.errors import DataError
from ingest.readers import read


def hoa_rules() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Larkspur Ridge HOA rules"
    document.add_heading("Pool area", level=1)
    document.add_paragraph("The pool opens on Memorial Day weekend. Glass containers are not allowed.")
    table = document.add_table(rows=3, cols=3)
    for row, cells in zip(table.rows, [("Fee", "Amount", "Category"), ("Guest pass", "$5", "pool"), ("Key fob", "$25", "")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    document.add_heading("Trash", level=1)
    document.add_paragraph("Bins go out after 6 pm the night before pickup.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def service_history() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Service history"
    sheet.append(["Date", "Odometer", "Work", "Cost"])
    sheet.append([datetime(2024, 3, 9), 41250, "Oil change 5W-30", 79.5])
    sheet.append([date(2025, 1, 17), 48110, "Brake pads front", 312])
    sheet["D2"].number_format = sheet["D3"].number_format = '"$"#,##0.00'
    tires = workbook.create_sheet("Tires")
    tires.append(["Brand", "Installed"])
    tires.append(["Michelin Defender", datetime(2023, 10, 2, 14, 30)])
    workbook.create_sheet("Empty")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_word_file_keeps_headings_paragraphs_and_reads_table_rows_as_records():
    document, = read("/r/hoa-rules.docx", hoa_rules())
    assert document.format == "docx" and document.title == "Larkspur Ridge HOA rules"
    texts = [r.text for r in document.records]
    assert texts[:2] == ["Pool area", "The pool opens on Memorial Day weekend. Glass containers are not allowed."]
    rows = [r for r in document.records if r.atomic]
    assert [r.text for r in rows] == ["Fee: Guest pass; Amount: $5; Category: pool", "Fee: Key fob; Amount: $25"]
    assert [r.category for r in rows] == ["pool", ""]
    assert texts.index("Trash") > texts.index(rows[-1].text), "tables stay where they are in the document"


def test_a_workbook_is_one_document_per_sheet_with_dates_as_dates():
    history, tires = read("/r/car.xlsx", service_history())
    assert history.source == "/r/car.xlsx#Service history" and tires.source == "/r/car.xlsx#Tires"
    assert history.label == "car.xlsx#Service history"
    assert [r.text for r in history.records] == [
        "Date: 2024-03-09; Odometer: 41250; Work: Oil change 5W-30; Cost: $79.50",
        "Date: 2025-01-17; Odometer: 48110; Work: Brake pads front; Cost: $312.00",
    ]
    assert all(r.atomic for r in history.records)
    assert [r.text for r in tires.records] == ["Brand: Michelin Defender; Installed: 2023-10-02 14:30"]


def test_a_one_sheet_workbook_is_the_file_itself():
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Filter", "Size"])
    workbook.active.append(["Furnace", "20x25x4"])
    out = io.BytesIO()
    workbook.save(out)
    document, = read("/r/filters.xlsx", out.getvalue())
    assert document.source == "/r/filters.xlsx" and document.records[0].text == "Filter: Furnace; Size: 20x25x4"


@pytest.mark.parametrize("name", ["broken.docx", "broken.xlsx"])
def test_a_broken_office_file_is_a_one_line_data_error(name):
    with pytest.raises(DataError, match="not a readable") as caught:
        read(f"/r/{name}", b"PK\x03\x04 this is not really a zip archive")
    assert "\n" not in str(caught.value)


def test_office_attachments_of_a_mail_go_through_the_same_readers():
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "dealer@example.com", "Your service history"
    message.set_content("Attached: the history and the HOA rules you asked for.")
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    message.add_attachment(service_history(), *xlsx.split("/"), filename="car.xlsx")
    message.add_attachment(hoa_rules(), *docx_type.split("/"), filename="rules.docx")
    mail, *parts = read("/m/dealer.eml", message.as_bytes())
    assert [p.source for p in parts] == ["/m/dealer.eml#car.xlsx#Service history", "/m/dealer.eml#car.xlsx#Tires",
                                         "/m/dealer.eml#rules.docx"]
    assert "Brake pads front" in parts[0].records[1].text and not mail.unreadable


def test_word_and_excel_files_are_ingested_whole(ingest, store, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "hoa-rules.docx").write_bytes(hoa_rules())
    (folder / "car.xlsx").write_bytes(service_history())
    report = ingest(folder)
    assert not report.skipped and len(report.ingested) == 2
    sources = {meta.source for _, _, meta in store.chunks()}
    assert {s.rsplit("/", 1)[-1] for s in sources} == {"hoa-rules.docx", "car.xlsx#Service history", "car.xlsx#Tires"}
    hits = store.search("when were the front brake pads replaced", 3)
    assert hits[0].meta.source.endswith("car.xlsx#Service history") and "2025-01-17" in hits[0].text
