"""One trace, one secret: a value found under a sensitive key is redacted in the trace's free text.

``login admin s3cr3t`` with ``parameters.password = "s3cr3t"`` is written ``login admin
[REDACTED]``. The free text is the command a player typed (``commandString``, ``originalInput``,
wherever they appear) and the error's message and stack; the values come from every sanitised part
of the same trace (turn action, payload, result metadata, custom metadata).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .sanitize import compact_json
from .types import REDACTED, ErrorInfo

__all__ = ["FREE_TEXT_KEYS", "merge_secrets", "scrub_error", "scrub_json", "scrub_text"]

FREE_TEXT_KEYS = frozenset({"commandString", "originalInput"})
"""Keys whose string values are typed text that may repeat a secret given elsewhere."""

_quote = json.encoder.encode_basestring


def merge_secrets(known: tuple[str, ...] | None, found: Iterable[str]) -> tuple[str, ...] | None:
    """Return ``known`` plus the new ``found`` values (longest first), ``None`` when empty."""
    if not known:
        found = tuple(found)
        if len(found) <= 1:
            return found or None
    merged = set(known or ())
    merged.update(found)
    # Longest first: a secret that contains another is replaced whole.
    return tuple(sorted(merged, key=lambda text: (-len(text), text)))


def scrub_text(text: str, secrets: tuple[str, ...] | None) -> str:
    """Replace every occurrence of each secret in ``text`` by ``[REDACTED]``."""
    if secrets:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
    return text


def _scrub_value(value: Any, secrets: tuple[str, ...], free: bool) -> Any:
    if type(value) is str:
        return scrub_text(value, secrets) if free else value
    if type(value) is dict:
        return {
            key: _scrub_value(item, secrets, free or key in FREE_TEXT_KEYS)
            for key, item in value.items()
        }
    if type(value) is list:
        return [_scrub_value(item, secrets, free) for item in value]
    return value


def scrub_json(text: str | None, secrets: tuple[str, ...] | None) -> str | None:
    """Redact the secrets in the free-text fields of a sanitised value's compact JSON ``text``.

    Costs one substring test per secret unless a secret appears in the text at all.
    """
    if text is None or not secrets:
        return text
    for secret in secrets:
        if secret in text:
            break
        # JSON writes a quote, a backslash or a control character escaped.
        if (not secret.isprintable() or '"' in secret or "\\" in secret) and _quote(secret)[
            1:-1
        ] in text:
            break
    else:
        return text
    return compact_json(_scrub_value(json.loads(text), secrets, False))


def scrub_error(info: ErrorInfo, secrets: tuple[str, ...] | None) -> ErrorInfo:
    """Redact the secrets in an error record's ``message`` and ``stack``, cause chain included."""
    if not secrets:
        return info
    link: ErrorInfo | None = info
    while link is not None:
        link["message"] = scrub_text(link["message"], secrets)
        stack = link["stack"]
        if stack is not None:
            link["stack"] = scrub_text(stack, secrets)
        link = link["cause"]
    return info
