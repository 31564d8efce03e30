"""The SQL of the report at scale: the Parquet tables' columns, and the report's queries.

The report queries read two relations, ``traces`` (one row per execution trace) and ``spans`` (one
row per span of a structured trace), with exactly the columns of the Parquet files that
``actiontrace export --to parquet`` writes. They use only standard SQL (CTEs, window functions,
``CASE``, ``min_by``), so the same text runs in DuckDB, which the ``--engine duckdb`` report runs,
and in Spark SQL, Trino or ClickHouse over the Parquet files. The scaling-out guide quotes them.

Latency percentiles are nearest rank, as in the Python report: the p-th percentile of n durations
is the one at rank ``max(1, ceil(p / 100 * n))`` in ascending order, which is what the standard
``PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY duration)`` returns (the smallest value whose
cumulative share reaches p).
"""

from __future__ import annotations

__all__ = [
    "REPORT_QUERIES",
    "SPAN_COLUMNS",
    "TRACE_COLUMNS",
    "create_table_sql",
]

TRACE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", "reading order of the trace among all traces read (0-based)"),
    ("file", "VARCHAR", "the trace file it was read from"),
    ("line", "BIGINT", "its line in that file (1-based; position in the list for a .json file)"),
    ("traceId", "VARCHAR", "metadata.traceId"),
    ("spanId", "VARCHAR", "metadata.spanId"),
    ("parentSpanId", "VARCHAR", "metadata.parentSpanId (null for a root)"),
    ("actionId", "VARCHAR", "metadata.actionId"),
    ("actorId", "VARCHAR", "metadata.actorId"),
    ("createdAt", "VARCHAR", "metadata.createdAt (ISO-8601 text, as written)"),
    (
        "status",
        "VARCHAR",
        "execution.status; when absent, derived: error if the trace has an error, else success "
        "or failed by result.success",
    ),
    ("startEpochNs", "BIGINT", "execution.startEpochNs: wall-clock start, ns since the epoch"),
    ("startTime", "TIMESTAMP WITH TIME ZONE", "the same as a UTC timestamp (microseconds)"),
    ("duration", "DOUBLE", "execution.duration in ms (null when missing, negative or not finite)"),
    ("errorType", "VARCHAR", "error.type"),
    ("errorMessage", "VARCHAR", "error.message"),
    ("commandString", "VARCHAR", "turnAction.commandString"),
    ("samplingReason", "VARCHAR", "sampling.reason: why a sampler kept the trace"),
    ("samplingRate", "DOUBLE", "sampling.rate: the sampler's rate"),
    ("payload", "VARCHAR", "eventPayload as JSON text"),
    ("customMetadata", "VARCHAR", "customMetadata as JSON text"),
    ("error", "VARCHAR", "the error record (type, message, stack, code, cause) as JSON text"),
)
"""``traces.parquet``: name, SQL type and meaning of each column, in order.

Text columns are null when the trace lacks the value or holds something other than a string
there; JSON text columns are null when the value is null or absent.
"""

SPAN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", "reading order of the structured trace (shared with traces.seq)"),
    ("file", "VARCHAR", "the trace file it was read from"),
    ("line", "BIGINT", "the structured trace's line in that file"),
    ("traceType", "VARCHAR", "metadata.traceType of the structured trace"),
    ("traceId", "VARCHAR", "metadata.traceId (shared with the action it belongs to)"),
    ("spanIndex", "BIGINT", "position of the span in the trace's spans list (0-based)"),
    ("spanId", "VARCHAR", "the span's spanId"),
    ("parentId", "VARCHAR", "the span's parentId (null for a root span)"),
    ("operation", "VARCHAR", "the span's operation"),
    ("startTime", "DOUBLE", "the span's startTime (ms, the trace's own clock)"),
    ("duration", "DOUBLE", "the span's duration in ms (null when missing, negative or not finite)"),
    ("status", "VARCHAR", "the span's status"),
    ("attributes", "VARCHAR", "the span's attributes as JSON text"),
    ("error", "VARCHAR", "the span's error as JSON text"),
)
"""``spans.parquet``: one row per span; a structured trace without spans has one row whose span
columns (``spanIndex`` onwards) are null, so every structured trace is counted."""


def create_table_sql(name: str, columns: tuple[tuple[str, str, str], ...]) -> str:
    """``CREATE TEMP TABLE name (...)`` with ``columns``' names (quoted) and types."""
    body = ", ".join(f'"{column}" {kind}' for column, kind, _ in columns)
    return f"CREATE OR REPLACE TEMP TABLE {name} ({body})"


# The per-action table. "outcome" maps status to the report's columns.
ACTIONS_SQL = """
WITH execution AS (
    SELECT
        COALESCE(NULLIF(actionId, ''), '?') AS action,
        duration,
        CASE status
            WHEN 'success' THEN 'success'
            WHEN 'failed' THEN 'failed'
            WHEN 'error' THEN 'error'
            WHEN 'pending' THEN 'pending'
            WHEN 'in_progress' THEN 'inProgress'
            ELSE 'unknown'
        END AS outcome
    FROM traces
)
SELECT
    action,
    COUNT(*) AS count,
    SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS success,
    SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
    SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS error,
    SUM(CASE WHEN outcome = 'pending' THEN 1 ELSE 0 END) AS pending,
    SUM(CASE WHEN outcome = 'inProgress' THEN 1 ELSE 0 END) AS inProgress,
    SUM(CASE WHEN outcome = 'unknown' THEN 1 ELSE 0 END) AS unknown,
    PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY duration) AS p50,
    PERCENTILE_DISC(0.95) WITHIN GROUP (ORDER BY duration) AS p95,
    PERCENTILE_DISC(0.99) WITHIN GROUP (ORDER BY duration) AS p99,
    MAX(duration) AS max
FROM execution
GROUP BY action
ORDER BY action
"""

# Error types: how often each occurred and the first message seen (in reading order).
ERROR_TYPES_SQL = """
SELECT
    COALESCE(NULLIF(errorType, ''), 'UnknownError') AS type,
    COUNT(*) AS count,
    MIN_BY(SUBSTRING(COALESCE(errorMessage, ''), 1, 200), seq) AS example
FROM traces
WHERE error IS NOT NULL
GROUP BY COALESCE(NULLIF(errorType, ''), 'UnknownError')
ORDER BY count DESC, type
"""

# The slowest traces; ties go to the one read first. LIMIT is bound by the engine.
SLOWEST_SQL = """
SELECT
    COALESCE(NULLIF(actionId, ''), '?') AS actionId,
    COALESCE(NULLIF(actorId, ''), '?') AS actorId,
    duration,
    CASE status
        WHEN 'success' THEN 'success'
        WHEN 'failed' THEN 'failed'
        WHEN 'error' THEN 'error'
        WHEN 'pending' THEN 'pending'
        WHEN 'in_progress' THEN 'inProgress'
        ELSE 'unknown'
    END AS status,
    file,
    line,
    traceId
FROM traces
WHERE duration IS NOT NULL
ORDER BY duration DESC, seq
LIMIT {limit}
"""

# Per-operation statistics of the spans of structured traces.
OPERATIONS_SQL = """
SELECT
    operation,
    COUNT(*) AS count,
    AVG(duration) AS mean,
    PERCENTILE_DISC(0.95) WITHIN GROUP (ORDER BY duration) AS p95,
    MAX(duration) AS max,
    SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors
FROM spans
WHERE operation IS NOT NULL
GROUP BY operation
ORDER BY operation
"""

# How many traces of each type: execution traces are the rows of ``traces``; each structured
# trace has at least one row in ``spans``, all with its ``seq``.
TRACE_TYPES_SQL = """
SELECT 'execution' AS traceType, COUNT(*) AS count FROM traces
UNION ALL
SELECT traceType, COUNT(DISTINCT seq) AS count FROM spans GROUP BY traceType
"""

REPORT_QUERIES: dict[str, str] = {
    "traceTypes": TRACE_TYPES_SQL,
    "actions": ACTIONS_SQL,
    "errorTypes": ERROR_TYPES_SQL,
    "slowest": SLOWEST_SQL,
    "operations": OPERATIONS_SQL,
}
"""The report's queries by the report key each fills, over ``traces`` and ``spans``."""
