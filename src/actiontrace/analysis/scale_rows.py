"""Trace dicts as rows of the Parquet tables (``scale_sql.TRACE_COLUMNS`` / ``SPAN_COLUMNS``).

The Python side of the hand-off to DuckDB: ``export --to parquet`` turns every trace the reader
yields into these rows, and the DuckDB engine does the same for the few files it leaves to the
Python reader. Values follow the report's reading of a trace: a text column holds a string or
null, a duration a finite number >= 0 or null, a JSON column the compact JSON text or null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..sanitize import compact_json

__all__ = ["is_execution", "span_rows", "trace_row", "trace_type"]

Row = tuple[Any, ...]


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _json(value: object) -> str | None:
    return None if value is None else compact_json(value)


def _status(trace: Mapping[str, Any]) -> str | None:
    status = _get(trace.get("execution"), "status")
    if status is not None:
        return status if isinstance(status, str) else None
    if trace.get("error") is not None:
        return "error"
    success = _get(trace.get("result"), "success")
    if success is None:
        return None
    return "success" if success else "failed"


def trace_type(trace: Mapping[str, Any]) -> str:
    """Return the trace's type name as the report counts it (``"execution"`` if not a str)."""
    kind = _get(trace.get("metadata"), "traceType")
    return kind if isinstance(kind, str) else "execution"


def is_execution(trace: Mapping[str, Any]) -> bool:
    """Whether the report counts ``trace`` as an execution trace."""
    return _get(trace.get("metadata"), "traceType") in (None, "execution")


def trace_row(trace: Mapping[str, Any], file: str, line: int, seq: int) -> Row:
    """One row of ``traces.parquet`` for an execution trace."""
    meta = trace.get("metadata")
    execution = trace.get("execution")
    error = trace.get("error")
    sampling = trace.get("sampling")
    start_ns = _get(execution, "startEpochNs")
    if isinstance(start_ns, bool) or not isinstance(start_ns, int) or abs(start_ns) >= 2**63:
        start_ns = None
    rate = _get(sampling, "rate")
    if not isinstance(error, Mapping):
        error = None
    return (
        seq,
        file,
        line,
        _text(_get(meta, "traceId")),
        _text(_get(meta, "spanId")),
        _text(_get(meta, "parentSpanId")),
        _text(_get(meta, "actionId")),
        _text(_get(meta, "actorId")),
        _text(_get(meta, "createdAt")),
        _status(trace),
        start_ns,
        None if start_ns is None else start_ns // 1000,
        _number(_get(execution, "duration")),
        _text(_get(error, "type")),
        _text(_get(error, "message")),
        _text(_get(trace.get("turnAction"), "commandString")),
        _text(_get(sampling, "reason")),
        None if isinstance(rate, bool) or not isinstance(rate, (int, float)) else float(rate),
        _json(trace.get("eventPayload")),
        _json(trace.get("customMetadata")),
        _json(error),
    )


def span_rows(trace: Mapping[str, Any], file: str, line: int, seq: int) -> list[Row]:
    """Return the rows of ``spans.parquet`` for a structured trace (one null row if no spans)."""
    head = (seq, file, line, trace_type(trace), _text(_get(trace.get("metadata"), "traceId")))
    rows: list[Row] = []
    spans = trace.get("spans")
    if isinstance(spans, list):
        for index, span in enumerate(spans):
            if not isinstance(span, Mapping):
                continue
            rows.append(
                (
                    *head,
                    index,
                    _text(span.get("spanId")),
                    _text(span.get("parentId")),
                    _text(span.get("operation")),
                    _number(span.get("startTime")),
                    _number(span.get("duration")),
                    _text(span.get("status")),
                    _json(span.get("attributes")),
                    _json(span.get("error")),
                )
            )
    if not rows:
        rows.append((*head, *([None] * 9)))
    return rows
