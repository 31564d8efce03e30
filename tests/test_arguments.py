"""Shared argument validation."""

from __future__ import annotations

import math

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.arguments import timeout_argument


@pytest.mark.parametrize("value", [0, 0.5, 10])
def test_a_finite_non_negative_number_is_a_timeout_in_seconds(value: float) -> None:
    assert timeout_argument(value) == float(value)


@pytest.mark.parametrize("value", [-1, math.inf, math.nan, True, "5", None])
def test_anything_else_is_rejected_naming_the_argument(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^wait must be a finite number"):
        timeout_argument(value, "wait")
