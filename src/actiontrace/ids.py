"""Trace and span identity in W3C Trace Context form (reference §10).

Ids are generated as integers (cheap to make and to keep) and formatted as lowercase hex only when
a trace is serialised.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgumentError

__all__ = [
    "TraceContext",
    "format_span_id",
    "format_trace_id",
    "new_span_id",
    "new_trace_id",
    "parse_span_id",
    "parse_trace_id",
]

# Ids need to be unique, not secret: a Mersenne Twister seeded from os.urandom (as OpenTelemetry's
# RandomIdGenerator does) is many times faster than SystemRandom. It is re-seeded in a forked child
# so that parent and child never hand out the same ids.
_random = random.Random()
_getrandbits = _random.getrandbits

_TRACE_ID_RE = re.compile(r"[0-9a-f]{32}")
_SPAN_ID_RE = re.compile(r"[0-9a-f]{16}")
_HEX2_RE = re.compile(r"[0-9a-f]{2}")


def _reseed() -> None:
    _random.seed()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_trace_id() -> int:
    """Return a random, non-zero 128-bit trace id."""
    value = _getrandbits(128)
    while not value:  # pragma: no cover - one chance in 2**128
        value = _getrandbits(128)
    return value


def new_span_id() -> int:
    """Return a random, non-zero 64-bit span id."""
    value = _getrandbits(64)
    while not value:  # pragma: no cover - one chance in 2**64
        value = _getrandbits(64)
    return value


def format_trace_id(value: int) -> str:
    """Format a trace id as 32 lowercase hex digits."""
    return f"{value:032x}"


def format_span_id(value: int) -> str:
    """Format a span id as 16 lowercase hex digits."""
    return f"{value:016x}"


def parse_trace_id(value: Any, argument: str = "trace_id") -> int:
    """Parse a trace id (32 lowercase hex digits, not all zeros); else InvalidArgumentError."""
    if not isinstance(value, str) or not _TRACE_ID_RE.fullmatch(value):
        raise InvalidArgumentError(f"{argument} must be 32 lowercase hex digits, got {value!r}")
    number = int(value, 16)
    if not number:
        raise InvalidArgumentError(f"{argument} must not be all zeros")
    return number


def parse_span_id(value: Any, argument: str = "span_id") -> int:
    """Parse a span id (16 lowercase hex digits, not all zeros); else InvalidArgumentError."""
    if not isinstance(value, str) or not _SPAN_ID_RE.fullmatch(value):
        raise InvalidArgumentError(f"{argument} must be 16 lowercase hex digits, got {value!r}")
    number = int(value, 16)
    if not number:
        raise InvalidArgumentError(f"{argument} must not be all zeros")
    return number


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where a trace belongs: its ``trace_id`` and the ``span_id`` of the span that caused it.

    Pass one as ``parent=`` to continue a trace that started elsewhere, for example a web request
    carrying a W3C ``traceparent`` header.
    """

    trace_id: str
    span_id: str
    trace_flags: int = 1

    def __post_init__(self) -> None:
        parse_trace_id(self.trace_id)
        parse_span_id(self.span_id)
        flags = self.trace_flags
        if type(flags) is not int or not 0 <= flags <= 0xFF:
            raise InvalidArgumentError(f"trace_flags must be an int from 0 to 255, got {flags!r}")

    @classmethod
    def from_traceparent(cls, header: str) -> TraceContext:
        """Parse a W3C ``traceparent`` header (``00-<trace_id>-<span_id>-<flags>``).

        A malformed header raises ``InvalidArgumentError``. As the W3C spec asks, a header of a
        later version is parsed for its first four fields when what follows them is well formed.
        """
        if not isinstance(header, str):
            raise InvalidArgumentError(f"traceparent must be a str, got {type(header).__name__}")
        text = header.strip(" \t")
        parts = text.split("-")
        if len(parts) < 4 or len(text) < 55:
            raise InvalidArgumentError(f"traceparent is malformed: {header!r}")
        version, trace_id, span_id, flags = parts[:4]
        if not _HEX2_RE.fullmatch(version) or version == "ff":
            raise InvalidArgumentError(f"traceparent has an invalid version: {header!r}")
        if version == "00" and len(parts) != 4:
            raise InvalidArgumentError(f"traceparent version 00 has extra fields: {header!r}")
        if version != "00" and len(text) > 55 and text[55] != "-":
            raise InvalidArgumentError(f"traceparent is malformed: {header!r}")
        if not _HEX2_RE.fullmatch(flags):
            raise InvalidArgumentError(f"traceparent has invalid trace flags: {header!r}")
        try:
            parse_trace_id(trace_id)
            parse_span_id(span_id)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"traceparent is malformed ({error}): {header!r}") from None
        return cls(trace_id, span_id, int(flags, 16))

    def to_traceparent(self) -> str:
        """Write the W3C ``traceparent`` header for this context (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"
