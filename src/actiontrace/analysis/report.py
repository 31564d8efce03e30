"""The report: per-action counts and latencies, error types and the slowest traces.

``build_report(records)`` aggregates any iterable of records (objects with a ``trace`` dict and the
``file`` it came from, as ``scan_traces`` yields them, or bare trace dicts) in one streaming pass.
Memory is bounded by the number of distinct actions, error types and operations, plus the latency
samples kept per action:

* latencies are exact for up to ``max_samples`` (default 100,000) traces per action; past that the
  samples become a uniform reservoir of that size (Vitter's algorithm R with a fixed seed, so a
  report is reproducible) and the percentiles are estimates. ``max`` is always exact.
* percentiles use the **nearest-rank** method: p-th percentile = the smallest sample that at least
  p % of the samples are less than or equal to (``sorted[ceil(p / 100 * n) - 1]``), so every
  figure is a duration that really occurred.

Sampled runs: a trace a ``TailSampler`` kept by rate ``r`` (``"sampling": {"reason": "rate",
"rate": r}``) stands for ``1 / r`` traces; every other trace (kept for an error, a failure,
slowness, a linked tree, or written without sampling) stands for itself. When any trace carries a
weight, the report says ``"estimated": true`` and its counts and per-action figures estimate the
whole run: a count is the sum of the weights rounded half up (``floor(sum + 0.5)``), ``kept`` the
traces actually read; a percentile is the **weighted nearest rank**: sort the samples by duration,
the p-th percentile is the smallest duration whose cumulative weight (summed in float64, in
ascending order of duration) is at least ``p / 100`` of the total weight — with every weight 1
exactly the unweighted nearest rank. ``max``, the slowest traces and the operations table are the
traces as kept.

Per-action figures and ``total`` count execution traces only; structured traces feed the
per-operation table instead, and ``traceTypes`` counts every type. Every figure comes from the read
path's ``TraceRecord`` (normalised status, duration, ids), so the report, the page and the exports
agree on every trace.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from ..errors import InvalidArgumentError
from ..output.reader import ReadStats, scan_traces
from ..output.records import EXECUTION, TraceRecord, as_record
from ..sanitize import compact_json
from .stats import weighted_percentile
from .text import printable

__all__ = [
    "DEFAULT_MAX_SAMPLES",
    "DEFAULT_SLOWEST",
    "ActionStats",
    "ErrorTypeStats",
    "OperationStats",
    "Report",
    "ReportBuilder",
    "SlowTrace",
    "add_read_stats",
    "build_report",
    "percentile",
    "render_report",
    "report_path",
]

DEFAULT_MAX_SAMPLES = 100_000
"""Latency samples kept exactly per action (and per operation) before reservoir sampling starts."""

DEFAULT_SLOWEST = 10
"""How many of the slowest traces a report lists."""

EXAMPLE_CHARS = 200
"""Longest example message kept per error type."""

WIDTH = 100
"""Columns the text report fits in."""

MISSING_GROUP = "(none)"
"""Group of a trace that lacks the ``group_by`` metadata key."""

_STATUS_KEYS = {
    "success": "success",
    "failed": "failed",
    "error": "error",
    "pending": "pending",
    "in_progress": "inProgress",
}


class ActionStats(TypedDict):
    """One row of the per-action table (``report["actions"][action_id]``); latencies in ms."""

    count: int
    success: int
    failed: int
    error: int
    pending: int
    inProgress: int
    unknown: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    kept: NotRequired[int]  # traces read, when the counts are estimates of a sampled run


class ErrorTypeStats(TypedDict):
    """``report["errorTypes"][type]``: how often it occurred and the first message seen."""

    count: int
    example: str


class SlowTrace(TypedDict, total=False):
    """One of ``report["slowest"]``: ``actionId``, ``actorId``, ``duration`` (ms), ``file``, ..."""

    actionId: str
    actorId: str
    duration: float
    status: str
    file: str
    line: int
    traceId: str


class OperationStats(TypedDict):
    """``report["operations"][operation]``: spans of structured traces; ms."""

    count: int
    mean: float | None
    p95: float | None
    max: float | None
    errors: int


class Report(TypedDict, total=False):
    """What ``build_report`` returns: the report object plus a few more keys."""

    total: int
    traceTypes: dict[str, int]
    actions: dict[str, ActionStats]
    errorTypes: dict[str, ErrorTypeStats]
    slowest: list[SlowTrace]
    operations: dict[str, OperationStats]
    groupBy: str
    groups: dict[str, dict[str, ActionStats]]
    files: int
    corrupt: int
    torn: int
    unreadable: int
    skipped: int
    damagedLines: int
    skippedFiles: int
    estimated: bool
    kept: int


def percentile(sorted_values: Any, p: float) -> float | None:
    """Nearest-rank ``p``-th percentile (0 < p <= 100) of ascending values; ``None`` when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    return float(sorted_values[min(rank, n) - 1])


class _Latencies:
    """Latency samples of one action: exact up to ``limit``, then a seeded uniform reservoir.

    ``weights`` runs beside ``samples`` once a sample of a sampled run weighs other than 1.
    """

    __slots__ = ("limit", "max", "rng", "samples", "seen", "total", "weights")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.samples = array("d")  # 8 bytes per sample instead of a float object each
        self.weights: array[float] | None = None
        self.seen = 0
        self.total = 0.0
        self.max: float | None = None
        self.rng: random.Random | None = None

    def add(self, value: float, weight: float = 1.0) -> None:
        self.seen += 1
        self.total += value
        if self.max is None or value > self.max:
            self.max = value
        weights = self.weights
        if weights is None and weight != 1.0:
            weights = self.weights = array("d", [1.0]) * len(self.samples)
        if len(self.samples) < self.limit:
            self.samples.append(value)
            if weights is not None:
                weights.append(weight)
            return
        if self.rng is None:
            self.rng = random.Random(0)
        slot = self.rng.randrange(self.seen)
        if slot < self.limit:
            self.samples[slot] = value
            if weights is not None:
                weights[slot] = weight

    def sorted(self) -> list[float]:
        return sorted(self.samples)

    def percentiles(self, *ps: float) -> list[float | None]:
        """Nearest-rank percentiles; weighted nearest rank when the samples carry weights."""
        weights = self.weights
        if weights is None:
            ordered = self.sorted()
            return [percentile(ordered, p) for p in ps]
        pairs = sorted(zip(self.samples, weights, strict=True))
        return [weighted_percentile(pairs, p, presorted=True) for p in ps]


class _ActionRow:
    __slots__ = ("counts", "kept", "latencies")

    def __init__(self, limit: int) -> None:
        # Sums of weights (1 per trace unless sampled by rate); integers in an unsampled run.
        self.counts = dict.fromkeys(
            ("success", "failed", "error", "pending", "inProgress", "unknown"), 0.0
        )
        self.kept = 0
        self.latencies = _Latencies(limit)

    def add(self, status: str, duration: float | None, weight: float = 1.0) -> None:
        self.counts[status] += weight
        self.kept += 1
        if duration is not None:
            self.latencies.add(duration, weight)

    def result(self, estimated: bool = False) -> ActionStats:
        p50, p95, p99 = self.latencies.percentiles(50, 95, 99)
        counts = {key: _rounded(value) for key, value in self.counts.items()}
        row: ActionStats = {
            "count": _rounded(sum(self.counts.values())),
            "success": counts["success"],
            "failed": counts["failed"],
            "error": counts["error"],
            "pending": counts["pending"],
            "inProgress": counts["inProgress"],
            "unknown": counts["unknown"],
            "p50": p50,
            "p95": p95,
            "p99": p99,
            "max": self.latencies.max,
        }
        if estimated:
            row["kept"] = self.kept
        return row


def _rounded(value: float) -> int:
    """Return an estimated count: the sum of weights rounded half up."""
    return math.floor(value + 0.5)


class _OperationRow:
    __slots__ = ("count", "errors", "latencies")

    def __init__(self, limit: int) -> None:
        self.count = 0
        self.errors = 0
        self.latencies = _Latencies(limit)

    def result(self) -> OperationStats:
        lat = self.latencies
        return {
            "count": self.count,
            "mean": lat.total / lat.seen if lat.seen else None,
            "p95": percentile(lat.sorted(), 95),
            "max": lat.max,
            "errors": self.errors,
        }


def _group_value(record: TraceRecord, key: str) -> str:
    custom = record.custom_metadata
    if key not in custom:
        return MISSING_GROUP
    value = custom[key]
    return value if isinstance(value, str) else compact_json(value)


def _check(slowest: int, max_samples: int, group_by: str | None) -> None:
    if isinstance(slowest, bool) or not isinstance(slowest, int) or slowest < 0:
        raise InvalidArgumentError("slowest must be an int >= 0")
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise InvalidArgumentError("max_samples must be an int >= 1")
    if group_by is not None and (not isinstance(group_by, str) or not group_by):
        raise InvalidArgumentError("group_by must be a non-empty str or None")


class ReportBuilder:
    """The streaming aggregation behind ``build_report``: ``add()`` each trace, then ``result()``.

    For callers that feed other aggregators in the same pass (the HTML report).
    """

    __slots__ = (
        "actions",
        "error_types",
        "error_weights",
        "group_by",
        "groups",
        "limit",
        "operations",
        "seq",
        "slowest",
        "slowest_n",
        "total",
        "total_weight",
        "types",
        "weighted",
    )

    def __init__(
        self,
        slowest: int = DEFAULT_SLOWEST,
        group_by: str | None = None,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        _check(slowest, max_samples, group_by)
        self.limit = max_samples
        self.slowest_n = slowest
        self.group_by = group_by
        self.total = 0
        self.total_weight = 0.0
        self.weighted = 0
        self.error_weights: dict[str, float] = {}
        self.seq = 0
        self.types: dict[str, int] = {}
        self.actions: dict[str, _ActionRow] = {}
        self.groups: dict[str, dict[str, _ActionRow]] = {}
        self.error_types: dict[str, ErrorTypeStats] = {}
        self.operations: dict[str, _OperationRow] = {}
        # Min-heap of (duration, -seq, entry): the root is the fastest of the slowest kept.
        self.slowest: list[tuple[float, int, SlowTrace]] = []

    def add(self, trace: object, file: str = "", line: int | None = None) -> None:
        """Count one trace: a ``TraceRecord``, or a trace dict read from ``file`` at ``line``.

        Anything that is not a trace is skipped.
        """
        record = trace if type(trace) is TraceRecord else as_record(trace, file, line or 0)
        if record is not None:
            self.add_record(record)

    def add_record(self, record: TraceRecord) -> None:
        """Count one record (the hot path: no checks beyond the record's own)."""
        kind = record.kind
        types = self.types
        types[kind] = types.get(kind, 0) + 1
        if kind == EXECUTION:
            self.total += 1
            self._add_execution(record)
        elif record.is_structured:
            self._add_operations(record)

    def _row(self, table: dict[str, _ActionRow], action: str) -> _ActionRow:
        row = table.get(action)
        if row is None:
            row = table[action] = _ActionRow(self.limit)
        return row

    def _add_execution(self, record: TraceRecord) -> None:
        action = record.action_id
        status = _STATUS_KEYS.get(record.status, "unknown")
        duration = record.duration
        weight = 1.0
        if record.sampling_reason == "rate" and record.sampling_rate is not None:
            weight = 1.0 / record.sampling_rate  # a trace kept by rate r stands for 1/r traces
            self.weighted += 1
        self.total_weight += weight
        self._row(self.actions, action).add(status, duration, weight)
        if self.group_by is not None:
            table = self.groups.setdefault(_group_value(record, self.group_by), {})
            self._row(table, action).add(status, duration, weight)
        kind = record.error_type
        if kind is not None:
            known = self.error_types.get(kind)
            if known is None:
                example = (record.error_message or "")[:EXAMPLE_CHARS]
                self.error_types[kind] = {"count": 1, "example": example}
            else:
                known["count"] += 1
            self.error_weights[kind] = self.error_weights.get(kind, 0.0) + weight
        if duration is not None and self.slowest_n > 0:
            self._add_slow(record, status, duration)

    def _add_slow(self, record: TraceRecord, status: str, duration: float) -> None:
        self.seq += 1
        key = (duration, -self.seq)
        heap = self.slowest
        if len(heap) >= self.slowest_n and key <= heap[0][:2]:
            return
        entry: SlowTrace = {
            "actionId": record.action_id,
            "actorId": record.actor_id,
            "duration": duration,
            "status": status,
            "file": record.file,
        }
        if record.line > 0:
            entry["line"] = record.line
        if record.trace_id is not None:
            entry["traceId"] = record.trace_id
        item = (duration, -self.seq, entry)
        if len(heap) < self.slowest_n:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def _add_operations(self, record: TraceRecord) -> None:
        for span in record.spans():
            row = self.operations.get(span.operation)
            if row is None:
                row = self.operations[span.operation] = _OperationRow(self.limit)
            row.count += 1
            if span.duration is not None:
                row.latencies.add(span.duration)
            if span.status == "error":
                row.errors += 1

    def result(self) -> Report:
        """Return the report of every trace added so far."""
        ranked = sorted(self.slowest, reverse=True)
        estimated = self.weighted > 0
        if estimated:
            for kind, weight in self.error_weights.items():
                self.error_types[kind]["count"] = _rounded(weight)
        report: Report = {
            "total": _rounded(self.total_weight) if estimated else self.total,
            "traceTypes": dict(sorted(self.types.items())),
            "actions": {name: row.result(estimated) for name, row in sorted(self.actions.items())},
            "errorTypes": dict(
                sorted(self.error_types.items(), key=lambda item: (-item[1]["count"], item[0]))
            ),
            "slowest": [entry for _, _, entry in ranked],
            "operations": {name: row.result() for name, row in sorted(self.operations.items())},
        }
        if self.group_by is not None:
            report["groupBy"] = self.group_by
            report["groups"] = {
                group: {name: row.result(estimated) for name, row in sorted(table.items())}
                for group, table in sorted(self.groups.items())
            }
        if estimated:
            # Estimates of the whole run from a sampled one: labelled, with what was really read.
            report["estimated"] = True
            report["kept"] = self.total
        return report


def build_report(
    records: Iterable[Any],
    *,
    slowest: int = DEFAULT_SLOWEST,
    group_by: str | None = None,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> Report:
    """Aggregate ``records`` into a report in one streaming pass.

    Each record is a ``TraceRecord`` (as ``scan_traces`` yields them), an object with ``trace``,
    ``file`` and ``line`` attributes, or a bare trace dict (``file`` then reads ``""``); anything
    that is not a trace is skipped. ``slowest`` is
    how many of the slowest execution traces to list; ``group_by`` names a ``customMetadata`` key
    whose values split the per-action table into ``report["groups"]``.
    """
    builder = ReportBuilder(slowest, group_by, max_samples)
    add, add_record = builder.add, builder.add_record
    for record in records:
        if type(record) is TraceRecord:
            add_record(record)
        elif isinstance(record, Mapping):
            add(record)
        else:  # any object with ``trace``, ``file`` and ``line`` attributes
            line = getattr(record, "line", None)
            add(
                getattr(record, "trace", None),
                str(getattr(record, "file", "")),
                line if isinstance(line, int) else None,
            )
    return builder.result()


def report_path(
    path: str | Path,
    *,
    slowest: int = DEFAULT_SLOWEST,
    group_by: str | None = None,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> Report:
    """Read every trace under ``path`` (a file or a folder) and report on them.

    Adds what reading met (``add_read_stats``). A missing path raises ``FileNotFoundError``.
    """
    stats = ReadStats()
    report = build_report(
        scan_traces(path, stats, fast=True),
        slowest=slowest,
        group_by=group_by,
        max_samples=max_samples,
    )
    add_read_stats(report, stats)
    return report


def add_read_stats(report: Report, stats: ReadStats) -> None:
    """Add to ``report`` what reading met, all skipped: ``ReadStats.counts()``.

    ``files`` (trace files read), ``corrupt`` (lines that are not a trace), ``torn`` (a last line
    cut short), ``unreadable`` (files that could not be read), ``skipped`` (not regular files,
    links leading out), and the totals ``damagedLines`` and ``skippedFiles``.
    """
    report.update(stats.counts())  # type: ignore[typeddict-item]


# -- text ------------------------------------------------------------------------------------------


def _fit(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` made terminal-safe and clipped to ``width`` with an ellipsis."""
    text = printable(text)
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


def _width(text: str) -> int:
    return len(printable(text))


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 100_000 else f"{value:.0f}"


_TOTAL = "all actions"
_COUNT_COLUMNS = (("count", 6), ("success", 8), ("failed", 7), ("error", 6))
_LATENCY_COLUMNS = (("p50", 10), ("p95", 10), ("p99", 10), ("max", 10))


def _action_table(actions: Mapping[str, ActionStats], title: str) -> list[str]:
    other = any(row["pending"] + row["inProgress"] + row["unknown"] for row in actions.values())
    columns = [*_COUNT_COLUMNS, *((("other", 6),) if other else ()), *_LATENCY_COLUMNS]
    numeric = sum(width for _, width in columns)
    name_width = max(len(_TOTAL), min(max(map(_width, actions), default=0), WIDTH - numeric))
    heads = [name.rjust(width) for name, width in columns[: len(columns) - 4]]
    heads += [f"{name} (ms)".rjust(width) for name, width in _LATENCY_COLUMNS]
    lines = [title, "action".ljust(name_width) + "".join(heads)]
    totals = dict.fromkeys(("count", "success", "failed", "error", "other"), 0)
    slowest: float | None = None
    for name, row in actions.items():
        counts = {
            "count": row["count"],
            "success": row["success"],
            "failed": row["failed"],
            "error": row["error"],
            "other": row["pending"] + row["inProgress"] + row["unknown"],
        }
        for key, value in counts.items():
            totals[key] += value
        if row["max"] is not None and (slowest is None or row["max"] > slowest):
            slowest = row["max"]
        cells = [str(counts[key]).rjust(width) for key, width in columns[: len(columns) - 4]]
        cells += [_ms(row[key]).rjust(width) for key, width in _LATENCY_COLUMNS]  # type: ignore[literal-required]
        lines.append(_fit(name, name_width).ljust(name_width) + "".join(cells))
    cells = [str(totals[key]).rjust(width) for key, width in columns[: len(columns) - 4]]
    cells += ["".rjust(width) for _, width in _LATENCY_COLUMNS[:-1]]
    cells.append(_ms(slowest).rjust(_LATENCY_COLUMNS[-1][1]))
    lines.append(_TOTAL.ljust(name_width) + "".join(cells))
    return lines


def _error_table(errors: Mapping[str, ErrorTypeStats]) -> list[str]:
    if not errors:
        return ["Error types: none"]
    type_width = max(4, min(max(map(_width, errors)), 32))
    example_width = WIDTH - type_width - 8
    lines = ["Error types", "type".ljust(type_width) + "count".rjust(7) + " example"]
    for kind, info in errors.items():
        lines.append(
            _fit(kind, type_width).ljust(type_width)
            + str(info["count"]).rjust(7)
            + " "
            + _fit(info["example"], example_width)
        )
    return lines


def _slowest_table(slowest: list[SlowTrace]) -> list[str]:
    if not slowest:
        return ["Slowest traces: none"]
    action_width = max(6, min(max(_width(e["actionId"]) for e in slowest), 24))
    actor_width = max(5, min(max(_width(e["actorId"]) for e in slowest), 16))
    lines = [
        "Slowest traces",
        f"{'duration (ms)':>13}  {'status':<11} {'action':<{action_width}} "
        f"{'actor':<{actor_width}} file",
    ]
    file_width = WIDTH - 13 - 2 - 12 - (action_width + 1) - (actor_width + 1)
    for entry in slowest:
        where = entry.get("file", "")
        if "line" in entry:
            where = f"{where}:{entry['line']}"
        lines.append(
            f"{_ms(entry['duration']):>13}  {_fit(entry.get('status', '?'), 11):<11} "
            f"{_fit(entry['actionId'], action_width):<{action_width}} "
            f"{_fit(entry['actorId'], actor_width):<{actor_width}} "
            f"{_fit(where, file_width, keep_end=True)}"
        )
    return lines


def _operation_table(operations: Mapping[str, OperationStats]) -> list[str]:
    width = max(9, min(max(map(_width, operations)), WIDTH - 50))
    lines = [
        "Operations (structured traces)",
        "operation".ljust(width)
        + "count".rjust(8)
        + "mean (ms)".rjust(11)
        + "p95 (ms)".rjust(11)
        + "max (ms)".rjust(11)
        + "errors".rjust(8),
    ]
    for name, row in operations.items():
        lines.append(
            _fit(name, width).ljust(width)
            + str(row["count"]).rjust(8)
            + _ms(row["mean"]).rjust(11)
            + _ms(row["p95"]).rjust(11)
            + _ms(row["max"]).rjust(11)
            + str(row["errors"]).rjust(8)
        )
    return lines


def render_report(report: Report, source: str | None = None) -> str:
    """Render the report as text for a terminal of ``WIDTH`` (100) columns.

    The header states the totals (traces, files, corrupt lines skipped) so they can be checked
    against the files; latency columns are in milliseconds and labelled so.
    """
    types = report.get("traceTypes", {})
    others = ", ".join(
        f"{count} {name}" for name, count in types.items() if name != EXECUTION and count
    )
    head = f"{report.get('total', 0)} execution traces" + (f" (and {others})" if others else "")
    if report.get("estimated"):
        head = f"~{head}, estimated from {report.get('kept', 0)} sampled traces"
    if "files" in report:
        head += f" in {report['files']} file{'' if report['files'] == 1 else 's'}"
    title = "Trace report" + (f" for {source}" if source is not None else "")
    lines = [_fit(title, WIDTH, keep_end=True), _fit(head, WIDTH)]
    if "corrupt" in report:
        corrupt, torn = report["corrupt"], report.get("torn", 0)
        unreadable, skipped = report.get("unreadable", 0), report.get("skipped", 0)
        text = (
            f"Skipped: {corrupt + torn} damaged lines ({corrupt} corrupt, {torn} torn), "
            f"{unreadable + skipped} files not read ({unreadable} unreadable, {skipped} other)"
        )
        lines.append(_fit(text, WIDTH))
    lines.append("")
    actions = report.get("actions", {})
    if actions:
        title = "Actions (execution traces)"
        if report.get("estimated"):
            title = "Actions (execution traces; counts and latencies estimated from a sample)"
        lines += _action_table(actions, title)
    else:
        lines.append("Actions: no execution traces")
    for group, table in report.get("groups", {}).items():
        lines += ["", *_action_table(table, _fit(f"{report.get('groupBy')} = {group}", WIDTH))]
    if report.get("operations"):
        lines += ["", *_operation_table(report["operations"])]
    lines += ["", *_error_table(report.get("errorTypes", {}))]
    lines += ["", *_slowest_table(report.get("slowest", []))]
    return "\n".join(lines)
