"""Fixtures for the finetune package: the tiny Llama saved as a model folder, and a small dataset.

The tiny model goes through the same code paths as SmolLM2 (loading by path, LoRA, GGUF), but
trains and scores in seconds; the small dataset keeps a few paraphrase groups per category.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from household.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GROUPS_PER_CATEGORY = 4


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
