"""Statistics behind ``diff`` and the report's estimates, checked against SciPy."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import mannwhitneyu

from actiontrace import InvalidArgumentError
from actiontrace.analysis.stats import (
    holm_bonferroni,
    mann_whitney_u,
    nearest_rank,
    weighted_percentile,
)


def _samples(rng: random.Random, kind: str, n1: int, n2: int) -> tuple[list[float], list[float]]:
    if kind == "ties":
        return [rng.randint(0, 6) for _ in range(n1)], [rng.randint(1, 7) for _ in range(n2)]
    shift = rng.choice((0.0, 0.3, 1.0))
    return [rng.gauss(0, 1) for _ in range(n1)], [rng.gauss(shift, 1) for _ in range(n2)]


@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_mann_whitney_u_matches_scipy(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(150):
        n1, n2 = rng.randint(1, 40), rng.randint(1, 40)
        x, y = _samples(rng, kind, n1, n2)
        expected = mannwhitneyu(x, y, alternative="two-sided")
        got = mann_whitney_u(x, y)
        assert got.u == pytest.approx(float(expected.statistic), abs=1e-9)
        assert got.p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-12)


def test_exact_for_small_samples_without_ties_else_asymptotic() -> None:
    small = mann_whitney_u([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    assert small.exact and small.p == pytest.approx(2 / 35)  # 1 of C(7, 3) = 35 orders, twice
    tied = mann_whitney_u([1.0, 2.0, 2.0], [2.0, 5.0, 6.0, 7.0])
    assert not tied.exact
    big = mann_whitney_u(list(range(20)), [v + 0.5 for v in range(20)])
    assert not big.exact


def test_large_samples_match_scipy_and_detect_a_shift() -> None:
    rng = random.Random(7)
    base = [rng.lognormvariate(0, 0.5) for _ in range(3000)]
    same = [rng.lognormvariate(0, 0.5) for _ in range(3000)]
    slower = [1.5 * rng.lognormvariate(0, 0.5) for _ in range(3000)]
    for other in (same, slower):
        expected = mannwhitneyu(base, other, alternative="two-sided")
        assert mann_whitney_u(base, other).p == pytest.approx(float(expected.pvalue), rel=1e-7)
    assert mann_whitney_u(base, same).p > 0.01
    assert mann_whitney_u(base, slower).p < 1e-50


def test_all_values_equal_means_no_difference() -> None:
    assert mann_whitney_u([3.0] * 10, [3.0] * 12).p == 1.0


@pytest.mark.parametrize(("x", "y"), [([], [1.0]), ([1.0], []), ([math.nan], [1.0])])
def test_mann_whitney_u_refuses_empty_or_nan_samples(x: list[float], y: list[float]) -> None:
    with pytest.raises(InvalidArgumentError):
        mann_whitney_u(x, y)


def test_holm_bonferroni_step_down() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    result = holm_bonferroni(p, alpha=0.05)
    # Ascending: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06.
    assert [round(a, 10) for a, _ in result] == [0.03, 0.06, 0.06, 0.02]
    assert [s for _, s in result] == [True, False, False, True]
    assert holm_bonferroni([]) == []
    assert holm_bonferroni([0.9, 0.6]) == [(1.0, False), (1.0, False)]
    with pytest.raises(InvalidArgumentError, match="alpha"):
        holm_bonferroni([0.1], alpha=0)


def test_holm_matches_statsmodels_definition_on_random_p_values() -> None:
    rng = random.Random(3)
    for _ in range(50):
        p = [rng.random() ** 3 for _ in range(rng.randint(1, 12))]
        m = len(p)
        order = sorted(range(m), key=p.__getitem__)
        expected = [0.0] * m
        running = 0.0
        for rank, index in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[index]))
            expected[index] = running
        got = holm_bonferroni(p, alpha=0.01)
        assert [a for a, _ in got] == pytest.approx(expected)
        # Holm never rejects more than the uncorrected test, and at least as much as Bonferroni.
        assert sum(s for _, s in got) <= sum(v <= 0.01 for v in p)
        assert sum(s for _, s in got) >= sum(v * m <= 0.01 for v in p)


def test_nearest_rank_percentiles() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank(values, 95) == 95.0
    assert nearest_rank(values, 100) == 100.0
    assert nearest_rank([7.0], 1) == 7.0
    assert nearest_rank([], 50) is None


def test_weighted_percentile_equals_nearest_rank_with_unit_weights() -> None:
    rng = random.Random(2)
    for _ in range(200):
        values = [round(rng.random() * 100, 1) for _ in range(rng.randint(1, 60))]
        for p in (1, 25, 50, 90, 95, 99, 100):
            assert weighted_percentile([(v, 1.0) for v in values], p) == nearest_rank(
                sorted(values), p
            )


def test_weighted_percentile_counts_a_sampled_value_for_its_weight() -> None:
    # 10 fast traces kept whole, 1 slow trace kept at rate 0.1 standing for 10.
    pairs = [(1.0, 1.0)] * 10 + [(100.0, 10.0)]
    assert weighted_percentile(pairs, 50) == 1.0
    assert weighted_percentile(pairs, 51) == 100.0  # cumulative 10 of 20 is < 10.2
    assert weighted_percentile(sorted(pairs), 95, presorted=True) == 100.0
    assert weighted_percentile([], 50) is None
