"""Latency percentiles and rates: the few numbers every section reports.

Absolute times on a shared 2-core machine move with the neighbours' load, so a section never
reports one alone: it times an alternative in the same run and reports the ratio too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Latency:
    """Milliseconds per call over `n` timed calls."""

    p50: float
    p95: float
    mean: float
    n: int
    samples: tuple[float, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, ms: Sequence[float]) -> "Latency":
        values = np.asarray(ms, dtype=float)
        if not len(values):
            raise ValueError("no timings to summarize")
        p50, p95, mean = np.percentile(values, 50), np.percentile(values, 95), values.mean()
        return cls(round(float(p50), 2), round(float(p95), 2), round(float(mean), 2), len(values), tuple(ms))

    def first(self, n: int) -> "Latency":
        """The same figures over the first `n` calls only (to compare with a method timed on fewer items)."""
        return Latency.of(self.samples[:n])

    def as_dict(self) -> dict[str, Any]:
        return {"p50_ms": self.p50, "p95_ms": self.p95, "mean_ms": self.mean, "n": self.n}

    def __str__(self) -> str:
        return f"{ms(self.p50)} / {ms(self.p95)}"


def timed(call: Callable[[T], R], items: Sequence[T], desc: str, warmup: int = 1) -> tuple[Latency, list[R]]:
    """Call `call` on every item, one at a time, after `warmup` untimed calls (one-off caches, lazy loads)."""
    for item in items[:warmup]:
        call(item)
    results: list[R] = []
    elapsed: list[float] = []
    for item in tqdm(items, desc=desc, unit="call", leave=False):
        start = time.perf_counter()
        results.append(call(item))
        elapsed.append(1000 * (time.perf_counter() - start))
    return Latency.of(elapsed), results


def stopwatch(call: Callable[..., R], *args: Any, **kwargs: Any) -> tuple[float, R]:
    """(seconds, result) of one call of `call(*args, **kwargs)`."""
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return time.perf_counter() - start, result


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded for a table, or None when either side is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def times(value: float | None) -> str:
    """A ratio as people read it: 7.3x."""
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"
