"""Reading JSONL data files with file-and-line errors, shared by every loader of labelled rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from household.errors import DataError


def objects(path: Path, problems: list[DataError] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line. A bad line raises DataError, or, when a
    `problems` list is given, is recorded there and skipped, so a validator can report them all."""

    def bad(error: DataError) -> None:
        if problems is None:
            raise error
        problems.append(error)

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        bad(DataError(path, None, f"cannot read: {exc}"))
        return
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            bad(DataError(path, lineno, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict):
            bad(DataError(path, lineno, "a row must be a JSON object"))
            continue
        yield lineno, row
