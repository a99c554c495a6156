"""Proportions with confidence intervals: Wilson's score interval and a bootstrap over participants.

Wilson (1927) treats every answer as independent; answers of one participant are not (some
people say "real" more often), so :func:`bootstrap_participants` resamples whole participants
and recomputes the pooled proportion: its interval is the wider, honest one when participants
differ.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Proportion:
    hits: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else math.nan


def wilson(hits: int, n: int, confidence: float = 0.95) -> Proportion:
    """Wilson score interval (no continuity correction) for ``hits`` of ``n``."""
    if not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n, got {hits} of {n}")
    if n == 0:
        return Proportion(0, 0, math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Proportion(hits, n, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_participants(per_participant: Sequence[tuple[int, int]], confidence: float = 0.95,
                           resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the pooled proportion sum(hits) / sum(n), participants resampled with replacement.

    ``per_participant``: (hits, n) of each participant. Resamples whose n is 0 are dropped.
    """
    if not per_participant:
        return math.nan, math.nan
    counts = np.asarray(per_participant, dtype=np.int64).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), size=(resamples, len(counts)))
    hits, n = counts[picks, 0].sum(axis=1), counts[picks, 1].sum(axis=1)
    keep = n > 0
    if not keep.any():
        return math.nan, math.nan
    ratios = hits[keep] / n[keep]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha], method="inverted_cdf")
    return float(low), float(high)
