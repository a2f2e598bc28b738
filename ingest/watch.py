"""Keeping the store in step with a folder while it changes (`household ingest --watch DIR`).

The folder is ingested once (so the store matches it), then every change is handled in batches:
a file is read once it has stopped changing for `watch_settle_s` (a photo still being copied is
not read half-written), a removed file or folder is forgotten. Each batch is an ordinary
`Pipeline` run or `forget`, so the writer lock is held only while a batch is read and written,
never while the watcher waits; readers (the UI) are never blocked by it at all. A batch refused
because another writer holds the lock is kept and tried again. One line is said per change.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from household.errors import HouseholdError
from ingest.pipeline import Pipeline, Report, forget

TICK_MS = 250  # how often pending files are checked for having settled


@dataclass
class _Pending:
    """Paths seen changing and not handled yet, each with its last (size, mtime) and when it last changed."""

    seen: dict[Path, tuple[tuple[int, int] | None, float]] = field(default_factory=dict)

    def touch(self, path: Path, now: float) -> None:
        self.seen[path] = (_signature(path), now)

    def settled(self, now: float, quiet_s: float) -> list[Path]:
        """Paths unchanged on disk for `quiet_s`; a path that changed again starts its wait anew."""
        ready = []
        for path, (signature, since) in list(self.seen.items()):
            current = _signature(path)
            if current != signature:
                self.seen[path] = (current, now)
            elif now - since >= quiet_s:
                ready.append(path)
        return ready

    def done(self, paths: list[Path]) -> None:
        for path in paths:
            self.seen.pop(path, None)


def watch(
    folder: Path, pipeline: Pipeline, stop: threading.Event, say: Callable[[str], None],
    ready: threading.Event | None = None, force: bool = False,
) -> None:
    """Ingest `folder`, then follow its changes until `stop` is set; `ready` is set once changes are seen.

    `say` gets one line per change (the CLI prints it with a time stamp). `force` is the first
    run's: forget files gone from the folder even if it looks unmounted.
    """
    import watchfiles

    folder = folder.resolve()
    pending = _Pending()
    quiet = pipeline.settings.watch_settle_s
    armed = False
    changes = watchfiles.watch(
        folder, stop_event=stop, yield_on_timeout=True, rust_timeout=TICK_MS, debounce=TICK_MS, step=50,
        raise_interrupt=False,
    )
    for batch in changes:
        if not armed:  # the watcher runs from the first yield on: what changes from here is seen
            armed = True
            _say_report(pipeline.run([folder], force=force), folder, say, initial=True)
            say(f"watching {folder} (a file is read {quiet:g} s after it stops changing)")
            if ready is not None:
                ready.set()
        now = time.monotonic()
        for _, name in batch:
            path = Path(name)
            if not _hidden(path, folder):
                pending.touch(path, now)
        settled = pending.settled(now, quiet)
        if settled:
            pending.done(_apply(settled, folder, pipeline, say))


def _apply(paths: list[Path], folder: Path, pipeline: Pipeline, say: Callable[[str], None]) -> list[Path]:
    """Ingest the settled paths that exist, forget those that are gone; returns the paths handled.

    A batch another writer holds the lock for is said once and left pending, to be tried again.
    """
    present = [p for p in paths if p.exists()]
    gone = [p for p in paths if not p.exists()]
    handled: list[Path] = []
    try:
        if present:
            _say_report(pipeline.run(present, keep_missing=True), folder, say)
        handled += present
        for path in gone:
            files, chunks = forget(pipeline.store, path)
            if files:
                say(f"forgot {_shown(path, folder)} ({chunks} chunks): deleted from disk")
            handled.append(path)
    except HouseholdError as exc:
        say(f"will retry {len(paths) - len(handled)} changes: {exc}")
    return handled


def _say_report(report: Report, folder: Path, say: Callable[[str], None], initial: bool = False) -> None:
    chunks = {}
    for low in report.low_confidence:
        chunks.setdefault(low.source.split("#", 1)[0], []).append(low.confidence)
    for file in report.ingested:
        doubt = chunks.get(file)
        note = f"; OCR confidence as low as {min(doubt):.0%}, check the text" if doubt else ""
        say(f"ingested {_shown(Path(file), folder)}{note}")
    if not initial:
        for file in report.unchanged:
            say(f"unchanged {_shown(Path(file), folder)}")
    for skipped in report.skipped:
        say(f"skipped {_shown(Path(skipped.path), folder)}: {skipped.reason}")
    for file in report.removed:
        say(f"forgot {_shown(Path(file), folder)}: deleted from disk")
    if initial:
        say(f"{len(report.ingested)} files ingested, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} forgotten; the store holds {report.store.get('sources', 0)} files")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _hidden(path: Path, folder: Path) -> bool:
    """Hidden files and folders are not ingested (as in a normal run), nor are editors' temporary files."""
    try:
        parts = path.relative_to(folder).parts
    except ValueError:
        return True
    return any(part.startswith(".") for part in parts) or path.name.endswith(("~", ".tmp", ".part", ".crdownload"))


def _shown(path: Path, folder: Path) -> str:
    return str(path).removeprefix(str(folder) + os.sep)
