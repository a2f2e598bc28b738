"""One `household finetune` run: data, LoRA training, measurement, a versioned folder, the promotion gate.

Everything is written into `<models_dir>/<version>.partial/` and renamed to `<version>/` only when
complete, so an interrupted run leaves no half version and never touches the active pointer. The
new version becomes active only if its LoRA model's test accuracy is not lower than the active
version's (`force` overrides): a retrain can never silently make the product worse.
"""

from __future__ import annotations

import hashlib
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

from classifier import version as record
from classifier.dataset import Example
from classifier.registry import ModelVersion, Registry
from classifier.version import DataSummary, Lora, Score, Selection, Training, VersionInfo
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
    activated: bool
    reason: str
    previous: ModelVersion | None
    evaluations: dict[str, Evaluation]  # by role: base (before), llm (after), embedding, ensemble


def select(
    llm: Any, embedding: Any, val: Sequence[Example], weights: Sequence[float] = ENSEMBLE_WEIGHTS
) -> Selection:
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
    return Selection(winner, weight, val_accuracy, {str(w): acc for w, acc in grid.items()})


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
    from classifier.embedding import EmbeddingClassifier
    from classifier.ensemble import EnsembleClassifier
    from classifier.llm import LLMClassifier
    from household.models import load_embedder

    data = assemble(settings, taxonomy, feedback_file)
    config = replace(config, base_model=config.base_model or settings.classifier_model)
    registry = Registry(settings.models_dir)
    with registry.reserve() as version:
        partial = registry.dir / f"{version}.partial"
        if partial.exists():  # left by a run that was killed (the lock says none is running)
            shutil.rmtree(partial)
        try:
            partial.mkdir(parents=True)
            llm = LLMClassifier.load(config.base_model, settings, taxonomy, None, config.label_mode, config.prompt_style)
            # "Before" gives the un-tuned model its best chance: the full prompt, scope notes included.
            untuned = LLMClassifier(llm.model, llm.tokenizer, taxonomy, config.label_mode, llm.max_chars, llm.batch_size)
            before = evaluate(untuned, data.split.test, f"base {config.label_mode}s", latency_sample, progress=progress)
            result = train(llm, data.split.train, data.split.val, config, progress=progress)
            llm.version = version
            llm.model.save_pretrained(partial / "adapter")
            llm.tokenizer.save_pretrained(partial / "adapter")
            embedding = EmbeddingClassifier.train(load_embedder(settings.embedding_model), taxonomy, data.split.train,
                                                  max_chars=settings.max_question_chars)
            embedding.version = version
            embedding.save(partial / "head.npz")
            selection = select(llm, embedding, data.split.val)
            ensemble = EnsembleClassifier(llm, embedding, selection.ensemble_weight)
            evaluations = {
                "base": before,
                "llm": evaluate(llm, data.split.test, f"LoRA {config.label_mode}s ({version})", latency_sample,
                                progress=progress),
                "embedding": evaluate(embedding, data.split.test, "embedding head", latency_sample, progress=progress),
                "ensemble": evaluate(ensemble, data.split.test, f"ensemble (w={selection.ensemble_weight:g})",
                                     latency_sample, progress=progress),
            }
            info = _info(version, settings, config, data, result, evaluations, selection)
            _write_outputs(partial, info, evaluations, command)
            record.write(partial, info)  # last: its presence marks a finished version
            partial.rename(registry.dir / version)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return _gate(registry, registry.get(version), force, evaluations)


def _write_outputs(folder: Path, info: VersionInfo, evaluations: dict[str, Evaluation], command: str) -> None:
    """predictions.jsonl and the report (version.json is written last, by the caller)."""
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for role in ("llm", "embedding", "ensemble"):
            for row in evaluations[role].predictions():
                fh.write(json.dumps({"classifier": evaluations[role].name, **row}) + "\n")
    title = f"Fine-tune {info.version}: LoRA with {info.label_mode}s"
    write_report(folder / "report", list(evaluations.values()), title, report_context(info),
                 evaluations["base"].name, evaluations["llm"].name, command)


def report_context(info: VersionInfo) -> dict[str, Any]:
    """What a report shows of a trained version: its run's config, training history, data and selection."""
    return {"version": info.version, "config": info.config, "train": asdict(info.training), "data": asdict(info.data),
            "selection": asdict(info.selection)}


def _score(ev: Evaluation) -> Score:
    return Score(ev.name, round(ev.accuracy, 4), sum(r.correct for r in ev.records), len(ev.records), ev.invalid,
                 ev.latency())


def _info(
    version: str, settings: Settings, config: FinetuneConfig, data: TrainingData, result: TrainResult,
    evaluations: dict[str, Evaluation], selection: Selection,
) -> VersionInfo:
    fingerprint = hashlib.sha256(json.dumps([(ex.question, ex.code) for ex in data.split.train]).encode()).hexdigest()
    return VersionInfo(
        version=version,
        created=datetime.now().isoformat(timespec="seconds"),
        base_model=config.base_model,
        embedding_model=settings.embedding_model,
        label_mode=config.label_mode,
        prompt_style=config.prompt_style,
        objective=config.objective,
        lora=Lora(config.rank, config.alpha, config.dropout, tuple(config.target_modules), config.top_layers),
        selection=selection,
        test={role: _score(ev) for role, ev in evaluations.items()},
        data=DataSummary(
            len(data.split.train), len(data.split.val), len(data.split.test), len(data.corrections), data.relabelled,
            data.moved, fingerprint[:16],
        ),
        training=Training(**asdict(result)),
        config=asdict(config),
    )


def _gate(registry: Registry, new: ModelVersion, force: bool, evaluations: dict[str, Evaluation]) -> Outcome:
    previous = registry.active()
    accuracy = new.info.test_accuracy
    old = previous.info.test_accuracy if previous else None
    if previous is None or force or accuracy >= old:
        registry.activate(new.version)
        if previous is None:
            reason = f"{new.version} is now active (the first trained version)"
        elif accuracy >= old:
            reason = f"{new.version} is now active: test accuracy {accuracy:.1%} >= {previous.version}'s {old:.1%}"
        else:
            reason = f"{new.version} is now active (--force) although its test accuracy {accuracy:.1%} < {previous.version}'s {old:.1%}"
        return Outcome(new, True, reason, previous, evaluations)
    reason = (
        f"{new.version} was NOT activated: its test accuracy {accuracy:.1%} is below the active {previous.version}'s "
        f"{old:.1%}; keep {previous.version}, or run `household models use {new.version}` (or --force) to switch"
    )
    return Outcome(new, False, reason, previous, evaluations)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
