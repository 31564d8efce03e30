r"""Safe text out of hostile traces: ``printable`` for terminals, ``json_text`` for JSON output.

Everything printed comes from files that may hold anything. Control characters (ANSI escape
sequences included), C1 controls, the line and paragraph separators and the bidirectional
embeddings, overrides and isolates ("Trojan Source") are shown as escapes, never passed on raw;
JSON output is strict (no ``NaN``) with the same characters written as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["json_text", "printable"]

# C0 and C1 controls, DEL, the line/paragraph separators and the bidi controls.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# json.dumps already escapes C0; these it leaves raw with ensure_ascii=False.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """Return ``text`` safe for a terminal: control and bidi characters become visible escapes.

    Tabs and newlines are kept only when ``multiline`` (a single line must keep table columns).
    """
    return (_UNSAFE if multiline else _UNSAFE_LINE).sub(_escape, text)


def json_text(value: Any, *, indent: int | None = None) -> str:
    r"""Return ``value`` as strict JSON (``ValueError`` on NaN) with unsafe characters escaped.

    Those characters only ever occur inside JSON strings, where ``\\uXXXX`` means the same, so
    the text parses back to ``value``.
    """
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=indent, separators=separators
    )
    return _JSON_UNSAFE.sub(_json_escape, text)
