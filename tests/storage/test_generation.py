"""The change marker lives in the collection: a long-lived BM25 index never serves a chunk that is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

from chatbot.retrieval import LexicalIndex
from household.settings import Settings
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from storage.store import Store

PARAGRAPHS = "\n\n".join(f"Season {y}: the pool opened in April and closed in October." for y in range(2000, 2004))


def ingest(settings: Settings, embedder, taxonomy, folder: Path) -> None:
    """What another `household ingest` does: its own Store, its own pipeline."""
    Pipeline(settings, Store(settings, embedder), CategoryAssigner(settings, taxonomy, "pool")).run([folder])


def texts(index: LexicalIndex, question: str) -> list[str]:
    return [text for _, text, _ in index.search(question, 10)]


def pump_notes(settings: Settings, embedder, taxonomy, tmp_path: Path, pump: str) -> tuple[Path, LexicalIndex]:
    """A folder with one note about `pump`, ingested, and a long-lived BM25 reader that has seen it."""
    folder = tmp_path / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "pump.md").write_text(f"The pump is a {pump}.\n\n{PARAGRAPHS}")
    ingest(settings, embedder, taxonomy, folder)
    reader = LexicalIndex(Store(settings, embedder))
    assert any(pump in t for t in texts(reader, f"{pump} pump"))
    return folder, reader


def test_a_same_count_change_on_a_chroma_server_reaches_a_long_lived_reader(
    chroma_server, settings, embedder, taxonomy, tmp_path
):
    remote = settings.replace(chroma_url=chroma_server)
    folder, reader = pump_notes(remote, embedder, taxonomy, tmp_path, "Pentair SuperFlo")
    count = Store(remote, embedder).count()

    (folder / "pump.md").write_text(f"The pump is a Hayward MaxFlo.\n\n{PARAGRAPHS}")
    ingest(remote, embedder, taxonomy, folder)
    assert Store(remote, embedder).count() == count, "the change must keep the chunk count"
    assert not any("Pentair" in t for t in texts(reader, "Pentair pump")), "served a chunk that is gone"
    assert any("Hayward" in t for t in texts(reader, "Hayward pump"))


def test_deleting_the_embedded_store_under_a_running_reader(settings, embedder, taxonomy, tmp_path):
    folder, reader = pump_notes(settings, embedder, taxonomy, tmp_path, "Pentair SuperFlo")

    shutil.rmtree(settings.store_dir)
    assert texts(reader, "Pentair pump") == [], "served a chunk from a deleted store"

    (folder / "pump.md").write_text(f"The pump is a Hayward MaxFlo.\n\n{PARAGRAPHS}")
    ingest(settings, embedder, taxonomy, folder)
    assert any("Hayward" in t for t in texts(reader, "Hayward pump"))
    assert not any("Pentair" in t for t in texts(reader, "Pentair pump"))
