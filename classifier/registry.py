"""Trained classifier versions under <data_dir>/models, the active pointer, and `load_version`.

Each `household finetune` run writes a folder (v0001, v0002, ...; see classifier/version.py for
what it holds). The file `active` names the version in use; it is replaced atomically, so an
interrupted run never leaves the product without a working model. `load_version` is the one way
to turn a version (or none yet) into a classifier: the product, `eval`, `export` and the bench
all use it, so they all load what the version recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier import version as record
from classifier.prediction import Classifier
from classifier.version import VersionInfo
from household.errors import HouseholdError, ModelNotFoundError, ServiceError
from household.settings import Settings
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"v\d{4,}")
KINDS = ("auto", "llm", "embedding", "ensemble")


@dataclass(frozen=True)
class ModelVersion:
    path: Path
    info: VersionInfo

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def head(self) -> Path:
        """The embedding head trained on this version's training split."""
        return self.path / "head.npz"

    def check(self) -> None:
        """Refuse, in one line, a version whose files are gone (a half-deleted or hand-edited folder)."""
        missing = [p.name for p in (self.adapter / "adapter_config.json", self.head) if not p.exists()]
        if missing:
            raise ModelNotFoundError(
                f"model version {self.version} is broken ({', '.join(missing)} missing in {self.path}): "
                "switch to a good one with `household models use vNNNN` (see `household models list`) or retrain"
            )


class Registry:
    def __init__(self, models_dir: Path) -> None:
        self.dir = Path(models_dir)

    def versions(self) -> list[ModelVersion]:
        """Finished versions, oldest first; an unreadable folder is left out with a warning."""
        found = []
        for path in sorted(self.dir.glob("v[0-9]*")) if self.dir.exists() else []:
            if not (path.is_dir() and NAME_RE.fullmatch(path.name) and (path / record.FILE).exists()):
                continue
            try:
                found.append(ModelVersion(path, record.read(path)))
            except ModelNotFoundError as exc:
                log.warning("%s", exc)
        return found

    def get(self, name: str) -> ModelVersion:
        """A version of this registry by name (v0003); anything else, a path included, is refused."""
        path = self.dir / name
        if not NAME_RE.fullmatch(name) or not (path / record.FILE).exists():
            known = ", ".join(v.version for v in self.versions()) or "none yet: run `household finetune`"
            raise HouseholdError(f"no model version {name!r} in {self.dir} (known: {known})")
        return ModelVersion(path, record.read(path))

    def active(self) -> ModelVersion | None:
        """The version in use, or None before the first fine-tune; a broken one raises with how to fix it."""
        pointer = self.dir / "active"
        if not pointer.exists():
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        try:
            chosen = self.get(name)
        except HouseholdError:
            raise ModelNotFoundError(
                f"the active model version {name!r} is gone from {self.dir}: "
                "run `household models use vNNNN` with one of `household models list`"
            ) from None
        chosen.check()
        return chosen

    def activate(self, name: str) -> ModelVersion:
        chosen = self.get(name)
        chosen.check()
        tmp = self.dir / f".active.{os.getpid()}"
        tmp.write_text(name + "\n", encoding="utf-8")
        tmp.replace(self.dir / "active")
        return chosen

    @contextmanager
    def reserve(self) -> Iterator[str]:
        """The next version name, held under the registry's lock for a whole training run.

        A second `household finetune` on the same data dir is refused at once instead of racing for
        the same number (and deleting the other's work in progress).
        """
        from filelock import FileLock, Timeout

        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(self.dir / ".finetune.lock", timeout=0):
                numbers = [int(p.name[1:]) for p in self.dir.glob("v[0-9]*") if NAME_RE.fullmatch(p.name)]
                yield f"v{max(numbers, default=0) + 1:04d}"
        except Timeout:
            raise ServiceError(f"another `household finetune` is running on {self.dir}; wait for it to finish") from None


def load_version(
    settings: Settings, taxonomy: Taxonomy, version: ModelVersion | None = None, kind: str = "auto",
    embedder: Any = None,
) -> Classifier:
    """The classifier of `version` (None: the un-tuned base model and the default head).

    `kind` is auto (what won on the version's held-out calibration part), llm, embedding or ensemble. The
    LLM is always the version's own base model plus its adapter, whatever the current profile names;
    every part gets its temperature from the version's calibration (the default head from its .npz).
    Pass `embedder` to share one loaded MiniLM with the store.
    """
    if kind not in KINDS:
        raise HouseholdError(f"unknown classifier {kind!r}: choose one of {', '.join(KINDS)}")
    if version is not None:
        version.check()
    if kind == "auto":
        kind = version.info.selection.winner if version else "embedding"
    calibration = version.info.calibration if version else None
    if kind == "embedding":
        return _head(settings, taxonomy, version, embedder)
    llm = _llm(settings, taxonomy, version)
    if kind == "llm":
        return llm
    from classifier.ensemble import EnsembleClassifier

    weight = version.info.selection.ensemble_weight if version else 1.0
    temperature = calibration.of("ensemble") if calibration else 1.0
    return EnsembleClassifier(llm, _head(settings, taxonomy, version, embedder), weight, temperature)


def load_active(settings: Settings, taxonomy: Taxonomy, kind: str | None = None, embedder: Any = None) -> Classifier:
    """The product's classifier: the active version (if any) as `kind`, default `settings.classifier`."""
    active = Registry(settings.models_dir).active()
    return load_version(settings, taxonomy, active, kind or settings.classifier, embedder)


def _llm(settings: Settings, taxonomy: Taxonomy, version: ModelVersion | None) -> Classifier:
    from classifier.llm import LLMClassifier

    if version is None:
        log.warning("no fine-tuned adapter yet (run `household finetune`); using the un-tuned base model")
        llm = LLMClassifier.load(settings.classifier_model, settings, taxonomy)
        llm.version = "base"
        return llm
    info = version.info
    try:
        llm = LLMClassifier.load(info.base_model, settings, taxonomy, version.adapter, info.label_mode, info.prompt_style)
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(f"model version {version.version} was trained on {info.base_model}: {exc}") from None
    llm.version = version.version
    llm.temperature = info.calibration.of("llm") if info.calibration else 1.0
    return llm


def _head(settings: Settings, taxonomy: Taxonomy, version: ModelVersion | None, embedder: Any) -> Classifier:
    """The version's own head, or before any version the default head (trained once, then cached)."""
    from classifier.embedding import EmbeddingClassifier
    from household.models import load_embedder

    if version is not None and version.info.embedding_model != settings.embedding_model:
        log.warning("version %s's head was trained on %s, not %s: loading its embedder",
                    version.version, version.info.embedding_model, settings.embedding_model)
        embedder = None
    model_id = version.info.embedding_model if version else settings.embedding_model
    embedder = embedder or load_embedder(model_id)
    if version is not None:
        head = EmbeddingClassifier.load(version.head, embedder, taxonomy, settings.max_question_chars)
        head.version = version.version
        head.temperature = version.info.calibration.of("embedding") if version.info.calibration else 1.0
        return head
    path = default_head_path(settings, taxonomy)
    if path.exists():
        head = EmbeddingClassifier.load(path, embedder, taxonomy, settings.max_question_chars)
    else:
        from classifier.calibration import fit_temperature
        from classifier.dataset import default_training_examples
        from classifier.heldout import calibration_set

        log.info("training the default embedding head from %s (once)", settings.questions_dir)
        head = EmbeddingClassifier.train(embedder, taxonomy, default_training_examples(settings, taxonomy),
                                         max_chars=settings.max_question_chars)
        held, _ = calibration_set(settings, taxonomy)
        head.temperature = fit_temperature(head.log_probs([ex.question for ex in held]),
                                           np.array([taxonomy.index(ex.code) for ex in held]))
        head.save(path)
    head.version = "default"
    return head


def default_head_path(settings: Settings, taxonomy: Taxonomy) -> Path:
    """Where the default head is cached: keyed by the embedder, the taxonomy, the dataset files' and the held-out
    calibration files' sizes and times, so editing either refits it while loading never has to read them."""
    files = [settings.taxonomy_file]
    for folder in (settings.questions_dir, settings.extra_questions_dir, settings.heldout_dir):
        files += sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = hashlib.sha256(json.dumps([settings.embedding_model, taxonomy.codes, stamp, settings.calibration_writers])
                         .encode()).hexdigest()[:16]
    return settings.cache_dir / "heads" / f"default-{key}.npz"
