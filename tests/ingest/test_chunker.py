from __future__ import annotations

from itertools import pairwise

import pytest

from household.errors import ConfigError
from ingest.chunker import Chunker
from ingest.document import Document, Record

PROSE = " ".join(
    f"Visit {i}: the technician checked pump {i} and the filter pressure was {10 + i} psi, so the cartridge was rinsed."
    for i in range(40)
)


@pytest.fixture
def chunker(embedder) -> Chunker:
    return Chunker(embedder.tokenizer, max_tokens=60, overlap=12)


def body(chunk) -> str:
    return chunk.text.split("\n", 1)[1]


def test_long_prose_is_cut_into_overlapping_windows_within_the_budget(chunker, embedder):
    chunks = chunker.chunk(Document("/home/notes.txt", "txt", [Record(PROSE)]))
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text.startswith("notes.txt\n")
        assert chunk.tokens == len(embedder.tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= 60
    for before, after in pairwise(chunks):
        head = body(after).split()[:3]
        assert " ".join(head) in body(before), "the next chunk starts inside the previous one (overlap)"
    words = set(PROSE.split())
    assert words == set(" ".join(body(c) for c in chunks).split()), "every word is kept, none is cut in half"


def test_csv_rows_are_packed_whole_and_overlap_repeats_whole_rows(embedder):
    chunker = Chunker(embedder.tokenizer, max_tokens=90, overlap=30)
    rows = [
        Record(f"date: 2025-01-{i:02d}; vendor: Leslie's Pool; item: chlorine tabs; cost: ${i}.99", atomic=True)
        for i in range(1, 31)
    ]
    chunks = chunker.chunk(Document("/r/receipts.csv", "csv", rows))
    assert len(chunks) > 3
    texts = {r.text for r in rows}
    seen = set()
    for chunk in chunks:
        assert chunk.tokens <= 90
        lines = body(chunk).split("\n")
        assert all(line in texts for line in lines), "a chunk holds only whole rows"
        seen.update(lines)
    assert seen == texts
    assert any(set(body(a).split("\n")) & set(body(b).split("\n")) for a, b in pairwise(chunks))


def test_an_oversized_event_stays_whole_in_a_chunk_of_its_own(chunker):
    big = Record("Event: pool opening\nDetails: " + "remove the cover, fill, prime the pump; " * 20, atomic=True)
    small = Record("Event: oil change\nWhen: 2025-05-09", atomic=True)
    chunks = chunker.chunk(Document("/c/cal.ics", "ics", [small, big, small]))
    assert [body(c) for c in chunks].count(big.text.strip()) == 1
    assert chunks[1].records == (1,)


def test_records_of_different_groups_never_share_a_chunk(chunker):
    records = [Record(f"row {i}", atomic=True) for i in range(6)]
    groups = ["OO", "OO", "VU", "VU", "VU", "OO"]
    chunks = chunker.chunk(Document("/x.csv", "csv", records), groups)
    assert [(c.group, c.records) for c in chunks] == [("OO", (0, 1)), ("VU", (2, 3, 4)), ("OO", (5,))]


def test_the_label_names_the_document_and_counts_against_the_budget(chunker):
    document = Document("/m/mail.eml#bill.csv", "csv", [Record("a: 1", atomic=True)], title="June bill")
    assert chunker.chunk(document)[0].text == "June bill (mail.eml#bill.csv)\na: 1"


def test_impossible_sizes_are_a_config_error(embedder):
    with pytest.raises(ConfigError):
        Chunker(embedder.tokenizer, max_tokens=100, overlap=60)


def test_windows_of_one_long_record_do_not_repeat_their_overlap(chunker):
    chunks = chunker.chunk(Document("/home/notes.txt", "txt", [Record(PROSE)]))
    for chunk in chunks:
        lines = body(chunk).split("\n")
        assert len(lines) == 1, "each window is one piece, with no extra tail carried in front of it"


def test_a_chunk_opening_inside_a_section_repeats_its_heading_and_its_tables_header(chunker, embedder):
    rows = [f"| {i} | 20 | Circuit for room number {i} and its outlets |" for i in range(1, 25)]
    table = "\n".join(["| Breaker | Amps | Circuit |", "|---|---|---|", *rows])
    records = [Record("# House"), Record("Intro to the house."), Record("## Panel map"), Record(table),
               Record("## Notes"), Record("The dryer breaker trips when the AC runs. " * 12)]
    chunks = chunker.chunk(Document("/h/panel.md", "md", records))
    with_rows = [body(c).split("\n") for c in chunks if any(row in c.text for row in rows)]
    assert len(with_rows) > 2
    for lines in with_rows:
        header = lines.index("| Breaker | Amps | Circuit |")
        assert lines[header - 1: header + 2] == ["## Panel map", "| Breaker | Amps | Circuit |", "|---|---|---|"], (
            "every chunk holding rows shows their section's heading and their table's header")
        assert all(line in rows for line in lines[header + 2:] if line.startswith("| ")), (
            "windows of a table open and close on whole rows")
    assert {row for lines in with_rows for row in lines} >= set(rows)
    assert all(c.tokens == len(embedder.tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 60
               for c in chunks)
    notes = [body(c) for c in chunks if "dryer" in c.text and not any(row in c.text for row in rows)]
    assert notes and all(text.startswith("## Notes\n") for text in notes), "the heading of the section opened in"
