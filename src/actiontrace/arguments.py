"""Validation of the arguments several public classes share (timeouts)."""

from __future__ import annotations

import math

from .errors import InvalidArgumentError

__all__ = ["timeout_argument"]


def timeout_argument(value: object, argument: str = "timeout") -> float:
    """Return ``value`` as seconds: a finite number >= 0; else ``InvalidArgumentError``."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgumentError(
            f"{argument} must be a finite number of seconds >= 0, got {value!r}"
        )
    return float(value)
