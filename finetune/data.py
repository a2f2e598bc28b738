"""Training data: the labelled dataset plus the users' corrections.

A correction is the household telling us the right category of a question it asked. It beats
the dataset's label for the same question (compared after `normalize`), and it always goes to
the training split: the split of the dataset itself is computed first, so the validation and
test questions stay the same run after run, minus any question a correction claims.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from classifier.dataset import Example, Split, extra_examples, load_examples, normalize, scope_examples, split
from household.errors import DataError
from household.jsonl import objects
from household.settings import Settings
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    question: str
    code: str
    source: str
    line: int = 0


@dataclass(frozen=True)
class TrainingData:
    split: Split
    corrections: list[Correction]  # deduplicated, the last word on each question
    relabelled: int  # dataset questions whose label a correction changed
    moved: int  # corrected questions taken out of the validation or test split


def read_feedback_file(path: Path, taxonomy: Taxonomy) -> list[Correction]:
    """JSONL rows of {"question", "category"} (category by name or code); a bad row is a DataError."""
    corrections = []
    for lineno, row in objects(path):
        question, category = row.get("question"), row.get("category")
        if not isinstance(question, str) or not question.strip():
            raise DataError(path, lineno, "empty or missing question")
        found = taxonomy.find(category) if isinstance(category, str) else None
        if found is None:
            raise DataError(path, lineno, f"unknown category {category!r} (see `household categories`)")
        corrections.append(Correction(" ".join(question.split()), found.code, str(path), lineno))
    return corrections


def stored_corrections(settings: Settings, taxonomy: Taxonomy) -> list[Correction]:
    """Corrections users made in the chat, oldest first; none when nobody has given feedback yet."""
    if not settings.feedback_db.exists():
        return []
    from storage.feedback import FeedbackStore

    corrections = []
    for question, code in FeedbackStore(settings.feedback_db).corrections():
        if code not in taxonomy.codes:
            log.warning("skipping feedback for %r: category code %s is no longer in the taxonomy", question, code)
            continue
        corrections.append(Correction(" ".join(question.split()), code, str(settings.feedback_db)))
    return corrections


def merge(examples: list[Example], corrections: list[Correction]) -> TrainingData:
    """Split the dataset, then let the corrections (later ones win) replace its labels, in train."""
    latest = {normalize(c.question): c for c in corrections}
    parts = split(examples)
    labels = {normalize(ex.question): ex.code for ex in examples}
    relabelled = sum(key in labels and labels[key] != c.code for key, c in latest.items())
    moved = sum(normalize(ex.question) in latest for ex in parts.val + parts.test)
    keep = {name: [ex for ex in parts[name] if normalize(ex.question) not in latest] for name in ("train", "val", "test")}
    added = [
        Example(c.question, c.code, f"feedback:{normalize(c.question)}", c.source, c.line) for c in latest.values()
    ]
    return TrainingData(Split(keep["train"] + added, keep["val"], keep["test"]), list(latest.values()), relabelled, moved)


def assemble(settings: Settings, taxonomy: Taxonomy, feedback_file: Path | None = None) -> TrainingData:
    """Dataset + stored feedback + an optional corrections file (which, given explicitly, wins),
    plus, in the training split only, the extra questions and the scope-note phrases."""
    examples = load_examples(settings.questions_dir, taxonomy)
    corrections = stored_corrections(settings, taxonomy)
    if feedback_file is not None:
        corrections += read_feedback_file(feedback_file, taxonomy)
    data = merge(examples, corrections)
    parts = data.split
    taken = {normalize(ex.question) for ex in parts.train + parts.val + parts.test}
    extra = [ex for ex in extra_examples(settings, taxonomy) if normalize(ex.question) not in taken]
    return replace(data, split=Split(parts.train + extra + scope_examples(taxonomy), parts.val, parts.test))
