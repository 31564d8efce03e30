"""The HTML report (``actiontrace report PATH --html FILE``) and the page ``serve`` shows live.

One streaming pass feeds two aggregators: the report (``report.py``, so the page's
numbers are ``report --json``'s) and ``PageData``, which keeps what the pictures need in bounded
memory: a log-scale latency histogram per action, counts per actor, the session's time span, at
most a few thousand timeline bars (every error and failure up to a cap, the slowest, a uniform
reservoir of the rest), the latest traces and a bounded set of linked-trace trees.

The page is one self-contained file: inline CSS and script (allowed by hash in its Content
Security Policy, so nothing else can run), data in a ``<script type="application/json">`` block
escaped so that no value can close it, and the script inserts every value as text.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import html
import math
import os
import random
import re
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from ..output.discovery import display_path
from ..output.reader import ReadStats, scan_traces
from ..output.records import EXECUTION, TraceRecord, as_record
from ..sanitize import compact_json
from .report import DEFAULT_MAX_SAMPLES, DEFAULT_SLOWEST, ReportBuilder
from .text import json_text

__all__ = [
    "PageData",
    "embed_json",
    "page_data",
    "page_security_policy",
    "render_page",
    "write_html_report",
]

TIMELINE_SAMPLE = 2000
"""Uniform reservoir of timeline bars (all traces when there are fewer)."""
TIMELINE_PROBLEMS = 1000
"""Failed and error traces always drawn on the timeline, up to this many (then a reservoir)."""
TIMELINE_SLOWEST = 100
"""The slowest traces, always drawn."""
LATEST = 20
"""Most recent traces listed."""
MAX_TREES = 50
"""Linked-trace trees kept."""
MAX_TREE_NODES = 200
"""Traces kept per linked-trace tree."""
ROOT_CANDIDATES = 1000
"""Recent root traces remembered in case a child of theirs comes later."""
PAYLOAD_CHARS = 500
"""Longest payload text embedded per timeline bar."""
TEXT_CHARS = 300
"""Longest error message, command or id embedded per bar."""
STACK_CHARS = 4000
"""Longest stack embedded per error of a failed or error trace (its end is kept)."""
ERROR_EXAMPLES = 500
"""Error types whose first trace is kept, so that each error-type row can open it."""
BINS_PER_DOUBLING = 4
"""Latency histogram resolution: bucket edges are 2 ** (k / BINS_PER_DOUBLING) ms."""
_BIN_LIMIT = 200  # |bucket index|: 2 ** 50 ms is beyond any real duration

_STATUSES = ("success", "failed", "error", "in_progress", "pending")


def _clip(value: object, limit: int = TEXT_CHARS) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else compact_json(value)
    return text if len(text) <= limit else text[:limit] + "…"


class _Trees:
    """Linked traces grouped by ``metadata.traceId``, in bounded memory.

    A child (``parentSpanId`` set) makes its trace id a tree; a root seen earlier is kept among the
    recent candidates so it can join its tree when a child comes later (children usually finish,
    and are written, before their parent).
    """

    __slots__ = ("candidates", "children", "more", "trees")

    def __init__(self) -> None:
        self.trees: dict[str, list[dict[str, Any]]] = {}
        self.candidates: dict[str, dict[str, Any]] = {}
        self.children = 0
        self.more = 0  # linked trace ids beyond MAX_TREES

    def add(self, trace_id: str, parent: object, node: dict[str, Any]) -> None:
        tree = self.trees.get(trace_id)
        if parent is not None:
            self.children += 1
            if tree is None:
                if len(self.trees) >= MAX_TREES:
                    self.more += 1
                    return
                tree = self.trees[trace_id] = []
                root = self.candidates.pop(trace_id, None)
                if root is not None:
                    tree.append(root)
        elif tree is None:
            self.candidates[trace_id] = node
            if len(self.candidates) > ROOT_CANDIDATES:
                del self.candidates[next(iter(self.candidates))]
            return
        if len(tree) < MAX_TREE_NODES:
            tree.append(node)

    def snapshot(self) -> dict[str, Any]:
        return {
            "trees": [{"traceId": tid, "nodes": list(nodes)} for tid, nodes in self.trees.items()],
            "children": self.children,
            "more": self.more,
        }


class PageData:
    """Streaming, bounded aggregation of what the page draws besides the report numbers.

    ``add(trace, file, line)`` once per trace; ``snapshot()`` any time for the page's data.
    """

    __slots__ = (
        "_problem_seen",
        "_problems",
        "_rng",
        "_sample",
        "_seq",
        "_slowest",
        "actors",
        "end_ns",
        "examples",
        "files",
        "histograms",
        "latest",
        "start_ns",
        "timed",
        "total",
        "trees",
    )

    def __init__(self) -> None:
        self.total = 0
        self.timed = 0  # traces with a wall-clock start (placeable on the timeline)
        self._seq = 0
        self.actors: dict[str, list[int]] = {}  # actor -> [count, failed, error]
        self.histograms: dict[str, dict[int, int]] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.files: set[str] = set()
        self._rng = random.Random(0)  # a fixed seed: the same files give the same picture
        self._sample: list[dict[str, Any]] = []
        self._problems: list[dict[str, Any]] = []
        self._problem_seen = 0
        self._slowest: list[tuple[float, int, dict[str, Any]]] = []
        self.latest: deque[tuple[TraceRecord, int]] = deque(maxlen=LATEST)
        self.examples: dict[str, dict[str, Any]] = {}  # error type -> its first trace's bar
        self.trees = _Trees()

    def add(self, trace: object, file: str = "", line: int | None = None) -> None:
        """Count one trace: a ``TraceRecord``, or a trace dict (anything else is ignored)."""
        record = trace if type(trace) is TraceRecord else as_record(trace, file, line or 0)
        if record is not None:
            self.add_record(record)

    def add_record(self, record: TraceRecord) -> None:
        """Count one record; only execution traces are drawn."""
        if record.kind != EXECUTION:
            return
        self.total += 1
        self._seq += 1
        seq = self._seq
        if record.file:
            self.files.add(record.file)
        status = record.status
        actor = record.actor_id
        counts = self.actors.get(actor)
        if counts is None:
            counts = self.actors[actor] = [0, 0, 0]
        counts[0] += 1
        problem = status in ("failed", "error")
        if problem:
            counts[1 if status == "failed" else 2] += 1
        duration = record.duration
        action = record.action_id
        if duration is not None and duration > 0:
            bucket = max(-_BIN_LIMIT, min(_BIN_LIMIT, math.floor(math.log2(duration) * 4)))
            bins = self.histograms.get(action)
            if bins is None:
                bins = self.histograms[action] = {}
            bins[bucket] = bins.get(bucket, 0) + 1
        self.latest.append((record, seq))
        if record.trace_id is not None:
            self.trees.add(
                record.trace_id, record.parent_span_id, _node(record, status, duration, seq)
            )
        kind = record.error_type
        if kind is not None and kind not in self.examples and len(self.examples) < ERROR_EXAMPLES:
            self.examples[kind] = _bar(record, seq)
        if duration is not None:
            # The slowest are kept whether or not they can be placed: each slowest row opens one.
            heap = self._slowest
            key = (duration, -seq)
            if len(heap) < TIMELINE_SLOWEST:
                heapq.heappush(heap, (duration, -seq, _bar(record, seq)))
            elif key > heap[0][:2]:
                heapq.heapreplace(heap, (duration, -seq, _bar(record, seq)))
        start = record.start_epoch_ns
        if start is None:
            return
        self.timed += 1
        end = start + round((duration or 0.0) * 1_000_000)
        if self.start_ns is None or start < self.start_ns:
            self.start_ns = start
        if self.end_ns is None or end > self.end_ns:
            self.end_ns = end
        self._place(record, seq, problem=problem)

    def _place(self, record: TraceRecord, seq: int, *, problem: bool) -> None:
        # Reservoir sampling (algorithm R): a bar is built only for the traces that are kept.
        rng = self._rng
        if len(self._sample) < TIMELINE_SAMPLE:
            self._sample.append(_bar(record, seq))
        else:
            slot = rng.randrange(self.timed)
            if slot < TIMELINE_SAMPLE:
                self._sample[slot] = _bar(record, seq)
        if problem:
            self._problem_seen += 1
            if len(self._problems) < TIMELINE_PROBLEMS:
                self._problems.append(_bar(record, seq))
            else:
                slot = rng.randrange(self._problem_seen)
                if slot < TIMELINE_PROBLEMS:
                    self._problems[slot] = _bar(record, seq)

    def snapshot(self) -> dict[str, Any]:
        """Return the page's data (JSON-compatible): lanes, span, histograms, bars, trees."""
        t0 = self.start_ns or 0
        bars: dict[int, dict[str, Any]] = {}
        for bar in (*self._sample, *self._problems, *(item[2] for item in self._slowest)):
            bars[bar["seq"]] = bar
        placed = [_placed(bar, t0) for _, bar in sorted(bars.items())]
        return {
            "actors": [
                {"id": actor, "count": c[0], "failed": c[1], "error": c[2]}
                for actor, c in sorted(self.actors.items())
            ],
            "span": {
                "t0": t0 / 1_000_000,
                "end": ((self.end_ns or t0) - t0) / 1_000_000,
            },
            "histograms": {
                action: _histogram(bins) for action, bins in sorted(self.histograms.items())
            },
            "bars": placed,
            "timeline": {
                "shown": len(placed),
                "timed": self.timed,
                "total": self.total,
                "problems": self._problem_seen,
                "sampled": len(placed) < self.timed,
                "limits": {
                    "sample": TIMELINE_SAMPLE,
                    "problems": TIMELINE_PROBLEMS,
                    "slowest": TIMELINE_SLOWEST,
                },
            },
            "latest": [_placed(_bar(record, seq), t0) for record, seq in reversed(self.latest)],
            "examples": {kind: _placed(bar, t0) for kind, bar in self.examples.items()},
            "trees": self.trees.snapshot(),
            "files": len(self.files),
        }


def _node(record: TraceRecord, status: str, duration: float | None, seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "action": _clip(record.action_id),
        "actor": _clip(record.actor_id),
        "status": status,
        "duration": duration,
        "spanId": _clip(record.span_id),
        "parentSpanId": _clip(record.parent_span_id),
    }


def _stack(text: str | None) -> str | None:
    if text is None or len(text) <= STACK_CHARS:
        return text
    return "…" + text[-STACK_CHARS:]  # the end of a stack names the error and where it was raised


def _bar(record: TraceRecord, seq: int) -> dict[str, Any]:
    error_text = None
    errors = None
    if record.error_type is not None:
        error_text = _clip(f"{record.error_type}: {record.error_message or ''}")
        errors = [
            {"type": _clip(link.type), "message": _clip(link.message), "stack": _stack(link.stack)}
            for link in record.errors()
        ]
    return {
        "seq": seq,
        "action": _clip(record.action_id),
        "actor": _clip(record.actor_id),
        "status": record.status,
        "startNs": record.start_epoch_ns,
        "duration": record.duration,
        "traceId": _clip(record.trace_id),
        "spanId": _clip(record.span_id),
        "parentSpanId": _clip(record.parent_span_id),
        "command": _clip(record.command),
        "payload": _clip(record.payload, PAYLOAD_CHARS),
        "error": error_text,
        "errors": errors,
        "file": record.file,
        "line": record.line or None,
    }


def _placed(bar: dict[str, Any], t0: int) -> dict[str, Any]:
    """Copy ``bar`` with its start in ms after the session start (epoch ns overflow JS numbers)."""
    placed = dict(bar)
    start = placed.pop("startNs")
    placed["start"] = None if start is None else (start - t0) / 1_000_000
    placed["epochMs"] = None if start is None else start / 1_000_000
    return placed


def _histogram(bins: dict[int, int]) -> dict[str, Any]:
    low, high = min(bins), max(bins)
    return {
        "low": low,
        "perDoubling": BINS_PER_DOUBLING,
        "counts": [bins.get(index, 0) for index in range(low, high + 1)],
    }


# -- building the page ---------------------------------------------------------------------------


def _new_report_builder() -> Any:
    """Make the report's own streaming aggregator: the page's numbers are ``report --json``'s."""
    return ReportBuilder(DEFAULT_SLOWEST, None, DEFAULT_MAX_SAMPLES)


class LiveData:
    """The report builder and ``PageData`` fed together; ``data()`` is the page's whole data."""

    __slots__ = ("page", "report", "source")

    def __init__(self, source: str) -> None:
        self.source = display_path(source)
        self.report = _new_report_builder()
        self.page = PageData()

    def add(self, trace: object, file: str = "", line: int | None = None) -> None:
        """Count one trace (a ``TraceRecord`` or a trace dict) in both aggregators."""
        record = trace if type(trace) is TraceRecord else as_record(trace, file, line or 0)
        if record is not None:
            self.report.add_record(record)
            self.page.add_record(record)

    def data(self, *, live: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything the page shows, JSON-compatible."""
        report = self.report.result()
        if extra:
            report.update(extra)
        return {
            "title": "actiontrace report",
            "source": self.source,
            "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "live": live,
            "report": report,
            "page": self.page.snapshot(),
        }


def page_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read every trace under ``path`` once and return the page's data (report included).

    A missing path raises ``FileNotFoundError``, like ``report_path``.
    """
    source = os.fspath(path)
    if not Path(source).exists():
        raise FileNotFoundError(f"no such file or directory: {source}")
    stats = ReadStats()
    live = LiveData(source)
    add_report, add_page = live.report.add_record, live.page.add_record
    for record in scan_traces(source, stats, fast=True):
        add_report(record)
        add_page(record)
    return live.data(extra=stats.counts())


_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def embed_json(value: object) -> str:
    """JSON safe to place inside ``<script type="application/json">``: no ``<``, ``>``, ``&``.

    Control and bidi characters are escaped too (``json_text``).

    The escapes are JSON's own, so ``JSON.parse`` of the block's text gives the value back.
    """
    return json_text(value).translate(_ESCAPES)


def _asset(name: str) -> str:
    return resources.files("actiontrace.analysis").joinpath("static", name).read_text("utf-8")


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(raw).decode("ascii")


_ASSETS: dict[str, str] = {}
_PLACEHOLDER = re.compile(r"\{\{(?:CSP|TITLE|CSS|JS|DATA)\}\}")


def _assets() -> dict[str, str]:
    if not _ASSETS:
        _ASSETS.update(
            template=_asset("page.html"), css=_asset("report.css"), js=_asset("report.js")
        )
    return _ASSETS


def page_security_policy() -> str:
    """Return the page's Content Security Policy: only its own inline script and style run."""
    assets = _assets()
    return (
        "default-src 'none'; "
        f"script-src '{_digest(assets['js'])}'; "
        f"style-src '{_digest(assets['css'])}'; "
        "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


def render_page(data: Mapping[str, Any]) -> str:
    """Render the self-contained HTML page for ``data`` (``page_data`` or ``LiveData.data``)."""
    assets = _assets()
    title = f"actiontrace — {data.get('source', '')}"
    parts = {
        "{{CSP}}": html.escape(page_security_policy()),
        "{{TITLE}}": html.escape(title),
        "{{CSS}}": assets["css"],
        "{{JS}}": assets["js"],
        "{{DATA}}": embed_json(data),
    }
    # re.sub scans only the template: a placeholder inside the data is never expanded.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(0)], assets["template"])


def write_html_report(path: str | os.PathLike[str], html_file: str | os.PathLike[str]) -> Path:
    """Write the HTML report of the traces under ``path`` to ``html_file``; return its path.

    The file is written whole or not at all (a temporary file renamed into place). A missing
    ``path`` raises ``FileNotFoundError``.
    """
    if not isinstance(html_file, (str, os.PathLike)):
        raise InvalidArgumentError(f"html_file must be a str or os.PathLike, not {html_file!r}")
    page = render_page(page_data(path))
    target = Path(html_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a report meant to be shared
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    return target
