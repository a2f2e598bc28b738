"""Latency summaries and ratios: the numbers every benchmark table is made of."""

from __future__ import annotations

import pytest

from bench.timing import Latency, ratio, times


def test_latency_percentiles_and_a_prefix_of_the_calls() -> None:
    latency = Latency.of([float(ms) for ms in range(1, 101)])
    assert (latency.p50, latency.p95, latency.mean, latency.n) == (50.5, 95.05, 50.5, 100)
    assert latency.first(10) == Latency.of([float(ms) for ms in range(1, 11)])
    assert latency.as_dict() == {"p50_ms": 50.5, "p95_ms": 95.05, "mean_ms": 50.5, "n": 100}
    with pytest.raises(ValueError):
        Latency.of([])


def test_ratio_is_missing_rather_than_infinite() -> None:
    assert ratio(30.0, 6.0) == 5.0
    assert ratio(1.0, 0.0) is None and ratio(None, 2.0) is None
    assert (times(5.0), times(12.4), times(None)) == ("5.00x", "12x", "-")
