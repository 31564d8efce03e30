"""Turn any exception (or any value) into the trace's error record, whatever the object does."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from .sanitize import _SECRET_SCAN_MARGIN, SanitizeRules, clean_text, sanitize_to_json
from .types import ErrorInfo

__all__ = ["MAX_CAUSE_DEPTH", "MAX_MESSAGE_CHARS", "MAX_STACK_CHARS", "describe_error"]

MAX_CAUSE_DEPTH = 8
"""Links of a ``cause`` chain recorded before it is cut."""

MAX_STACK_CHARS = 64 * 1024
"""Longest ``stack`` text kept; the end (where type and message are) is what stays."""

MAX_MESSAGE_CHARS = 64 * 1024
"""Longest ``message`` text kept; the start is what stays."""

_CODE_LIMIT = 4096


_MAX_TYPE_CHARS = 256


def _type_name(error: object, rules: SanitizeRules) -> str:
    """Return the class name through the value rules: a class may be named after a token."""
    try:
        name = type(error).__name__
    except Exception:  # pragma: no cover - a metaclass that breaks __name__
        return "object"
    if not isinstance(name, str) or not name:
        return "object"
    if len(name) > _MAX_TYPE_CHARS:
        kept = rules.redact(clean_text(name[: _MAX_TYPE_CHARS + _SECRET_SCAN_MARGIN]))
        return f"{kept[:_MAX_TYPE_CHARS]}...[Truncated]"
    return rules.redact(clean_text(name))


def _value_message(error: object, rules: SanitizeRules) -> str:
    """Return the message of a captured value that is not an exception."""
    kind = type(error)  # type(): never the object's own __class__
    if issubclass(kind, str):
        return str.__str__(error)
    if issubclass(kind, (Mapping, list, tuple, set, frozenset, int, float)):
        # Details handed over as data: the compact JSON of their sanitised copy.
        return sanitize_to_json(error, rules, MAX_MESSAGE_CHARS)[1]
    return f"<{_type_name(error, rules)}>"


def _message(error: object, rules: SanitizeRules) -> str:
    if isinstance(error, BaseException):
        try:
            text = str(error)
        except Exception:
            return f"<unprintable {_type_name(error, rules)} object>"
        if not isinstance(text, str):  # pragma: no cover - str() always returns a str
            return f"<unprintable {_type_name(error, rules)} object>"
    else:
        text = _value_message(error, rules)
    if not text:
        return "Unknown error"
    if len(text) <= MAX_MESSAGE_CHARS:
        return rules.redact(clean_text(text))
    # Redact before clipping (a secret across the clip point is seen whole), on a bounded window.
    head = rules.redact(clean_text(text[: MAX_MESSAGE_CHARS + _SECRET_SCAN_MARGIN]))
    head = head[:MAX_MESSAGE_CHARS]
    return f"{head}...[Truncated: {max(len(text) - len(head), 1)} more chars]"


def _stack(error: object, rules: SanitizeRules, chain: bool) -> str | None:
    if not isinstance(error, BaseException):
        return None
    try:
        text = "".join(traceback.format_exception(error, chain=chain))
    except Exception:
        text = f"{_type_name(error, rules)}: {_message(error, rules)}\n"
    if len(text) <= MAX_STACK_CHARS:
        return rules.redact(clean_text(text))
    # Redact before clipping (a secret across the clip point is seen whole), on a bounded window.
    tail = rules.redact(clean_text(text[-(MAX_STACK_CHARS + _SECRET_SCAN_MARGIN) :]))
    tail = tail[-MAX_STACK_CHARS:]
    return f"[Truncated: {max(len(text) - len(tail), 1)} chars]...{tail}"


def _code(error: object, rules: SanitizeRules) -> Any:
    try:
        code = getattr(error, "code", None)
        if code is None and isinstance(error, OSError):
            code = error.errno
    except Exception:
        return None
    if code is None:
        return None
    return sanitize_to_json(code, rules, _CODE_LIMIT)[0]


def _next_link(error: object) -> object | None:
    if not isinstance(error, BaseException):
        return None
    try:
        cause = error.__cause__
        if cause is None and not error.__suppress_context__:
            cause = error.__context__
    except Exception:  # pragma: no cover - exception attributes are plain slots
        return None
    return cause


def describe_error(error: object, rules: SanitizeRules, timestamp: float) -> ErrorInfo:
    """Build the trace's error record for ``error`` (any exception, or any value); never raises.

    The ``cause`` chain follows ``__cause__``, else an unsuppressed ``__context__``, and stops at
    ``MAX_CAUSE_DEPTH`` links or at an exception it has already recorded (a cycle).
    """
    seen = {id(error)}
    links: list[object] = [error]
    link = _next_link(error)
    while link is not None and id(link) not in seen and len(links) <= MAX_CAUSE_DEPTH:
        seen.add(id(link))
        links.append(link)
        link = _next_link(link)
    record: ErrorInfo | None = None
    # Build from the innermost cause outwards; only the outermost stack shows the whole chain.
    for depth in range(len(links) - 1, -1, -1):
        item = links[depth]
        record = {
            "message": _message(item, rules),
            "type": _type_name(item, rules),
            "stack": _stack(item, rules, chain=depth == 0),
            "timestamp": timestamp,
            "code": _code(item, rules),
            "cause": record,
        }
    assert record is not None
    return record
