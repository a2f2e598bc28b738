"""A running UI's world in miniature: a real Chroma store of four tiny records, and an Ollama stub.

The app reads its settings from the environment exactly as `household ui` does, so the fixtures
only set HOUSEHOLD_* variables: the embedding classifier (real MiniLM), the `ollama` generator
pointed at the loopback stub, and the per-test data dir from the top-level conftest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from tests.ollama_server import OllamaStub

from household.settings import Settings
from household.taxonomy import Taxonomy


@dataclass(frozen=True)
class World:
    """Four records filed by folder name (explicit categories), one question, the stub's two answers."""

    records: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "pool": ("pump-replacement.md", "# Pool pump replacement\n\nOn 2025-05-12 BlueWave Pools replaced the "
                 "Hayward MaxFlo pool pump. Cost $1,140, two-year warranty on the pool pump motor."),
        "fountain": ("fountain-pump.md", "# Garden fountain\n\nThe fountain pump in the garden fountain basin "
                     "was cleaned on 2024-09-03 and the fountain was winterized in November."),
        "car": ("oil-change.md", "# Car service\n\nOil change and tire rotation for the family car at "
                "Main Street Auto on 2025-03-18, 42,310 miles."),
        "appliances": ("dishwasher.md", "# Dishwasher repair\n\nThe dishwasher drain pump was replaced by "
                       "ApplianceFix on 2024-11-20."),
    })
    question: str = "When was the pool pump replaced?"
    answer: str = "BlueWave Pools replaced the pool pump on 2025-05-12 [1]."
    nothing: str = "I found nothing about that in your records."

    def reply(self, messages: list[dict]) -> str:
        """Answers from what the prompt carries, so a test sees which records reached the generator."""
        return self.answer if "2025-05-12" in messages[-1]["content"] else self.nothing


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def ui_corpus(tmp_path: Path, world: World) -> Path:
    root = tmp_path / "corpus"
    for name, (file, text) in world.records.items():
        (root / name).mkdir(parents=True)
        (root / name / file).write_text(text + "\n", encoding="utf-8")
    return root


@pytest.fixture
def ui_settings(monkeypatch: pytest.MonkeyPatch, ui_corpus: Path) -> Settings:
    """Settings the app will load: embedding classifier, ollama backend, corpus folder (stub URL set later)."""
    monkeypatch.setenv("HOUSEHOLD_CLASSIFIER", "embedding")
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_BACKEND", "ollama")
    monkeypatch.setenv("HOUSEHOLD_GENERATOR_MODEL", "qwen3:4b")
    monkeypatch.setenv("HOUSEHOLD_CORPUS_DIR", str(ui_corpus))
    monkeypatch.setenv("HOUSEHOLD_OLLAMA_TIMEOUT", "10")
    monkeypatch.setenv("HOUSEHOLD_MIN_HITS", "1")  # one record per category: a filtered search finds one
    return Settings.load()


@pytest.fixture
def ui_store(ui_settings: Settings, taxonomy: Taxonomy, ui_corpus: Path, world: World, embedder) -> dict:
    """The real on-disk Chroma store, built through the ingest pipeline; returns its stats."""
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    chroma = Store(ui_settings, embedder)
    report = Pipeline(ui_settings, chroma, CategoryAssigner(ui_settings, taxonomy)).run([ui_corpus])
    assert report.chunks_written >= len(world.records), report
    return chroma.stats()


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[OllamaStub]:
    """A loopback server speaking Ollama's /api/chat; HOUSEHOLD_OLLAMA_HOST points at it."""
    stub = OllamaStub(models=["qwen3:4b"], reply=world.reply)
    with stub as url:
        monkeypatch.setenv("HOUSEHOLD_OLLAMA_HOST", url)
        yield stub


@pytest.fixture
def fresh_context() -> Iterator[None]:
    """The app caches its settings and Assistant per process: a test that opens the page reads its own environment."""
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()
