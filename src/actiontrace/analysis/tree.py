"""Trees of linked traces and ASCII waterfalls of structured traces: ``show --tree``.

Execution traces are grouped by ``metadata.traceId`` and nested under the trace whose ``spanId``
is their ``parentSpanId``; a structured trace (``traceType`` ``"structured"`` or
``"action_aware_structured"``) hangs under the execution trace it belongs to, drawn as its span
tree with one bar per span on the trace's own time axis and its critical path starred.

A tree can only be drawn once its whole group has been read, so ``TraceForest`` keeps a small node
per trace (never the trace itself) under fixed caps: trees, traces per tree, waterfalls and spans
per waterfall. What a cap leaves out is counted and reported on a ``… N more`` line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import InvalidArgumentError
from ..output.records import EXECUTION, STRUCTURED_TYPES, SpanView, TraceRecord, as_record
from .text import printable

__all__ = [
    "BAR_WIDTH",
    "LINE_WIDTH",
    "MAX_TREES",
    "MAX_TREE_NODES",
    "MAX_WATERFALLS",
    "MAX_WATERFALL_SPANS",
    "STRUCTURED_TYPES",
    "TraceForest",
    "critical_path",
    "render_forest",
    "waterfall",
]

BAR_WIDTH = 40
"""Columns of a waterfall's time axis."""

LINE_WIDTH = 100
"""Columns a waterfall line fits in (tree lines may run longer only when nested very deep)."""

MAX_TREES = 10_000
"""Trace ids (trees) kept; traces of further ids are counted, not shown."""

MAX_TREE_NODES = 500
"""Traces (execution and structured) kept per tree; more are counted on a ``… N more`` line."""

MAX_WATERFALLS = 2_000
"""Structured traces drawn as waterfalls; past that each is one summary line."""

MAX_WATERFALL_SPANS = 60
"""Spans drawn per waterfall; more are counted on a ``… N more spans`` line."""

_TEXT_CHARS = 40  # longest action, actor or operation name shown
_ID_CHARS = 32
_NAME_MIN = 12  # narrowest waterfall name column
_DURATION_COLS = 11  # " 1234.56 ms"
_STATUS_COLS = 10  # " ✗ failure"
_BRANCH, _LAST, _PIPE, _SPACE = "├─ ", "└─ ", "│  ", "   "
_FILL = {"success": "#", "failure": "X", "error": "X", "active": "~"}
_ACTION_MARKS = {"failed": "✗ FAILED", "error": "✗ ERROR"}
_SPAN_MARKS = {"failure": " ✗ failure", "error": " ✗ error", "active": " … active"}


def _clip(value: str | None, limit: int = _TEXT_CHARS, default: str = "?") -> str:
    """``value`` as safe terminal text of at most ``limit`` characters (``…`` when clipped)."""
    text = printable(value) if value else default
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(value: float | None) -> str:
    return "incomplete" if value is None else f"{value:.2f} ms"


# -- waterfalls ------------------------------------------------------------------------------------


class _Span:
    __slots__ = ("children", "end", "id", "operation", "parent", "seq", "start", "status")

    def __init__(self, view: SpanView, seq: int) -> None:
        self.id = view.span_id
        self.parent = view.parent_id
        self.operation = view.operation
        self.start = view.start_ms
        self.end = view.end_ms
        self.status = view.status
        self.seq = seq
        self.children: list[_Span] = []

    def order(self) -> tuple[bool, float, int]:
        return (self.start is None, self.start or 0.0, self.seq)


def _span_forest(spans: tuple[SpanView, ...]) -> list[_Span]:
    """Roots of the span tree (children sorted by start); spans in loops become roots too."""
    items = [_Span(view, seq) for seq, view in enumerate(spans)]
    by_id: dict[str, _Span] = {}
    for item in items:
        if item.id is not None:
            by_id.setdefault(item.id, item)
    roots: list[_Span] = []
    for item in items:
        parent = by_id.get(item.parent) if item.parent is not None else None
        if parent is None:
            roots.append(item)
        else:
            parent.children.append(item)
    for item in items:
        item.children.sort(key=_Span.order)
    roots.sort(key=_Span.order)
    reached = {id(item) for item, _ in _walk(roots)}
    # A span whose parent chain loops is reachable from no root: show it at the root level.
    roots.extend(item for item in items if id(item) not in reached)
    return roots


def _walk(roots: list[_Span]) -> Iterator[tuple[_Span, int]]:
    """Depth-first ``(span, depth)``, each span once (iterative: deep chains are fine)."""
    seen: set[int] = set()
    stack = [(item, 0) for item in reversed(roots)]
    while stack:
        item, depth = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item, depth
        stack.extend((child, depth + 1) for child in reversed(item.children))


def _critical(roots: list[_Span]) -> list[_Span]:
    """Return the spans on the critical path, from its root down."""
    path: list[_Span] = []
    level = roots
    while level:
        last = max(level, key=lambda item: -math.inf if item.end is None else item.end)
        if last in path:  # a loop in the parent links
            break
        path.append(last)
        level = last.children
    return path


def _spans(trace: TraceRecord | Mapping[str, Any]) -> tuple[SpanView, ...]:
    record = trace if type(trace) is TraceRecord else as_record(trace)
    return () if record is None else record.spans()


def critical_path(trace: TraceRecord | Mapping[str, Any]) -> list[str]:
    """Operation names on a structured trace's critical path, recomputed from its spans.

    From the root span that ended last, follow at each level the child that ended last, as
    ``StructuredTrace.get_critical_path()`` does, but from the trace read back.
    """
    return [_clip(item.operation) for item in _critical(_span_forest(_spans(trace)))]


def _bar(
    start: float | None, end: float | None, t0: float, t1: float, width: int
) -> tuple[int, int]:
    """(first column, length) of a span's bar; length 0 when its start is unknown."""
    if start is None:
        return 0, 0
    axis = t1 - t0
    if axis <= 0:
        return 0, 1
    column = min(max(math.floor((start - t0) / axis * width), 0), width - 1)
    stop = t1 if end is None else end  # an unfinished span runs to the end of the axis
    length = round((stop - t0) / axis * width) - column
    return column, max(1, min(length, width - column))


_Row = tuple[int, str, bool, int, int, float | None, str]


class _Waterfall:
    """A structured trace reduced to what its drawing needs: header figures and bar rows."""

    __slots__ = ("action", "actor", "dropped", "more", "rows", "spans", "total")

    def __init__(self, record: TraceRecord, max_spans: int, draw: bool) -> None:
        # Clipped now: a tree keeps only short text, whatever the file holds.
        self.action = None if record.action_id == "?" else _clip(record.action_id)
        self.actor = _clip(record.actor_id)
        self.dropped = record.dropped_spans
        roots = _span_forest(record.spans())
        order = list(_walk(roots))
        self.spans = len(order)
        starts = [item.start for item, _ in order if item.start is not None]
        ends = [item.end for item, _ in order if item.end is not None]
        t0 = min(starts, default=0.0)
        t1 = max(starts + ends, default=t0)
        total = record.duration
        self.total = t1 - t0 if total is None else total
        # (depth, operation, on the critical path, bar column, bar length, duration, status)
        self.rows: list[_Row] | None = None
        self.more = 0
        if not draw:
            return
        on_path = set(map(id, _critical(roots)))
        rows: list[_Row] = []
        for item, depth in order[:max_spans]:
            column, length = _bar(item.start, item.end, t0, t1, BAR_WIDTH)
            duration = None if item.start is None or item.end is None else item.end - item.start
            rows.append(
                (
                    depth,
                    _clip(item.operation),
                    id(item) in on_path,
                    column,
                    length,
                    duration,
                    item.status,
                )
            )
        self.rows = rows
        self.more = len(order) - len(rows)

    def head(self) -> str:
        """``N spans · 12.34 ms`` with the legend and any dropped spans."""
        parts = [f"{self.spans} span{'' if self.spans == 1 else 's'}", _ms(self.total)]
        if self.rows:
            parts.append("* critical path")
        if self.dropped:
            parts.append(f"{self.dropped} spans dropped by the tracer")
        return " · ".join(parts)

    def lines(self, prefix: str) -> Iterator[str]:
        """Yield the bar rows, each after ``prefix``, fitted to ``LINE_WIDTH`` columns."""
        if self.rows is None:
            yield f"{prefix}(waterfall not drawn: the limit of waterfalls was reached)"
            return
        fixed = 2 + BAR_WIDTH + 2 + _DURATION_COLS + _STATUS_COLS
        name_width = max(_NAME_MIN, LINE_WIDTH - len(prefix) - fixed)
        for depth, operation, critical, column, length, duration, status in self.rows:
            name = "  " * depth + operation
            if len(name) > name_width:
                name = name[: name_width - 1] + "…"
            fill = _FILL.get(status, "#")
            bar = "." * column + fill * length + "." * (BAR_WIDTH - column - length)
            shown = "" if duration is None else f"{duration:.2f} ms"
            mark = "" if status == "success" else _SPAN_MARKS.get(status, " " + _clip(status, 9))
            yield (
                f"{prefix}{'* ' if critical else '  '}{name:<{name_width}}|{bar}|"
                f"{shown:>{_DURATION_COLS}}{mark}"
            ).rstrip()
        if self.more:
            yield f"{prefix}… {self.more} more spans"


def waterfall(
    trace: TraceRecord | Mapping[str, Any], *, max_spans: int = MAX_WATERFALL_SPANS
) -> list[str]:
    """One structured trace as text: a header line, then one bar per span on a shared time axis.

    Bars start and last in proportion to each span's ``startTime`` and duration, relative to the
    trace's first span start, over ``BAR_WIDTH`` columns (at least one per span); ``*`` marks the
    critical path; failed spans are drawn with ``X`` and marked. At most ``max_spans`` rows.
    """
    if type(trace) is not TraceRecord and not isinstance(trace, Mapping):
        raise InvalidArgumentError(f"trace must be a mapping, got {type(trace).__name__}")
    _check_cap(max_spans, "max_spans")
    record = trace if type(trace) is TraceRecord else as_record(trace)
    if record is None:
        record = as_record({"metadata": {"traceType": "structured"}})
    assert record is not None  # a structured trace without spans
    drawing = _Waterfall(record, max_spans, draw=True)
    return [_steps_title(drawing, root=True), *drawing.lines("")]


def _steps_title(drawing: _Waterfall, *, root: bool) -> str:
    if not root:
        return f"steps · {drawing.head()}"
    who = f"{drawing.action} · {drawing.actor} · " if drawing.action is not None else ""
    return f"steps of {who}{drawing.head()}"


def _check_cap(value: object, name: str) -> None:
    if type(value) is not int or value < 1:
        raise InvalidArgumentError(f"{name} must be an int >= 1, got {value!r}")


# -- the forest of linked traces -------------------------------------------------------------------


class _Action:
    """An execution trace as a tree keeps it: its links, start and one line of text."""

    __slots__ = ("line", "parent", "seq", "span_id", "start")

    def __init__(self, record: TraceRecord, seq: int) -> None:
        self.span_id = record.span_id
        self.parent = record.parent_span_id
        self.start = record.start_epoch_ns
        self.seq = seq
        status = record.status
        shown = _ACTION_MARKS.get(status) or _clip(status, 20)
        self.line = (
            f"{_clip(record.action_id)} · {_clip(record.actor_id)} · "
            f"{shown} · {_ms(record.duration)}"
        )


class _Steps:
    """A structured trace as a tree keeps it: its parent action's span id and its drawing."""

    __slots__ = ("drawing", "parent", "seq", "start")

    def __init__(self, record: TraceRecord, seq: int, drawing: _Waterfall):
        self.parent = record.parent_span_id
        self.start = record.start_epoch_ns
        self.seq = seq
        self.drawing = drawing


_Node = _Action | _Steps


def _order(node: _Node) -> tuple[bool, bool, int, int]:
    # A node's own steps come before the actions it caused; then by start time, then file order.
    return (isinstance(node, _Action), node.start is None, node.start or 0, node.seq)


class _Group:
    __slots__ = ("nodes", "omitted", "seq", "start", "trace_id")

    def __init__(self, trace_id: str | None, seq: int) -> None:
        self.trace_id = trace_id
        self.seq = seq
        self.start: int | None = None
        self.nodes: list[_Node] = []
        self.omitted = 0

    def order(self) -> tuple[bool, int, int]:
        return (self.start is None, self.start or 0, self.seq)


class TraceForest:
    """Traces grouped into trees of linked actions, in bounded memory.

    ``add(trace)`` each trace dict as it is read, then ``lines()`` draws every tree: one per
    ``metadata.traceId``, ordered by start, each headed ``trace <id> · …``; children are nested
    under their parent (``parentSpanId`` = the parent's ``spanId``), ordered by
    ``execution.startEpochNs``; a trace whose parent is not among those read is shown at the root
    level, marked ``orphan``. A structured trace is drawn as a waterfall under its execution trace
    (or at the root level when that is absent). Trace types other than execution and structured
    are counted and skipped.
    """

    __slots__ = (
        "_drawn",
        "_groups",
        "_max_nodes",
        "_max_spans",
        "_max_trees",
        "_max_waterfalls",
        "_seq",
        "omitted",
        "other",
    )

    def __init__(
        self,
        *,
        max_trees: int = MAX_TREES,
        max_tree_nodes: int = MAX_TREE_NODES,
        max_waterfalls: int = MAX_WATERFALLS,
        max_spans: int = MAX_WATERFALL_SPANS,
    ) -> None:
        _check_cap(max_trees, "max_trees")
        _check_cap(max_tree_nodes, "max_tree_nodes")
        _check_cap(max_waterfalls, "max_waterfalls")
        _check_cap(max_spans, "max_spans")
        self._max_trees = max_trees
        self._max_nodes = max_tree_nodes
        self._max_waterfalls = max_waterfalls
        self._max_spans = max_spans
        self._groups: dict[str, _Group] = {}
        self._seq = 0
        self._drawn = 0
        self.omitted = 0
        """Traces left out because ``max_trees`` trees were already kept."""
        self.other = 0
        """Traces of other types (or not trace objects), skipped."""

    def add(self, trace: object) -> None:
        """Place one trace read back from a file (a ``TraceRecord`` or a trace dict)."""
        seq = self._seq = self._seq + 1
        record = trace if type(trace) is TraceRecord else as_record(trace)
        if record is None:
            self.other += 1
            return
        structured = record.is_structured
        if not structured and record.kind != EXECUTION:
            self.other += 1
            return
        trace_id = record.trace_id
        key = trace_id if trace_id is not None else f"\0{seq}"  # no id: a tree of its own
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= self._max_trees:
                self.omitted += 1
                return
            group = self._groups[key] = _Group(trace_id, seq)
        if len(group.nodes) >= self._max_nodes:
            group.omitted += 1
            return
        node: _Node
        if structured:
            draw = self._drawn < self._max_waterfalls
            self._drawn += draw
            node = _Steps(record, seq, _Waterfall(record, self._max_spans, draw))
        else:
            node = _Action(record, seq)
        group.nodes.append(node)
        if node.start is not None and (group.start is None or node.start < group.start):
            group.start = node.start

    def lines(self) -> Iterator[str]:
        """Draw every tree (a blank line between two), then what the caps left out."""
        for index, group in enumerate(sorted(self._groups.values(), key=_Group.order)):
            if index:
                yield ""
            yield from self._tree(group)
        if self.omitted:
            yield ""
            yield (
                f"… {self.omitted} more traces in further trees not shown "
                f"(limit of {self._max_trees:,} trees)"
            )
        if self.other:
            yield f"({self.other} traces of other types not shown)"

    def _tree(self, group: _Group) -> Iterator[str]:
        by_span: dict[str, _Action] = {}
        for node in group.nodes:
            if isinstance(node, _Action) and node.span_id is not None:
                by_span.setdefault(node.span_id, node)
        children: dict[int, list[_Node]] = {}
        roots: list[_Node] = []
        for node in group.nodes:
            parent = None if node.parent is None else by_span.get(node.parent)
            if parent is None:
                roots.append(node)
            else:
                children.setdefault(id(parent), []).append(node)
        for kids in children.values():
            kids.sort(key=_order)
        roots.sort(key=_order)
        actions = sum(isinstance(node, _Action) for node in group.nodes)
        steps = len(group.nodes) - actions
        head = f"trace {_clip(group.trace_id, _ID_CHARS, '(no trace id)')}"
        head += f" · {actions} action{'' if actions == 1 else 's'}"
        if steps:
            head += f" · {steps} step trace{'' if steps == 1 else 's'}"
        yield head
        seen: set[int] = set()
        yield from self._draw(roots, children, seen, group, looped=False)
        # Nodes whose parent links loop are reachable from no root: drawn at the root level.
        stranded = [node for node in group.nodes if id(node) not in seen]
        yield from self._draw(stranded, children, seen, group, looped=True)
        if group.omitted:
            yield (
                f"… {group.omitted} more traces in this tree not shown "
                f"(limit of {self._max_nodes:,} per tree)"
            )

    def _draw(
        self,
        roots: list[_Node],
        children: dict[int, list[_Node]],
        seen: set[int],
        group: _Group,
        *,
        looped: bool,
    ) -> Iterator[str]:
        stack: list[tuple[_Node, str, str]] = [(root, "", "") for root in reversed(roots)]
        while stack:
            node, first, rest = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            note = ""
            if not first and node.parent is not None:
                note = _root_note(node.parent, group.omitted > 0, looped)
            if isinstance(node, _Steps):
                yield f"{first}{_steps_title(node.drawing, root=not first)}{note}"
                yield from node.drawing.lines(rest)
                continue
            yield f"{first}{node.line}{note}"
            kids = children.get(id(node), [])
            for index in range(len(kids) - 1, -1, -1):
                last = index == len(kids) - 1
                stack.append(
                    (
                        kids[index],
                        rest + (_LAST if last else _BRANCH),
                        rest + (_SPACE if last else _PIPE),
                    )
                )


def _root_note(parent: str, omitted: bool, looped: bool) -> str:
    shown = _clip(parent, 16)
    if looped:
        return f"  (parent links loop through {shown})"
    where = "among the traces not shown" if omitted else "not in these files"
    return f"  (orphan: parent {shown} {where})"


def render_forest(traces: Iterable[object], **caps: int) -> str:
    """All ``traces`` drawn by a ``TraceForest`` (``caps``: its keyword arguments), as one text."""
    forest = TraceForest(**caps)
    for trace in traces:
        forest.add(trace)
    return "\n".join(forest.lines())
