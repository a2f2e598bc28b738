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
from classifier.calibration import Calibration, expected_calibration_error, fit_temperature, nll, softmax
from classifier.dataset import Example
from classifier.registry import ModelVersion, Registry, load_version
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
    llm: Any, embedding: Any, examples: Sequence[Example], chosen_on: str = "validation split",
    weights: Sequence[float] = ENSEMBLE_WEIGHTS,
) -> tuple[Selection, Calibration]:
    """Pick the product's classifier, the ensemble weight and every temperature on `examples`.

    `examples` is the held-out calibration part (classifier/heldout.py): writers the training never
    saw. Each kind's temperature is the maximum-likelihood one there; the weight is the one whose
    calibrated ensemble has the lowest log-loss (a smooth criterion: no weight is picked for one
    question). A costlier kind (llm, then ensemble) wins only by more than one question over a cheaper one.
    """
    from classifier.ensemble import llm_scores

    questions = [ex.question for ex in examples]
    gold = np.array([llm.taxonomy.index(ex.code) for ex in examples])
    with torch.no_grad():
        llm_lp = torch.log_softmax(llm_scores(llm, questions).float(), -1).cpu().numpy()
    emb_lp = embedding.log_probs(questions)

    def accuracy(scores: np.ndarray) -> float:
        return round(float((scores.argmax(1) == gold).mean()), 4)

    fitted = {w: fit_temperature(llm_lp + w * emb_lp, gold) for w in weights}
    losses = {w: nll(llm_lp + w * emb_lp, gold, fitted[w]) for w in weights}
    weight = min(weights, key=lambda w: (round(losses[w], 4), abs(np.log(w))))  # ties: the weight nearest 1
    scores = {"llm": llm_lp, "embedding": emb_lp, "ensemble": llm_lp + weight * emb_lp}
    val_accuracy = {kind: accuracy(table) for kind, table in scores.items()}
    best = max(val_accuracy.values())
    winner = next(kind for kind in CHEAPEST_FIRST if val_accuracy[kind] >= best - 1 / len(gold) - 1e-9)
    selection = Selection(winner, weight, val_accuracy, {str(w): accuracy(llm_lp + w * emb_lp) for w in weights},
                          chosen_on, {str(w): round(loss, 4) for w, loss in losses.items()})
    temperature = {"llm": fit_temperature(llm_lp, gold), "embedding": fit_temperature(emb_lp, gold),
                   "ensemble": fitted[weight]}

    def ece(kind: str, t: float) -> float:
        probs = softmax(scores[kind], t)
        return round(expected_calibration_error(probs.max(1), probs.argmax(1) == gold), 4)

    calibration = Calibration(temperature, chosen_on, len(gold), {kind: ece(kind, 1.0) for kind in scores},
                              {kind: ece(kind, temperature[kind]) for kind in scores})
    return selection, calibration


def calibrate(settings: Settings, taxonomy: Taxonomy, version: ModelVersion) -> VersionInfo:
    """Choose `auto`, the ensemble weight and the temperatures of an existing version again, on the held-out
    calibration part, and rewrite its version.json (a version trained before calibration existed)."""
    from classifier.heldout import calibration_set

    examples, chosen_on = calibration_set(settings, taxonomy)
    llm, head = load_version(settings, taxonomy, version, "llm"), load_version(settings, taxonomy, version, "embedding")
    selection, calibration = select(llm, head, examples, chosen_on)
    info = replace(version.info, selection=selection, calibration=calibration)
    record.write(version.path, info)
    return info


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
    from classifier.heldout import calibration_set
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
            embedding.save(partial / "head.npz")  # raw: a version's temperatures live in its version.json
            selection, calibration = select(llm, embedding, *calibration_set(settings, taxonomy))
            llm.temperature, embedding.temperature = calibration.of("llm"), calibration.of("embedding")
            ensemble = EnsembleClassifier(llm, embedding, selection.ensemble_weight, calibration.of("ensemble"))
            evaluations = {
                "base": before,
                "llm": evaluate(llm, data.split.test, f"LoRA {config.label_mode}s ({version})", latency_sample,
                                progress=progress),
                "embedding": evaluate(embedding, data.split.test, "embedding head", latency_sample, progress=progress),
                "ensemble": evaluate(ensemble, data.split.test, f"ensemble (w={selection.ensemble_weight:g})",
                                     latency_sample, progress=progress),
            }
            info = _info(version, settings, config, data, result, evaluations, selection, calibration)
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
            "selection": asdict(info.selection),
            "calibration": asdict(info.calibration) if info.calibration else None}


def _score(ev: Evaluation) -> Score:
    return Score(ev.name, round(ev.accuracy, 4), sum(r.correct for r in ev.records), len(ev.records), ev.invalid,
                 ev.latency())


def _info(
    version: str, settings: Settings, config: FinetuneConfig, data: TrainingData, result: TrainResult,
    evaluations: dict[str, Evaluation], selection: Selection, calibration: Calibration,
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
        calibration=calibration,
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
