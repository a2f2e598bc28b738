"""Category corrections from the family, kept in SQLite for the next fine-tune.

WAL mode and a generous busy timeout let several processes (the UI's sessions, the CLI) write at
once; every call opens its own short-lived connection, so the store is also safe across threads.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from household.errors import InputError, ServiceError
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    predicted_code TEXT NOT NULL,
    corrected_code TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model_version TEXT NOT NULL,
    context TEXT
)
"""
COLUMNS = "id, question, predicted_code, corrected_code, created_at, model_version, context"


@dataclass(frozen=True)
class Correction:
    id: int
    question: str
    predicted_code: str
    corrected_code: str
    created_at: str
    model_version: str
    context: str | None = None  # JSON: the conversation a follow-up was read in (chatbot/followup.py)


class FeedbackStore:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path, self.timeout = Path(path), timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(corrections)")}
            if "context" not in columns:  # a store written before follow-ups: add the column, keep every row
                db.execute("ALTER TABLE corrections ADD COLUMN context TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per call, committed on success; a locked or broken file is a ServiceError."""
        try:
            with closing(sqlite3.connect(self.path, timeout=self.timeout)) as db:
                with db:
                    yield db
        except sqlite3.Error as exc:
            raise ServiceError(f"feedback store {self.path} is unusable: {exc}") from exc

    def add(
        self, question: str, predicted_code: str, corrected_code: str, model_version: str, context: str | None = None
    ) -> int:
        """Record one correction; returns its id. `context` is the conversation a follow-up was read in."""
        question = " ".join(str(question).split())
        if not question:
            raise InputError("cannot store a correction for an empty question")
        if not predicted_code or not corrected_code:
            raise InputError("a correction needs both the predicted and the corrected category")
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO corrections (question, predicted_code, corrected_code, created_at, model_version, context)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (question, predicted_code, corrected_code, created_at, model_version, context or None),
            )
            return int(cursor.lastrowid)

    def list(self) -> list[Correction]:
        """Every correction, oldest first."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM corrections ORDER BY id").fetchall()
        return [Correction(*row) for row in rows]

    def delete(self, id: int) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM corrections WHERE id = ?", (int(id),)).rowcount > 0

    def stamp(self) -> tuple[int, int]:
        """Changes whenever a correction is added or deleted: (count, highest id), read cheaply."""
        if not self.path.exists():
            return (0, 0)
        with self._connect() as db:
            count, top = db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM corrections").fetchone()
        return (int(count), int(top))

    def corrections(self) -> list[tuple[str, str]]:
        """(question, corrected_code) of questions that stand alone, the latest correction winning when a
        question was corrected twice. A follow-up's correction ("who did it?" -> hvac) holds only in its
        conversation, so it is kept (list, export) but never applied to, or trained on, the bare words."""
        return list({row.question: row.corrected_code for row in self.list() if row.context is None}.items())

    def export_jsonl(self, path: str | Path, taxonomy: Taxonomy | None = None) -> int:
        """Write the latest correction per question as dataset rows for the finetune module.

        With a taxonomy, categories are written by name (the dataset's preferred form) and
        corrections to codes no longer in the taxonomy are skipped; without one, by code.
        Returns the number of rows written.
        """
        latest = {row.question: row for row in self.list()}
        lines = []
        for row in sorted(latest.values(), key=lambda r: r.id):
            if taxonomy is not None and row.corrected_code not in taxonomy.codes:
                log.warning("skipping correction %d: code %s is not in the taxonomy", row.id, row.corrected_code)
                continue
            lines.append(json.dumps({
                "question": row.question,
                "category": _label(row.corrected_code, taxonomy),
                "predicted": _label(row.predicted_code, taxonomy),
                "group_id": f"feedback-{row.id}",
                "created_at": row.created_at,
                "model_version": row.model_version,
            }))
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(target)
        return len(lines)


def _label(code: str, taxonomy: Taxonomy | None) -> str:
    if taxonomy is None or code not in taxonomy.codes:
        return code
    return taxonomy.by_code(code).name
