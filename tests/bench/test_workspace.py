"""Benchmark sizes can be changed from the command line, and bad changes are refused with a reason."""

from __future__ import annotations

import pytest

from bench.workspace import FULL, QUICK


def test_override_changes_only_the_named_sizes() -> None:
    changed = FULL.override(["chunks=10000", "store_sizes=1000,5000"])
    assert (changed.chunks, changed.store_sizes) == (10_000, (1_000, 5_000))
    assert changed.queries == FULL.queries and QUICK.override([]) == QUICK


@pytest.mark.parametrize("bad, reason", [
    ("nonsense=3", "unknown size"), ("chunks=lots", "whole number"), ("chunks=1,2", "one non-negative"),
    ("queries=-1", "one non-negative"),
])
def test_override_refuses_bad_sizes(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        FULL.override([bad])
