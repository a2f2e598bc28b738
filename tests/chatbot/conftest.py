"""A real on-disk Chroma store of a few tiny household records, filed by folder name, shared by the session.

Categories: pool (two records), appliances (two), fountain (one), car (one); every other category
is empty, which is what the widening tests lean on. Tests only read this store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.prediction import Prediction
from household.settings import Settings
from household.taxonomy import Taxonomy

RECORDS = {
    "pool/pump-replacement.md": "# Pool pump replacement\n\nOn 2025-05-12 BlueWave Pools replaced the Hayward MaxFlo "
    "pool pump. Cost $1,140 all in, two-year warranty on the motor.",
    "pool/chemical-log.md": "# Pool chemical log\n\n2025-06-01: backwashed the pool filter at 25 psi, chlorine 3 ppm, "
    "pH 7.4. Added two bags of shock.",
    "appliances/oven-repair.md": "# Oven repair AD-55107\n\nThe oven would not bake. The technician replaced the bake "
    "igniter, part WB44T10011, for $246.50 on 2024-12-09.",
    "appliances/dishwasher.md": "# Dishwasher\n\nBosch dishwasher, model SHPM65Z55N, installed 2023-08-14 by "
    "Declan. Filter cleaned monthly.",
    "fountain/fountain-pump.md": "# Garden fountain\n\nThe fountain pump in the garden basin was cleaned on 2024-09-03 "
    "and the fountain was winterized in November.",
    "car/oil-change.md": "# Car service\n\nOil change and tire rotation for the Odyssey at Main Street Auto on "
    "2025-03-18, 42,310 miles. Call them at (512) 555-0199.",
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for name, text in RECORDS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def store_settings(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Settings:
    """Settings whose data dir holds the shared store; the model cache is the session's."""
    data_dir = tmp_path_factory.mktemp("store-data")
    (data_dir / "cache").symlink_to(model_cache, target_is_directory=True)
    return Settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def store(store_settings: Settings, corpus: Path, taxonomy: Taxonomy, embedder):
    """The records ingested through the real pipeline (folders name the categories: no classifier)."""
    from ingest.category import CategoryAssigner
    from ingest.pipeline import Pipeline
    from storage.store import Store

    chroma = Store(store_settings, embedder)
    report = Pipeline(store_settings, chroma, CategoryAssigner(store_settings, taxonomy)).run([corpus])
    assert len(report.ingested) == len(RECORDS), report
    return chroma


@pytest.fixture(scope="session")
def router(embedder, taxonomy: Taxonomy):
    """A real classifier that needs no training: cosine to each category's scope note."""
    from classifier.embedding import ZeroShotRouter

    return ZeroShotRouter(embedder, taxonomy)


@pytest.fixture(scope="session")
def predict(taxonomy: Taxonomy):
    """Make a Prediction ranking the given codes first, the top one with `confidence` (a classifier's output)."""

    def make(*ranked: str, confidence: float) -> Prediction:
        codes = list(ranked) + [c for c in taxonomy.codes if c not in ranked]
        rest = (1 - confidence) / (len(codes) - 1)
        ranking = [(codes[0], confidence)] + [(c, rest * (1 - i * 1e-3)) for i, c in enumerate(codes[1:])]
        return Prediction(codes[0], taxonomy.by_code(codes[0]).name, confidence, ranking)

    return make
