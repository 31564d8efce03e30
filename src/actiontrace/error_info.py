"""Turn any exception (or any value) into the trace's error record, whatever the object does."""

from __future__ import annotations

import traceback
from typing import Any

from .sanitize import (
    _SECRET_SCAN_MARGIN,
    SanitizeRules,
    clean_text,
    redact_secrets,
    sanitize_to_json,
)
from .types import ErrorInfo

__all__ = ["MAX_CAUSE_DEPTH", "MAX_MESSAGE_CHARS", "MAX_STACK_CHARS", "describe_error"]

MAX_CAUSE_DEPTH = 8
"""Links of a ``cause`` chain recorded before it is cut."""

MAX_STACK_CHARS = 64 * 1024
"""Longest ``stack`` text kept; the end (where type and message are) is what stays."""

MAX_MESSAGE_CHARS = 64 * 1024
"""Longest ``message`` text kept; the start is what stays."""

_CODE_LIMIT = 4096


def _type_name(error: object) -> str:
    try:
        name = type(error).__name__
    except Exception:  # pragma: no cover - a metaclass that breaks __name__
        return "object"
    return name if isinstance(name, str) and name else "object"


def _message(error: object, rules: SanitizeRules) -> str:
    if issubclass(type(error), (dict, list)):  # type(): never the object's own __class__
        # A raised dict or list of details: ``str()`` of its sanitised copy, which reads the same
        # unless a key would have shown a password.
        error = sanitize_to_json(error, rules, MAX_MESSAGE_CHARS)[0]
    try:
        text = str(error)
    except Exception:
        return f"<unprintable {_type_name(error)} object>"
    if not isinstance(text, str):  # pragma: no cover - str() always returns a str
        return f"<unprintable {_type_name(error)} object>"
    if not text:
        return "Unknown error"
    if len(text) <= MAX_MESSAGE_CHARS:
        return redact_secrets(clean_text(text))
    # Redact before clipping (a secret across the clip point is seen whole), on a bounded window.
    head = redact_secrets(clean_text(text[: MAX_MESSAGE_CHARS + _SECRET_SCAN_MARGIN]))
    head = head[:MAX_MESSAGE_CHARS]
    return f"{head}...[Truncated: {max(len(text) - len(head), 1)} more chars]"


def _stack(error: object, rules: SanitizeRules, chain: bool) -> str | None:
    if not isinstance(error, BaseException):
        return None
    try:
        text = "".join(traceback.format_exception(error, chain=chain))
    except Exception:
        text = f"{_type_name(error)}: {_message(error, rules)}\n"
    if len(text) <= MAX_STACK_CHARS:
        return redact_secrets(clean_text(text))
    # Redact before clipping (a secret across the clip point is seen whole), on a bounded window.
    tail = redact_secrets(clean_text(text[-(MAX_STACK_CHARS + _SECRET_SCAN_MARGIN) :]))
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
    """Build the error record of SPEC §3 for ``error``; never raises.

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
            "type": _type_name(item),
            "stack": _stack(item, rules, chain=depth == 0),
            "timestamp": timestamp,
            "code": _code(item, rules),
            "cause": record,
        }
    assert record is not None
    return record
