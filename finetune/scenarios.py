"""The classifiers `household eval` can measure: one by name (`--model`), or the whole comparison.

The comparison replays the seed write-up's four scenarios (base model with names, with codes,
LoRA with names, LoRA with codes) next to the embedding head, the ensemble and the zero-shot
router, so every claim about the fine-tune stands beside its cheaper alternatives.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Sequence
from typing import Any

from classifier.dataset import Example
from classifier.prediction import Classifier
from classifier.registry import ModelVersion, Registry, load_classifier, load_embedding
from finetune.evaluation import Evaluation, Skipped, evaluate
from household.errors import HouseholdError
from household.settings import Settings
from household.taxonomy import Taxonomy

KINDS = ("auto", "llm", "embedding", "ensemble")
MODEL_CHOICES = "auto, llm, embedding, ensemble, base, zero-shot"


def version_settings(settings: Settings, version: ModelVersion) -> Settings:
    """The settings an adapter was trained under: its own base model, whatever the profile says now."""
    base = version.config.get("base_model")
    return settings.replace(classifier_model=base) if base else settings


def load_version(settings: Settings, taxonomy: Taxonomy, version: ModelVersion):
    """The scoring LLMClassifier of one trained version (base model + its LoRA adapter)."""
    from classifier.llm import LLMClassifier

    config = version.config
    return LLMClassifier.load(
        version_settings(settings, version), taxonomy, version.adapter,
        config.get("label_mode", "code"), config.get("prompt_style", "full"),
    )


def latest(registry: Registry, label_mode: str) -> ModelVersion | None:
    trained = [v for v in registry.versions() if v.config.get("label_mode", "code") == label_mode]
    return trained[-1] if trained else None


def build_classifier(settings: Settings, taxonomy: Taxonomy, spec: str) -> Classifier:
    """`auto|llm|embedding|ensemble` as the product loads them, `base`, `zero-shot`, or a version."""
    if spec in KINDS:
        return load_classifier(settings, taxonomy, spec)
    if spec == "base":
        from classifier.llm import LLMClassifier

        llm = LLMClassifier.load(settings, taxonomy)
        llm.name = "base"
        return llm
    if spec == "zero-shot":
        from classifier.embedding import ZeroShotRouter
        from household.models import load_embedder

        return ZeroShotRouter(load_embedder(settings.embedding_model), taxonomy)
    if not re.fullmatch(r"v\d+", spec):
        raise HouseholdError(f"unknown model {spec!r}: choose a version (see `household models list`) or {MODEL_CHOICES}")
    version = Registry(settings.models_dir).get(spec)
    llm = load_version(settings, taxonomy, version)
    llm.name = f"LoRA {version.config.get('label_mode', 'code')}s ({version.version})"
    return llm


def reported_version(settings: Settings, spec: str, compare: bool = False) -> ModelVersion | None:
    """The version a report describes: the one measured, or the active one (what `auto` chose)."""
    registry = Registry(settings.models_dir)
    if compare or spec in KINDS:
        return registry.active()
    return None if spec in ("base", "zero-shot") else registry.get(spec)


def report_context(version: ModelVersion | None) -> dict[str, Any] | None:
    """What a report shows of a trained version: its LoRA config, training history and selection."""
    if version is None:
        return None
    metrics = version.metrics
    return {"version": version.version, "config": version.config,
            **{key: metrics[key] for key in ("train", "data", "selection") if key in metrics}}


def _generative(settings: Settings, taxonomy: Taxonomy, label_mode: str) -> Classifier:
    from classifier.generative import GenerativeClassifier
    from household.models import load_causal_lm

    model, tokenizer = load_causal_lm(settings.classifier_model, settings.cache_dir)
    return GenerativeClassifier(
        model, tokenizer, taxonomy, label_mode, settings.max_question_chars, settings.batch_size
    )


def _ensemble(settings: Settings, taxonomy: Taxonomy, version: ModelVersion) -> Classifier:
    from classifier.ensemble import EnsembleClassifier

    weight = version.metrics.get("selection", {}).get("ensemble_weight", 1.0)
    return EnsembleClassifier(load_version(settings, taxonomy, version), load_embedding(settings, taxonomy), weight)


def comparison(settings: Settings, taxonomy: Taxonomy) -> list[tuple[str, Callable[[], Classifier] | str]]:
    """(name, how to build it) for every scenario, or (name, why it cannot run yet)."""
    registry = Registry(settings.models_dir)
    rows: list[tuple[str, Callable[[], Classifier] | str]] = [
        ("base + names, generated (seed)", lambda: _generative(settings, taxonomy, "name")),
        ("base + codes, generated (seed)", lambda: _generative(settings, taxonomy, "code")),
        ("base + codes, scored", lambda: build_classifier(settings, taxonomy, "base")),
    ]
    for mode in ("name", "code"):
        version = latest(registry, mode)
        name = f"LoRA {mode}s" + (f" ({version.version})" if version else "")
        rows.append(
            (name, (lambda v=version: load_version(settings, taxonomy, v)) if version else
             f"not trained yet: run household finetune --label-mode {mode}")
        )
    active = registry.active()
    rows.append(("embedding head", lambda: load_embedding(settings, taxonomy)))
    rows.append(
        ("ensemble" + (f" ({active.version})" if active else ""),
         (lambda: _ensemble(settings, taxonomy, active)) if active else "not trained yet: run household finetune")
    )
    rows.append(("zero-shot router", lambda: build_classifier(settings, taxonomy, "zero-shot")))
    return rows


def compare(
    settings: Settings, taxonomy: Taxonomy, examples: Sequence[Example], latency_sample: int = 20, progress: bool = True
) -> list[Evaluation | Skipped]:
    """Run every scenario on the same questions, one model in memory at a time."""
    results: list[Evaluation | Skipped] = []
    for name, build in comparison(settings, taxonomy):
        if isinstance(build, str):
            results.append(Skipped(name, build))
            continue
        results.append(evaluate(build(), examples, name, latency_sample, progress=progress))
        gc.collect()
    return results
