"""Fixtures for the finetune package: the tiny Llama saved as a model folder, and a small dataset.

The tiny model goes through the same code paths as SmolLM2 (loading by path, LoRA, GGUF), but
trains and scores in seconds; the small dataset keeps a few paraphrase groups per category.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from household.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GROUPS_PER_CATEGORY = 5  # splits ~185 train, ~60 validation, ~60 test


def _quick():
    from finetune.trainer import FinetuneConfig

    return FinetuneConfig(epochs=1, batch_size=32)


@pytest.fixture
def quick_config():
    """One epoch in large batches: enough to exercise every step of a run, in seconds."""
    return _quick()


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_lm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = tiny_lm
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _first_groups(source: Path, folder: Path, groups_per_file: int) -> Path:
    """Copy the first few paraphrase groups of every .jsonl file of `source` into `folder`."""
    for path in sorted(source.glob("*.jsonl")):
        groups: dict[str, list[str]] = defaultdict(list)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                groups[json.loads(line)["group_id"]].append(line)
        kept = [line for group in sorted(groups)[:groups_per_file] for line in groups[group]]
        (folder / path.name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def small_questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first few paraphrase groups of every category file of data/questions."""
    return _first_groups(REPO / "data" / "questions", tmp_path_factory.mktemp("questions"), GROUPS_PER_CATEGORY)


@pytest.fixture(scope="session")
def small_extra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One group per file of data/questions-extra: the training-only path runs, on ~60 questions not 2,500."""
    return _first_groups(REPO / "data" / "questions-extra", tmp_path_factory.mktemp("questions-extra"), 1)


@pytest.fixture
def tiny_settings(settings: Settings, tiny_model_dir: Path, small_questions: Path, small_extra: Path,
                  monkeypatch) -> Settings:
    """Settings (and environment, for CLI tests) that train the tiny model on the small dataset."""
    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("HOUSEHOLD_QUESTIONS_DIR", str(small_questions))
    monkeypatch.setenv("HOUSEHOLD_EXTRA_QUESTIONS_DIR", str(small_extra))
    return Settings.load()


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, small_questions: Path,
                   small_extra: Path, model_cache: Path) -> Path:
    """One real `finetune` run of the tiny model (v0001, active), done once; tests copy its models folder."""
    from finetune.run import finetune
    from household.taxonomy import Taxonomy

    data_dir = tmp_path_factory.mktemp("trained")
    (data_dir / "cache").symlink_to(model_cache, target_is_directory=True)
    settings = Settings(data_dir=data_dir, classifier_model=str(tiny_model_dir), questions_dir=small_questions,
                        extra_questions_dir=small_extra)
    finetune(settings, Taxonomy.load(settings.taxonomy_file), _quick(), progress=False, latency_sample=2)
    return settings.models_dir


@pytest.fixture
def trained(tiny_settings: Settings, trained_models: Path) -> Settings:
    """Settings whose models folder holds a copy of the shared trained version v0001."""
    shutil.copytree(trained_models, tiny_settings.models_dir)
    return tiny_settings
