"""Statistics for comparing runs: Mann–Whitney U, Holm–Bonferroni, (weighted) percentiles.

Standard library only. ``mann_whitney_u`` gives the same statistic and p-value as SciPy's
``scipy.stats.mannwhitneyu(x, y, alternative="two-sided")`` with its default method choice: the
exact distribution when one sample has at most 8 values and no value occurs twice (here also only
while ``len(x) * len(y) <= EXACT_LIMIT``, to bound the cost), else the normal approximation with
the tie correction and the continuity correction.

Percentiles use the **nearest-rank** method. With weights (a trace kept by sampling at rate ``r``
stands for ``1 / r`` traces), ``weighted_percentile`` is: sort the values ascending; the p-th
percentile is the smallest value ``v`` whose cumulative weight (the sum, in float64, of the weights
of all values ``<= v``) is at least ``p / 100 * W``, ``W`` being the sum of all weights. With every
weight 1 this is exactly the unweighted nearest rank, ``sorted[ceil(p / 100 * n) - 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from ..errors import InvalidArgumentError

__all__ = [
    "EXACT_LIMIT",
    "MannWhitney",
    "holm_bonferroni",
    "mann_whitney_u",
    "nearest_rank",
    "weighted_percentile",
]

EXACT_LIMIT = 20_000
"""Largest ``len(x) * len(y)`` for which the exact U distribution is computed."""

_EXACT_MAX_SMALLER = 8


class MannWhitney(NamedTuple):
    """Result of ``mann_whitney_u``: ``u`` is U of the first sample, ``p`` the two-sided p-value."""

    u: float
    p: float
    exact: bool


def _check_sample(values: Sequence[float], name: str) -> list[float]:
    ordered = sorted(values)
    if not ordered:
        raise InvalidArgumentError(f"{name} must hold at least one value")
    if any(math.isnan(v) for v in ordered):
        raise InvalidArgumentError(f"{name} must not hold NaN")
    return ordered


def _u_and_ties(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """U of ``xs`` (pairs with x > y, ties counting 1/2) and the tie term sum(t**3 - t)."""
    u2 = 0.0  # counted as twice U, to stay in integers until the end
    tie_term = 0.0
    i = j = 0
    nx, ny = len(xs), len(ys)
    while i < nx or j < ny:
        value = xs[i] if j >= ny or (i < nx and xs[i] < ys[j]) else ys[j]
        a = i
        while i < nx and xs[i] == value:
            i += 1
        b = j
        while j < ny and ys[j] == value:
            j += 1
        tx, ty = i - a, j - b
        # Each x at this value beats the b ys before it, and ties the ty ys equal to it.
        u2 += tx * (2 * b + ty)
        t = tx + ty
        if t > 1:
            tie_term += t * t * t - t
    return u2 / 2, tie_term


def _exact_upper_tail(u: float, m: int, n: int) -> float:
    """P(U >= u) under the null for samples of m and n distinct values (exact count)."""
    # The number of arrangements with U = k is the coefficient of q**k in the Gaussian binomial
    # [m + n choose m]_q = prod_{i=1..m} (1 - q**(n + i)) / (1 - q**i).
    degree = m * n
    coeffs = [0] * (degree + 1)
    coeffs[0] = 1
    for i in range(1, m + 1):
        step = n + i
        for k in range(degree, step - 1, -1):
            coeffs[k] -= coeffs[k - step]
        for k in range(i, degree + 1):
            coeffs[k] += coeffs[k - i]
    total = sum(coeffs)
    start = math.ceil(u)
    return sum(coeffs[start:]) / total if start <= degree else 0.0


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann–Whitney U test of whether ``x`` and ``y`` come from one distribution.

    Returns U of ``x`` and the p-value (exact for small samples without ties, else the normal
    approximation with tie and continuity corrections). ``InvalidArgumentError`` for an empty
    sample or a NaN.
    """
    xs = _check_sample(x, "x")
    ys = _check_sample(y, "y")
    n1, n2 = len(xs), len(ys)
    u1, tie_term = _u_and_ties(xs, ys)
    big = max(u1, n1 * n2 - u1)
    if tie_term == 0 and min(n1, n2) <= _EXACT_MAX_SMALLER and n1 * n2 <= EXACT_LIMIT:
        p = 2.0 * _exact_upper_tail(big, min(n1, n2), max(n1, n2))
        return MannWhitney(u1, min(1.0, p), True)
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value equal: no evidence of any difference
        return MannWhitney(u1, 1.0, False)
    z = (big - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return MannWhitney(u1, min(1.0, 2.0 * _normal_sf(z)), False)


def holm_bonferroni(p_values: Sequence[float], alpha: float = 0.01) -> list[tuple[float, bool]]:
    """Holm's step-down correction: for each p-value, (adjusted p-value, significant at alpha).

    Controls the family-wise error rate at ``alpha`` across all the tests given; the adjusted
    p-value is ``max_{j <= i} min(1, (m - j) * p_(j))`` over the ascending order, and a test is
    significant when its adjusted p-value is at most ``alpha``.
    """
    if not 0 < alpha < 1:
        raise InvalidArgumentError(f"alpha must be between 0 and 1, got {alpha!r}")
    m = len(p_values)
    order = sorted(range(m), key=lambda index: p_values[index])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return [(value, value <= alpha) for value in adjusted]


def nearest_rank(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank ``p``-th percentile (0 < p <= 100) of ascending values; ``None`` when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    return float(sorted_values[min(rank, n) - 1])


def weighted_percentile(
    pairs: Sequence[tuple[float, float]], p: float, *, presorted: bool = False
) -> float | None:
    """Weighted nearest-rank ``p``-th percentile of ``(value, weight)`` pairs; ``None`` if empty.

    The smallest value whose cumulative weight (values ascending) is at least ``p / 100`` of the
    total weight. Pass ``presorted=True`` when ``pairs`` are already in ascending value order.
    """
    if not pairs:
        return None
    ordered = pairs if presorted else sorted(pairs)
    total = 0.0
    for _, weight in ordered:
        total += weight
    threshold = p / 100 * total
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= threshold:
            return float(value)
    return float(ordered[-1][0])  # rounding left the sum a hair short of the total
