"""A whole `household finetune` run on the tiny model: the version folder, selection, gate, interruption."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from peft import PeftModel

from classifier import version as record
from classifier.llm import LLMClassifier
from classifier.registry import Registry, load_active
from finetune.run import ENSEMBLE_WEIGHTS, finetune
from cli.main import main


def run_quick(settings, taxonomy, config):
    return finetune(settings, taxonomy, config, progress=False, latency_sample=2)


@pytest.mark.slow
def test_a_run_writes_a_complete_version_and_activates_it(trained, taxonomy, tiny_model_dir: Path) -> None:
    folder = trained.models_dir / "v0001"
    assert Registry(trained.models_dir).active().version == "v0001"
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer.json",
                 "head.npz", "version.json", "predictions.jsonl", "report/report.md", "report/report.json",
                 "report/loss.png"):
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in trained.models_dir.iterdir()) == [".finetune.lock", "active", "v0001"]

    info = record.read(folder)
    assert info.label_mode == "code" and info.base_model == str(tiny_model_dir) and info.lora.alpha == 2 * info.lora.rank
    selection, calibration = info.selection, info.calibration
    assert selection.chosen_on == calibration.fitted_on and calibration.fitted_on.startswith("held-out writers a,b")
    one_question = 1 / calibration.n
    assert selection.val_accuracy[selection.winner] >= max(selection.val_accuracy.values()) - one_question - 1e-9
    assert selection.ensemble_weight in ENSEMBLE_WEIGHTS
    assert selection.ensemble_nll[str(selection.ensemble_weight)] == min(selection.ensemble_nll.values())
    assert selection.val_accuracy["ensemble"] == selection.ensemble_grid[str(selection.ensemble_weight)]
    assert set(calibration.temperature) == {"llm", "embedding", "ensemble"}
    assert all(calibration.ece_after[k] <= calibration.ece_before[k] + 0.02 for k in calibration.temperature)

    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    llm_rows = [r for r in rows if r["classifier"].startswith("LoRA")]
    assert len(llm_rows) == info.data.test == info.test["llm"].n
    assert info.test_accuracy == round(sum(r["correct"] for r in llm_rows) / len(llm_rows), 4)

    # The saved adapter, loaded the way the product loads it, reproduces the run's own predictions.
    product = load_active(trained, taxonomy, "llm")
    assert isinstance(product.model, PeftModel)
    assert product.temperature == calibration.of("llm")
    ensemble = load_active(trained, taxonomy, "ensemble")
    assert (ensemble.temperature, ensemble.embedding.temperature) == (calibration.of("ensemble"),
                                                                      calibration.of("embedding"))
    assert [p.code for p in product.classify_many([r["question"] for r in llm_rows])] == [r["predicted"] for r in llm_rows]


@pytest.mark.slow
def test_the_gate_refuses_a_worse_model_and_force_overrides(trained, taxonomy, quick_config) -> None:
    registry = Registry(trained.models_dir)
    first = registry.get("v0001")
    perfect = replace(first.info.test["llm"], accuracy=1.0)  # the active version is now one no tiny model can match
    record.write(first.path, replace(first.info, test={**first.info.test, "llm": perfect}))

    refused = run_quick(trained, taxonomy, quick_config)
    assert not refused.activated and refused.version.info.test_accuracy < 1.0
    assert "NOT activated" in refused.reason and "v0001" in refused.reason
    assert registry.active().version == "v0001"
    assert [v.version for v in registry.versions()] == ["v0001", "v0002"]

    result = CliRunner().invoke(main, ["finetune", "--epochs", "1", "--seed", "3", "--force"])
    assert result.exit_code == 0, result.output
    assert "v0003 is now active (--force)" in result.output
    assert "Test split" in result.output and "`auto` uses:" in result.output
    assert registry.active().version == "v0003"
    assert registry.active().info.config["seed"] == 3


@pytest.mark.slow
def test_an_interrupted_run_leaves_the_active_version_and_no_folder(trained, taxonomy, monkeypatch, quick_config) -> None:
    real_score = LLMClassifier.score
    training_calls = []

    def interrupted(self, *args, **kwargs):
        if torch.is_grad_enabled():  # a training step, not an evaluation
            training_calls.append(1)
            if len(training_calls) == 3:
                raise KeyboardInterrupt
        return real_score(self, *args, **kwargs)

    monkeypatch.setattr(LLMClassifier, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_quick(trained, taxonomy, quick_config)
    registry = Registry(trained.models_dir)
    assert len(training_calls) == 3
    assert registry.active().version == "v0001"
    assert sorted(p.name for p in registry.dir.iterdir()) == [".finetune.lock", "active", "v0001"]
    with registry.reserve() as name:
        assert name == "v0002"


def test_a_bad_feedback_file_stops_the_run_before_training(settings, tmp_path: Path) -> None:
    bad = tmp_path / "fixes.jsonl"
    bad.write_text('{"question": "pump is loud", "category": "pool"}\n{"question": "x", "category": "attic"}\n')
    result = CliRunner().invoke(main, ["finetune", "--feedback", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad}:2: unknown category 'attic' (see `household categories`)"
    assert not settings.models_dir.exists()


@pytest.mark.slow
def test_models_calibrate_gives_an_older_version_its_temperatures(trained, taxonomy) -> None:
    registry = Registry(trained.models_dir)
    first = registry.get("v0001")
    fitted = first.info.calibration
    record.write(first.path, replace(first.info, calibration=None,
                                     selection=replace(first.info.selection, chosen_on="validation split")))
    assert load_active(trained, taxonomy, "llm").temperature == 1.0  # an uncalibrated version: the raw softmax

    result = CliRunner().invoke(main, ["models", "calibrate", "v0001"])
    assert result.exit_code == 0, result.output
    assert "chosen on the held-out writers a,b" in result.output and "temperature" in result.output
    again = registry.get("v0001").info
    assert again.calibration.temperature == fitted.temperature and again.selection.chosen_on == fitted.fitted_on
    assert load_active(trained, taxonomy, "llm").temperature == fitted.of("llm")
