"""``actiontrace export PATH --to parquet --out OUT``: the traces as Parquet (extra ``scale``).

Every trace under PATH is read through the one reader (``scan_traces``: the same discovery, the
same damaged-line rules as the report) and turned into rows (``scale_rows``): execution traces into
``OUT/traces.parquet``, the spans of structured traces into ``OUT/spans.parquet``, with the
columns ``scale_sql.TRACE_COLUMNS`` and ``SPAN_COLUMNS`` document. DuckDB writes the files (no
pyarrow): the rows are staged as JSON Lines in a temporary folder and copied in one statement, so
memory stays bounded by DuckDB's memory limit whatever the number of traces.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..output.reader import ReadStats, scan_traces
from .duckdb_engine import (
    DEFAULT_MEMORY_LIMIT,
    READ_KEYS,
    SPANS_FILE,
    TRACES_FILE,
    connect,
    engine_errors,
)
from .scale_rows import Row, is_execution, span_rows, trace_row
from .scale_sql import SPAN_COLUMNS, TRACE_COLUMNS

__all__ = ["ParquetExport", "export_parquet", "stage_rows"]


@dataclass(frozen=True, slots=True)
class ParquetExport:
    """What ``export_parquet`` wrote: rows of each table, and what reading met."""

    traces: int
    spans: int
    structured: int
    read: ReadStats


def _columns_sql(columns: tuple[tuple[str, str, str], ...]) -> str:
    """``read_json``'s columns: the staged form (``startTime`` as integer microseconds)."""
    parts = []
    for name, kind, _ in columns:
        staged = "BIGINT" if kind.startswith("TIMESTAMP") else kind
        parts.append(f"'{name}': '{staged}'")
    return "{" + ", ".join(parts) + "}"


def _select_sql(columns: tuple[tuple[str, str, str], ...]) -> str:
    parts = []
    for name, kind, _ in columns:
        if kind.startswith("TIMESTAMP"):
            parts.append(f'CAST(make_timestamp("{name}") AS {kind}) AS "{name}"')
        else:
            parts.append(f'"{name}"')
    return ", ".join(parts)


def _write(stream: IO[str], names: list[str], row: Row) -> None:
    stream.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False))
    stream.write("\n")


def stage_rows(
    path: str | os.PathLike[str], folder: Path, stats: ReadStats
) -> tuple[Path, Path, int, int, int]:
    """Read ``path`` and stage its rows as JSON Lines in ``folder``: (traces, spans, counts)."""
    trace_file = folder / "traces.jsonl"
    span_file = folder / "spans.jsonl"
    trace_names = [name for name, _, _ in TRACE_COLUMNS]
    span_names = [name for name, _, _ in SPAN_COLUMNS]
    traces = spans = structured = 0
    with (
        trace_file.open("w", encoding="utf-8", errors="replace") as trace_out,
        span_file.open("w", encoding="utf-8", errors="replace") as span_out,
    ):
        for seq, record in enumerate(scan_traces(path, stats, fast=True)):
            if is_execution(record):
                _write(trace_out, trace_names, trace_row(record, seq))
                traces += 1
                continue
            structured += 1
            for row in span_rows(record, seq):
                _write(span_out, span_names, row)
                spans += 0 if row[5] is None else 1
    return trace_file, span_file, traces, spans, structured


def copy_staged(
    connection: Any,
    staged: Path,
    columns: tuple[tuple[str, str, str], ...],
    target: str,
    stats: ReadStats | None = None,
) -> None:
    """Copy one staged JSON Lines file into a Parquet file with ``columns``' names and types.

    With ``stats``, the file's key-value metadata records what reading met (``READ_KEYS``), so a
    report over the Parquet files states the same files and damage as one over the traces.
    """
    source = (
        f"read_json($staged, format='newline_delimited', columns={_columns_sql(columns)}, "
        "maximum_object_size=33554432)"
    )
    options = "FORMAT parquet"
    if stats is not None:
        pairs = ", ".join(
            f"'{key}': '{int(getattr(stats, name))}'" for name, key in READ_KEYS.items()
        )
        options += f", KV_METADATA {{{pairs}}}"
    connection.execute(
        f"COPY (SELECT {_select_sql(columns)} FROM {source}) TO $target ({options})",
        {"staged": str(staged), "target": target},
    )


def export_parquet(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    temp_directory: str | None = None,
) -> ParquetExport:
    """Write the traces under ``path`` to ``out/traces.parquet`` and ``out/spans.parquet``.

    ``out`` is a folder (created). A missing ``path`` raises ``FileNotFoundError``; without the
    ``scale`` extra, ``MissingExtraError``; DuckDB failing, ``EngineError``.
    """
    stats = ReadStats()
    target = Path(out)
    with (
        engine_errors(),
        tempfile.TemporaryDirectory(prefix="actiontrace-parquet-", dir=temp_directory) as temp,
    ):
        connection = connect(memory_limit, temp)
        try:
            trace_file, span_file, traces, spans, structured = stage_rows(path, Path(temp), stats)
            target.mkdir(parents=True, exist_ok=True)
            copy_staged(connection, trace_file, TRACE_COLUMNS, str(target / TRACES_FILE), stats)
            copy_staged(connection, span_file, SPAN_COLUMNS, str(target / SPANS_FILE))
        finally:
            connection.close()
    return ParquetExport(traces, spans, structured, stats)
