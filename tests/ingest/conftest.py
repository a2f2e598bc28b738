"""Fixtures for the ingest tests: copies of the fixture files, a real on-disk store, a real classifier."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from household.settings import Settings
from household.taxonomy import Taxonomy
from ingest.category import CategoryAssigner
from ingest.pipeline import Pipeline, Report
from storage.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """MiniLM on many small inputs: one thread avoids OpenMP stalls on a busy shared CPU (40x on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A writable copy of the one-file-per-format fixtures."""
    return Path(shutil.copytree(FIXTURES / "docs", tmp_path / "docs"))


@pytest.fixture
def store(settings: Settings, embedder) -> Store:
    return Store(settings, embedder)


@pytest.fixture(scope="session")
def router(embedder, taxonomy: Taxonomy):
    """A real embedding classifier that needs no training: cosine to each category's scope note."""
    from classifier.embedding import ZeroShotRouter

    return ZeroShotRouter(embedder, taxonomy)


@pytest.fixture
def ingest(settings: Settings, store: Store, taxonomy: Taxonomy, router):
    """Run the pipeline as `household ingest` would, with the router standing in for the trained classifier."""

    def run(
        *paths: Path, category: str | None = None, include=(), exclude=(), keep_missing: bool = False, **changes
    ) -> Report:
        changed = settings.replace(**changes)
        assigner = CategoryAssigner(changed, taxonomy, category, classifier=router)
        return Pipeline(changed, store, assigner, include, exclude).run(list(paths), keep_missing=keep_missing)

    return run


@pytest.fixture
def cli(embedder, monkeypatch):
    """`household ...` in-process, sharing the session's MiniLM instead of loading it per command."""
    monkeypatch.setattr("household.models.load_embedder", lambda spec: embedder)

    def run(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run
