from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from chromadb.api.models.Collection import Collection

from ingest.chunker import VERSION as CHUNKER_VERSION
from ingest.pipeline import forget
from storage.chunk import ChunkMeta
from storage.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = {"md", "txt", "csv", "ics", "eml", "html", "pdf"}
SEASONS = "\n\n".join(f"Season {y}: opened in April, closed in October. " * 6 for y in range(2000, 2012))


def by_file(store: Store) -> dict[str, list[tuple[str, str, ChunkMeta]]]:
    files: dict[str, list] = {}
    for row in store.chunks():
        files.setdefault(row[2].file, []).append(row)
    return files


def assert_consistent(store: Store) -> None:
    """Every stored file is whole: one content hash, as many chunks as it was cut into, indices 0..n-1 per source."""
    for file, rows in by_file(store).items():
        metas = [meta for _, _, meta in rows]
        assert len({m.content_hash for m in metas}) == 1, file
        assert len(rows) == metas[0].file_chunks, file
        for source in {m.source for m in metas}:
            indices = sorted(m.chunk_index for m in metas if m.source == source)
            assert indices == list(range(len(indices))), source


def test_every_format_is_stored_with_full_metadata(ingest, store, docs, taxonomy):
    report = ingest(docs)
    assert report.skipped == [] and len(report.ingested) == len(list(docs.iterdir()))
    files = by_file(store)
    assert {meta.format for rows in files.values() for _, _, meta in rows} == FORMATS
    for file, rows in files.items():
        digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
        for _, _, meta in rows:
            assert Path(meta.file).is_absolute() and meta.source.startswith(meta.file)
            assert meta.content_hash == digest and meta.category in taxonomy.codes
            assert meta.category_origin in {"front-matter", "classifier"}
            assert isinstance(meta.category_confidence, float) and 0 < meta.category_confidence <= 1
            assert None not in meta.to_chroma().values()
    mail = files[str(docs.resolve() / "quote.eml")]
    assert {m.source.rsplit("/", 1)[-1] for _, _, m in mail} == {"quote.eml", "quote.eml#quote-lines.csv"}
    pdf = files[str(docs.resolve() / "water-heater-manual.pdf")][0][2]
    assert (pdf.title, pdf.date) == ("Water heater use and care", "2024-03-15")
    assert "title" not in files[str(docs.resolve() / "service-log.csv")][0][2].to_chroma()
    assert_consistent(store)


def test_category_precedence_flag_then_folder_then_front_matter_then_classifier(ingest, store, taxonomy, tmp_path):
    root = tmp_path / "records"
    (root / "pool").mkdir(parents=True)
    (root / "misc").mkdir()
    tagged = "---\ncategory: fence\n---\nThe gate hinge squeaks; the chlorinator needs salt.\n"
    (root / "pool" / "tagged.md").write_text(tagged)
    (root / "misc" / "tagged.md").write_text(tagged)
    (root / "misc" / "untagged.txt").write_text("Swapped the brake pads and rotated the tires on the minivan.\n")

    def categories() -> dict[str, tuple[str, str]]:
        return {
            Path(f).relative_to(root).as_posix(): (rows[0][2].category, rows[0][2].category_origin)
            for f, rows in by_file(store).items()
        }

    ingest(root)
    assert categories() == {
        "pool/tagged.md": (taxonomy.by_name("pool").code, "folder"),
        "misc/tagged.md": (taxonomy.by_name("fence").code, "front-matter"),
        "misc/untagged.txt": (taxonomy.by_name("car").code, "classifier"),
    }
    report = ingest(root, category="garden lights")
    assert len(report.ingested) == 3, "a new --category rewrites files filed otherwise"
    assert set(categories().values()) == {(taxonomy.by_name("garden lights").code, "flag")}


def test_the_classifier_is_never_loaded_when_every_file_is_labelled(settings, store, taxonomy, docs):
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline

    assigner = CategoryAssigner(settings, taxonomy, "general")
    Pipeline(settings, store, assigner).run([docs])
    assert assigner._classifier is None and store.count() > 0


def test_calendar_events_are_classified_one_by_one(ingest, store, docs, taxonomy):
    ingest(docs / "yard.ics")
    rows = by_file(store)[str((docs / "yard.ics").resolve())]
    by_event = {text.split("\n")[1]: meta.category for _, text, meta in rows}
    assert by_event == {
        "Event: Gutter cleaning - ClearFlow Gutters": taxonomy.by_name("gutters").code,
        "Event: Mosquito barrier spray - BuzzOff": taxonomy.by_name("mosquito").code,
    }


def test_a_csv_category_column_files_its_rows_and_the_classifier_fills_the_blanks(ingest, store, taxonomy, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "date,category,work\n"
        "2025-05-01,pool,Replaced the skimmer basket\n"
        "2025-05-02,fence,Replaced the skimmer basket\n"
        "2025-06-01,,Oil change and tire rotation on the minivan\n"
        "2025-07-01,attic,Chlorine tablets for the swimming pool filter\n"
    )
    ingest(log)
    rows = by_file(store)[str(log.resolve())]
    filed = sorted((meta.category, meta.category_origin, text.count("\n")) for _, text, meta in rows)
    assert filed == sorted([
        (taxonomy.by_name("pool").code, "record", 1), (taxonomy.by_name("fence").code, "record", 1),
        (taxonomy.by_name("car").code, "classifier", 1), (taxonomy.by_name("pool").code, "classifier", 1),
    ])


def test_a_file_cut_another_way_is_cut_again_though_unchanged(ingest, store, tmp_path):
    """A new chunk size (or a new chunker version, or a store from before the stamp) re-cuts unchanged files."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pool-log.md").write_text("\n\n".join(f"2025-06-{d:02d}: pool chlorine {d} ppm, pH 7.{d % 9}, "
                                                    "backwashed the filter and emptied the skimmer basket."
                                                    for d in range(1, 29)), encoding="utf-8")
    first = ingest(notes)
    assert ingest(notes).unchanged == first.ingested
    smaller = ingest(notes, chunk_tokens=64, chunk_overlap=8)
    assert smaller.ingested == first.ingested and smaller.unchanged == []
    stored = [meta for _, _, meta in store.chunks()]
    assert len(stored) > first.chunks_written and {m.chunking for m in stored} == {f"{CHUNKER_VERSION}/64/8"}
    assert ingest(notes, chunk_tokens=64, chunk_overlap=8).unchanged == first.ingested


def test_a_second_run_writes_nothing(ingest, store, docs):
    first = ingest(docs)
    before = sorted((i, m.ingested_at) for i, _, m in store.chunks())
    second = ingest(docs)
    assert first.chunks_written == store.count() > 0
    assert second.chunks_written == 0 and second.ingested == [] and len(second.unchanged) == len(first.ingested)
    assert sorted((i, m.ingested_at) for i, _, m in store.chunks()) == before


def test_a_changed_file_replaces_its_chunks(ingest, store, docs):
    ingest(docs)
    notes = docs / "pool-notes.md"
    old_ids = {i for i, _, m in store.chunks() if m.file == str(notes.resolve())}
    notes.write_text(notes.read_text().replace("Pentair SuperFlo VS", "Hayward MaxFlo VS"))
    report = ingest(docs)
    assert report.ingested == [str(notes.resolve())] and report.chunks_written > 0
    rows = by_file(store)[str(notes.resolve())]
    assert not old_ids & {i for i, _, _ in rows}
    assert all("Pentair SuperFlo" not in text for _, text, _ in rows)
    assert any("Hayward MaxFlo" in text for _, text, _ in rows)
    assert_consistent(store)


def test_files_deleted_from_the_folder_are_forgotten_unless_kept(ingest, store, docs):
    ingest(docs)
    (docs / "service-log.csv").unlink()
    ingest(docs, keep_missing=True)
    assert str((docs / "service-log.csv").resolve()) in by_file(store), "with keep_missing nothing is removed"
    report = ingest(docs)
    assert report.removed == [str((docs / "service-log.csv").resolve())] and report.chunks_removed > 0
    assert str((docs / "service-log.csv").resolve()) not in by_file(store)
    assert len(by_file(store)) == len(list(docs.iterdir()))


def test_bad_input_is_skipped_with_a_reason_and_the_rest_is_ingested(ingest, store, docs, tmp_path):
    for bad in (FIXTURES / "bad").iterdir():
        shutil.copy(bad, docs / bad.name)
    (docs / ".hidden.md").write_text("# never read")
    (docs / "big.txt").write_text("household " * 2000)
    outside = tmp_path / "outside.md"
    outside.write_text("# outside the tree")
    (docs / "link.md").symlink_to(outside)
    (docs / "dangling.txt").symlink_to(docs / "gone.txt")
    (docs / "folder.md").mkdir()
    (docs / "folder.md" / "inner.txt").write_text("Category: fence\nA file inside a folder named like a file.")
    report = ingest(docs, max_file_mb=0.01)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {
        "empty.md": "empty file", "blank.txt": "empty file", "random.txt": "binary file, not text",
        "photo.gif": "unsupported file type .gif",
        "broken.ics": reasons["broken.ics"], "truncated.pdf": reasons["truncated.pdf"],
        "big.txt": "0.0191 MB is over the 0.01 MB limit (max_file_mb)", "link.md": "symlink leads outside the folder",
        "dangling.txt": reasons["dangling.txt"],
    }
    assert reasons["broken.ics"].startswith("malformed iCalendar")
    assert reasons["truncated.pdf"].startswith("corrupt PDF")
    assert reasons["dangling.txt"].startswith("cannot read")
    assert all("\n" not in reason for reason in reasons.values())
    stored = {Path(f).name for f in by_file(store)}
    assert stored == {p.name for p in (FIXTURES / "docs").iterdir()} | {"inner.txt"}
    assert_consistent(store)


def test_include_and_exclude_globs(ingest, store, docs):
    report = ingest(docs, include=["*.md", "*.csv", "*.eml"], exclude=["html-*"])
    assert sorted(Path(f).name for f in report.ingested) == ["pool-notes.md", "quote.eml", "service-log.csv"]


def test_a_broken_attachment_is_reported_and_its_mail_still_ingested(ingest, store, tmp_path):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "hoa@example.org", "Dues"
    message.set_content("The HOA dues statement is attached.")
    message.add_attachment(b"\x00\x01\x02binary", maintype="text", subtype="csv", filename="dues.csv")
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "dues.eml").write_bytes(message.as_bytes())
    report = ingest(tmp_path / "mail")
    mail = str((tmp_path / "mail" / "dues.eml").resolve())
    assert report.ingested == [mail]
    assert [s.path for s in report.skipped] == [f"{mail}#dues.csv"]


def test_small_files_are_embedded_and_written_together_yet_each_stays_whole(ingest, store, tmp_path, monkeypatch):
    root = tmp_path / "notes"
    root.mkdir()
    for i in range(12):
        (root / f"note-{i:02d}.txt").write_text(f"Note {i}: the pool filter was backwashed on day {i}.\n")
    upserts, encodes = [], []
    real_upsert, real_embed = Collection.upsert, Store.embed
    monkeypatch.setattr(Collection, "upsert", lambda self, **kw: (upserts.append(kw["ids"]), real_upsert(self, **kw))[1])
    monkeypatch.setattr(Store, "embed", lambda self, texts: (encodes.append(len(texts)), real_embed(self, texts))[1])
    monkeypatch.setattr("ingest.pipeline.FLUSH_CHUNKS", 5)
    report = ingest(root)
    assert len(report.ingested) == 12 and report.chunks_written == 12
    assert [len(ids) for ids in upserts] == [5, 5, 2] and encodes == [5, 5, 2]
    assert_consistent(store)
    assert len(by_file(store)) == 12


def test_an_error_mid_file_rolls_back_and_a_rerun_completes(ingest, store, docs, monkeypatch):
    ingest(docs)
    notes = docs / "pool-notes.md"
    old = {i for i, _, m in store.chunks() if m.file == str(notes.resolve())}
    notes.write_text(notes.read_text() + SEASONS)
    monkeypatch.setattr(Store, "_batch_size", lambda self: 2)
    calls = {"n": 0}
    real_upsert = Collection.upsert

    def failing_upsert(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "upsert", failing_upsert)
    with pytest.raises(KeyboardInterrupt):
        ingest(docs)
    assert {i for i, _, m in store.chunks() if m.file == str(notes.resolve())} == old, "the old version, untouched"
    assert_consistent(store)
    monkeypatch.setattr(Collection, "upsert", real_upsert)
    report = ingest(docs)
    assert report.ingested == [str(notes.resolve())] and report.chunks_written > 4
    assert_consistent(store)


def test_a_process_killed_mid_file_is_repaired_by_the_next_run(ingest, store, docs, settings):
    ingest(docs)
    notes = docs / "pool-notes.md"
    notes.write_text(notes.read_text() + SEASONS)
    script = textwrap.dedent(f"""
        import os
        from chromadb.api.models.Collection import Collection
        from household.settings import Settings
        from household.taxonomy import Taxonomy
        from ingest.category import CategoryAssigner
        from ingest.pipeline import Pipeline
        from storage.store import Store

        real, calls = Collection.upsert, []
        def dying_upsert(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)  # no rollback, no cleanup: like a power cut
            return real(self, *args, **kwargs)
        Collection.upsert = dying_upsert
        Store._batch_size = lambda self: 2
        settings = Settings.load()
        assigner = CategoryAssigner(settings, Taxonomy.load(settings.taxonomy_file), "pool")
        Pipeline(settings, Store(settings), assigner).run([{str(notes)!r}])
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=300, check=False).returncode == 9
    rows = by_file(store)[str(notes.resolve())]
    assert len({m.content_hash for _, _, m in rows}) == 2, "half-written: old and new chunks side by side"
    report = ingest(docs)
    assert report.ingested == [str(notes.resolve())]
    assert_consistent(store)


def test_forget_a_file_or_a_folder(ingest, store, docs, tmp_path):
    ingest(docs)
    files, chunks = forget(store, docs / "yard.ics")
    assert files == [str((docs / "yard.ics").resolve())] and chunks > 0
    assert str((docs / "yard.ics").resolve()) not in by_file(store)
    files, _ = forget(store, docs)
    assert len(files) == len(list(docs.iterdir())) - 1 and store.count() == 0
    assert forget(store, tmp_path / "never-ingested.md") == ([], 0)


def test_a_file_reached_twice_is_read_once(ingest, docs):
    (docs / "again.md").symlink_to(docs / "pool-notes.md")
    report = ingest(docs, docs / "pool-notes.md", category="pool")
    assert len(report.ingested) == len(list(docs.iterdir())) - 1 and report.unchanged == []
    assert report.ingested.count(str((docs / "pool-notes.md").resolve())) == 1


def test_server_mode_ingests_searches_and_stays_idempotent(chroma_server, settings, embedder, taxonomy, docs):
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline

    from storage.store import Store

    remote = settings.replace(chroma_url=chroma_server)
    store = Store(remote, embedder)
    first = Pipeline(remote, store, CategoryAssigner(remote, taxonomy, "pool")).run([docs])
    assert first.chunks_written == store.count() > 0 and not settings.store_dir.exists()
    hits = store.search("pool pump quote", 3, [taxonomy.by_name("pool").code])
    assert hits and all(h.category == taxonomy.by_name("pool").code for h in hits)
    again = Pipeline(remote, Store(remote, embedder), CategoryAssigner(remote, taxonomy, "pool")).run([docs])
    assert again.chunks_written == 0 and len(again.unchanged) == len(first.ingested)
    assert store.stats()["sources"] == len(first.ingested)
