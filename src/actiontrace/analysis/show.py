"""Human-readable rendering of single traces, for ``actiontrace show`` (SPEC §7).

Everything printed comes from files that may hold anything, so every string goes through
``printable()`` first: control characters (ANSI escape sequences included) and bidirectional
overrides are shown as escapes instead of reaching the terminal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["printable", "render_record", "render_trace", "summary_line"]

# C0 and C1 controls, DEL, and the bidi embeddings/overrides/isolates ("Trojan Source").
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_INDENT = "  "
_MAX_CAUSES = 16


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` safe for a terminal: control and bidi characters become visible escapes.

    Tabs and newlines are kept only when ``multiline`` (a single line must keep table columns).
    """
    return (_UNSAFE if multiline else _UNSAFE_LINE).sub(_escape, text)


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _str(value: object, default: str = "?") -> str:
    if isinstance(value, str):
        return printable(value)
    return default if value is None else printable(_json(value))


def _ms(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def summary_line(trace: Mapping[str, Any]) -> str:
    """Rebuild the trace's ``to_summary()`` line from its dict.

    ``Action: core:go | Actor: player-1 | Status: success | Duration: 1.23ms``
    (``Duration: incomplete`` when the trace has no duration).
    """
    meta = trace.get("metadata")
    execution = trace.get("execution")
    duration = _ms(_get(execution, "duration"))
    shown = "incomplete" if duration is None else f"{duration:.2f}ms"
    return (
        f"Action: {_str(_get(meta, 'actionId'))} | Actor: {_str(_get(meta, 'actorId'))} | "
        f"Status: {_str(_get(execution, 'status'), 'pending')} | Duration: {shown}"
    )


def _block(title: str, value: object) -> list[str]:
    text = printable(_json(value), multiline=True)
    return [f"{title}:", *(_INDENT + line for line in text.splitlines())]


def _phases(execution: object) -> list[str]:
    phases = _get(execution, "phases")
    if not isinstance(phases, list) or not phases:
        return ["Phases: none"]
    start = _ms(_get(execution, "startTime"))
    lines = ["Phases (ms after start):"]
    for phase in phases:
        at = _ms(_get(phase, "timestamp"))
        when = "?" if at is None or start is None else f"+{at - start:.3f}"
        details = [_str(_get(phase, "description"), "")]
        size = _get(phase, "payloadSize")
        if isinstance(size, int) and not isinstance(size, bool):
            details.append(f"({size} bytes{', truncated' if _get(phase, 'truncated') else ''})")
        detail = " ".join(part for part in details if part)
        lines.append(f"{_INDENT}{when:>12}  {_str(_get(phase, 'phase')):<20} {detail}".rstrip())
    return lines


def _error(error: Mapping[str, Any]) -> list[str]:
    lines = ["Error:"]
    link: object = error
    depth = 0
    # The outermost stack already shows the chained ones (traceback.format_exception does).
    outer = error.get("stack")
    shown = outer if isinstance(outer, str) else ""
    while isinstance(link, Mapping) and depth < _MAX_CAUSES:
        pad = _INDENT * (depth + 1)
        head = "" if depth == 0 else "caused by "
        lines.append(f"{pad}{head}{_str(link.get('type'))}: {_str(link.get('message'), '')}")
        code = link.get("code")
        if code is not None:
            lines.append(f"{pad}code: {_str(code)}")
        stack = link.get("stack")
        if isinstance(stack, str) and stack and (depth == 0 or stack not in shown):
            lines.append(f"{pad}stack:")
            lines.extend(
                pad + _INDENT + line
                for line in printable(stack, multiline=True).rstrip("\n").splitlines()
            )
        link = link.get("cause")
        depth += 1
    return lines


def _execution(trace: Mapping[str, Any]) -> list[str]:
    meta = trace.get("metadata")
    turn = trace.get("turnAction")
    lines = [summary_line(trace)]
    trace_id = _get(meta, "traceId")
    if isinstance(trace_id, str):
        lines.append(f"Trace: {printable(trace_id)}  span {_str(_get(meta, 'spanId'))}")
    created = _get(meta, "createdAt")
    if created is not None:
        lines.append(f"Created: {_str(created)}")
    command = _get(turn, "commandString")
    if command is not None:
        lines.append(f"Command: {_str(command)}")
    parameters = _get(turn, "parameters")
    if parameters:
        lines.extend(_block("Parameters", parameters))
    lines.extend(_phases(trace.get("execution")))
    lines.extend(_block("Payload", trace.get("eventPayload")))
    result = trace.get("result")
    if isinstance(result, Mapping):
        lines.append(f"Result: {'success' if result.get('success') else 'failure'}")
        if result.get("metadata") is not None:
            lines.extend(_block("Result metadata", result["metadata"]))
    custom = trace.get("customMetadata")
    if custom:
        lines.extend(_block("Custom metadata", custom))
    error = trace.get("error")
    if isinstance(error, Mapping):
        lines.extend(_error(error))
    else:
        lines.append("Error: none")
    return lines


def render_trace(trace: Mapping[str, Any]) -> str:
    """One trace as readable text: summary line, phases, payload, result and error.

    Execution traces (``metadata.traceType`` ``"execution"`` or absent) get the full layout;
    any other type is shown generically as its type and pretty JSON.
    """
    trace_type = _get(trace.get("metadata"), "traceType")
    if trace_type in (None, "execution"):
        lines = _execution(trace)
    else:
        lines = [f"Trace type: {_str(trace_type)}", *_block("Content", trace)]
    return "\n".join(lines)


def render_record(trace: Mapping[str, Any], file: str, line: int | None = None) -> str:
    """``render_trace`` under a header naming where the trace was read (``file:line``)."""
    where = printable(file if line is None else f"{file}:{line}")
    return f"── {where}\n{render_trace(trace)}"
