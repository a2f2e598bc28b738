"""A second process for the concurrency tests: `ingest FOLDER ROUNDS` rewrites and re-ingests, `search` reads,
`watch` reads the per-file state until the store is empty (while the test forgets everything).

Both wait for each other's `<name>.ready` marker in the current directory, so the reads really
happen while the writes do. The reader checks every snapshot it gets for half-written files.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from household.settings import Settings
from household.taxonomy import Taxonomy
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline
from storage.store import Store


def wait_for(name: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not Path(name).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {name}")
        time.sleep(0.05)


def ingest(folder: Path, rounds: int) -> None:
    settings = Settings.load()
    store = Store(settings)
    store.embed(["warm up"])
    Path("writer.ready").touch()
    wait_for("reader.ready")
    pipeline = Pipeline(settings, store, CategoryAssigner(settings, Taxonomy.load(settings.taxonomy_file), "pool"))
    for round_ in range(rounds):
        for file in sorted(folder.iterdir()):
            file.write_text(f"Round {round_} of {file.stem}.\n\n" + f"Pump log line for round {round_}. " * 60)
        report = pipeline.run([folder])
        assert len(report.ingested) == len(list(folder.iterdir())), report
    Path("writer.done").touch()


def search() -> None:
    store = Store(Settings.load())
    store.embed(["warm up"])
    Path("reader.ready").touch()
    wait_for("writer.ready")
    snapshots, problems, rounds = 0, [], set()
    while True:
        done = Path("writer.done").exists()
        files = store.files()
        for file in files.values():
            if len(file.hashes) != 1 or not file.complete(next(iter(file.hashes)), next(iter(file.chunkings))):
                problems.append(f"{file.file}: {len(file.ids)} chunks of {file.expected}, {len(file.hashes)} versions")
        versions: dict[str, set[str]] = {}
        for hit in store.search("pump log", 40):
            versions.setdefault(hit.meta.file, set()).add(hit.meta.content_hash)
            rounds.update(line.split(" of ")[0] for line in hit.text.splitlines() if line.startswith("Round "))
        problems += [f"one search saw {len(v)} versions of {f}" for f, v in versions.items() if len(v) > 1]
        snapshots += bool(files)
        if done:
            break
        time.sleep(0.02)  # leave the writer some CPU
    print(json.dumps({"snapshots": snapshots, "problems": problems, "rounds": sorted(rounds)}))


def watch() -> None:
    """Every chunk count seen while the store empties, and any file seen half forgotten."""
    store = Store(Settings.load())
    counts, problems = [sum(len(f.ids) for f in store.files().values())], []
    Path("watcher.ready").touch()
    deadline = time.monotonic() + 240
    while counts[-1] and time.monotonic() < deadline:
        files = store.files()
        problems += [f.file for f in files.values() if len(f.ids) != f.expected]
        counts.append(sum(len(f.ids) for f in files.values()))
    print(json.dumps({"counts": counts, "problems": problems}))


if __name__ == "__main__":
    if sys.argv[1] == "ingest":
        ingest(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "watch":
        watch()
    else:
        search()
