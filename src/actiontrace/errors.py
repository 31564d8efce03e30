"""The two exceptions actiontrace raises at its callers."""

from __future__ import annotations

__all__ = ["InvalidArgumentError", "TraceStateError"]


class InvalidArgumentError(ValueError):
    """An argument was invalid; the message names the argument."""


class TraceStateError(RuntimeError):
    """A trace capture method was called out of order or twice."""
