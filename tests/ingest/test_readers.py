from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from household.errors import DataError
from ingest.readers import read, supported

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name: str, folder: str = "docs"):
    path = FIXTURES / folder / name
    return read(str(path), path.read_bytes())


def text_of(document) -> str:
    return "\n".join(record.text for record in document.records)


@pytest.mark.parametrize(
    "name, fmt, title, date, category, present",
    [
        ("pool-notes.md", "md", "Pool equipment notes", "2025-06-14", "pool", ["Pentair SuperFlo VS", "CC150"]),
        ("fence-repair.txt", "txt", "", "", "fence", ["Hill Country Fence Co.", "$240"]),
        ("service-log.csv", "csv", "", "", "", ["vendor: Discount Tire", "cost: $812.40"]),
        ("yard.ics", "ics", "Yard calendar", "", "", ["Event: Gutter cleaning", "Where: 14 Larkspur Lane"]),
        ("quote.eml", "eml", "Quote Q-25-0419 - pool pump replacement", "2025-05-28", "", ["From: Ramon", "$285"]),
        ("html-only.eml", "eml", "Panel upgrade quote SE-Q-2417", "2024-09-30", "", ["200 A Square D QO", "$3,850"]),
        ("invoice.html", "html", "Invoice SE-INV-10442", "2024-10-21", "", ["GFCI outlet | $145.00", "breaker 14"]),
        ("water-heater-manual.pdf", "pdf", "Water heater use and care", "2024-03-15", "", ["SP11526M", "pilot light"]),
        ("cafe-latin1.txt", "txt", "", "", "", ["Café au lait", "Crème brûlée", "« bol »", "150 °C"]),
    ],
)
def test_every_format_is_parsed_with_its_title_date_and_category_field(name, fmt, title, date, category, present):
    document = parse(name)[0]
    assert (document.format, document.title, document.date, document.category) == (fmt, title, date, category)
    assert document.source.endswith(name)
    for snippet in present:
        assert snippet in text_of(document)


def test_front_matter_and_category_lines_are_not_part_of_the_text():
    assert "category:" not in text_of(parse("pool-notes.md")[0]).lower()
    assert not text_of(parse("fence-repair.txt")[0]).lower().startswith("category")


def test_csv_rows_and_calendar_events_are_atomic_records_keeping_field_names():
    rows = parse("service-log.csv")[0].records
    assert len(rows) == 3 and all(r.atomic for r in rows)
    assert rows[1].text == "date: 2024-11-18; vendor: Discount Tire; work: Four Michelin Defender tires; cost: $812.40"
    events = parse("yard.ics")[0].records
    assert len(events) == 2 and all(e.atomic for e in events)
    assert "When: 2025-04-12 09:00 to 2025-04-12 11:00" in events[0].text
    assert "Repeats: FREQ=MONTHLY;COUNT=5" in events[1].text and "When: 2025-05-20" in events[1].text


def test_a_row_category_column_and_event_categories_are_kept_per_record():
    rows = read("log.csv", b"date,Category,work\n2025-05-01,pool,new pump\n2025-06-01,,oil change\n")[0].records
    assert [r.category for r in rows] == ["pool", ""]
    assert rows[0].text == "date: 2025-05-01; Category: pool; work: new pump"
    ics = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Pump check\r\nCATEGORIES:Maintenance,Pool\r\n"
        "CATEGORIES:Yard\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert [e.category for e in read("cal.ics", ics.encode())[0].records] == ["Maintenance,Pool,Yard", ""]
    assert parse("service-log.csv")[0].records[0].category == ""


def test_email_attachments_of_supported_kinds_become_sub_documents():
    mail, *attachments = parse("quote.eml")
    assert mail.records[0].atomic and mail.records[0].text.startswith("From: Ramon Ortiz")
    assert [a.source.rsplit("/", 1)[-1] for a in attachments] == ["quote.eml#quote-lines.csv"]  # photo.jpg is not read
    assert [r.text for r in attachments[0].records] == [
        "item: Pentair SuperFlo VS pump; price: $1249.00", "item: Labor and haul-away; price: $285.00"
    ]


def test_html_scripts_and_styles_are_dropped():
    for document in (parse("invoice.html")[0], parse("html-only.eml")[0]):
        text = text_of(document)
        assert "HIDDEN" not in text and "trackOpen" not in text and "color: red" not in text


def test_utf16_with_a_byte_order_mark_is_decoded():
    data = codecs.BOM_UTF16_LE + "Category: hvac\nFilter size 20x25x4".encode("utf-16-le")
    document = read("filter.txt", data)[0]
    assert document.category == "hvac" and text_of(document) == "Filter size 20x25x4"


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.md", "empty file"),
        ("blank.txt", "empty file"),
        ("random.txt", "binary file"),
        ("photo.gif", "unsupported file type .gif"),
        ("broken.ics", "malformed iCalendar"),
        ("truncated.pdf", "corrupt PDF"),
    ],
)
def test_bad_input_raises_a_data_error_with_a_one_line_reason(name, reason):
    with pytest.raises(DataError) as caught:
        parse(name, "bad")
    assert reason in caught.value.problem and "\n" not in str(caught.value)


def test_a_pdf_without_a_text_layer_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    path = Path("scan.pdf")
    with path.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(DataError, match="no text layer"):
        read(str(path), path.read_bytes())


def test_supported_extensions():
    known = (".md", ".TXT", ".csv", ".ics", ".eml", ".html", ".htm", ".pdf", ".docx", ".xlsx", ".png", ".JPG",
             ".jpeg", ".tif", ".tiff", ".webp", ".heic")
    assert all(supported(f"x{ext}") for ext in known)
    assert not supported("x.doc") and not supported("x.gif") and not supported("Makefile")


def test_attachments_with_the_same_name_get_distinct_sources():
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "utility@city.example", "Two bills"
    message.set_content("Both months attached.")
    for month in ("May", "June"):
        bill = f"month,cost\n{month},$96.70\n".encode()
        message.add_attachment(bill, maintype="text", subtype="csv", filename="bill.csv")
    _, *bills = read("/m/bills.eml", message.as_bytes())
    assert [b.source for b in bills] == ["/m/bills.eml#bill.csv", "/m/bills.eml#bill-2.csv"]
    assert [b.records[0].text for b in bills] == ["month: May; cost: $96.70", "month: June; cost: $96.70"]


def test_an_unreadable_attachment_is_left_out_and_named():
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "hoa@example.org", "Dues"
    message.set_content("Statement attached.")
    message.add_attachment(b"", maintype="text", subtype="csv", filename="empty.csv")
    message.add_attachment(b"due,amount\nMay,$40\n", maintype="text", subtype="csv", filename="dues.csv")
    mail, *attachments = read("/m/dues.eml", message.as_bytes())
    assert [a.source for a in attachments] == ["/m/dues.eml#dues.csv"]
    assert [(e.path, e.problem) for e in mail.unreadable] == [("/m/dues.eml#empty.csv", "empty file")]


def test_a_mail_body_with_a_bogus_charset_is_still_read():
    raw = (
        b"From: a@b.example\nSubject: Filter\nContent-Type: text/plain; charset=x-no-such-charset\n\n"
        b"Furnace filter 20x25x4, caf\xe9 receipt.\n"
    )
    mail = read("/m/odd.eml", raw)[0]
    assert "Furnace filter 20x25x4" in text_of(mail)
