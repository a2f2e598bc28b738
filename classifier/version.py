"""The record of one trained classifier version (`version.json`): the one definition, reader and writer.

A version folder (<data_dir>/models/v0003/) holds `adapter/` (LoRA weights), `head.npz` (the
embedding head trained on the same split), `predictions.jsonl`, `report/` and `version.json`.
`version.json` says everything needed to rebuild the classifier (its base model, label mode,
prompt style, LoRA shape, which classifier `auto` picked and the ensemble weight) and what it
scored, and the calibration (the temperature of each classifier's log-scores, fitted on the
held-out calibration part); it is written last, so its presence marks a finished version.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from classifier.calibration import Calibration
from household.errors import ModelNotFoundError

FILE = "version.json"
ROLES = ("base", "llm", "embedding", "ensemble")  # what the test scores of a version are keyed by


@dataclass(frozen=True)
class Lora:
    rank: int
    alpha: int
    dropout: float
    target_modules: tuple[str, ...]
    top_layers: int | None


@dataclass(frozen=True)
class Score:
    """One classifier's result on the test split."""

    name: str
    accuracy: float
    correct: int
    n: int
    invalid: int
    latency_ms: dict[str, float]


@dataclass(frozen=True)
class Selection:
    """What `auto` loads and the ensemble weight, chosen on `chosen_on` (the held-out calibration part)."""

    winner: str  # embedding | llm | ensemble
    ensemble_weight: float
    val_accuracy: dict[str, float]  # accuracy of each kind on `chosen_on`
    ensemble_grid: dict[str, float]  # accuracy of each weight on `chosen_on`
    chosen_on: str = "validation split"  # versions before calibration chose on the dataset's validation split
    ensemble_nll: dict[str, float] = field(default_factory=dict)  # calibrated log-loss of each weight (what picks it)


@dataclass(frozen=True)
class DataSummary:
    train: int
    val: int
    test: int
    corrections: int
    relabelled: int
    moved_to_train: int
    fingerprint: str  # sha256 of the training examples (question, code), to tell two runs' data apart


@dataclass(frozen=True)
class Training:
    """How the run went (finetune.trainer.TrainResult as recorded)."""

    history: list[dict[str, Any]]  # one row per epoch: loss, validation accuracy, seconds
    best_epoch: int
    best_val_accuracy: float
    trainable_params: int
    total_params: int
    seconds: float
    examples_per_second: float


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created: str
    base_model: str  # the spec the adapter was trained on: loading always uses it, whatever the profile says
    embedding_model: str  # the embedder the head was trained on
    label_mode: str  # code | name
    prompt_style: str  # full | compact (classifier/prompt.py)
    objective: str  # discriminative | generative
    lora: Lora
    selection: Selection
    test: dict[str, Score]  # keyed by ROLES
    data: DataSummary
    training: Training
    config: dict[str, Any] = field(default_factory=dict)  # every knob of the run (FinetuneConfig), shown in reports
    calibration: Calibration | None = None  # temperatures of llm, embedding, ensemble; None: raw softmax (older versions)

    @property
    def test_accuracy(self) -> float:
        """The promotion gate's figure: the LoRA model's accuracy on the test split."""
        return self.test["llm"].accuracy


def write(folder: Path, info: VersionInfo) -> None:
    """Write `version.json` atomically (temporary file, then rename)."""
    path = Path(folder) / FILE
    tmp = path.with_name(f".{FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read(folder: Path) -> VersionInfo:
    """The record in `folder`; a missing, unreadable or incomplete one is a ModelNotFoundError that says so."""
    path = Path(folder) / FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return VersionInfo(
            **{
                **{f.name: raw[f.name] for f in fields(VersionInfo) if f.name in raw},
                "lora": Lora(**{**raw["lora"], "target_modules": tuple(raw["lora"]["target_modules"])}),
                "selection": Selection(**raw["selection"]),
                "test": {role: Score(**score) for role, score in raw["test"].items()},
                "data": DataSummary(**raw["data"]),
                "training": Training(**raw["training"]),
                "calibration": Calibration(**raw["calibration"]) if raw.get("calibration") else None,
            }
        )
    except FileNotFoundError:
        raise ModelNotFoundError(f"{folder} has no {FILE}: it is not a finished model version") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotFoundError(f"{path} is unreadable ({type(exc).__name__}: {exc}); retrain it") from None
