"""`household ingest DIR` makes the store match DIR, refuses to empty it for a folder that looks unmounted,
and rebuilds a damaged store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from storage.store import Store


def stored_names(cli) -> list[str]:
    return sorted(Path(row["file"]).name for row in json.loads(cli("sources", "--json").output))


def test_a_plain_ingest_forgets_renamed_and_deleted_files(cli, docs, settings, embedder):
    assert cli("ingest", docs, "--category", "pool").exit_code == 0
    (docs / "pool-notes.md").rename(docs / "pool-notes-2024.md")
    (docs / "yard.ics").unlink()

    result = cli("ingest", docs, "--category", "pool")
    assert result.exit_code == 0, result.output
    assert "Ingested 1 file," in result.output
    forgot = next(line for line in result.output.splitlines() if line.startswith("Forgot"))
    assert forgot.startswith("Forgot 2 files deleted from disk: ")
    assert str((docs / "pool-notes.md").resolve()) in forgot and str((docs / "yard.ics").resolve()) in forgot
    names = stored_names(cli)
    assert "pool-notes-2024.md" in names and "pool-notes.md" not in names and "yard.ics" not in names
    assert names == sorted(p.name for p in docs.iterdir())
    files = {hit.meta.file for hit in Store(settings, embedder).search("pool pump", 50)}
    assert str((docs / "pool-notes.md").resolve()) not in files and str((docs / "pool-notes-2024.md").resolve()) in files


def test_keep_missing_keeps_what_was_deleted(cli, docs):
    cli("ingest", docs, "--category", "pool")
    (docs / "yard.ics").unlink()
    result = cli("ingest", docs, "--category", "pool", "--keep-missing")
    assert result.exit_code == 0 and "Forgot" not in result.output
    assert "yard.ics" in stored_names(cli)


@pytest.mark.parametrize("unmount", ["emptied", "missing", "only-unsupported"])
def test_a_folder_that_looks_unmounted_forgets_nothing_without_force(cli, docs, unmount):
    cli("ingest", docs, "--category", "pool")
    before = stored_names(cli)
    if unmount == "missing":
        docs.rename(docs.with_name("elsewhere"))
    else:
        shutil.rmtree(docs)
        docs.mkdir()
        if unmount == "only-unsupported":
            (docs / "Thumbs.db").write_bytes(b"\0" * 64)

    result = cli("ingest", docs, "--category", "pool")
    assert result.exit_code == 1
    assert "looks unmounted" in result.output and f"holds {len(before)} files" in result.output, result.output
    assert "--force" in result.output and stored_names(cli) == before

    forced = cli("ingest", docs, "--category", "pool", "--force")
    assert f"Forgot {len(before)} files deleted from disk" in forced.output, forced.output
    assert stored_names(cli) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway")
def test_an_unreadable_folder_forgets_nothing(cli, docs):
    cli("ingest", docs, "--category", "pool")
    before = stored_names(cli)
    docs.chmod(0)
    try:
        result = cli("ingest", docs, "--category", "pool")
    finally:
        docs.chmod(0o755)
    assert result.exit_code != 0 and "cannot be read" in result.output and "looks unmounted" in result.output
    assert stored_names(cli) == before


def test_a_damaged_store_says_how_to_recover_and_rebuild_does_it(cli, docs, settings):
    cli("ingest", docs, "--category", "pool")
    expected = stored_names(cli)
    (settings.store_dir / "chroma.sqlite3").write_bytes(b"this is not a database " * 200)

    broken = cli("sources")
    assert broken.exit_code == 1
    assert "file is not a database" in broken.output and "household ingest --rebuild" in broken.output
    assert len(broken.output.strip().splitlines()) == 1

    rebuilt = cli("ingest", "--rebuild", docs, "--category", "pool")
    assert rebuilt.exit_code == 0, rebuilt.output
    aside = [p for p in settings.store_dir.parent.iterdir() if p.name.startswith(f"{settings.store_dir.name}.broken-")]
    assert len(aside) == 1 and (aside[0] / "chroma.sqlite3").read_bytes().startswith(b"this is not")
    assert f"The old store was moved to {aside[0]}" in rebuilt.output
    assert stored_names(cli) == expected
