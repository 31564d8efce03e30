"""``report --engine duckdb``: the report computed by DuckDB (extra ``actiontrace[scale]``).

Two sources, one set of queries (``scale_sql.REPORT_QUERIES``):

* trace files (``*.jsonl``, ``*.jsonl.gz``, ``*.json``), found by the reader's own discovery (so
  hidden folders and links leaving the folder stay out). DuckDB reads every line as text and
  checks it as the Python reader does: a line that is not a JSON object with a ``metadata``
  object, longer than ``MAX_LINE_BYTES``, or not valid UTF-8 is damaged. Lines DuckDB's parser
  accepts but the Python reader refuses (``NaN``/``Infinity`` literals, a comma before a closing
  bracket, nesting deeper than 512) are rare and tell-tale; such lines are handed to the Python
  reader's parser, whose verdict stands for them.
* the folder ``actiontrace export --to parquet`` wrote (``traces.parquet``, ``spans.parquet``).

Memory is bounded by DuckDB's ``memory_limit``; past it DuckDB spills to a temporary folder.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from ..output import records as _records
from ..output.discovery import TraceFile, discover_trace_files
from ..output.lines import MAX_LINE_BYTES
from ..output.reader import ReadStats, read_file_records
from ..output.records import (
    MAX_DEPTH,
    SPAN_STATUSES,
    STATUSES,
    STRUCTURED_TYPES,
    TraceRecord,
    is_trace_value,
    parse_value,
)
from .report import (
    _STATUS_KEYS,
    DEFAULT_SLOWEST,
    ActionStats,
    ErrorTypeStats,
    OperationStats,
    Report,
    SlowTrace,
)
from .scale_rows import is_execution, span_rows, trace_row
from .scale_sql import REPORT_QUERIES

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "EXTRA_MESSAGE",
    "MAX_LINE_BYTES",
    "EngineError",
    "MissingExtraError",
    "connect",
    "engine_errors",
    "is_parquet_folder",
    "report_duckdb",
]

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit for a report or an export; past it, DuckDB spills to disk."""

# The read path's limits, so both engines draw the same lines.
TIME_LIMIT_MS = _records._TIME_LIMIT
MAX_ID_CHARS = _records._ID_CHARS
SAMPLING_REASONS = tuple(sorted(_records._REASONS))

EXTRA_MESSAGE = "the duckdb engine needs the scale extra: pip install 'actiontrace[scale]'"
"""What a user without DuckDB is told."""

TRACES_FILE = "traces.parquet"
SPANS_FILE = "spans.parquet"
READ_KEYS = {
    "files": "actiontrace.files",
    "corrupt": "actiontrace.corrupt",
    "torn": "actiontrace.torn",
    "unreadable": "actiontrace.unreadable",
    "skipped": "actiontrace.skipped",
}
"""Key-value metadata of ``traces.parquet``: what reading the traces met when they were exported."""

# Every line as one text column, blank ones included (as NULL), in order: columns split on NUL and
# no quoting, so a line holding a raw NUL (never JSON text) has too many columns. Such lines,
# lines longer than the limit and lines that are not UTF-8 are skipped by DuckDB and recorded in
# its rejects table: counted as damaged, and the line numbers after them corrected.
_SEQ_SHIFT = 40  # seq = file index << 40 | position in the file: reading order across files
_LINE_MASK = (1 << _SEQ_SHIFT) - 1

_READ_OPTIONS = (
    "columns={'text': 'VARCHAR'}, delim=chr(0), quote='', escape='', header=false, "
    "auto_detect=false, max_line_size=$max_line, buffer_size=$buffer, store_rejects=true, "
    "rejects_scan='at_scans{rejects}', rejects_table='at_rejects{rejects}'"
)
_SCAN_OPTIONS = _READ_OPTIONS.replace("{rejects}", "")
_IDS_OPTIONS = _READ_OPTIONS.replace("{rejects}", "_ids")  # its rejects stay apart

# A string at $.metadata.traceType implies that the line is an object and its metadata one too.
# Each path in the list costs every line (measured: 11 paths 1.29 us a line, 8 paths 1.16 us),
# so the values only a few lines need are not read here: the result when the status is missing
# or unknown, the spans of a structured trace, and the trace and actor ids (only the slowest
# traces show them: see ``_ids_from``) are taken from the line again on those lines only.
# Reading the two ids on every line cost 10% of the CPU on 1,000,000 traces.
_PATHS = (
    "$.metadata.traceType",
    "$.metadata.actionId",
    "$.execution.status",
    "$.execution.duration",
    "$.error",
    "$.sampling.reason",
    "$.sampling.rate",
)
_AT = {path: f"c{index + 1}" for index, path in enumerate(_PATHS)}
_AT["$.result.success"] = "c_success"
_ID_PATHS = ["$.metadata.traceId", "$.metadata.actorId"]


def _x(path: str) -> str:
    return _AT[path]


def _string(path: str) -> str:
    """Return SQL for the value at ``path`` when it is a JSON string, else NULL."""
    return _text_string(_x(path))


def _text_string(c: str) -> str:
    """Return SQL for the string the JSON text ``c`` holds, else NULL.

    The values are JSON texts: a string starts with a quote, and only one holding an escape needs
    the JSON parser to read it. (``substr`` with a length is measured faster than a slice
    ``[2:-2]`` on a 32-character id: 0.04 us against 0.10.)
    """
    return (
        f"CASE WHEN starts_with({c}, '\"') THEN CASE WHEN contains({c}, '\\') "
        f"THEN CAST({c} AS JSON) ->> '$' ELSE substr({c}, 2, length({c}) - 2) END END"
    )


def _number(expr: str) -> str:
    """Return SQL for a JSON number as DOUBLE (NULL for anything else, ``true`` included).

    ``TRY_CAST`` alone draws the line: a JSON text that is not a number (a string starts with
    a quote; ``true``, ``false``, ``null``, objects, arrays) does not cast to DOUBLE.
    """
    return f"TRY_CAST({expr} AS DOUBLE)"


def _one_of(path: str, values: Sequence[str], enum: str) -> str:
    """Return SQL for the value at ``path`` when it is a JSON string among ``values``, else NULL.

    One comparison of the JSON text: DuckDB writes the values it extracts afresh, escaping only
    what must be, so a value the line spells with escapes is written plainly too. The value is
    of the ``enum`` type the lines' table stores (measured: 4% less CPU than casting text).
    """
    plain = " ".join(f"WHEN '\"{value}\"' THEN '{value}'::{enum}" for value in values)
    return f"CASE {_x(path)} {plain} END"


def _truthy(expr: str) -> str:
    """Return SQL for the Python truthiness of a JSON value (``null`` is false)."""
    return (
        f"CASE WHEN {expr} IN ('null', 'false', '\"\"', '[]', '{{}}') THEN false "
        f"WHEN {expr} = 'true' OR starts_with({expr}, '\"') OR starts_with({expr}, '[') "
        f"OR starts_with({expr}, '{{') THEN true "
        f"ELSE TRY_CAST({expr} AS DOUBLE) <> 0 END"
    )


# Lines DuckDB's parser accepts but the reading rules refuse, found by cheap searches: NaN and
# Infinity literals, a comma before a closing bracket (DuckDB's parser allows a trailing comma),
# nesting deeper than MAX_DEPTH (more opening brackets than that; see _DEEP_BYTES for the lines
# too short to hold them). The Python reader's own parser judges these few. DuckDB itself refuses
# lone surrogate escapes, invalid UTF-8 and raw NUL bytes. Three rules are left to the Python
# engine alone: a number literal JSON does not have (``nan`` or ``inf`` in another spelling than
# NaN and Infinity) or too large for a float (1e400) makes the Python reader drop the line, and
# a key written twice is read as its last value by Python, its first by DuckDB.
# Written as one CASE so each search runs only on the lines the ones before it let through (in a
# projection, an OR runs every side on every line): the bracket count runs on long lines only.
# DuckDB looks for a needle's first character, then compares byte by byte from there: 'NaN'
# costs little ('N' comes late in a trace, if at all), 'Infinity' more (an 'I' comes early, in
# actionId: about a twentieth of the scan), the comma before a bracket most (a seventh: the
# comma is everywhere).
# Nesting d deep takes d containers one in another: two brackets each, and for each object
# holding the next one a key and a colon (3 bytes at least: "":), all but the last. So with A
# opening square brackets in a line of L bytes, d <= (L + 3 * A + 3) / 5, and a line deeper than
# MAX_DEPTH has L + 3 * A >= _DEEP_BYTES: on the many lines shorter than that, counting the
# square brackets alone rules deep nesting out (measured on the bench's traces of about 1 KB:
# 9% less CPU for the whole scan than counting both kinds of bracket on every such line).
_DEEP_BYTES = 5 * (MAX_DEPTH + 1) - 3
_SUSPECT = (
    "(CASE WHEN contains(text, 'NaN') THEN true "
    "WHEN contains(text, 'Infinity') THEN true "
    "WHEN regexp_matches(text, ',\\s*[\\]}]') THEN true "
    f"WHEN strlen(text) > {2 * MAX_DEPTH + 1} THEN CASE "
    f"WHEN strlen(text) < {_DEEP_BYTES} AND strlen(text) "
    f"+ 3 * (strlen(text) - strlen(replace(text, '[', ''))) < {_DEEP_BYTES} THEN false "
    f"ELSE strlen(text) - strlen(replace(replace(text, '[', ''), '{{', '')) > {MAX_DEPTH} END "
    "ELSE false END)"
)

_TYPE = (
    f"CASE WHEN {_x('$.metadata.traceType')} = '\"execution\"' THEN 'execution' ELSE "
    + _string("$.metadata.traceType")
    + " END"
)
_ERROR = _x("$.error")
_RATE = _number(_x("$.sampling.rate"))
_DURATION = _number(_x("$.execution.duration"))
_REASON_LIST = ", ".join(f"'{reason}'" for reason in SAMPLING_REASONS)
_COLUMNS = ", ".join(
    f"CAST(x[{index}] AS VARCHAR) AS c{index}" for index in range(1, len(_PATHS) + 1)
)


def _lines_sql(suspect: str) -> str:
    """Return the one pass over every line, lines found suspect by the SQL ``suspect``.

    The pass gives each line its kind (blank, damaged, suspect, trace) and the record's fields,
    normalised as the read path's TraceRecord normalises them. Each line is parsed once. Lines
    are numbered by the scan itself (WITH ORDINALITY): that runs the pass on one core, but an
    order-preserving insert numbered by rowid was measured to lose the files' order once a file
    spans several read buffers, so line numbers would be wrong.
    """
    return f"""
INSERT INTO at_lines
WITH raw AS ({{sources}}),
parsed AS (
    SELECT seq, text, x IS NOT NULL AS ok, {_COLUMNS}
    FROM raw
),
valued AS (
    -- each value read once, as its own column: written twice into a CASE, it was computed twice
    SELECT *, CASE WHEN ok THEN {_TYPE} END AS traceType,
        {_one_of("$.execution.status", STATUSES, "at_status")} AS s_status,
        {_one_of("$.sampling.reason", SAMPLING_REASONS, "at_reason")} AS s_reason,
        {_DURATION} AS n_duration,
        {_RATE} AS n_rate
    FROM parsed
),
flagged AS (
    SELECT *, CASE WHEN coalesce(traceType, '') <> '' THEN {suspect} END AS flag,
        CASE WHEN ok AND NOT coalesce(starts_with({_ERROR}, '{{'), false)
            AND s_status IS NULL
            THEN CAST(json_extract(text, '$.result.success') AS VARCHAR) END AS c_success,
        CASE WHEN traceType <> 'execution' THEN json_extract(text, '$.spans') END AS sp,
        -- the ids of the traces that may be among the slowest (see _ids_from)
        CASE WHEN n_duration BETWEEN $ids_from AND {TIME_LIMIT_MS}
            THEN CAST(to_json(TRY(json_extract(text, {_ID_PATHS!r}))) AS VARCHAR) END AS ids
    FROM valued
)
SELECT
    seq,
    CASE
        WHEN flag IS NOT NULL THEN CASE WHEN flag THEN 'suspect'::at_kind ELSE 'trace'::at_kind END
        WHEN text IS NULL OR trim(text, chr(32) || chr(9) || chr(10) || chr(11) || chr(12)
            || chr(13)) = '' THEN 'blank'::at_kind
        ELSE 'damaged'::at_kind
    END AS kind,
    nullif(traceType, 'execution') AS traceType,
    coalesce(nullif({_string("$.metadata.actionId")}, ''), '?') AS actionId,
    CASE
        WHEN s_status IS NOT NULL THEN s_status
        WHEN starts_with({_ERROR}, '{{') THEN 'error'::at_status
        WHEN {_x("$.result.success")} IS NOT NULL THEN CASE WHEN {_truthy(_x("$.result.success"))}
            THEN 'success'::at_status ELSE 'failed'::at_status END
        ELSE 'unknown'::at_status
    END AS status,
    CASE WHEN n_duration BETWEEN 0 AND {TIME_LIMIT_MS} THEN n_duration END AS duration,
    s_reason AS samplingReason,
    CASE WHEN n_rate > 0 AND n_rate <= 1 THEN n_rate END AS samplingRate,
    -- one column for what few lines hold (each column of the table costs every line: four
    -- mostly empty ones cost 15% of the scan): a suspect line's text, for the Python reader to
    -- judge; another trace type's spans; an execution trace's error and ids (see _ids_from) as
    -- [error, [traceId, actorId]], either null
    CASE WHEN flag THEN text
        WHEN traceType <> 'execution'
            THEN CASE WHEN starts_with(CAST(sp AS VARCHAR), '[') THEN CAST(sp AS VARCHAR) END
        WHEN starts_with({_ERROR}, '{{') OR ids IS NOT NULL
            THEN '[' || CASE WHEN starts_with({_ERROR}, '{{') THEN {_ERROR} ELSE 'null' END
                || ',' || coalesce(ids, 'null') || ']'
    END AS extra
FROM flagged
"""


_LINES_SQL = _lines_sql(_SUSPECT)
# The suspect lines the Python reader reads as traces, read again without the checks (see
# _resolve_suspects)
_JUDGED_SQL = _lines_sql("false").replace(
    "{sources}",
    f"SELECT seq, text, TRY(json_extract(text, {list(_PATHS)!r})) AS x FROM at_judged",
)

# One file's lines, numbered by the scan (WITH ORDINALITY: the line number in the file). A scan
# numbering its rows runs on one core; the files' scans, joined by UNION ALL, run side by side.
_SOURCE_SQL = f"""
SELECT (CAST({{idx}} AS BIGINT) << {_SEQ_SHIFT}) + ordinality AS seq, text,
    CASE WHEN strlen(text) <= {MAX_LINE_BYTES}
         THEN TRY(json_extract(text, {list(_PATHS)!r})) END AS x
FROM read_csv($file{{idx}}, {_SCAN_OPTIONS}) WITH ORDINALITY
"""
# Several small files' lines in one scan (a list of files, read in order): each row's file is
# its index in the list, and the scan numbers the rows across the files, so each file's numbers
# are shifted to start at 1 once the scans are done (_number_batched_files). Planning the scan
# statement costs about 3 ms a source: a folder of 2,000 files of 50 traces took 5.7 s to
# report with a source a file, 0.7 s in batches (the Python engine: 0.9 s).
_BATCH_SOURCE_SQL = _SOURCE_SQL.replace(
    "CAST({idx} AS BIGINT)", "CAST($idxs{idx}[CAST(file_index AS BIGINT) + 1] AS BIGINT)"
)
_SMALL_FILE_BYTES = 4 << 20  # a file this small or smaller is read with others
_BATCH_BYTES = 64 << 20  # the small files of one scan, in all
_BATCH_FILES = 1_000
_GZIP_RATIO = 8  # what gzip makes of trace lines (measured: 7.9 on the demo's, 8.7 the bench's)
_SOURCES_PER_SCAN = 64  # sources per statement at most: the statement's text stays small


class MissingExtraError(ImportError):
    """DuckDB is not installed: the ``scale`` extra is needed."""


class EngineError(RuntimeError):
    """DuckDB could not finish (out of memory under its limit, a full spill disk...)."""


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turn a DuckDB error into an ``EngineError`` with a one-line message."""
    duckdb = _duckdb()
    try:
        yield
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EngineError(f"DuckDB could not finish: {first}") from error


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
    # Each thread holds buffers of its own: under a small limit, fewer threads finish where more
    # run out of memory (DuckDB's own advice). Measured on 4,000,000 exported traces: 2 threads
    # ran out under 64 MB, 1 thread under 64 MB and 2 under 128 MB did not.
    threads = int(connection.execute("SELECT current_setting('threads')").fetchone()[0])
    limit = _memory_limit_bytes(connection)
    if limit is not None and threads * _BYTES_PER_THREAD > limit:
        connection.execute(f"SET threads = {max(1, limit // _BYTES_PER_THREAD)}")
    return connection


_BYTES_PER_THREAD = 60_000_000  # the memory limit's share a thread needs at least


def _memory_limit_bytes(connection: Any) -> int | None:
    """Return the connection's memory limit in bytes (``None``: a spelling not known here)."""
    setting = str(connection.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    number, _, unit = setting.strip().partition(" ")
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        return None


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

    Trace files are found by the read path's discovery; the report adds what reading met, as
    DuckDB counted it (it cannot tell a torn last line from a corrupt one: both count as
    ``corrupt``). An export folder's report states what reading met when it was exported. A
    missing ``path`` raises ``FileNotFoundError``; no DuckDB raises ``MissingExtraError``; DuckDB
    failing (out of memory under ``memory_limit``) raises ``EngineError``.
    """
    if isinstance(slowest, bool) or not isinstance(slowest, int) or slowest < 0:
        raise InvalidArgumentError("slowest must be an int >= 0")
    root = os.fspath(path)
    found = discover_trace_files(root)
    with engine_errors(), _connection(memory_limit, temp_directory) as connection:
        stats = ReadStats()
        if is_parquet_folder(root):
            _parquet_views(connection, Path(root))
            _export_read_stats(connection, Path(root), stats)
        else:
            for name in found.skipped:
                stats.skip(name)
            _load_files(
                connection, found.files, stats, in_folder=os.path.isdir(root), slowest=slowest
            )
        report = _report(connection, slowest)
    report.update(stats.counts())  # type: ignore[typeddict-item]
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


def _export_read_stats(connection: Any, root: Path, stats: ReadStats) -> None:
    """Set ``stats`` to what reading met when the export was written (its Parquet metadata)."""
    names = {key.encode(): name for name, key in READ_KEYS.items()}
    rows = connection.execute(
        f"SELECT key, value FROM parquet_kv_metadata({_literal(str(root / TRACES_FILE))})"
    ).fetchall()
    for key, value in rows:
        name = names.get(bytes(key))
        if name is not None and bytes(value).isdigit():
            setattr(stats, name, int(bytes(value)))


# File names DuckDB would expand as a glob pattern: such files go to the Python reader.
_GLOB_CHARS = frozenset("*?[]{}")

_LINE_COLUMNS = (
    "seq BIGINT, kind at_kind, traceType VARCHAR, actionId VARCHAR, status at_status, "
    "duration DOUBLE, samplingReason at_reason, samplingRate DOUBLE, extra VARCHAR"
)
_REPORT_TRACE_COLUMNS = (
    "seq BIGINT, file VARCHAR, line BIGINT, traceId VARCHAR, actionId VARCHAR, actorId VARCHAR, "
    "status at_status, duration DOUBLE, errorType VARCHAR, errorMessage VARCHAR, "
    "samplingReason at_reason, samplingRate DOUBLE"
)
_AT_FILES_COLUMNS = "idx BIGINT, path VARCHAR"
_JUDGED_COLUMNS = "seq BIGINT"  # the suspect lines the Python reader reads as traces
_REPORT_SPAN_COLUMNS = (
    "seq BIGINT, file VARCHAR, line BIGINT, traceType VARCHAR, traceId VARCHAR, "
    "spanIndex BIGINT, operation VARCHAR, duration DOUBLE, status VARCHAR"
)

# The line's kind, status and sampling reason as one-byte enums, not text: the lines' table is
# a sixth smaller, so less of it is evicted to disk under a small memory limit (measured: 5% less
# CPU on 1,000,000 traces at 256 MB).
_ENUM_STATUSES = ", ".join(f"'{status}'" for status in sorted({*STATUSES, "unknown"}))
_SETUP_SQL = f"""
DROP TYPE IF EXISTS at_kind; DROP TYPE IF EXISTS at_status; DROP TYPE IF EXISTS at_reason;
CREATE TYPE at_kind AS ENUM ('blank', 'damaged', 'suspect', 'trace');
CREATE TYPE at_status AS ENUM ({_ENUM_STATUSES});
CREATE TYPE at_reason AS ENUM ({_REASON_LIST});
CREATE OR REPLACE TEMP TABLE at_files ({_AT_FILES_COLUMNS});
CREATE OR REPLACE TEMP TABLE at_lines ({_LINE_COLUMNS});
CREATE OR REPLACE TEMP TABLE at_py_traces ({_REPORT_TRACE_COLUMNS});
CREATE OR REPLACE TEMP TABLE spans ({_REPORT_SPAN_COLUMNS});
"""

_SPAN_STATUS_LIST = ", ".join(f"'{status}'" for status in SPAN_STATUSES)
_STRUCTURED_LIST = ", ".join(f"'{kind}'" for kind in STRUCTURED_TYPES)

# The relations the report's queries read: lines DuckDB read, and rows of the Python reader.
_VIEWS_SQL = f"""
-- Each file's path from a list of them, indexed by the file, not a join: a join ran on every
-- row of every report query (measured: 4 to 8 ms more on each). The list is a one-row table's
-- column, not a variable: a variable's list was copied for each 2,048 rows read (160 ms a
-- query over 20,000 files, against 10 ms).
CREATE OR REPLACE TEMP TABLE at_paths AS
SELECT list(f.path ORDER BY r.range) AS paths
FROM range((SELECT coalesce(max(idx), -1) + 1 FROM at_files)) AS r
LEFT JOIN at_files AS f ON f.idx = r.range;

CREATE OR REPLACE TEMP VIEW at_traces AS
SELECT l.seq, p.paths[(l.seq >> {_SEQ_SHIFT}) + 1] AS file,
    l.seq & {_LINE_MASK} AS line, l.kind, coalesce(l.traceType, 'execution') AS traceType,
    -- the ids were read only on lines that may be among the slowest: null actorId marks the
    -- others (_slowest reads them again should one be)
    CASE WHEN l.xi IS NOT NULL THEN CASE WHEN length({_text_string("l.xi[1]")})
        BETWEEN 1 AND {MAX_ID_CHARS} THEN {_text_string("l.xi[1]")} END END AS traceId,
    l.actionId,
    CASE WHEN l.xi IS NOT NULL THEN coalesce(nullif({_text_string("l.xi[2]")}, ''), '?') END
        AS actorId,
    l.status, l.duration,
    -- the error's type and message, derived only where a query asks for them
    CASE WHEN l.xe IS NOT NULL THEN coalesce(nullif({_text_string("l.xe[1]")}, ''),
        'UnknownError') END AS errorType,
    CASE WHEN l.xe IS NOT NULL THEN coalesce({_text_string("l.xe[2]")}, '') END AS errorMessage,
    l.samplingReason, l.samplingRate,
    CASE WHEN l.traceType IS NOT NULL THEN CAST(l.extra AS JSON) END AS spans
FROM (
    -- the error and the ids apart, each only where a line holds it: the slowest traces' query
    -- parses no error (measured: 36 ms with both read together, 20 ms apart)
    SELECT *,
        CASE WHEN extra IS NULL THEN NULL WHEN traceType IS NULL AND starts_with(extra, '[{{')
            THEN CAST(json_extract(extra, ['$[0].type', '$[0].message']) AS VARCHAR[]) END AS xe,
        CASE WHEN extra IS NULL THEN NULL WHEN traceType IS NULL
            AND NOT ends_with(extra, ',null]')
            THEN CAST(json_extract(extra, ['$[1][0]', '$[1][1]']) AS VARCHAR[]) END AS xi
    FROM at_lines
) AS l, at_paths AS p
WHERE l.kind = 'trace';

CREATE OR REPLACE TEMP VIEW traces AS
SELECT seq, file, line, traceId, actionId, actorId, status, duration, errorType, errorMessage,
       samplingReason, samplingRate
FROM at_traces WHERE traceType = 'execution'
UNION ALL
SELECT * FROM at_py_traces;

INSERT INTO spans
WITH items AS (
    SELECT seq, file, line, traceType, traceId,
        CASE WHEN traceType IN ({_STRUCTURED_LIST}) AND json_array_length(spans) > 0
            THEN json_extract(spans, '$[*]') ELSE [NULL::JSON] END AS items
    FROM at_traces
    WHERE traceType <> 'execution'
),
each AS (
    SELECT seq, file, line, traceType, traceId, unnest(items) AS span,
           generate_subscripts(items, 1) - 1 AS position
    FROM items
),
kept AS (
    SELECT *, count(*) OVER (PARTITION BY seq) AS listed,
           count(CASE WHEN json_type(span) = 'OBJECT' THEN 1 END) OVER (PARTITION BY seq)
               AS objects
    FROM each
)
SELECT seq, file, line, traceType, traceId,
    CASE WHEN json_type(span) = 'OBJECT' THEN position END,
    CASE WHEN json_type(span) = 'OBJECT' THEN coalesce(nullif(CASE
        WHEN json_type(span, '$.operation') = 'VARCHAR' THEN span ->> '$.operation' END, ''), '?')
        END,
    CASE WHEN json_type(span, '$.duration') IN ('DOUBLE', 'UBIGINT', 'BIGINT', 'HUGEINT')
        AND TRY_CAST(span ->> '$.duration' AS DOUBLE) BETWEEN 0 AND {TIME_LIMIT_MS}
        THEN TRY_CAST(span ->> '$.duration' AS DOUBLE) END,
    CASE WHEN json_type(span, '$.status') = 'VARCHAR'
        AND span ->> '$.status' IN ({_SPAN_STATUS_LIST}) THEN span ->> '$.status'
        WHEN json_type(span) = 'OBJECT' THEN 'unknown' END
FROM kept
WHERE json_type(span) = 'OBJECT' OR (objects = 0 AND position = 0);
"""


def _load_files(
    connection: Any,
    files: Sequence[TraceFile],
    stats: ReadStats,
    *,
    in_folder: bool,
    slowest: int = DEFAULT_SLOWEST,
) -> None:
    """Load ``files`` into the report's relations, counting in ``stats`` what reading met."""
    connection.execute(_SETUP_SQL)
    by_duckdb = [(index, found.path) for index, found in enumerate(files) if _for_duckdb(found)]
    if by_duckdb:
        by_duckdb = _read_lines(connection, by_duckdb, stats, slowest)
    in_duckdb = {index for index, _ in by_duckdb}
    for index, found in enumerate(files):
        if index not in in_duckdb:
            _read_python(connection, index, found, stats, in_folder=in_folder)
    connection.execute(_VIEWS_SQL)


def _for_duckdb(found: TraceFile) -> bool:
    """Whether DuckDB reads ``found`` itself: JSON Lines, a plain text name it will not expand."""
    lowered = found.path.lower()
    return (
        found.path == found.name
        and (
            (found.kind == "jsonl" and lowered.endswith(".jsonl"))
            or (found.kind == "gz" and lowered.endswith(".gz"))
        )
        and not _GLOB_CHARS.intersection(found.path)
    )


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
    connection: Any, files: list[tuple[int, str]], stats: ReadStats, slowest: int
) -> list[tuple[int, str]]:
    """Read ``files`` with DuckDB; return those it read (the others go to the Python reader)."""
    duckdb = _duckdb()
    try:
        _scan(connection, files, slowest)
    except duckdb.Error:
        # A file DuckDB cannot read whole (unreadable, a damaged gzip stream): the Python reader
        # reads what it can of it and counts the rest, as the Python engine does.
        connection.execute(f"CREATE OR REPLACE TEMP TABLE at_lines ({_LINE_COLUMNS})")
        files = [(index, file) for index, file in files if _readable(file)]
        if not files:
            return files
        _scan(connection, files, slowest)
    stats.files += len(files)
    counts = dict(
        connection.execute("SELECT kind, count(*) FROM at_lines GROUP BY kind").fetchall()
    )
    rejected = connection.execute("SELECT count(*) FROM at_rejects").fetchone()[0]
    stats.corrupt += int(counts.get("damaged", 0)) + int(rejected)
    stats.traces += int(counts.get("trace", 0))
    return files


def _sources(files: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Return the scans' sources, in reading order: a large file alone, small ones together."""
    sources: list[list[tuple[int, str]]] = []
    batch: list[tuple[int, str]] = []
    size = 0
    for index, file in files:
        try:
            length = os.stat(file).st_size
        except OSError:
            length = _SMALL_FILE_BYTES + 1  # DuckDB reports what is wrong with it
        if file.lower().endswith(".gz"):
            length *= _GZIP_RATIO  # what the scan reads, not what the disk holds
        if length > _SMALL_FILE_BYTES:
            sources.append([(index, file)])
            continue
        if batch and (size + length > _BATCH_BYTES or len(batch) >= _BATCH_FILES):
            sources.append(batch)
            batch, size = [], 0
        batch.append((index, file))
        size += length
    if batch:
        sources.append(batch)
    return sorted(sources, key=lambda source: source[0][0])


def _scan(connection: Any, files: list[tuple[int, str]], slowest: int) -> None:
    sources = _sources(files)
    ids_from = _ids_from(connection, [file for _, file in sources[0]], slowest)
    connection.execute("DROP TABLE IF EXISTS at_rejects; DROP TABLE IF EXISTS at_scans")
    connection.execute("DELETE FROM at_files")
    _insert_rows(connection, "at_files", _AT_FILES_COLUMNS, files)
    # Measured with DuckDB 2.0 on 2 cores: a UNION ALL of twice as many scans as threads runs
    # them side by side; more (8) or fewer (2) ran one after another.
    threads = int(connection.execute("SELECT current_setting('threads')").fetchone()[0])
    step = max(2, min(_SOURCES_PER_SCAN, 2 * threads))
    for start in range(0, len(sources), step):
        group = sources[start : start + step]
        # DuckDB's default buffer is 16 lines of the longest: 128 MiB a thread. One line's worth
        # keeps a scan within a small memory limit; measured on 1,000,000 traces it also spent
        # about 6% less CPU than two lines' worth (less eviction under the limit). A line of
        # the longest length still reads whole across buffers.
        params: dict[str, Any] = {}
        scans = []
        for source in group:
            key = source[0][0]
            if len(source) == 1:
                scans.append(_SOURCE_SQL.replace("{idx}", str(key)))
                params[f"file{key}"] = source[0][1]
            else:
                scans.append(_BATCH_SOURCE_SQL.replace("{idx}", str(key)))
                params[f"file{key}"] = [file for _, file in source]
                params[f"idxs{key}"] = [index for index, _ in source]
        params["max_line"] = MAX_LINE_BYTES + 2
        params["buffer"] = MAX_LINE_BYTES + 2
        params["ids_from"] = ids_from
        # The rows carry their file and line: their order in the table does not matter, and
        # not keeping it lets the files' scans run side by side (each still numbers in order).
        connection.execute("SET preserve_insertion_order = false")
        try:
            connection.execute(_LINES_SQL.replace("{sources}", " UNION ALL ".join(scans)), params)
        finally:
            connection.execute("SET preserve_insertion_order = true")
    _number_batched_files(connection, [index for source in sources for index, _ in source[1:]])
    _resolve_suspects(connection, ids_from)


def _number_batched_files(connection: Any, later: list[int]) -> None:
    """Renumber the lines of the files ``later`` (indexes) from 1, as a scan of one file does.

    A batch's scan numbers its rows across its files: the rows of each file after the first
    are shifted back by the rows the files before it gave (their smallest number, less one).
    """
    if not later:
        return
    connection.execute(
        f"""
        UPDATE at_lines SET seq = at_lines.seq - s.shift
        FROM (
            SELECT seq >> {_SEQ_SHIFT} AS idx, min(seq & {_LINE_MASK}) - 1 AS shift
            FROM at_lines WHERE seq >> {_SEQ_SHIFT} IN (SELECT unnest($later::BIGINT[]))
            GROUP BY ALL
        ) AS s
        WHERE at_lines.seq >> {_SEQ_SHIFT} = s.idx AND s.shift > 0
        """,
        {"later": later},
    )


_SAMPLE = 2_000  # lines whose durations set the bar for reading ids
# The sample reads one small buffer, not one of the longest line (8 MiB): a longer line is no
# loss to a sample (measured: 10 ms less on every report).
_SAMPLE_OPTIONS = _READ_OPTIONS.replace("{rejects}", "_sample").replace(
    "max_line_size=$max_line, buffer_size=$buffer", "max_line_size=1048576, buffer_size=1048578"
)


def _ids_from(connection: Any, files: list[str], slowest: int) -> float:
    """Return the shortest duration whose traces get their ids read during the scan.

    Only the slowest traces show their ids. The ``slowest``-th longest duration among the first
    lines of ``files`` (the first scan's) is at most the ``slowest``-th longest of all, so every
    trace the report lists is at or above it: ids are read on about half a percent of the lines
    (the ten slowest of a 2,000-line sample), not on all. (A sample of one small file's 50
    lines had ids read on a fifth of them.)
    (Should a trace below it be listed after all, say when a line of the sample turns out to
    be damaged, ``_slowest`` reads its ids again.)
    """
    if slowest <= 0:
        return float("inf")
    row = connection.execute(
        "SELECT d FROM (SELECT TRY_CAST(CAST(TRY(json_extract(text, '$.execution.duration')) "
        f"AS VARCHAR) AS DOUBLE) AS d FROM read_csv($files, {_SAMPLE_OPTIONS}) LIMIT $sample) "
        f"WHERE d BETWEEN 0 AND {TIME_LIMIT_MS} ORDER BY d DESC LIMIT 1 OFFSET $offset",
        {"files": files, "sample": _SAMPLE, "offset": slowest - 1},
    ).fetchone()
    return -1.0 if row is None else float(row[0])


_BATCH = 10_000  # rows moved between Python and DuckDB at a time: memory stays bounded


def _resolve_suspects(connection: Any, ids_from: float) -> None:
    """Let the Python reader judge the lines DuckDB's parser is laxer about.

    A line its parser reads under the reading rules is the JSON value DuckDB read: when that is
    a trace, the scan's own pass reads the line again, without the checks (``ids_from`` as in
    the scan); the others are damaged. (The Python reader's rows for these lines, each moved
    into DuckDB as values, cost 8 us a line: DuckDB was 4 times slower than the Python engine
    on a file of such lines.)
    """
    connection.execute(f"CREATE OR REPLACE TEMP TABLE at_judged_seqs ({_JUDGED_COLUMNS})")
    last = -1
    while True:
        batch = connection.execute(
            "SELECT seq, extra FROM at_lines WHERE kind = 'suspect' AND seq > $seq "
            f"ORDER BY seq LIMIT {_BATCH}",
            {"seq": last},
        ).fetchall()
        if not batch:
            break
        judged = [(seq,) for seq, text in batch if _reads_as_trace(text)]
        _insert_rows(connection, "at_judged_seqs", _JUDGED_COLUMNS, judged)
        last = batch[-1][0]
    if last < 0:
        return
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE at_judged AS
        SELECT l.seq, l.extra AS text FROM at_lines AS l JOIN at_judged_seqs USING (seq);
        DELETE FROM at_lines WHERE seq IN (SELECT seq FROM at_judged);
        UPDATE at_lines SET kind = 'damaged', extra = NULL WHERE kind = 'suspect';
        """
    )
    connection.execute(_JUDGED_SQL, {"ids_from": ids_from})
    connection.execute("DROP TABLE at_judged; DROP TABLE at_judged_seqs")


def _reads_as_trace(text: str) -> bool:
    """Whether the Python reader reads the line ``text`` as a trace."""
    try:
        value = parse_value(text.encode("utf-8", "surrogatepass"), fast=True)
    except (ValueError, RecursionError):
        return False
    return is_trace_value(value)


def _read_python(
    connection: Any, index: int, found: TraceFile, stats: ReadStats, *, in_folder: bool
) -> None:
    """Read one file with the Python reader into the report's relations, in batches."""
    traces: list[tuple[Any, ...]] = []
    others: list[tuple[Any, ...]] = []
    base = index << _SEQ_SHIFT
    for record in read_file_records(found, stats, fast=True, in_folder=in_folder):
        _add_rows(record, base + record.line, traces, others)
        if len(traces) + len(others) >= _BATCH:
            _insert(connection, traces, others)
    _insert(connection, traces, others)


def _add_rows(
    record: TraceRecord, seq: int, traces: list[tuple[Any, ...]], others: list[tuple[Any, ...]]
) -> None:
    """Add a record the Python reader read to the rows of ``traces`` or of ``spans``."""
    if is_execution(record):
        row = trace_row(record, seq)
        # seq, file, line, traceId, actionId, actorId, status, duration, errorType,
        # errorMessage, samplingReason, samplingRate
        traces.append(tuple(row[i] for i in (0, 1, 2, 3, 6, 7, 9, 12, 13, 14, 16, 17)))
    else:
        for span in span_rows(record, seq):
            others.append(tuple(span[i] for i in (0, 1, 2, 3, 4, 5, 8, 10, 11)))


def _insert(connection: Any, traces: list[tuple[Any, ...]], others: list[tuple[Any, ...]]) -> None:
    """Insert and clear the rows gathered so far."""
    _insert_rows(connection, "at_py_traces", _REPORT_TRACE_COLUMNS, traces)
    traces.clear()
    _insert_rows(connection, "spans", _REPORT_SPAN_COLUMNS, others)
    others.clear()


def _insert_rows(connection: Any, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` into ``table`` (its ``columns`` as written in its CREATE) in one statement.

    Each column goes as one list, the lists unnested side by side: 10,000 rows take about 25 ms,
    where ``executemany``, a statement per row, took 4 s.
    """
    if not rows:
        return
    types = [column.split()[1] for column in columns.split(", ")]
    values = {f"c{index}": list(column) for index, column in enumerate(zip(*rows, strict=True))}
    select = ", ".join(f"unnest($c{index}::{kind}[])" for index, kind in enumerate(types))
    connection.execute(f"INSERT INTO {table} SELECT {select}", values)


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
    """Run the report's queries over ``traces`` and ``spans``; assemble the report."""
    q = REPORT_QUERIES
    types: dict[str, int] = {}
    for kind, count in connection.execute(q["traceTypes"]).fetchall():
        if count:
            types[kind] = types.get(kind, 0) + int(count)
    sampled, fractional, kept, total = connection.execute(q["totals"]).fetchone()
    estimated = bool(sampled)
    capacity = _held_values(connection)
    # One percentile query, the cheapest that gives the right figures within the memory limit;
    # a list answer is p50, p95, p99 in order (all null for an action without durations).
    query = q[_percentiles_query(bool(sampled), bool(fractional), kept or 0, total or 0, capacity)]
    percentiles: dict[str, tuple[Any, ...]] = {}
    for row in connection.execute(query).fetchall():
        values = row[1:] if len(row) == 4 else tuple(row[1] or (None, None, None))
        percentiles[row[0]] = values
    actions: dict[str, ActionStats] = {}
    for row in connection.execute(q["actions"]).fetchall():
        p50, p95, p99 = percentiles.get(row[0], (None, None, None))
        stats: ActionStats = {
            "count": int(row[1]),
            "success": int(row[2]),
            "failed": int(row[3]),
            "error": int(row[4]),
            "pending": int(row[5]),
            "inProgress": int(row[6]),
            "unknown": int(row[7]),
            "p50": _float(p50),
            "p95": _float(p95),
            "p99": _float(p99),
            "max": _float(row[9]),
        }
        if estimated:
            stats["kept"] = int(row[8])
        actions[row[0]] = stats
    errors: dict[str, ErrorTypeStats] = {
        kind: {"count": int(count), "example": example}
        for kind, count, example in connection.execute(q["errorTypes"]).fetchall()
    }
    timed_spans = connection.execute(
        "SELECT count(duration) FROM spans WHERE spanIndex IS NOT NULL"
    ).fetchone()[0]
    operations_query = q["operations"] if timed_spans <= capacity else q["rankedOperations"]
    operations: dict[str, OperationStats] = {
        name: {
            "count": int(count),
            "mean": _float(mean),
            "p95": _float(p95),
            "max": _float(top),
            "errors": int(errors_),
        }
        for name, count, mean, p95, top, errors_ in connection.execute(operations_query).fetchall()
    }
    report: Report = {
        "total": int(total or 0),
        "traceTypes": dict(sorted(types.items())),
        "actions": dict(sorted(actions.items())),
        "errorTypes": dict(sorted(errors.items(), key=lambda item: (-item[1]["count"], item[0]))),
        "slowest": _slowest(connection, slowest) if slowest > 0 else [],
        "operations": dict(sorted(operations.items())),
    }
    if estimated:
        report["estimated"] = True
        report["kept"] = int(kept)
    return report


# DuckDB's PERCENTILE_DISC holds every value it ranks in memory at once: past what the memory
# limit holds, the query fails where a sort would spill to disk (measured with DuckDB 2.0: 10
# million durations rank under a 256 MB limit, 20 million do not). Up to a quarter of that
# (a value for each 32 bytes of the limit), the report ranks in memory; past it, it sorts.
_HELD_VALUE_BYTES = 32
# Copying each trace of a whole weight w w times pays while the copies are few: at 8 copies a
# trace the window query, which sorts each trace once, is about as fast (measured: 32 ns a copy
# against 300 ns a trace sorted, on 1,000,000 traces).
_COPIES_PER_TRACE = 8
# DuckDB states its memory limit in these units ("953.6 MiB" for 1GB)
_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _percentiles_query(
    sampled: bool, fractional: bool, kept: int, total: int, capacity: int
) -> str:
    """Name the percentile query to run: the fastest that gives the figures within the memory.

    ``kept`` traces were read, standing for ``total`` (the sum of their weights); ``capacity`` is
    how many values the memory limit lets a query rank in memory. A sampled run with a weight
    that is not whole, or too many copies of whole ones, sorts by weight; so does any run whose
    values the memory does not hold.
    """
    if not sampled:
        return "percentiles" if kept <= capacity else "weightedPercentiles"
    if not fractional and total <= min(capacity, _COPIES_PER_TRACE * kept):
        return "wholeWeightPercentiles"
    return "weightedPercentiles"


def _held_values(connection: Any) -> int:
    """How many values a query may hold in memory at once under the connection's memory limit."""
    limit = _memory_limit_bytes(connection)
    if limit is None:
        return 0  # an unknown spelling: sort, which any memory limit allows
    return limit // _HELD_VALUE_BYTES


def _slowest(connection: Any, limit: int) -> list[SlowTrace]:
    rejected: dict[str, list[int]] = {}
    rows = connection.execute(REPORT_QUERIES["slowest"].format(limit=int(limit))).fetchall()
    missing = [(row[4], row[5]) for row in rows if row[1] is None]
    ids = _ids(connection, missing) if missing else {}
    slow: list[SlowTrace] = []
    for action, read_actor, duration, status, file, line, read_id in rows:
        # null: a line DuckDB read whose ids the scan did not keep (read again for it alone)
        # (a file cut short since the scan no longer holds the line: no ids then, never a crash)
        trace_id, actor = (
            ids.get((file, line), (None, "?")) if read_actor is None else (read_id, read_actor)
        )
        if file not in rejected:
            rejected[file] = _rejected_lines(connection, file)
        entry: SlowTrace = {
            "actionId": action,
            "actorId": actor,
            "duration": float(duration),
            "status": _STATUS_KEYS.get(status, "unknown"),
            "file": file,
        }
        if line is not None and line > 0:
            entry["line"] = _physical_line(int(line), rejected[file])
        if trace_id is not None:
            entry["traceId"] = trace_id
        slow.append(entry)
    return slow


def _ids(connection: Any, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[Any, str]]:
    """Read the trace and actor ids of the lines ``wanted`` (file, line as DuckDB numbered it).

    Each file is read again, as the report's scan read it, up to the last line wanted: for the
    few slowest traces this costs less than reading both ids on every line. A file that changed
    since the scan (cut short, rotated away) gives no ids for the lines it no longer holds.
    """
    by_file: dict[str, set[int]] = {}
    for file, line in wanted:
        by_file.setdefault(file, set()).add(line)
    found: dict[tuple[str, int], tuple[Any, str]] = {}
    for file, lines in by_file.items():
        try:
            rows = connection.execute(
                "SELECT ordinality, CAST(TRY(json_extract(text, $paths)) AS VARCHAR[]) FROM "
                f"(SELECT ordinality, text FROM read_csv($file, {_IDS_OPTIONS})"
                " WITH ORDINALITY LIMIT $last) WHERE list_contains($lines, ordinality)",
                {
                    "paths": _ID_PATHS,
                    "file": file,
                    "last": max(lines),
                    "lines": sorted(lines),
                    "max_line": MAX_LINE_BYTES + 2,
                    "buffer": MAX_LINE_BYTES + 2,
                },
            ).fetchall()
        except _duckdb().Error:
            continue
        for line, values in rows:
            trace_id, actor = (None, None) if values is None else map(_json_value, values)
            # the read path's own rules for an id and for a name
            found[file, line] = (_records._id(trace_id), _records._text(actor))
    return found


def _json_value(text: str | None) -> Any:
    """Return the value a JSON text DuckDB extracted holds (None for a missing one)."""
    return None if text is None else json.loads(text)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
