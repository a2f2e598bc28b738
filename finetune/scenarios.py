"""The classifiers `household eval` can measure: one by name (`--model`), or the whole comparison.

The comparison replays the seed write-up's four scenarios (base model with names, with codes,
LoRA with names, LoRA with codes) next to the embedding head, the ensemble and the zero-shot
router, so every claim about the fine-tune stands beside its cheaper alternatives. Every trained
classifier is built by `classifier.registry.load_version`, as the product builds it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from classifier.dataset import Example
from classifier.prediction import Classifier
from classifier.registry import KINDS, NAME_RE, ModelVersion, Registry, load_active, load_version
from finetune.evaluation import Evaluation, Skipped, evaluate
from household.errors import HouseholdError
from household.settings import Settings
from household.taxonomy import Taxonomy

MODEL_CHOICES = "auto, llm, embedding, ensemble, base, zero-shot"
BEFORE, AFTER = "before", "after"  # the roles a report's before/after comparison is drawn from


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[], Classifier] | None
    why_not: str = ""  # why it cannot run yet, when build is None
    role: str = ""  # BEFORE (the seed's prompting) or AFTER (LoRA with codes) in the comparison


def latest(registry: Registry, label_mode: str) -> ModelVersion | None:
    trained = [v for v in registry.versions() if v.info.label_mode == label_mode]
    return trained[-1] if trained else None


def build_classifier(settings: Settings, taxonomy: Taxonomy, spec: str) -> Classifier:
    """`auto|llm|embedding|ensemble` as the product loads them, `base`, `zero-shot`, or a version's LLM."""
    if spec in KINDS:
        return load_active(settings, taxonomy, spec)
    if spec == "base":
        llm = load_version(settings, taxonomy, None, "llm")
        llm.name = "base"
        return llm
    if spec == "zero-shot":
        from classifier.embedding import ZeroShotRouter
        from household.models import load_embedder

        return ZeroShotRouter(load_embedder(settings.embedding_model), taxonomy)
    if not NAME_RE.fullmatch(spec):
        raise HouseholdError(f"unknown model {spec!r}: choose a version (see `household models list`) or {MODEL_CHOICES}")
    version = Registry(settings.models_dir).get(spec)
    llm = load_version(settings, taxonomy, version, "llm")
    llm.name = f"LoRA {version.info.label_mode}s ({version.version})"
    return llm


def reported_version(settings: Settings, spec: str, compare: bool = False) -> ModelVersion | None:
    """The version a report describes: the one measured, or the active one (what `auto` chose)."""
    registry = Registry(settings.models_dir)
    if compare or spec in KINDS:
        return registry.active()
    return None if spec in ("base", "zero-shot") else registry.get(spec)


def _generative(settings: Settings, taxonomy: Taxonomy, label_mode: str) -> Classifier:
    from classifier.generative import GenerativeClassifier
    from household.models import load_causal_lm

    model, tokenizer = load_causal_lm(settings.classifier_model, settings.cache_dir)
    return GenerativeClassifier(
        model, tokenizer, taxonomy, label_mode, settings.max_question_chars, settings.batch_size
    )


def comparison(settings: Settings, taxonomy: Taxonomy) -> list[Scenario]:
    """Every scenario, buildable or with the reason it cannot run yet."""
    registry = Registry(settings.models_dir)
    rows = [
        Scenario("base + names, generated (seed)", lambda: _generative(settings, taxonomy, "name"), role=BEFORE),
        Scenario("base + codes, generated (seed)", lambda: _generative(settings, taxonomy, "code")),
        Scenario("base + codes, scored", lambda: build_classifier(settings, taxonomy, "base")),
    ]
    for mode in ("name", "code"):
        version = latest(registry, mode)
        role = AFTER if mode == "code" else ""
        if version is None:
            rows.append(Scenario(f"LoRA {mode}s", None, f"not trained yet: run household finetune --label-mode {mode}"))
        else:
            rows.append(Scenario(f"LoRA {mode}s ({version.version})",
                                 lambda v=version: load_version(settings, taxonomy, v, "llm"), role=role))
    active = registry.active()
    rows.append(Scenario("embedding head", lambda: load_version(settings, taxonomy, active, "embedding")))
    if active is None:
        rows.append(Scenario("ensemble", None, "not trained yet: run household finetune"))
    else:
        rows.append(Scenario(f"ensemble ({active.version})", lambda: load_version(settings, taxonomy, active, "ensemble")))
    rows.append(Scenario("zero-shot router", lambda: build_classifier(settings, taxonomy, "zero-shot")))
    return rows


def compare_all(
    settings: Settings, taxonomy: Taxonomy, examples: Sequence[Example], latency_sample: int = 20, progress: bool = True
) -> list[tuple[Scenario, Evaluation | Skipped]]:
    """Run every scenario on the same questions, one model in memory at a time."""
    results: list[tuple[Scenario, Evaluation | Skipped]] = []
    for scenario in comparison(settings, taxonomy):
        if scenario.build is None:
            results.append((scenario, Skipped(scenario.name, scenario.why_not)))
            continue
        results.append((scenario, evaluate(scenario.build(), examples, scenario.name, latency_sample, progress=progress,
                                           widen_below=settings.min_confidence)))
        gc.collect()
    return results


def before_after(results: Sequence[tuple[Scenario, Evaluation | Skipped]]) -> tuple[str | None, str | None]:
    """The names of the before and after evaluations, when both ran (for the report's comparison)."""
    ran = {scenario.role: result.name for scenario, result in results if isinstance(result, Evaluation)}
    return (ran[BEFORE], ran[AFTER]) if BEFORE in ran and AFTER in ran else (None, None)


@dataclass(frozen=True)
class EvalRun:
    examples: list[Example]
    results: list[Evaluation | Skipped]
    files: dict[str, Path]  # the report's json, markdown and plots


def measured_questions(settings: Settings, taxonomy: Taxonomy, questions: Path | None = None,
                       heldout: str | None = None) -> list[Example]:
    """`questions` (a JSONL file or folder), the `heldout` part (calibration or test) of the held-out set, or by
    default the dataset's test split."""
    from classifier.dataset import load_examples
    from classifier.heldout import examples as heldout_examples
    from classifier.heldout import load_part
    from finetune.data import assemble

    if questions is not None:
        return load_examples(questions, taxonomy, require_group=False)
    if heldout is not None:
        return heldout_examples(load_part(settings, taxonomy, heldout))
    return assemble(settings, taxonomy).split.test


def run_eval(
    settings: Settings, taxonomy: Taxonomy, spec: str = "auto", compare: bool = False, questions: Path | None = None,
    out: Path | None = None, latency_sample: int = 20, command: str = "", progress: bool = True,
    heldout: str | None = None,
) -> EvalRun:
    """`household eval`: measure one classifier (or every scenario) on `measured_questions` and write the report."""
    from finetune.report import write_report
    from finetune.run import report_context

    examples = measured_questions(settings, taxonomy, questions, heldout)
    if compare:
        tagged = compare_all(settings, taxonomy, examples, latency_sample, progress=progress)
        results = [result for _, result in tagged]
        before, after = before_after(tagged)
        title = "Household question classifier: every scenario"
    else:
        results = [evaluate(build_classifier(settings, taxonomy, spec), examples, latency_sample=latency_sample,
                            progress=progress, widen_below=settings.min_confidence)]
        before = after = None
        title = f"Household question classifier: {results[0].name}"
    version = reported_version(settings, spec, compare)
    context = report_context(version.info) if version else None
    folder = out or settings.data_dir / "reports" / datetime.now().strftime("%Y%m%d-%H%M%S")
    files = write_report(folder, results, title, context, before, after, command)
    return EvalRun(examples, results, files)
