"""Trained versions as the product meets them: their own base model, the right stamp, refusals in one line."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from chatbot.assistant import Assistant
from classifier import version as record
from classifier.registry import Registry, load_active
from cli.main import main
from household.errors import ModelNotFoundError
from household.settings import SMOLLM2_GGUF, Settings


def second_version(settings: Settings) -> None:
    """v0002: a copy of the trained v0001 under its own name (the registry trusts version.json)."""
    source, target = settings.models_dir / "v0001", settings.models_dir / "v0002"
    shutil.copytree(source, target)
    record.write(target, replace(record.read(target), version="v0002"))


@pytest.mark.slow
def test_a_version_loads_its_own_base_model_whatever_the_profile_names(trained, taxonomy, monkeypatch) -> None:
    elsewhere = trained.replace(classifier_model=SMOLLM2_GGUF)  # what the other profile would name
    llm = load_active(elsewhere, taxonomy, "llm")
    assert llm.model.config.hidden_size == 32 and llm.version == "v0001"  # the tiny base it was trained on

    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER_MODEL", SMOLLM2_GGUF)
    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER", "llm")
    result = CliRunner().invoke(main, ["classify", "--json", "the pool pump is loud"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["code"] in taxonomy.codes


@pytest.mark.slow
def test_a_version_whose_base_is_gone_is_refused_in_one_line(trained, taxonomy, tmp_path) -> None:
    folder = trained.models_dir / "v0001"
    info = record.read(folder)
    record.write(folder, replace(info, base_model=str(tmp_path / "moved-away")))
    with pytest.raises(ModelNotFoundError, match=r"^model version v0001 was trained on .*moved-away: .*does not exist"):
        load_active(trained, taxonomy, "llm")
    result = CliRunner().invoke(main, ["classify", "--model", "llm", "pump"])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "v0001 was trained on" in result.output


@pytest.mark.slow
def test_corrections_name_the_model_that_predicted_after_models_use(trained, taxonomy) -> None:
    second_version(trained)
    live = Assistant(trained.replace(classifier="llm"), taxonomy)
    prediction = live.classifier.classify("the pool pump is loud")
    assert prediction.version == "v0001"

    result = CliRunner().invoke(main, ["models", "use", "v0002"])
    assert result.exit_code == 0 and "v0002 is now active" in result.output
    live.correct("the pool pump is loud", prediction, taxonomy.find("fountain").code)
    [row] = live.feedback.list()
    assert row.model_version == "v0001"  # the loaded model made that prediction, not the newly active one
    assert Assistant(trained.replace(classifier="llm"), taxonomy).model_version() == "v0002"


@pytest.mark.slow
def test_models_use_accepts_only_versions_of_the_registry(trained, tmp_path) -> None:
    stray = tmp_path / "x"
    shutil.copytree(trained.models_dir / "v0001", stray)
    runner = CliRunner()
    for name in (str(stray), "../../x", "v0001/../v0001", "v9999"):
        result = runner.invoke(main, ["models", "use", name])
        assert result.exit_code == 1 and result.output.startswith("Error: no model version"), (name, result.output)
    assert Registry(trained.models_dir).active().version == "v0001"


@pytest.mark.slow
def test_a_broken_active_version_says_what_is_missing_and_how_to_fix_it(trained) -> None:
    shutil.rmtree(trained.models_dir / "v0001" / "adapter")
    result = CliRunner().invoke(main, ["classify", "--model", "llm", "pump"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "v0001 is broken (adapter_config.json missing" in result.output and "household models use" in result.output


def test_models_use_before_any_version_is_one_line(settings) -> None:
    result = CliRunner().invoke(main, ["models", "use", "v0001"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no model version 'v0001' in {settings.models_dir} (known: none yet: run `household finetune`)"


def test_a_second_finetune_is_refused_while_one_runs(settings) -> None:
    with Registry(settings.models_dir).reserve():
        result = CliRunner().invoke(main, ["finetune", "--epochs", "1"])
    assert result.exit_code == 1 and "another `household finetune` is running" in result.output
    assert [p.name for p in settings.models_dir.iterdir()] == [".finetune.lock"]
