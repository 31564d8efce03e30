"""Human-readable rendering of single traces, for ``actiontrace show``.

Rendering reads the read path's ``TraceRecord`` (a bare trace dict is made into one first), and
every string goes through ``printable()`` first: control characters (ANSI escape sequences
included) and bidirectional overrides are shown as escapes instead of reaching the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..output.records import EXECUTION, ErrorView, TraceRecord, as_record
from .text import printable

__all__ = ["printable", "render_record", "render_trace", "summary_line"]

_INDENT = "  "


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _record(trace: TraceRecord | Mapping[str, Any]) -> TraceRecord | None:
    return trace if type(trace) is TraceRecord else as_record(trace)


def summary_line(trace: TraceRecord | Mapping[str, Any]) -> str:
    """Rebuild the trace's ``to_summary()`` line from its record (or dict).

    ``Action: core:go | Actor: player-1 | Status: success | Duration: 1.23ms``
    (``Duration: incomplete`` when the trace has no duration).
    """
    record = _record(trace)
    if record is None:
        return "Action: ? | Actor: ? | Status: unknown | Duration: incomplete"
    shown = "incomplete" if record.duration is None else f"{record.duration:.2f}ms"
    return (
        f"Action: {printable(record.action_id)} | Actor: {printable(record.actor_id)} | "
        f"Status: {record.status} | Duration: {shown}"
    )


def _block(title: str, value: object) -> list[str]:
    text = printable(_json(value), multiline=True)
    return [f"{title}:", *(_INDENT + line for line in text.splitlines())]


def _phases(record: TraceRecord) -> list[str]:
    phases = record.phases()
    if not phases:
        return ["Phases: none"]
    start = record.start_ms
    lines = ["Phases (ms after start):"]
    for phase in phases:
        at = phase.timestamp
        when = "?" if at is None or start is None else f"+{at - start:.3f}"
        details = [printable(phase.description)]
        if phase.payload_size is not None:
            cut = ", truncated" if phase.truncated else ""
            details.append(f"({phase.payload_size} bytes{cut})")
        detail = " ".join(part for part in details if part)
        lines.append(f"{_INDENT}{when:>12}  {printable(phase.phase):<20} {detail}".rstrip())
    return lines


def _error(chain: tuple[ErrorView, ...]) -> list[str]:
    lines = ["Error:"]
    # The outermost stack already shows the chained ones (traceback.format_exception does).
    shown = chain[0].stack or ""
    for depth, link in enumerate(chain):
        pad = _INDENT * (depth + 1)
        head = "" if depth == 0 else "caused by "
        lines.append(f"{pad}{head}{printable(link.type)}: {printable(link.message)}")
        if link.code is not None:
            code = link.code if isinstance(link.code, str) else _json(link.code)
            lines.append(f"{pad}code: {printable(code)}")
        stack = link.stack
        if stack and (depth == 0 or stack not in shown):
            lines.append(f"{pad}stack:")
            lines.extend(
                pad + _INDENT + line
                for line in printable(stack, multiline=True).rstrip("\n").splitlines()
            )
    return lines


def _execution(record: TraceRecord) -> list[str]:
    lines = [summary_line(record)]
    if record.trace_id is not None:
        span = printable(record.span_id) if record.span_id is not None else "?"
        lines.append(f"Trace: {printable(record.trace_id)}  span {span}")
    if record.created_at is not None:
        lines.append(f"Created: {printable(record.created_at)}")
    if record.command is not None:
        lines.append(f"Command: {printable(record.command)}")
    if record.parameters:
        lines.extend(_block("Parameters", record.parameters))
    lines.extend(_phases(record))
    lines.extend(_block("Payload", record.payload))
    success = record.result_success
    if success is not None:
        lines.append(f"Result: {'success' if success else 'failure'}")
        if record.result_metadata is not None:
            lines.extend(_block("Result metadata", record.result_metadata))
    if record.custom_metadata:
        lines.extend(_block("Custom metadata", record.custom_metadata))
    chain = record.errors()
    lines.extend(_error(chain) if chain else ["Error: none"])
    return lines


def render_trace(trace: TraceRecord | Mapping[str, Any]) -> str:
    """One trace as readable text: summary line, phases, payload, result and error.

    Execution traces get the full layout; any other type is shown generically as its type and
    pretty JSON; a mapping that is not a trace is shown as such.
    """
    record = _record(trace)
    if record is None:
        lines = [
            "Not a trace",
            *_block("Content", dict(trace) if isinstance(trace, Mapping) else None),
        ]
    elif record.kind == EXECUTION:
        lines = _execution(record)
    else:
        lines = [f"Trace type: {printable(record.kind)}", *_block("Content", record.trace)]
    return "\n".join(lines)


def render_record(
    trace: TraceRecord | Mapping[str, Any], file: str | None = None, line: int | None = None
) -> str:
    """``render_trace`` under a header naming where the trace was read (``file:line``).

    A ``TraceRecord`` names its own file and line unless they are given.
    """
    if type(trace) is TraceRecord:
        file = trace.file if file is None else file
        line = (trace.line or None) if line is None else line
    shown = file or ""
    where = printable(shown if line is None else f"{shown}:{line}")
    return f"── {where}\n{render_trace(trace)}"
