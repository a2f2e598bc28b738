"""Which category code a chunk gets: the user's word first, the classifier's guess last.

Precedence: `--category NAME`, then the nearest folder named after a category (`garden-lights/`,
`garden_lights/`), then a front-matter / `category:` field in the document, then a record's own
field (a CSV `category` column, an event's CATEGORIES), and only then the classifier, per chunk,
with its confidence stored. The classifier is loaded on first need, so a corpus whose files are all
labelled never loads a model. A classified chunk also carries every other category that scores at
least `also_category_score` (the panel map's pool-pump line is electric and pool); an explicit label
is the user's word and stands alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.prediction import Classifier
from household.errors import InputError
from household.settings import Settings
from household.taxonomy import Taxonomy
from ingest.document import Document, Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assignment:
    code: str
    confidence: float
    origin: str  # flag | folder | front-matter | record | classifier
    also: tuple[str, ...] = ()  # further categories the text is about (classifier only)


class CategoryAssigner:
    def __init__(
        self, settings: Settings, taxonomy: Taxonomy, forced: str | None = None, classifier: Classifier | None = None
    ) -> None:
        self.settings, self.taxonomy = settings, taxonomy
        self.forced = None
        if forced:
            category = taxonomy.find(forced)
            if category is None:
                raise InputError(f"unknown category {forced!r}; choose one of: {', '.join(taxonomy.names)}")
            self.forced = Assignment(category.code, 1.0, "flag")
        self._classifier = classifier
        self._unknown: set[tuple[str, str]] = set()

    def before_reading(self, path: Path, root: Path) -> Assignment | None:
        """The flag, else the nearest category-named folder between `root` (inclusive) and the file."""
        if self.forced:
            return self.forced
        base = root if root.is_dir() else root.parent
        try:
            folders = [base.resolve().name, *path.parent.relative_to(base).parts]
        except ValueError:
            folders = [path.parent.name]
        names = {c.name.lower(): c for c in self.taxonomy}
        for folder in reversed(folders):
            category = names.get(folder.lower().replace("-", " ").replace("_", " "))
            if category is not None:  # names only: a folder called "oo" or "ec" is not a category code
                return Assignment(category.code, 1.0, "folder")
        return None

    def from_document(self, document: Document) -> Assignment | None:
        """A `category:` field (front matter, leading line, X-Category header, meta tag), if it names one."""
        return self._named(document.category, document.source, "front-matter")

    def from_record(self, record: Record, source: str) -> Assignment | None:
        """A row's `category` column or an event's CATEGORIES, if one of its values names a category."""
        return self._named(record.category, source, "record")

    def _named(self, raw: str, source: str, origin: str) -> Assignment | None:
        """The first comma-separated value that is a category name or code; unknown values are logged once."""
        values = [value.strip() for value in raw.split(",") if value.strip()]
        for value in values:
            category = self.taxonomy.find(value)
            if category is not None:
                return Assignment(category.code, 1.0, origin)
        if values and (source, raw) not in self._unknown:
            self._unknown.add((source, raw))
            log.warning("%s: category %r is not in the taxonomy; the classifier decides", source, raw)
        return None

    def classify(self, texts: Sequence[str]) -> list[Assignment]:
        """Per-chunk guesses; texts are cut to the classifier's input limit (the opening carries the topic).

        Nothing to classify loads nothing: a file whose records all carry a category never loads a model.
        """
        if not texts:
            return []
        limit = self.settings.max_question_chars
        predictions = self._loaded_classifier().classify_many([text[:limit] for text in texts])
        floor = self.settings.also_category_score
        return [
            Assignment(p.code, float(p.confidence), "classifier", tuple(c for c, s in p.ranking[1:] if s >= floor))
            for p in predictions
        ]

    def _loaded_classifier(self) -> Classifier:
        if self._classifier is None:
            from classifier.registry import load_active

            log.info("loading the classifier for documents without an explicit category")
            self._classifier = load_active(self.settings, self.taxonomy)
        return self._classifier
