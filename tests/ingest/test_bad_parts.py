"""Issue 17, items 4 and 5: a bad part of the input is left out and named, the rest is kept.

An unreadable folder is in the Skipped list; a malformed calendar event or CSV row is reported by
its UID or line while the other events and rows are read; an unterminated quote does not merge
the rows after it into one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.readers import read

REPO = Path(__file__).resolve().parents[2]

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:pool-opening
SUMMARY:Pool opening
DTSTART;VALUE=DATE:20250501
END:VEVENT
BEGIN:VEVENT
UID:broken-date
SUMMARY:Gutter cleaning
DTSTART:2025-13-45Tnonsense
END:VEVENT
BEGIN:VEVENT
UID:oil-change
SUMMARY:Oil change
DTSTART:20250601T100000
END:VEVENT
END:VCALENDAR
"""


def test_a_malformed_event_is_left_out_by_uid_and_line_and_the_others_are_read():
    document, = read("/c/home.ics", CALENDAR.encode())
    assert [r.text.splitlines()[0] for r in document.records] == ["Event: Pool opening", "Event: Oil change"]
    assert [e.problem.split(" left out")[0] for e in document.unreadable] == ["event broken-date at line 8"]
    assert "DTSTART" in document.unreadable[0].problem


def test_an_unterminated_quote_costs_its_own_row_only():
    data = (
        'date,vendor,note\n'
        '2025-04-01,Leslie\'s Pool,"chlorine tabs\n'
        '2025-05-02,Ace Hardware,hose bib\n'
        '2025-06-03,Valley Plumbing,"shut-off valve, new"\n'
        '2025-07-04,Green Thumb,mulch\n'
    )
    document, = read("/r/log.csv", data.encode())
    assert [r.text.split(";")[0] for r in document.records] == ["date: 2025-05-02", "date: 2025-06-03", "date: 2025-07-04"]
    assert document.records[1].text == "date: 2025-06-03; vendor: Valley Plumbing; note: shut-off valve, new"
    assert [e.problem for e in document.unreadable] == ["row at line 2 left out: unterminated quote"]


def test_an_unterminated_quote_that_swallows_nothing_keeps_its_row():
    """The last line's open quote runs to the end of the file: no other row is lost, so the row is read leniently."""
    document, = read("/r/log.csv", b'item,cost\npump,$499\nfilter,"$40\n')
    assert [r.text for r in document.records] == ["item: pump; cost: $499", "item: filter; cost: $40"]
    assert not document.unreadable


def test_a_quoted_field_over_several_lines_is_still_one_row():
    document, = read("/r/notes.csv", b'date,note\n2025-04-01,"pump noisy\nreplaced the seal"\n2025-05-01,ok\n')
    assert [r.text for r in document.records] == ["date: 2025-04-01; note: pump noisy\nreplaced the seal",
                                                  "date: 2025-05-01; note: ok"]
    assert not document.unreadable


def test_bad_rows_and_events_are_listed_as_skipped_and_the_files_ingested(ingest, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "home.ics").write_text(CALENDAR)
    (folder / "log.csv").write_text('item,cost\npump,$499\nfilter,"$40\nhose,$25\nvalve,$12\n')
    report = ingest(folder)
    assert sorted(Path(f).name for f in report.ingested) == ["home.ics", "log.csv"]
    reasons = sorted(s.reason for s in report.skipped)
    assert reasons[0].startswith("event broken-date at line 8 left out")
    assert reasons[1] == "row at line 3 left out: unterminated quote"


DISCOVER = """
import json, sys
from pathlib import Path
from household.settings import Settings
from ingest.pipeline import Pipeline, Skipped
items = Pipeline(Settings(), None, None).discover(Path(sys.argv[1]))
print(json.dumps([[i.path, i.reason] if isinstance(i, Skipped) else str(i[0]) for i in items]))
"""


def test_an_unreadable_folder_is_in_the_skipped_list(tmp_path):
    """A real permission error. Root reads any folder, so as root the walk runs in a child without capabilities."""
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0 else []
    if drop and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop the capability to read any folder")
    root = tmp_path / "records"
    (root / "open").mkdir(parents=True)
    (root / "open" / "note.txt").write_text("readable")
    (root / "locked").mkdir()
    (root / "locked" / "secret.txt").write_text("not listed")
    (root / "locked").chmod(0)
    try:
        done = subprocess.run(
            [*drop, sys.executable, "-c", DISCOVER, str(root)], capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        (root / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert [f for f in found if isinstance(f, str)] == [str(root / "open" / "note.txt")]
    assert [f for f in found if isinstance(f, list)] == [[str(root / "locked"), "cannot read the folder: Permission denied"]]


@pytest.mark.parametrize("text", ["word " * 30_000, "x" * 120_000])
def test_a_long_paragraph_is_cut_into_windows_that_cover_it(embedder, text):
    """The linear chunker cuts one huge record into windows within the budget that lose no text."""
    from ingest.chunker import Chunker
    from ingest.document import Document, Record

    chunker = Chunker(embedder.tokenizer, max_tokens=128, overlap=16)
    chunks = chunker.chunk(Document("/l/log.txt", "txt", [Record(text)]))
    assert all(c.tokens <= 128 for c in chunks)
    bodies = [c.text.split("\n", 1)[1] for c in chunks]
    assert sum(len(b) for b in bodies) >= len(text.strip())
    if " " in text:
        assert {len(b.split()) for b in bodies[:-1]} == {len(bodies[0].split())}, "every full window holds whole words"
