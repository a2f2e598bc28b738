"""Fixtures for the storage tests: a real on-disk Chroma store with the bundled MiniLM."""

from __future__ import annotations

import pytest

from household.settings import Settings
from storage.store import Store


@pytest.fixture
def store(settings: Settings, embedder) -> Store:
    return Store(settings, embedder)
