"""Wilson intervals against Newcombe (1998) and hand computation; the participant bootstrap against enumeration."""
from __future__ import annotations

import itertools
import math

import pytest

from bench.userstudy.stats import bootstrap_participants, wilson


# Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17 (1998) 857-872, Table I, method 3 (Wilson score, no
# continuity correction), printed to 4 decimals.
@pytest.mark.parametrize("hits, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(hits, n, low, high):
    w = wilson(hits, n)
    assert (round(w.low, 4), round(w.high, 4)) == (low, high)


def test_wilson_by_hand():
    # 0 of n: the upper bound is z^2 / (n + z^2); with z = 1.959964 and n = 20: 3.841459 / 23.841459.
    z2 = 1.959963984540054 ** 2
    assert wilson(0, 20).high == pytest.approx(z2 / (20 + z2), abs=1e-12)
    # 5 of 10: symmetric about 0.5, half-width z/(1+z^2/n) * sqrt(0.025 + z^2/400).
    half = 1.959963984540054 / (1 + z2 / 10) * math.sqrt(0.25 / 10 + z2 / 400)
    w = wilson(5, 10)
    assert (w.low, w.high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)


def test_wilson_agrees_with_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for hits, n in [(0, 1), (3, 7), (37, 100), (99, 100), (450, 1000)]:
        ci = scipy_stats.binomtest(hits, n).proportion_ci(confidence_level=0.9, method="wilson")
        w = wilson(hits, n, confidence=0.9)
        assert (w.low, w.high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError):
        wilson(3, 2)
    assert math.isnan(wilson(0, 0).low)


def test_bootstrap_bounds_are_resampled_pooled_proportions():
    people = [(2, 4), (4, 4), (0, 2)]
    # Every resample is a multiset of 3 participants; its pooled proportion is one of these.
    possible = {sum(people[i][0] for i in pick) / sum(people[i][1] for i in pick)
                for pick in itertools.product(range(3), repeat=3)}
    low, high = bootstrap_participants(people, resamples=4000, seed=1)
    assert low in possible and high in possible
    assert min(possible) <= low < 6 / 10 < high <= max(possible)


def test_bootstrap_of_identical_participants_has_no_width():
    assert bootstrap_participants([(3, 10)] * 5, seed=0) == (0.3, 0.3)
    assert bootstrap_participants([(1, 2), (1, 2)], seed=0) == bootstrap_participants([(1, 2), (1, 2)], seed=0)
