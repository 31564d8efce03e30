"""``report --engine duckdb``: the report computed by DuckDB (extra ``actiontrace[scale]``).

Two sources, one set of queries (``scale_sql.REPORT_QUERIES``):

* trace files (``*.jsonl``, ``*.jsonl.gz``, ``*.json``), found by the reader's own discovery (so
  hidden folders and links leaving the folder stay out). DuckDB reads every line as text and
  checks it as the Python reader does: a line that is not a JSON object with a ``metadata``
  object, longer than ``MAX_LINE_BYTES``, or not valid UTF-8 is damaged. Lines DuckDB's parser
  accepts but the Python reader refuses (``NaN``/``Infinity`` literals, nesting deeper than 512)
  are rare and tell-tale; such lines are handed to the Python reader's own parser to decide.
* the folder ``actiontrace export --to parquet`` wrote (``traces.parquet``, ``spans.parquet``).

Memory is bounded by DuckDB's ``memory_limit``; past it DuckDB spills to a temporary folder.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from ..output.reader import ReadStats, _folder_files, _is_trace, _parse_fast, scan_traces
from .report import DEFAULT_SLOWEST, ActionStats, ErrorTypeStats, OperationStats, Report, SlowTrace
from .scale_rows import is_execution, span_rows, trace_row
from .scale_sql import REPORT_QUERIES

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "EXTRA_MESSAGE",
    "MAX_LINE_BYTES",
    "MissingExtraError",
    "connect",
    "is_parquet_folder",
    "report_duckdb",
]

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit for a report or an export; past it, DuckDB spills to disk."""

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Longest trace line read (bytes); a longer line is damaged."""

MAX_DEPTH = 512
"""Deepest nesting a trace line may have; a deeper one is damaged."""

EXTRA_MESSAGE = "the duckdb engine needs the scale extra: pip install 'actiontrace[scale]'"
"""What a user without DuckDB is told."""

TRACES_FILE = "traces.parquet"
SPANS_FILE = "spans.parquet"
READ_KEYS = {
    "files": "actiontrace.files",
    "corrupt": "actiontrace.corrupt",
    "torn": "actiontrace.torn",
    "unreadable": "actiontrace.unreadable",
}
"""Key-value metadata of ``traces.parquet``: what reading the traces met when they were exported."""

# A line no DuckDB reader can split further: columns on NUL (no JSON text holds a raw NUL, so a
# line with one lands a second column and is damaged), no quoting, every line kept in order.
# Lines longer than the buffer are skipped by DuckDB and recorded in its rejects table.
_READ_LINES = (
    "read_csv($files, columns={'text': 'VARCHAR', 'rest': 'VARCHAR'}, delim=chr(0), quote='', "
    "escape='', header=false, auto_detect=false, strict_mode=false, null_padding=true, "
    "filename=true, max_line_size=$max_line, store_rejects=true, rejects_scan='at_scans', "
    "rejects_table='at_rejects')"
)

_PATHS = (
    "$.metadata",
    "$.metadata.traceType",
    "$.metadata.traceId",
    "$.metadata.actionId",
    "$.metadata.actorId",
    "$.execution",
    "$.execution.status",
    "$.execution.duration",
    "$.error",
    "$.result.success",
    "$.sampling.reason",
    "$.sampling.rate",
    "$.spans",
)
_AT = {path: index + 1 for index, path in enumerate(_PATHS)}


def _x(path: str) -> str:
    return f"c{_AT[path]}"


def _string(path: str) -> str:
    """Return SQL for the value at ``path`` when it is a JSON string, else NULL.

    The values are JSON texts: a string starts with a quote, and only one holding an escape needs
    the JSON parser to read it.
    """
    c = _x(path)
    return (
        f"CASE WHEN starts_with({c}, '\"') THEN CASE WHEN contains({c}, '\\') "
        f"THEN CAST({c} AS JSON) ->> '$' ELSE {c}[2:-2] END END"
    )


def _number(expr: str) -> str:
    """Return SQL for a JSON number that is finite and >= 0 as DOUBLE, else NULL."""
    return (
        f"CASE WHEN isfinite(TRY_CAST({expr} AS DOUBLE)) AND TRY_CAST({expr} AS DOUBLE) >= 0 "
        f"AND {expr} NOT IN ('true', 'false') THEN TRY_CAST({expr} AS DOUBLE) END"
    )


def _truthy(expr: str) -> str:
    """Return SQL for the Python truthiness of a JSON value (NULL for null or missing)."""
    return (
        f"CASE WHEN {expr} IS NULL OR {expr} = 'null' THEN NULL "
        f"WHEN {expr} IN ('false', '\"\"', '[]', '{{}}') THEN false "
        f"WHEN {expr} = 'true' OR starts_with({expr}, '\"') OR starts_with({expr}, '[') "
        f"OR starts_with({expr}, '{{') THEN true "
        f"ELSE TRY_CAST({expr} AS DOUBLE) <> 0 END"
    )


# Lines DuckDB's parser accepts but the Python reader may refuse: NaN/Infinity literals (DuckDB
# reads them as numbers), nesting deeper than MAX_DEPTH (needs that many brackets).
_SUSPECT = (
    "(contains(text, 'NaN') OR contains(text, 'Infinity') "
    f"OR strlen(text) - strlen(replace(replace(text, '[', ''), '{{', '')) > {MAX_DEPTH})"
)

_TYPE = _x("$.metadata.traceType")
_ERROR = _x("$.error")
_COLUMNS = ", ".join(f"CAST(x[{index}] AS VARCHAR) AS c{index}" for index in _AT.values())

# One pass over every line: its kind (blank, damaged, suspect, trace) and the values the report
# needs. Each line is parsed once (the extracted values are small JSON texts, cheap to read).
_LINES_SQL = f"""
INSERT INTO at_lines
WITH raw AS (
    SELECT filename, ordinality AS ord, text, rest,
        CASE WHEN rest IS NULL AND strlen(text) <= {MAX_LINE_BYTES}
             THEN TRY(json_extract(text, {list(_PATHS)!r})) END AS x
    FROM {_READ_LINES} WITH ORDINALITY
),
parsed AS (
    SELECT filename, ord, text, starts_with(CAST(x[1] AS VARCHAR), '{{') AS ok, {_COLUMNS}
    FROM raw
)
SELECT
    f.idx,
    ord,
    CASE
        WHEN ok THEN CASE WHEN {_SUSPECT} THEN 'suspect' ELSE 'trace' END
        WHEN text IS NULL OR trim(text, chr(32) || chr(9) || chr(11) || chr(12) || chr(13)) = ''
            THEN 'blank'
        ELSE 'damaged'
    END AS kind,
    CASE WHEN ok AND {_SUSPECT} THEN text END AS suspect,
    coalesce({_string("$.metadata.traceType")}, 'execution') AS traceType,
    coalesce({_TYPE}, 'null') = 'null' OR {_TYPE} = '"execution"' AS isExecution,
    {_string("$.metadata.traceId")} AS traceId,
    {_string("$.metadata.actionId")} AS actionId,
    {_string("$.metadata.actorId")} AS actorId,
    CASE
        WHEN coalesce({_x("$.execution.status")}, 'null') <> 'null'
            THEN {_string("$.execution.status")}
        WHEN coalesce({_ERROR}, 'null') <> 'null' THEN 'error'
        WHEN {_truthy(_x("$.result.success"))} THEN 'success'
        WHEN NOT {_truthy(_x("$.result.success"))} THEN 'failed'
    END AS status,
    {_number(_x("$.execution.duration"))} AS duration,
    CASE WHEN starts_with({_ERROR}, '{{') THEN {_ERROR} END AS error,
    CASE WHEN starts_with({_ERROR}, '{{') AND json_type({_ERROR}, '$.type') = 'VARCHAR'
        THEN {_ERROR} ->> '$.type' END AS errorType,
    CASE WHEN starts_with({_ERROR}, '{{') AND json_type({_ERROR}, '$.message') = 'VARCHAR'
        THEN {_ERROR} ->> '$.message' END AS errorMessage,
    {_string("$.sampling.reason")} AS samplingReason,
    CASE WHEN {_x("$.sampling.rate")} NOT IN ('true', 'false')
        THEN TRY_CAST({_x("$.sampling.rate")} AS DOUBLE) END AS samplingRate,
    CASE WHEN starts_with({_x("$.spans")}, '[') THEN CAST({_x("$.spans")} AS JSON) END AS spans
FROM parsed JOIN at_files AS f ON f.path = parsed.filename
"""


class MissingExtraError(ImportError):
    """DuckDB is not installed: the ``scale`` extra is needed."""


def _duckdb() -> Any:
    try:
        import duckdb  # noqa: PLC0415 - the optional extra, imported only when asked for
    except ImportError as error:
        raise MissingExtraError(EXTRA_MESSAGE) from error
    return duckdb


def connect(
    memory_limit: str = DEFAULT_MEMORY_LIMIT, temp_directory: str | os.PathLike[str] | None = None
) -> Any:
    """Open an in-memory DuckDB with a memory limit, spilling to ``temp_directory``.

    Raises ``MissingExtraError`` without the ``scale`` extra.
    """
    duckdb = _duckdb()
    connection = duckdb.connect(":memory:")
    connection.execute(f"SET memory_limit = '{_limit(memory_limit)}'")
    spill = os.fspath(temp_directory) if temp_directory is not None else tempfile.gettempdir()
    connection.execute("SET temp_directory = $dir", {"dir": spill})
    connection.execute("SET preserve_insertion_order = true")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET enable_progress_bar = false")
    return connection


def _limit(value: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    number = text.rstrip("KMGTiBkb ")
    if not number or not number.replace(".", "", 1).isdigit() or len(text) > 16:
        raise InvalidArgumentError(f"memory_limit must look like '1GB', got {value!r}")
    return text


def is_parquet_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder ``export --to parquet`` wrote (it holds ``traces.parquet``)."""
    return (Path(path) / TRACES_FILE).is_file()


@contextmanager
def _connection(memory_limit: str, temp_directory: str | None) -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="actiontrace-duckdb-", dir=temp_directory) as spill:
        connection = connect(memory_limit, spill)
        try:
            yield connection
        finally:
            connection.close()


def report_duckdb(
    path: str | os.PathLike[str],
    *,
    slowest: int = DEFAULT_SLOWEST,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    temp_directory: str | None = None,
) -> Report:
    """Compute ``report_path``'s report with DuckDB, over trace files or an export folder.

    Adds ``files`` and the damage DuckDB counted (``corrupt``; ``torn`` and ``unreadable`` stay
    0: DuckDB cannot tell a torn last line from a corrupt one). A missing ``path`` raises
    ``FileNotFoundError``; no DuckDB raises ``MissingExtraError``.
    """
    if isinstance(slowest, bool) or not isinstance(slowest, int) or slowest < 0:
        raise InvalidArgumentError("slowest must be an int >= 0")
    root = Path(os.fspath(path))
    if not root.exists():
        raise FileNotFoundError(2, "No such trace file or folder", os.fspath(path))
    with _connection(memory_limit, temp_directory) as connection:
        if is_parquet_folder(root):
            _parquet_views(connection, root)
            report = _report(connection, slowest)
            read = _export_read_stats(connection, root)
            report["files"] = read.get("files", 0)
            report["corrupt"] = read.get("corrupt", 0)
            report["torn"] = read.get("torn", 0)
            report["unreadable"] = read.get("unreadable", 0)
            return report
        files = _folder_files(root) if root.is_dir() else [root]
        stats = _load_files(connection, [str(file) for file in files])
        report = _report(connection, slowest)
        report["files"] = stats.files
        report["corrupt"] = stats.corrupt
        report["torn"] = stats.torn
        report["unreadable"] = stats.unreadable
        return report


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _parquet_views(connection: Any, root: Path) -> None:
    for name, file in (("traces", TRACES_FILE), ("spans", SPANS_FILE)):
        source = _literal(str(root / file))
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet({source})"
        )


def _export_read_stats(connection: Any, root: Path) -> dict[str, int]:
    """Return what reading met when the export was written (``traces.parquet``'s metadata)."""
    names = {key.encode(): name for name, key in READ_KEYS.items()}
    found: dict[str, int] = {}
    rows = connection.execute(
        f"SELECT key, value FROM parquet_kv_metadata({_literal(str(root / TRACES_FILE))})"
    ).fetchall()
    for key, value in rows:
        name = names.get(bytes(key))
        if name is not None and bytes(value).isdigit():
            found[name] = int(bytes(value))
    return found


def _json_lines_ok(text: str) -> bool:
    """Judge one line as the Python reader does: a trace (True) or damaged."""
    try:
        value = _parse_fast(text.encode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return False
    return _is_trace(value) and _depth_ok(value) and _finite(value)


def _depth_ok(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def _finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


# File names DuckDB would expand as a glob pattern: such files go to the Python reader.
_GLOB_CHARS = frozenset("*?[]{}")
_SEQ_SHIFT = 40  # seq = file index << 40 | position in the file: reading order across files

_LINE_COLUMNS = (
    "idx BIGINT, ord BIGINT, kind VARCHAR, suspect VARCHAR, traceType VARCHAR, "
    "isExecution BOOLEAN, traceId VARCHAR, actionId VARCHAR, actorId VARCHAR, status VARCHAR, "
    "duration DOUBLE, error VARCHAR, errorType VARCHAR, errorMessage VARCHAR, "
    "samplingReason VARCHAR, samplingRate DOUBLE, spans JSON"
)
_REPORT_TRACE_COLUMNS = (
    "seq BIGINT, file VARCHAR, line BIGINT, traceId VARCHAR, actionId VARCHAR, actorId VARCHAR, "
    "status VARCHAR, duration DOUBLE, error VARCHAR, errorType VARCHAR, errorMessage VARCHAR, "
    "samplingReason VARCHAR, samplingRate DOUBLE"
)
_REPORT_SPAN_COLUMNS = (
    "seq BIGINT, file VARCHAR, line BIGINT, traceType VARCHAR, traceId VARCHAR, "
    "operation VARCHAR, duration DOUBLE, status VARCHAR"
)

_SETUP_SQL = f"""
CREATE OR REPLACE TEMP TABLE at_files (idx BIGINT, path VARCHAR);
CREATE OR REPLACE TEMP TABLE at_lines ({_LINE_COLUMNS});
CREATE OR REPLACE TEMP TABLE at_py_traces ({_REPORT_TRACE_COLUMNS});
CREATE OR REPLACE TEMP TABLE spans ({_REPORT_SPAN_COLUMNS});
"""

# The relations the report's queries read: lines DuckDB read, and rows of the Python reader.
_VIEWS_SQL = f"""
CREATE OR REPLACE TEMP TABLE at_starts AS
SELECT idx, min(ord) AS first FROM at_lines GROUP BY idx;

CREATE OR REPLACE TEMP VIEW at_traces AS
SELECT (l.idx << {_SEQ_SHIFT}) + (l.ord - s.first) AS seq, f.path AS file,
       l.ord - s.first + 1 AS line, l.*
FROM at_lines AS l JOIN at_files AS f USING (idx) JOIN at_starts AS s USING (idx)
WHERE l.kind = 'trace';

CREATE OR REPLACE TEMP VIEW traces AS
SELECT seq, file, line, traceId, actionId, actorId, status, duration, error, errorType,
       errorMessage, samplingReason, samplingRate
FROM at_traces WHERE isExecution
UNION ALL
SELECT * FROM at_py_traces;

INSERT INTO spans
WITH items AS (
    SELECT seq, file, line, traceType, traceId,
           unnest(CASE WHEN json_array_length(spans) > 0
                  THEN json_extract(spans, '$[*]') ELSE [NULL::JSON] END) AS span
    FROM at_traces
    WHERE NOT isExecution
)
SELECT seq, file, line, traceType, traceId,
    CASE WHEN json_type(span, '$.operation') = 'VARCHAR' THEN span ->> '$.operation' END,
    CASE WHEN json_type(span, '$.duration') IN ('DOUBLE', 'UBIGINT', 'BIGINT', 'HUGEINT')
        AND isfinite(TRY_CAST(span ->> '$.duration' AS DOUBLE))
        AND TRY_CAST(span ->> '$.duration' AS DOUBLE) >= 0
        THEN TRY_CAST(span ->> '$.duration' AS DOUBLE) END,
    CASE WHEN json_type(span, '$.status') = 'VARCHAR' THEN span ->> '$.status' END
FROM items
WHERE span IS NULL OR json_type(span) = 'OBJECT';
"""


def _load_files(connection: Any, files: Sequence[str]) -> ReadStats:
    """Load the lines of ``files`` for the report's relations; return what reading met."""
    stats = ReadStats()
    connection.execute(_SETUP_SQL)
    by_duckdb = [
        (index, file)
        for index, file in enumerate(files)
        if not file.lower().endswith(".json") and not _GLOB_CHARS.intersection(file)
    ]
    if by_duckdb:
        by_duckdb = _read_lines(connection, by_duckdb, stats)
    in_duckdb = {index for index, _ in by_duckdb}
    for index, file in enumerate(files):
        if index not in in_duckdb:
            _read_python(connection, index, file, stats)
    connection.execute(_VIEWS_SQL)
    return stats


def _readable(file: str) -> bool:
    """Whether DuckDB can read ``file`` whole: it opens, and a gzip file decompresses."""
    try:
        with open(file, "rb"):
            if not file.lower().endswith(".gz"):
                return True
        with gzip.open(file, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


def _read_lines(
    connection: Any, files: list[tuple[int, str]], stats: ReadStats
) -> list[tuple[int, str]]:
    """Read ``files`` with DuckDB; return those it read (the others go to the Python reader)."""
    duckdb = _duckdb()
    try:
        _scan(connection, files)
    except duckdb.Error:
        # A file DuckDB cannot read whole (unreadable, a damaged gzip stream): the Python reader
        # reads what it can of it and counts the rest, as the Python engine does.
        connection.execute("DELETE FROM at_lines")
        files = [(index, file) for index, file in files if _readable(file)]
        if not files:
            return files
        _scan(connection, files)
    stats.files += len(files)
    counts = dict(
        connection.execute("SELECT kind, count(*) FROM at_lines GROUP BY kind").fetchall()
    )
    rejected = connection.execute("SELECT count(*) FROM at_rejects").fetchone()[0]
    stats.corrupt += int(counts.get("damaged", 0)) + int(rejected)
    stats.traces += int(counts.get("trace", 0))
    return files


def _scan(connection: Any, files: list[tuple[int, str]]) -> None:
    connection.execute("DELETE FROM at_files")
    connection.executemany("INSERT INTO at_files VALUES (?, ?)", files)
    connection.execute(
        _LINES_SQL,
        {"files": [file for _, file in files], "max_line": MAX_LINE_BYTES + 2},
    )
    _resolve_suspects(connection)


def _resolve_suspects(connection: Any) -> None:
    """Let the Python reader's parser judge the lines DuckDB's parser is laxer about."""
    cursor = connection.execute("SELECT ord, suspect FROM at_lines WHERE kind = 'suspect'")
    verdicts: list[tuple[int, str]] = []
    while batch := cursor.fetchmany(1000):
        verdicts.extend(
            (ord_, "trace" if _json_lines_ok(text) else "damaged") for ord_, text in batch
        )
    if not verdicts:
        return
    connection.execute("CREATE OR REPLACE TEMP TABLE at_verdicts (ord BIGINT, kind VARCHAR)")
    connection.executemany("INSERT INTO at_verdicts VALUES (?, ?)", verdicts)
    connection.execute(
        "UPDATE at_lines SET kind = v.kind FROM at_verdicts AS v WHERE at_lines.ord = v.ord"
    )


def _read_python(connection: Any, index: int, file: str, stats: ReadStats) -> None:
    """Read one file with the Python reader into ``traces`` and ``spans``."""
    trace_rows: list[tuple[Any, ...]] = []
    span_rows_: list[tuple[Any, ...]] = []
    base = index << _SEQ_SHIFT
    try:
        for record in scan_traces(file, stats, fast=True):
            trace, line = record.trace, record.line
            if is_execution(trace):
                row = trace_row(trace, file, line, base + line)
                trace_rows.append(
                    (
                        *row[:3],
                        row[3],
                        row[6],
                        row[7],
                        row[9],
                        row[12],
                        row[20],
                        row[13],
                        row[14],
                        row[16],
                        row[17],
                    )
                )
            else:
                for span in span_rows(trace, file, line, base + line):
                    span_rows_.append((*span[:5], span[8], span[10], span[11]))
    except OSError:
        stats.unreadable += 1
        stats._note(file, 0)
    if trace_rows:
        connection.executemany(
            f"INSERT INTO at_py_traces VALUES ({', '.join('?' * 13)})", trace_rows
        )
    if span_rows_:
        connection.executemany(f"INSERT INTO spans VALUES ({', '.join('?' * 8)})", span_rows_)


def _rejected_lines(connection: Any, file: str) -> list[int]:
    try:
        rows = connection.execute(
            "SELECT r.line FROM at_rejects AS r JOIN at_scans AS s USING (scan_id, file_id) "
            "WHERE s.file_path = $file ORDER BY r.line",
            {"file": file},
        ).fetchall()
    except _duckdb().Error:  # no DuckDB scan ran (only Python-read files)
        return []
    return sorted({int(line) for (line,) in rows})


def _physical_line(line: int, rejected: list[int]) -> int:
    """Return the file line of the ``line``-th line DuckDB kept, given those it rejected."""
    for skipped in rejected:
        if skipped <= line:
            line += 1
        else:
            break
    return line


def _report(connection: Any, slowest: int) -> Report:
    q = REPORT_QUERIES
    types: dict[str, int] = {}
    for kind, count in connection.execute(q["traceTypes"]).fetchall():
        if count:
            types[kind] = types.get(kind, 0) + int(count)
    actions: dict[str, ActionStats] = {}
    for row in connection.execute(q["actions"]).fetchall():
        actions[row[0]] = {
            "count": int(row[1]),
            "success": int(row[2]),
            "failed": int(row[3]),
            "error": int(row[4]),
            "pending": int(row[5]),
            "inProgress": int(row[6]),
            "unknown": int(row[7]),
            "p50": _float(row[8]),
            "p95": _float(row[9]),
            "p99": _float(row[10]),
            "max": _float(row[11]),
        }
    errors: dict[str, ErrorTypeStats] = {
        kind: {"count": int(count), "example": example}
        for kind, count, example in connection.execute(q["errorTypes"]).fetchall()
    }
    slow: list[SlowTrace] = []
    if slowest > 0:
        rejected: dict[str, list[int]] = {}
        for action, actor, duration, status, file, line, trace_id in connection.execute(
            q["slowest"].format(limit=int(slowest))
        ).fetchall():
            if file not in rejected:
                rejected[file] = _rejected_lines(connection, file)
            entry: SlowTrace = {
                "actionId": action,
                "actorId": actor,
                "duration": float(duration),
                "status": status,
                "file": file,
                "line": _physical_line(int(line), rejected[file]),
            }
            if trace_id is not None:
                entry["traceId"] = trace_id
            slow.append(entry)
    operations: dict[str, OperationStats] = {
        name: {
            "count": int(count),
            "mean": _float(mean),
            "p95": _float(p95),
            "max": _float(top),
            "errors": int(errors_),
        }
        for name, count, mean, p95, top, errors_ in connection.execute(q["operations"]).fetchall()
    }
    total = sum(types.values())
    return {
        "total": total,
        "traceTypes": dict(sorted(types.items())),
        "actions": dict(sorted(actions.items())),
        "errorTypes": dict(sorted(errors.items(), key=lambda item: (-item[1]["count"], item[0]))),
        "slowest": slow,
        "operations": dict(sorted(operations.items())),
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
