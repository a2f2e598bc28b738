"""`household ingest`, `household sources`, `household forget`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from household.app import App, pass_app
from household.errors import InputError

SHOWN_REMOVED = 10  # forgotten files named in the summary; --json lists them all


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--category", metavar="NAME", help="File everything read now under this category (name or code).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching GLOB (name or path); repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out files matching GLOB; repeatable.")
@click.option("--keep-missing", is_flag=True, help="Keep stored files that were deleted from the given folders.")
@click.option("--force", is_flag=True, help="Forget deleted files even when a folder looks unmounted (empty, missing).")
@click.option("--rebuild", is_flag=True, help="Move the store aside (e.g. a damaged one) and ingest into a new one.")
@click.option("--watch", is_flag=True, help="Then keep the store in step with the folder until stopped (Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def ingest(
    app: App, paths: tuple[Path, ...], category: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
    keep_missing: bool, force: bool, rebuild: bool, watch: bool, as_json: bool,
) -> None:
    """Read household documents into the store: md, txt, csv, ics, eml, html, pdf (scanned ones by
    OCR), docx, xlsx, and pictures (png, jpg, tif, webp, heic) by OCR.

    Folders are read recursively; hidden files are ignored. Each chunk gets a category code:
    from --category, else a folder named after a category (pool/, garden-lights/), else a
    `category:` line or front matter in the file, else (per row or event) a CSV `category`
    column or an event's CATEGORIES, else the classifier's guess. Files already
    stored and unchanged are not rewritten, so running it again is cheap. Unreadable files are
    skipped and listed; the rest is ingested. Stored files deleted from the given folders are
    forgotten (listed), unless a folder looks unmounted: missing, unreadable or without any
    supported file while the store holds files from it; then nothing changes (--force forgets).

    \b
    Examples:
      household ingest data/household
      household ingest ~/scans/pool-receipts --category pool
      household ingest ~/records --include '*.pdf' --exclude 'drafts/*'
      household ingest ~/records --keep-missing   # keep files deleted from ~/records
      household ingest --rebuild data/household   # a damaged store: set it aside, ingest again
      household ingest --watch ~/records   # new and changed files in, deleted ones out, until Ctrl-C
    """
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    if category and app.taxonomy.find(category) is None:
        raise click.BadParameter(f"{category!r} is not a category; see `household categories`", param_hint="--category")
    store = Store(app.settings)
    pipeline = Pipeline(app.settings, store, CategoryAssigner(app.settings, app.taxonomy, category), include, exclude)
    if watch:
        if include or exclude or keep_missing or rebuild or as_json:
            raise click.BadParameter("--watch takes only --category and --force", param_hint="--watch")
        _watch(pipeline, paths, force)
        return
    report = pipeline.run(list(paths), keep_missing, force, rebuild, progress=not as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(app, report)
    if not report.read_anything:
        raise InputError("nothing could be read from " + ", ".join(map(str, paths)))


def _watch(pipeline, paths: tuple[Path, ...], force: bool) -> None:
    """`--watch`: one folder, followed until Ctrl-C or SIGTERM (`docker stop`), one printed line per change."""
    import signal
    import threading
    import time

    from ingest.watch import watch

    if len(paths) != 1 or not paths[0].is_dir():
        raise click.BadParameter("--watch follows one folder: give exactly one existing folder", param_hint="PATHS")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watch(paths[0], pipeline, stop, lambda line: click.echo(f"{time.strftime('%H:%M:%S')} {line}"), force=force)


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _print_report(app: App, report) -> None:
    click.echo(
        f"Ingested {_files(len(report.ingested))}, {len(report.unchanged)} unchanged: "
        f"{report.chunks_written} chunks written, {report.chunks_removed} removed ({report.seconds:.1f} s)"
    )
    if report.set_aside:
        click.echo(f"The old store was moved to {report.set_aside}")
    if report.removed:
        shown = ", ".join(report.removed[:SHOWN_REMOVED])
        more = f" and {len(report.removed) - SHOWN_REMOVED} more" if len(report.removed) > SHOWN_REMOVED else ""
        click.echo(f"Forgot {_files(len(report.removed))} deleted from disk: {shown}{more}")
    if report.skipped:
        click.echo(f"Skipped {_files(len(report.skipped))}:")
        for skipped in report.skipped:
            click.echo(f"  {skipped.path}: {skipped.reason}")
    if report.low_confidence:
        click.echo(f"Read by OCR less surely than ocr_min_confidence ({app.settings.ocr_min_confidence:.0%}), worth a look:")
        for low in report.low_confidence:
            click.echo(f"  {low.source} chunk {low.chunk_index}: {low.confidence:.0%}")
    stored = report.store.get("categories", {})
    if stored:
        click.echo("Chunks per category in the store (+ written now):")
        for c in app.taxonomy:
            if stored.get(c.code) or report.written.get(c.code):
                click.echo(f"  {c.code}  {c.name:<15} {stored.get(c.code, 0):>5}  +{report.written.get(c.code, 0)}")
    click.echo(f"Store: {report.store.get('chunks', 0)} chunks from {_files(report.store.get('sources', 0))}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def sources(app: App, as_json: bool) -> None:
    """List the files in the store: chunks, category, when ingested.

    Example: household sources --json
    """
    from storage.store import Store

    rows = Store(app.settings).sources()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("The store is empty: run `household ingest PATH`.")
        return
    for row in rows:
        names = ", ".join(
            app.taxonomy.by_code(code).name if code in app.taxonomy.codes else code for code in row["categories"]
        )
        click.echo(f"{row['chunks']:>5}  {names:<24} {row['ingested_at']}  {row['file']}")
    click.echo(f"{sum(r['chunks'] for r in rows)} chunks from {_files(len(rows))}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def forget(app: App, path: Path) -> None:
    """Remove a file (or every file under a folder) from the store; the file itself is not touched.

    Example: household forget data/household/grocery-list.txt
    """
    from ingest.pipeline import forget as forget_path
    from storage.store import Store

    files, chunks = forget_path(Store(app.settings), path)
    if not files:
        raise InputError(f"nothing from {path} is in the store; see `household sources`")
    click.echo(f"Forgot {_files(len(files))} ({chunks} chunks)")


commands = [ingest, sources, forget]
