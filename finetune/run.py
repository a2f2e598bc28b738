"""One `household finetune` run: data, LoRA training, measurement, a versioned folder, the promotion gate.

Everything is written into `<models_dir>/<version>.partial/` and renamed to `<version>/` only when
complete, so an interrupted run leaves no half version and never touches the active pointer. The
new version becomes active only if its LoRA model's test accuracy is not lower than the active
version's (`force` overrides): a retrain can never silently make the product worse.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.dataset import Example
from classifier.registry import ModelVersion, Registry, load_embedding
from finetune.data import TrainingData, assemble
from finetune.evaluation import Evaluation, evaluate
from finetune.report import write_report
from finetune.trainer import FinetuneConfig, TrainResult, train
from household.settings import Settings
from household.taxonomy import Taxonomy

log = logging.getLogger(__name__)

ENSEMBLE_WEIGHTS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)
CHEAPEST_FIRST = ("embedding", "llm", "ensemble")  # ties go to the cheaper classifier


@dataclass(frozen=True)
class Outcome:
    version: ModelVersion
    metrics: dict[str, Any]
    activated: bool
    reason: str
    previous: ModelVersion | None
    evaluations: list[Evaluation]


def select(llm: Any, embedding: Any, val: Sequence[Example], weights: Sequence[float] = ENSEMBLE_WEIGHTS) -> dict:
    """Pick the product's classifier and the ensemble weight on the validation split."""
    from classifier.ensemble import llm_scores

    questions = [ex.question for ex in val]
    gold = np.array([llm.taxonomy.index(ex.code) for ex in val])
    with torch.no_grad():
        llm_lp = torch.log_softmax(llm_scores(llm, questions).float(), -1).cpu().numpy()
    emb_lp = embedding.log_probs(questions)

    def accuracy(scores: np.ndarray) -> float:
        return round(float((scores.argmax(1) == gold).mean()), 4)

    grid = {w: accuracy(llm_lp + w * emb_lp) for w in weights}
    weight = max(weights, key=lambda w: (grid[w], -abs(np.log(w))))  # ties: the weight nearest 1
    val_accuracy = {"llm": accuracy(llm_lp), "embedding": accuracy(emb_lp), "ensemble": grid[weight]}
    winner = max(CHEAPEST_FIRST, key=lambda kind: val_accuracy[kind])
    return {
        "winner": winner,
        "val_accuracy": val_accuracy,
        "ensemble_weight": weight,
        "ensemble_grid": {str(w): acc for w, acc in grid.items()},
    }


def _brief(ev: Evaluation) -> dict[str, Any]:
    return {"name": ev.name, "accuracy": round(ev.accuracy, 4), "correct": sum(r.correct for r in ev.records),
            "n": len(ev.records), "invalid": ev.invalid, "latency_ms": ev.latency()}


def finetune(
    settings: Settings,
    taxonomy: Taxonomy,
    config: FinetuneConfig,
    feedback_file: Path | None = None,
    force: bool = False,
    progress: bool = True,
    command: str = "",
    latency_sample: int = 20,
) -> Outcome:
    """Train, measure and store a new version; activate it if it passes the gate."""
    from classifier.ensemble import EnsembleClassifier
    from classifier.llm import LLMClassifier

    data = assemble(settings, taxonomy, feedback_file)
    config = replace(config, base_model=config.base_model or settings.classifier_model)
    registry = Registry(settings.models_dir)
    version = registry.next_version()
    partial = registry.dir / f"{version}.partial"
    if partial.exists():  # left by a run that was killed
        shutil.rmtree(partial)
    try:
        partial.mkdir(parents=True)
        llm = LLMClassifier.load(
            settings.replace(classifier_model=config.base_model), taxonomy, None, config.label_mode, config.prompt_style
        )
        # "Before" gives the un-tuned model its best chance: the full prompt, scope notes included.
        untuned = LLMClassifier(llm.model, llm.tokenizer, taxonomy, config.label_mode, llm.max_chars, llm.batch_size)
        before = evaluate(untuned, data.split.test, f"base {config.label_mode}s", latency_sample, progress=progress)
        result = train(llm, data.split.train, data.split.val, config, progress=progress)
        llm.model.save_pretrained(partial / "adapter")
        llm.tokenizer.save_pretrained(partial / "adapter")
        embedding = load_embedding(settings, taxonomy, data.split.train)
        selection = select(llm, embedding, data.split.val)
        ensemble = EnsembleClassifier(llm, embedding, selection["ensemble_weight"])
        after = evaluate(llm, data.split.test, f"LoRA {config.label_mode}s ({version})", latency_sample, progress=progress)
        evaluations = [
            before,
            after,
            evaluate(embedding, data.split.test, "embedding head", latency_sample, progress=progress),
            evaluate(ensemble, data.split.test, f"ensemble (w={selection['ensemble_weight']:g})", latency_sample,
                     progress=progress),
        ]
        metrics = _metrics(version, config, data, result, evaluations, selection)
        _write_version(partial, config, metrics, evaluations, command)
        _write_json(partial / "metrics.json", metrics)  # last: its presence marks a finished version
        partial.rename(registry.dir / version)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _gate(registry, registry.get(version), metrics, force, evaluations)


def _write_version(
    folder: Path, config: FinetuneConfig, metrics: dict[str, Any], evaluations: list[Evaluation], command: str
) -> None:
    """config.json, predictions.jsonl and the report (metrics.json is written last, by the caller)."""
    _write_json(folder / "config.json", asdict(config))
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for ev in evaluations[1:]:
            for row in ev.predictions():
                fh.write(json.dumps({"classifier": ev.name, **row}) + "\n")
    context = {"version": metrics["version"], "config": asdict(config)}
    context.update({key: metrics[key] for key in ("train", "data", "selection")})
    before, after = evaluations[0].name, evaluations[1].name
    title = f"Fine-tune {metrics['version']}: LoRA with {config.label_mode}s"
    write_report(folder / "report", evaluations, title, context, before, after, command)


def _metrics(
    version: str, config: FinetuneConfig, data: TrainingData, result: TrainResult, evaluations: list[Evaluation],
    selection: dict,
) -> dict[str, Any]:
    base, llm, embedding, ensemble = evaluations
    return {
        "version": version,
        "created": datetime.now().isoformat(timespec="seconds"),
        "label_mode": config.label_mode,
        "base_model": config.base_model,
        "test_accuracy": round(llm.accuracy, 4),
        "test": {"base": _brief(base), "llm": _brief(llm), "embedding": _brief(embedding), "ensemble": _brief(ensemble)},
        "selection": selection,
        "train": asdict(result),
        "data": {
            "train": len(data.split.train), "val": len(data.split.val), "test": len(data.split.test),
            "corrections": len(data.corrections), "relabelled": data.relabelled, "moved_to_train": data.moved,
        },
    }


def _gate(
    registry: Registry, new: ModelVersion, metrics: dict, force: bool, evaluations: list[Evaluation]
) -> Outcome:
    previous = registry.active()
    accuracy = metrics["test_accuracy"]
    old = previous.metrics.get("test_accuracy", 0.0) if previous else None
    if previous is None or force or accuracy >= old:
        registry.activate(new.version)
        if previous is None:
            reason = f"{new.version} is now active (the first trained version)"
        elif accuracy >= old:
            reason = f"{new.version} is now active: test accuracy {accuracy:.1%} >= {previous.version}'s {old:.1%}"
        else:
            reason = f"{new.version} is now active (--force) although its test accuracy {accuracy:.1%} < {previous.version}'s {old:.1%}"
        return Outcome(new, metrics, True, reason, previous, evaluations)
    reason = (
        f"{new.version} was NOT activated: its test accuracy {accuracy:.1%} is below the active {previous.version}'s "
        f"{old:.1%}; keep {previous.version}, or run `household models use {new.version}` (or --force) to switch"
    )
    return Outcome(new, metrics, False, reason, previous, evaluations)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
