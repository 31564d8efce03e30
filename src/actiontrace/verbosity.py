"""Verbosity levels and how each reduces recorded data."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["DETAILED_ITEMS", "Verbosity", "parse_verbosity", "reduce_stage_data"]

DETAILED_ITEMS = 10
"""Items each container keeps at ``detailed`` verbosity."""


class Verbosity(StrEnum):
    """How much a trace records: ``minimal`` < ``standard`` < ``detailed`` < ``verbose``."""

    MINIMAL = "minimal"
    STANDARD = "standard"
    DETAILED = "detailed"
    VERBOSE = "verbose"


def parse_verbosity(value: object, argument: str = "verbosity") -> Verbosity:
    """Return the ``Verbosity`` named by ``value`` (any case); else ``InvalidArgumentError``."""
    if isinstance(value, Verbosity):
        return value
    if isinstance(value, str):
        try:
            return Verbosity(value.strip().lower())
        except ValueError:
            pass
    choices = ", ".join(level.value for level in Verbosity)
    raise InvalidArgumentError(f"{argument} must be one of {choices}, got {value!r}")


_MINIMAL_KEYS = ("passed", "success", "error")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _clip(value: Any) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        clipped = {key: _clip(item) for key, item in items[:DETAILED_ITEMS]}
        if len(items) > DETAILED_ITEMS:
            clipped["[Truncated]"] = f"{len(items) - DETAILED_ITEMS} more keys"
        return clipped
    if isinstance(value, list):
        kept = [_clip(item) for item in value[:DETAILED_ITEMS]]
        if len(value) > DETAILED_ITEMS:
            kept.append(f"[Truncated: {len(value) - DETAILED_ITEMS} more items]")
        return kept
    return value


def reduce_stage_data(data: Any, verbosity: Verbosity) -> Any:
    """Reduce already-sanitised stage data to what ``verbosity`` keeps.

    ``minimal``: only scalar ``passed``, ``success`` and ``error``; ``standard``: every scalar, and
    each list or mapping replaced by its length under ``<key>Count``; ``detailed``: containers
    clipped to ``DETAILED_ITEMS`` items with a marker; ``verbose``: everything. Data that is not a
    mapping is treated as ``{"value": data}``.
    """
    if verbosity is Verbosity.VERBOSE:
        return data
    if not isinstance(data, dict):
        data = {"value": data}
    if verbosity is Verbosity.DETAILED:
        return _clip(data)
    if verbosity is Verbosity.MINIMAL:
        return {key: data[key] for key in _MINIMAL_KEYS if key in data and _is_scalar(data[key])}
    reduced: dict[str, Any] = {}
    for key, value in data.items():
        if _is_scalar(value):
            reduced[key] = value
        else:
            reduced[f"{key}Count"] = len(value)
    return reduced
