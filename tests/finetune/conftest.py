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


@pytest.fixture(scope="session")
def small_questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first few paraphrase groups of every category file of data/questions."""
    folder = tmp_path_factory.mktemp("questions")
    for source in sorted((REPO / "data" / "questions").glob("*.jsonl")):
        groups: dict[str, list[str]] = defaultdict(list)
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.strip():
                groups[json.loads(line)["group_id"]].append(line)
        kept = [line for group in sorted(groups)[:GROUPS_PER_CATEGORY] for line in groups[group]]
        (folder / source.name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def tiny_settings(settings: Settings, tiny_model_dir: Path, small_questions: Path, monkeypatch) -> Settings:
    """Settings (and environment, for CLI tests) that train the tiny model on the small dataset."""
    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("HOUSEHOLD_QUESTIONS_DIR", str(small_questions))
    return Settings.load()


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, small_questions: Path,
                   model_cache: Path) -> Path:
    """One real `finetune` run of the tiny model (v0001, active), done once; tests copy its models folder."""
    from finetune.run import finetune
    from household.taxonomy import Taxonomy

    data_dir = tmp_path_factory.mktemp("trained")
    (data_dir / "cache").symlink_to(model_cache, target_is_directory=True)
    settings = Settings(data_dir=data_dir, classifier_model=str(tiny_model_dir), questions_dir=small_questions)
    finetune(settings, Taxonomy.load(settings.taxonomy_file), _quick(), progress=False, latency_sample=2)
    return settings.models_dir


@pytest.fixture
def trained(tiny_settings: Settings, trained_models: Path) -> Settings:
    """Settings whose models folder holds a copy of the shared trained version v0001."""
    shutil.copytree(trained_models, tiny_settings.models_dir)
    return tiny_settings
