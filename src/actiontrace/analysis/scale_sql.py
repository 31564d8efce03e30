"""The SQL of the report at scale: the Parquet tables' columns, and the report's queries.

The report queries read two relations, ``traces`` (one row per execution trace) and ``spans`` (one
row per span of a structured trace), with exactly the columns of the Parquet files that
``actiontrace export --to parquet`` writes. They use standard SQL (CTEs, window functions,
``CASE``, ``min_by``), so the same text runs in DuckDB, which the ``--engine duckdb`` report runs,
and in Spark SQL, Trino or ClickHouse over the Parquet files; two percentile queries use DuckDB's
list of fractions and ``range`` for speed, and the scaling-out guide, which quotes every query,
gives their portable form.

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
]

TRACE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", "reading order of the trace among all traces read"),
    ("file", "VARCHAR", "the trace file it was read from"),
    ("line", "BIGINT", "its line in that file (1-based; position in the list for a .json file)"),
    ("traceId", "VARCHAR", "metadata.traceId (null unless 1 to 256 characters)"),
    ("spanId", "VARCHAR", "metadata.spanId"),
    ("parentSpanId", "VARCHAR", "metadata.parentSpanId (null for a root)"),
    ("actionId", "VARCHAR", "metadata.actionId ('?' when missing)"),
    ("actorId", "VARCHAR", "metadata.actorId ('?' when missing)"),
    ("createdAt", "VARCHAR", "metadata.createdAt (ISO-8601 text, as written)"),
    (
        "status",
        "VARCHAR",
        "success, failed, error, pending, in_progress or unknown (derived from the error or "
        "result when the written one is missing or unknown)",
    ),
    ("startEpochNs", "BIGINT", "execution.startEpochNs: wall-clock start, ns since the epoch"),
    ("startTime", "TIMESTAMP WITH TIME ZONE", "the same as a UTC timestamp (microseconds)"),
    ("duration", "DOUBLE", "execution.duration in ms (null when missing or out of range)"),
    ("errorType", "VARCHAR", "error.type ('UnknownError' when missing; null: no error)"),
    ("errorMessage", "VARCHAR", "error.message ('' when missing; null: no error)"),
    ("commandString", "VARCHAR", "turnAction.commandString"),
    ("samplingReason", "VARCHAR", "sampling.reason: error, failed, slow, linked or rate"),
    ("samplingRate", "DOUBLE", "sampling.rate: the sampler's rate, in (0, 1]"),
    ("payload", "VARCHAR", "eventPayload as JSON text"),
    ("customMetadata", "VARCHAR", "customMetadata as JSON text"),
    ("error", "VARCHAR", "the error record (type, message, stack, code, cause) as JSON text"),
)
"""``traces.parquet``: name, SQL type and meaning of each column, in order.

Values are the trace's fields as the report reads them: a text or number of the wrong type or out
of range is null (or the default named). JSON text columns are null when the value is null.
"""

SPAN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", "reading order of the trace (in the same order as traces.seq)"),
    ("file", "VARCHAR", "the trace file it was read from"),
    ("line", "BIGINT", "the trace's line in that file"),
    ("traceType", "VARCHAR", "metadata.traceType (structured, action_aware_structured, ...)"),
    ("traceId", "VARCHAR", "metadata.traceId (shared with the action it belongs to)"),
    ("spanIndex", "BIGINT", "position of the span in the trace's spans list (0-based)"),
    ("spanId", "VARCHAR", "the span's spanId"),
    ("parentId", "VARCHAR", "the span's parentId (null for a root span)"),
    ("operation", "VARCHAR", "the span's operation ('?' when missing)"),
    ("startTime", "DOUBLE", "the span's startTime (ms, on the trace's own clock)"),
    ("duration", "DOUBLE", "the span's duration in ms (null when missing or out of range)"),
    ("status", "VARCHAR", "active, success, failure, error or unknown"),
    ("attributes", "VARCHAR", "the span's attributes as JSON text"),
    ("error", "VARCHAR", "the span's error as JSON text"),
)
"""``spans.parquet``: one row per span of every trace that is not an execution trace; a trace
without spans (or of a type without them) has one row whose span columns (``spanIndex`` on) are
null, so every trace is counted."""


# A trace a sampler kept by rate r stands for 1/r traces; every other trace for itself. This is
# the one place the weighting lives: every estimate below sums this column.
WEIGHTED_SQL = """
SELECT *,
    CASE WHEN samplingReason = 'rate' AND samplingRate IS NOT NULL
        THEN CAST(1 AS DOUBLE) / samplingRate ELSE CAST(1 AS DOUBLE) END AS weight
FROM traces
"""

# Whether the figures are estimates (some trace was kept by rate), and the totals.
TOTALS_SQL = f"""
WITH weighted AS ({WEIGHTED_SQL})
SELECT
    SUM(CASE WHEN samplingReason = 'rate' AND samplingRate IS NOT NULL THEN 1 ELSE 0 END)
        AS sampled,
    SUM(CASE WHEN weight <> FLOOR(weight) THEN 1 ELSE 0 END) AS fractional,
    COUNT(*) AS kept,
    FLOOR(SUM(weight) + 0.5) AS total
FROM weighted
"""

# The per-action table: counts are sums of weights rounded half up (plain counts when nothing
# was sampled). Its percentiles come from one of the queries below.
ACTIONS_SQL = f"""
WITH weighted AS ({WEIGHTED_SQL})
SELECT
    actionId AS action,
    FLOOR(SUM(weight) + 0.5) AS count,
    FLOOR(SUM(CASE WHEN status = 'success' THEN weight ELSE 0 END) + 0.5) AS success,
    FLOOR(SUM(CASE WHEN status = 'failed' THEN weight ELSE 0 END) + 0.5) AS failed,
    FLOOR(SUM(CASE WHEN status = 'error' THEN weight ELSE 0 END) + 0.5) AS error,
    FLOOR(SUM(CASE WHEN status = 'pending' THEN weight ELSE 0 END) + 0.5) AS pending,
    FLOOR(SUM(CASE WHEN status = 'in_progress' THEN weight ELSE 0 END) + 0.5) AS inProgress,
    FLOOR(SUM(CASE WHEN status NOT IN ('success', 'failed', 'error', 'pending', 'in_progress')
        THEN weight ELSE 0 END) + 0.5) AS unknown,
    COUNT(*) AS kept,
    MAX(duration) AS max
FROM weighted
GROUP BY actionId
ORDER BY actionId
"""

# Percentiles of a run without sampling: nearest rank. DuckDB takes the three fractions as one
# list and sorts each action's durations once for all three (in Spark SQL, write three
# PERCENTILE_DISC(p) calls); it returns them as a list, in the order asked.
PERCENTILES_SQL = """
SELECT
    actionId AS action,
    PERCENTILE_DISC([0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration) AS percentiles
FROM traces
GROUP BY actionId
ORDER BY actionId
"""

# Percentiles of a sampled run: weighted nearest rank, the smallest duration whose cumulative
# weight (durations ascending) reaches p / 100 of the action's total weight.
WEIGHTED_PERCENTILES_SQL = f"""
WITH weighted AS ({WEIGHTED_SQL}),
ranked AS (
    SELECT
        actionId,
        duration,
        SUM(weight) OVER (PARTITION BY actionId ORDER BY duration, weight
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative,
        SUM(weight) OVER (PARTITION BY actionId) AS total
    FROM weighted
    WHERE duration IS NOT NULL
)
SELECT
    actionId AS action,
    COALESCE(MIN(CASE WHEN cumulative >= CAST(50 AS DOUBLE) / 100 * total THEN duration END),
        MAX(duration)) AS p50,
    COALESCE(MIN(CASE WHEN cumulative >= CAST(95 AS DOUBLE) / 100 * total THEN duration END),
        MAX(duration)) AS p95,
    COALESCE(MIN(CASE WHEN cumulative >= CAST(99 AS DOUBLE) / 100 * total THEN duration END),
        MAX(duration)) AS p99
FROM ranked
GROUP BY actionId
ORDER BY actionId
"""

# The same when every weight is a whole number (every 1/rate is: 0.5, 0.25, 0.1...), as DuckDB
# runs it when the copies are few: a trace of weight w counted w times, then the plain nearest
# rank. The same figures as the query above, without its window over every trace. Only the
# sampled traces are copied (measured: a fifth faster than copying every trace once). At a low
# rate the copies outnumber the traces many times over (rate 0.001: a thousand each), and the
# query above is the faster one. (DuckDB's ``range`` table function; in Spark SQL,
# ``LATERAL VIEW explode(sequence(1, CAST(weight AS INT)))`` does the same.)
WHOLE_WEIGHT_PERCENTILES_SQL = f"""
WITH weighted AS ({WEIGHTED_SQL}),
copies AS (
    SELECT actionId, duration FROM weighted WHERE duration IS NOT NULL AND weight = 1
    UNION ALL
    SELECT actionId, duration FROM weighted, range(CAST(weight AS BIGINT)) AS copies(n)
    WHERE duration IS NOT NULL AND weight > 1
)
SELECT
    actionId AS action,
    PERCENTILE_DISC([0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration) AS percentiles
FROM copies
GROUP BY actionId
ORDER BY actionId
"""

# Error types: how often each occurred (an estimate in a sampled run) and the first message seen.
ERROR_TYPES_SQL = f"""
WITH weighted AS ({WEIGHTED_SQL})
SELECT
    errorType AS type,
    FLOOR(SUM(weight) + 0.5) AS count,
    MIN_BY(SUBSTRING(errorMessage, 1, 200), seq) AS example
FROM weighted
WHERE errorType IS NOT NULL
GROUP BY errorType
ORDER BY count DESC, type
"""

# The slowest traces as kept; ties go to the one read first. LIMIT is bound by the engine.
SLOWEST_SQL = """
SELECT actionId, actorId, duration, status, file, line, traceId
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
WHERE spanIndex IS NOT NULL AND traceType IN ('structured', 'action_aware_structured')
GROUP BY operation
ORDER BY operation
"""

# The same per-operation figures with the p95 found by each span's rank among its operation's
# durations instead of PERCENTILE_DISC: a sort, which spills to disk, where PERCENTILE_DISC holds
# every duration of an operation in memory at once (the engine takes this one when the spans'
# durations are more than its memory limit holds). Nearest rank, as above: the smallest duration
# at a rank of at least 95 / 100 of the operation's timed spans.
RANKED_OPERATIONS_SQL = """
WITH ranked AS (
    SELECT
        operation,
        duration,
        status,
        ROW_NUMBER() OVER (PARTITION BY operation ORDER BY duration NULLS LAST) AS position,
        COUNT(duration) OVER (PARTITION BY operation) AS timed
    FROM spans
    WHERE spanIndex IS NOT NULL AND traceType IN ('structured', 'action_aware_structured')
)
SELECT
    operation,
    COUNT(*) AS count,
    AVG(duration) AS mean,
    MIN(CASE WHEN duration IS NOT NULL AND position >= CAST(95 AS DOUBLE) / 100 * timed
        THEN duration END) AS p95,
    MAX(duration) AS max,
    SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors
FROM ranked
GROUP BY operation
ORDER BY operation
"""

# How many traces of each type: execution traces are the rows of ``traces``; every other trace
# has at least one row in ``spans``, all with its ``seq``.
TRACE_TYPES_SQL = """
SELECT 'execution' AS traceType, COUNT(*) AS count FROM traces
UNION ALL
SELECT traceType, COUNT(DISTINCT seq) AS count FROM spans GROUP BY traceType
"""

REPORT_QUERIES: dict[str, str] = {
    "traceTypes": TRACE_TYPES_SQL,
    "totals": TOTALS_SQL,
    "actions": ACTIONS_SQL,
    "percentiles": PERCENTILES_SQL,
    "weightedPercentiles": WEIGHTED_PERCENTILES_SQL,
    "wholeWeightPercentiles": WHOLE_WEIGHT_PERCENTILES_SQL,
    "errorTypes": ERROR_TYPES_SQL,
    "slowest": SLOWEST_SQL,
    "operations": OPERATIONS_SQL,
    "rankedOperations": RANKED_OPERATIONS_SQL,
}
"""The report's queries by name, over ``traces`` and ``spans``.

``percentiles`` gives the per-action percentiles of a run without sampling;
``weightedPercentiles`` gives them when ``totals`` says some trace was sampled by rate (with
every weight 1 it gives the same figures, only slower); ``wholeWeightPercentiles`` gives the
same figures faster when no weight has a fraction. ``percentiles`` and
``wholeWeightPercentiles`` answer p50, p95 and p99 as one list. ``percentiles``,
``wholeWeightPercentiles`` and ``operations`` hold the durations they rank in memory;
``weightedPercentiles`` and ``rankedOperations`` give the same figures by sorting, which spills
to disk when the memory does not hold them.
"""
