"""The independent held-out questions (data/eval/questions/writer-*.jsonl), split by writer.

Six writers who never saw data/questions* wrote them the way people type: typos, indirect
phrasings, and two-topic questions labelled with a primary and a second category. Each row also
holds two paraphrases. Nothing here is ever trained on. The set is split by writer, so nothing
chosen on one part has seen the phrasing habits of the other:

- the calibration part (`Settings.calibration_writers`, default a and b): `household finetune`
  chooses `auto`, the ensemble weight and the temperatures on it, and `correction_similarity`
  was set on it;
- the test part (every other writer): only measured, never tuned on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.dataset import Example, dataset_files, load_examples, split
from household.errors import DataError
from household.jsonl import objects
from household.settings import Settings
from household.taxonomy import Taxonomy

NEAR_DUPLICATE = 0.6  # word-set Jaccard at or above which two questions count as the same question


@dataclass(frozen=True)
class HeldOutQuestion:
    question: str
    code: str
    second_code: str | None  # the other topic of a two-topic question
    group_id: str
    writer: str
    paraphrases: tuple[str, ...]

    def example(self, text: str | None = None) -> Example:
        return Example(text or self.question, self.code, self.group_id, f"writer-{self.writer}", 0, self.second_code)

    def texts(self) -> list[str]:
        return [self.question, *self.paraphrases]


def load_heldout(folder: Path, taxonomy: Taxonomy) -> list[HeldOutQuestion]:
    """Every row of the held-out files; the first malformed row raises a DataError naming it."""
    files = dataset_files(folder)
    if not files or not all(f.exists() for f in files):
        raise DataError(folder, None, "no held-out .jsonl files found")
    rows, problems = [], []
    for path in files:
        for lineno, raw in objects(path, problems):
            found = taxonomy.find(raw.get("category") or "")
            second = raw.get("second_category")
            second_found = taxonomy.find(second) if isinstance(second, str) else None
            question, paraphrases = raw.get("question"), raw.get("paraphrases") or []
            if not isinstance(question, str) or not question.strip() or found is None:
                problems.append(DataError(path, lineno, "needs a question and a known category"))
            elif second is not None and second_found is None:
                problems.append(DataError(path, lineno, f"unknown second_category {second!r}"))
            elif not all(isinstance(p, str) and p.strip() for p in paraphrases):
                problems.append(DataError(path, lineno, "paraphrases must be non-empty strings"))
            else:
                rows.append(HeldOutQuestion(question.strip(), found.code, second_found.code if second_found else None,
                                            str(raw.get("group_id") or f"{path.stem}:{lineno}"),
                                            str(raw.get("writer") or path.stem.removeprefix("writer-")),
                                            tuple(p.strip() for p in paraphrases)))
    if problems:
        raise problems[0]
    return rows


def writers(spec: str) -> tuple[str, ...]:
    """"a,b" -> ("a", "b")."""
    return tuple(w.strip() for w in spec.split(",") if w.strip())


def part(rows: Sequence[HeldOutQuestion], calibration_writers: Sequence[str], name: str) -> list[HeldOutQuestion]:
    """The `calibration` or `test` part of the held-out rows."""
    if name not in ("calibration", "test"):
        raise ValueError(f"unknown held-out part {name!r}")
    chosen = set(calibration_writers)
    return [r for r in rows if (r.writer in chosen) == (name == "calibration")]


def load_part(settings: Settings, taxonomy: Taxonomy, name: str) -> list[HeldOutQuestion]:
    """The `calibration` or `test` part of `settings.heldout_dir`."""
    return part(load_heldout(settings.heldout_dir, taxonomy), writers(settings.calibration_writers), name)


def calibration_set(settings: Settings, taxonomy: Taxonomy) -> tuple[list[Example], str]:
    """What `auto`, the ensemble weight and the temperatures are fitted on, and a line saying what it is.

    The held-out calibration part, each question with its paraphrases; where the held-out set is not
    there (an installed wheel), the dataset's validation split, whose writers also wrote the training
    questions, so its temperatures come out lower than the test writers need.
    """
    if any(Path(settings.heldout_dir).glob("*.jsonl")):
        chosen = examples(load_part(settings, taxonomy, "calibration"), paraphrases=True)
        if chosen:
            return chosen, f"held-out writers {settings.calibration_writers}: {len(chosen)} questions with paraphrases"
    val = split(load_examples(settings.questions_dir, taxonomy)).val
    return val, f"validation split ({len(val)} questions; no held-out set in {settings.heldout_dir})"


def examples(rows: Iterable[HeldOutQuestion], paraphrases: bool = False) -> list[Example]:
    """The rows as Examples: their questions, and with `paraphrases` their rewordings too."""
    out = []
    for row in rows:
        out += [row.example(text) for text in (row.texts() if paraphrases else [row.question])]
    return out


def words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9']+", text.lower()))


def near_duplicates(rows: Sequence[HeldOutQuestion], training: Sequence[Example]) -> list[tuple[HeldOutQuestion, str, str]]:
    """(row, its text, the training question) for every held-out text whose word-set Jaccard with a training
    question (shared words over all words of the two) is at least NEAR_DUPLICATE."""
    train_words = [(words(ex.question), ex.question) for ex in training]
    found = []
    for row in rows:
        for text in row.texts():
            w = words(text)
            for tw, question in train_words:
                if w | tw and len(w & tw) / len(w | tw) >= NEAR_DUPLICATE:
                    found.append((row, text, question))
    return found
