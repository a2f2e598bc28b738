"""Versioned classifier artifacts under <data_dir>/models, the active pointer, and `load_classifier`.

Each `household finetune` run writes a folder (v0001, v0002, ...) holding `adapter/`, `config.json`,
`metrics.json` and `predictions.jsonl`. The file `active` names the version in use; it is replaced
atomically, so an interrupted run never leaves the product without a working model.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.dataset import Example
from classifier.prediction import Classifier
from household.errors import HouseholdError
from household.settings import Settings
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    version: str
    path: Path

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def metrics(self) -> dict[str, Any]:
        file = self.path / "metrics.json"
        return json.loads(file.read_text()) if file.exists() else {}

    @property
    def config(self) -> dict[str, Any]:
        file = self.path / "config.json"
        return json.loads(file.read_text()) if file.exists() else {}


class Registry:
    def __init__(self, models_dir: Path) -> None:
        self.dir = Path(models_dir)

    def versions(self) -> list[ModelVersion]:
        if not self.dir.exists():
            return []
        done = [
            p for p in self.dir.iterdir()
            if p.is_dir() and (p / "metrics.json").exists() and not p.name.endswith(".partial")
        ]
        return [ModelVersion(p.name, p) for p in sorted(done)]

    def get(self, version: str) -> ModelVersion:
        path = self.dir / version
        if not (path / "metrics.json").exists():
            known = ", ".join(v.version for v in self.versions()) or "none yet: run `household finetune`"
            raise HouseholdError(f"no model version {version!r} (known: {known})")
        return ModelVersion(version, path)

    def active(self) -> ModelVersion | None:
        pointer = self.dir / "active"
        if not pointer.exists():
            return None
        name = pointer.read_text().strip()
        return ModelVersion(name, self.dir / name) if (self.dir / name / "metrics.json").exists() else None

    def activate(self, version: str) -> ModelVersion:
        chosen = self.get(version)
        tmp = self.dir / f".active.{os.getpid()}"
        tmp.write_text(version + "\n")
        tmp.replace(self.dir / "active")
        return chosen

    def next_version(self) -> str:
        numbers = [int(p.name[1:]) for p in self.dir.glob("v[0-9]*") if p.name[1:].isdigit()] if self.dir.exists() else []
        return f"v{max(numbers, default=0) + 1:04d}"


def training_examples(settings: Settings, taxonomy: Taxonomy) -> list[Example]:
    """What the embedding head learns from: the same training split a fine-tune uses (dataset train
    split + the family's corrections + scope-note phrases), so `auto` picks among what users get."""
    from finetune.data import assemble

    return assemble(settings, taxonomy).split.train


def load_embedding(
    settings: Settings, taxonomy: Taxonomy, examples: list[Example] | None = None, embedder: Any = None
) -> Classifier:
    """The embedding head; pass `embedder` to share one loaded MiniLM with the store."""
    from classifier.embedding import EmbeddingClassifier
    from household.models import load_embedder

    examples = training_examples(settings, taxonomy) if examples is None else examples
    return EmbeddingClassifier.cached(
        embedder or load_embedder(settings.embedding_model), taxonomy, examples, settings.cache_dir,
        settings.embedding_model, settings.max_question_chars,
    )


def load_classifier(settings: Settings, taxonomy: Taxonomy, kind: str | None = None, embedder: Any = None) -> Classifier:
    """The product's classifier: `settings.classifier` (auto picks what won on the validation split)."""
    kind = kind or settings.classifier
    active = Registry(settings.models_dir).active()
    if kind == "auto":
        kind = active.metrics.get("selection", {}).get("winner", "embedding") if active else "embedding"
    if kind == "embedding":
        return load_embedding(settings, taxonomy, embedder=embedder)
    from classifier.llm import LLMClassifier

    if active is None:
        log.warning("no fine-tuned adapter yet (run `household finetune`); using the un-tuned base model")
    config = active.config if active else {}
    llm = LLMClassifier.load(
        settings, taxonomy, active.adapter if active else None,
        config.get("label_mode", "code"), config.get("prompt_style", "full"),
    )
    if kind == "llm":
        return llm
    from classifier.ensemble import EnsembleClassifier

    weight = active.metrics.get("selection", {}).get("ensemble_weight", 1.0) if active else 1.0
    return EnsembleClassifier(llm, load_embedding(settings, taxonomy, embedder=embedder), weight)
