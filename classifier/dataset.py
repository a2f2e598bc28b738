"""The labelled question dataset: JSONL rows of {question, category, group_id}, validated and split.

A row may also name a `second_category` (the held-out set's two-topic questions); other fields are ignored.

Categories are given by taxonomy name (or code); the code is looked up, so renaming a code
never touches the data. Paraphrase groups keep a family of rewordings on one side of a split.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from household.errors import DataError
from household.jsonl import objects
from household.settings import Settings
from household.taxonomy import Taxonomy

SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_SEED = 20240611


@dataclass(frozen=True)
class Example:
    question: str
    code: str
    group_id: str
    source: str = ""
    line: int = 0
    second_code: str | None = None  # a two-topic question's other category (held-out questions only)


@dataclass(frozen=True)
class Split:
    train: list[Example]
    val: list[Example]
    test: list[Example]

    def __getitem__(self, name: str) -> list[Example]:
        return getattr(self, name)


def normalize(question: str) -> str:
    """The form used to detect duplicates: case-folded, whitespace collapsed."""
    return re.sub(r"\s+", " ", question).strip().casefold()


def dataset_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob("*.jsonl"))
    return [path]


def read_rows(
    paths: Iterable[Path], taxonomy: Taxonomy, require_group: bool = True
) -> tuple[list[Example], list[DataError]]:
    """Parse every row, returning the good examples and every problem (file and line) found."""
    examples: list[Example] = []
    problems: list[DataError] = []
    seen: dict[str, tuple[str, int]] = {}
    group_code: dict[str, tuple[str, str, int]] = {}
    for path in paths:
        for lineno, row in objects(path, problems):
            question, category = row.get("question"), row.get("category")
            if not isinstance(question, str) or not question.strip():
                problems.append(DataError(path, lineno, "empty or missing question"))
                continue
            found = taxonomy.find(category) if isinstance(category, str) else None
            if found is None:
                problems.append(DataError(path, lineno, f"unknown category {category!r}"))
                continue
            group = row.get("group_id")
            if group is None and not require_group:
                group = f"{Path(path).stem}:{lineno}"
            if not isinstance(group, str) or not group.strip():
                problems.append(DataError(path, lineno, "missing group_id"))
                continue
            key = normalize(question)
            if key in seen:
                first = seen[key]
                problems.append(DataError(path, lineno, f"duplicate question (first at {first[0]}:{first[1]})"))
                continue
            seen[key] = (str(path), lineno)
            if group in group_code and group_code[group][0] != found.code:
                _, gpath, gline = group_code[group]
                problems.append(
                    DataError(path, lineno, f"group {group!r} spans categories (also {gpath}:{gline})")
                )
                continue
            second = row.get("second_category")
            second_found = taxonomy.find(second) if isinstance(second, str) else None
            if second is not None and second_found is None:
                problems.append(DataError(path, lineno, f"unknown second_category {second!r}"))
                continue
            group_code.setdefault(group, (found.code, str(path), lineno))
            examples.append(Example(question.strip(), found.code, group, str(path), lineno,
                                    second_found.code if second_found else None))
    return examples, problems


def load_examples(path: Path, taxonomy: Taxonomy, require_group: bool = True) -> list[Example]:
    """Load a JSONL file or a folder of them; raise the first problem found."""
    files = dataset_files(path)
    if not files:
        raise DataError(path, None, "no .jsonl files found")
    examples, problems = read_rows(files, taxonomy, require_group)
    if problems:
        raise problems[0]
    return examples


def split(examples: list[Example], seed: int = SPLIT_SEED) -> Split:
    """Grouped, stratified 70/15/15: each category's groups are dealt to the neediest split."""
    by_code: dict[str, dict[str, list[Example]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        by_code[ex.code][ex.group_id].append(ex)
    rng = random.Random(seed)
    parts: dict[str, list[Example]] = {name: [] for name in SPLIT_FRACTIONS}
    for code in sorted(by_code):
        groups = [by_code[code][g] for g in sorted(by_code[code])]
        rng.shuffle(groups)
        total = sum(len(g) for g in groups)
        filled = dict.fromkeys(SPLIT_FRACTIONS, 0)
        for group in groups:
            name = max(SPLIT_FRACTIONS, key=lambda s: SPLIT_FRACTIONS[s] * total - filled[s])
            parts[name].extend(group)
            filled[name] += len(group)
    return Split(**parts)


def extra_examples(settings: Settings, taxonomy: Taxonomy) -> list[Example]:
    """Labelled questions for training only (settings.extra_questions_dir; absent: none).

    They never enter the split, so adding some leaves the validation and test questions as they
    were; one that repeats a dataset or corrected question is left out (`assemble`).
    """
    folder = settings.extra_questions_dir
    return load_examples(folder, taxonomy) if folder.is_dir() and any(folder.glob("*.jsonl")) else []


def scope_examples(taxonomy: Taxonomy) -> list[Example]:
    """Short training examples cut from each category's scope note ("pool pump", "anode rod", ...).

    The labelled questions cannot mention every thing a category covers; the scope notes in
    categories.toml list them, so the model also learns the taxonomy's own vocabulary.
    """
    examples = []
    for category in taxonomy:
        phrases = [category.name] + [p.strip(" .") for p in category.scope.replace(":", ",").split(",")]
        for phrase in dict.fromkeys(p for p in phrases if p):
            examples.append(Example(phrase, category.code, f"scope:{category.code}", "categories.toml"))
    return examples


def default_training_examples(settings: Settings, taxonomy: Taxonomy) -> list[Example]:
    """What the default embedding head learns before any fine-tune: the dataset's training split,
    the extra questions and the scope-note phrases (a fine-tune adds the family's corrections)."""
    return split(load_examples(settings.questions_dir, taxonomy)).train + extra_examples(settings, taxonomy) + \
        scope_examples(taxonomy)
