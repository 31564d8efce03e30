"""Trace records as rows of the Parquet tables (``scale_sql.TRACE_COLUMNS`` / ``SPAN_COLUMNS``).

The Python side of the hand-off to DuckDB: ``export --to parquet`` turns every record the read path
yields into these rows, and the DuckDB engine does the same for the few files it leaves to the
Python reader. Values are the record's normalised fields (what the report reads); JSON columns are
the compact JSON text of the value, or null.
"""

from __future__ import annotations

from typing import Any

from ..output.records import EXECUTION, TraceRecord
from ..sanitize import compact_json

__all__ = ["Row", "span_rows", "trace_row"]

Row = tuple[Any, ...]


def _json(value: object) -> str | None:
    return None if value is None else compact_json(value)


def trace_row(record: TraceRecord, seq: int) -> Row:
    """Return the row of ``traces.parquet`` for an execution trace record."""
    error = record.trace.get("error")
    start_ns = record.start_epoch_ns
    return (
        seq,
        record.file,
        record.line,
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        record.action_id,
        record.actor_id,
        record.created_at,
        record.status,
        start_ns,
        None if start_ns is None else start_ns // 1000,
        record.duration,
        record.error_type,
        record.error_message,
        record.command,
        record.sampling_reason,
        record.sampling_rate,
        _json(record.payload),
        _json(record.trace.get("customMetadata")),
        _json(error) if type(error) is dict else None,
    )


def span_rows(record: TraceRecord, seq: int) -> list[Row]:
    """Return the rows of ``spans.parquet`` for a trace that is not an execution trace.

    One row per span of a structured trace; one row of nulls past the trace's own columns when it
    has none (or is of another type), so every trace is counted.
    """
    trace_id = record.trace_id
    head = (seq, record.file, record.line, record.kind, trace_id)
    rows: list[Row] = []
    spans = record.trace.get("spans") if record.is_structured else None
    if type(spans) is list:
        views = iter(record.spans())
        for index, item in enumerate(spans):
            if type(item) is not dict:
                continue
            span = next(views)
            rows.append(
                (
                    *head,
                    index,
                    span.span_id,
                    span.parent_id,
                    span.operation,
                    span.start_ms,
                    span.duration,
                    span.status,
                    _json(item.get("attributes")),
                    _json(item.get("error")),
                )
            )
    if not rows:
        rows.append((*head, *([None] * 9)))
    return rows


def is_execution(record: TraceRecord) -> bool:
    """Whether ``record`` goes to ``traces.parquet`` (else to ``spans.parquet``)."""
    return record.kind == EXECUTION
