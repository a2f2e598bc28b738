"""The watch loop on a real folder and a real store: files written after it starts are ingested, removed ones forgotten."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from ingest.watch import watch

TIMEOUT_S = 90


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def stored(store) -> set[str]:
    return {Path(f).name for f in store.files()}


def test_the_watcher_ingests_new_and_changed_files_and_forgets_removed_ones(settings, store, taxonomy, router, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "before.txt").write_text("Category: pool\nThe pool cover was stored in the garage.")
    settings = settings.replace(watch_settle_s=0.5)
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, taxonomy, classifier=router))
    lines: list[str] = []
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=watch, args=(folder, pipeline, stop, lines.append, ready), daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT_S), f"the watcher did not start: {lines}"
        assert stored(store) == {"before.txt"}, "the folder is ingested first"
        new = folder / "sub" / "pump.txt"
        new.parent.mkdir()
        with new.open("w") as fh:  # written in two goes: read only once it stops changing
            fh.write("Category: pool\nThe pool pump was replaced")
            fh.flush()
            time.sleep(0.2)
            fh.write(" on 2025-05-03 by Ortiz Pools for $1249.")
        (folder / ".hidden.txt").write_text("never read")
        wait_for(lambda: "pump.txt" in stored(store), "the new file in the store")
        hits = store.search("who replaced the pool pump", 1)
        assert "$1249" in hits[0].text, "the whole file was read, not its first half"
        (folder / "before.txt").unlink()
        wait_for(lambda: "before.txt" not in stored(store), "the removed file to be forgotten")
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
        wait_for(lambda: any(line.startswith("skipped broken.pdf") for line in lines), "the broken file's line")
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
    assert not thread.is_alive(), "the watcher stops when asked"
    assert stored(store) == {"pump.txt"}
    assert "ingested sub/pump.txt" in lines and "forgot before.txt (1 chunks): deleted from disk" in lines
    assert sum(line.startswith("ingested sub/pump.txt") for line in lines) == 1, lines
    assert not any("hidden" in line for line in lines)


def test_the_watcher_holds_the_writer_lock_only_while_writing(settings, store, taxonomy, router, tmp_path):
    """Between batches another writer (`household forget`) gets the lock at once."""
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.txt").write_text("Category: pool\nBackwashed the filter.")
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, taxonomy, classifier=router))
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=watch, args=(folder, pipeline, stop, lambda _: None, ready), daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT_S)
        with store.writer():  # would raise ServiceError if the watcher held it while idle
            pass
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
