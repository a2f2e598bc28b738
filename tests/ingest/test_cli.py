from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def test_ingest_reports_files_chunks_skips_and_categories(cli, docs, taxonomy):
    shutil.copy(FIXTURES / "bad" / "truncated.pdf", docs)
    result = cli("ingest", docs, "--category", "pool")
    assert result.exit_code == 0, result.output
    assert f"Ingested {len(list(docs.iterdir())) - 1} files, 0 unchanged" in result.output
    assert "truncated.pdf: corrupt PDF" in result.output
    pool = taxonomy.by_name("pool")
    assert f"{pool.code}  {pool.name}" in result.output

    again = json.loads(cli("ingest", docs, "--category", "pool", "--json").output)
    assert again["chunks_written"] == 0 and len(again["unchanged"]) == len(list(docs.iterdir())) - 1
    assert set(again["store"]["categories"]) == {pool.code}
    assert [s["path"] for s in again["skipped"]] == [str(docs / "truncated.pdf")]


def test_sources_and_forget(cli, docs):
    assert "The store is empty" in cli("sources").output
    cli("ingest", docs, "--category", "general", "--include", "*.csv", "--include", "*.ics")
    rows = json.loads(cli("sources", "--json").output)
    assert sorted(Path(r["file"]).name for r in rows) == ["service-log.csv", "yard.ics"]
    assert all(r["chunks"] > 0 and r["ingested_at"] for r in rows)
    forgot = cli("forget", docs / "yard.ics")
    assert forgot.exit_code == 0 and "Forgot 1 file " in forgot.output
    assert [Path(r["file"]).name for r in json.loads(cli("sources", "--json").output)] == ["service-log.csv"]
    again = cli("forget", docs / "yard.ics")
    assert again.exit_code == 1 and "nothing from" in again.output


def test_nothing_readable_exits_non_zero_with_the_reasons(cli, tmp_path):
    bad = Path(shutil.copytree(FIXTURES / "bad", tmp_path / "bad"))
    result = cli("ingest", bad)
    assert result.exit_code == 1
    assert "Error: nothing could be read" in result.output and "empty.md: empty file" in result.output


def test_usage_errors(cli, docs):
    assert cli("ingest", docs, "--category", "basement").exit_code == 2
    missing = cli("ingest", docs / "missing.md")  # nothing stored from it: a plain error, not "unmounted"
    assert missing.exit_code == 1 and "missing.md: cannot read: the file does not exist" in missing.output
