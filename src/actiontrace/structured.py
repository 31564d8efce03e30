"""Nested operations in one action: ``StructuredTrace``, ``Span``, ``span()`` (reference §10).

Which span is open is kept per context (``contextvars``), not in one "active span" field, so two
asyncio tasks that overlap each nest their own spans correctly and threads never see each other's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from .context import ACTIVE_SPAN
from .error_info import describe_error
from .errors import InvalidArgumentError, TraceStateError
from .ids import TraceContext, format_span_id, format_trace_id, new_span_id, new_trace_id
from .sanitize import SanitizeRules, clean_text, compact_json, rules_for, sanitize_to_json
from .trace import ActionExecutionTrace, format_created_at, parent_ids
from .types import TRACE_FORMAT_VERSION
from .verbosity import Verbosity, parse_verbosity, reduce_stage_data

__all__ = [
    "MAX_SPANS",
    "SPAN_STATUSES",
    "ActionAwareStructuredTrace",
    "Span",
    "StructuredTrace",
    "span",
]

MAX_SPANS = 10_000
"""Spans one structured trace stores; more are counted in ``droppedSpans``."""

SPAN_STATUSES = ("active", "success", "failure", "error")
_ATTRIBUTE_BYTES = 64 * 1024
_MAX_NAME_CHARS = 1024
_perf_ns = time.perf_counter_ns


def _now() -> float:
    return _perf_ns() / 1_000_000


class Span:
    """One timed operation in a ``StructuredTrace``; ends on leaving its ``with`` block."""

    __slots__ = (
        "_attributes",
        "_end",
        "_error",
        "_events",
        "_id",
        "_parent",
        "_start",
        "_status",
        "_token",
        "_trace",
        "operation",
    )

    def __init__(
        self, trace: StructuredTrace, operation: str, parent: Span | None, recorded: bool
    ) -> None:
        self._trace = trace if recorded else None
        self.operation = operation
        self._id = new_span_id()
        self._parent = parent
        self._start = _now()
        self._end: float | None = None
        self._status = "active"
        self._attributes: dict[str, Any] = {}
        self._events: list[dict[str, Any]] = []
        self._error: dict[str, Any] | None = None
        self._token: Token[Any] | None = None

    # -- identity and timing -----------------------------------------------------------------------

    @property
    def span_id(self) -> str:
        """16 lowercase hex digits."""
        return format_span_id(self._id)

    @property
    def parent_id(self) -> str | None:
        """The enclosing span's id, ``None`` for a root span."""
        return None if self._parent is None else self._parent.span_id

    @property
    def start_time(self) -> float:
        """Start in milliseconds on the trace clock (``time.perf_counter_ns() / 1e6``)."""
        return self._start

    @property
    def end_time(self) -> float | None:
        """End in milliseconds, ``None`` while active."""
        return self._end

    @property
    def duration(self) -> float | None:
        """``end_time - start_time`` in milliseconds, ``None`` while active."""
        return None if self._end is None else self._end - self._start

    @property
    def status(self) -> str:
        """``"active"``, ``"success"``, ``"failure"`` or ``"error"``."""
        return self._status

    @property
    def attributes(self) -> dict[str, Any]:
        """A fresh copy of the (sanitised) attributes."""
        return json.loads(compact_json(self._attributes))  # type: ignore[no-any-return]

    @property
    def error(self) -> dict[str, Any] | None:
        """The recorded error (the error record of an execution trace), or ``None``."""
        return None if self._error is None else json.loads(compact_json(self._error))

    @property
    def is_recording(self) -> bool:
        """False for a span past the trace's ``MAX_SPANS``: it works but is not stored."""
        return self._trace is not None

    # -- recording ---------------------------------------------------------------------------------

    def _rules(self) -> SanitizeRules:
        return self._trace._rules if self._trace is not None else rules_for()

    def set_attribute(self, key: str, value: Any) -> None:
        """Add or replace one attribute (sanitised like a payload)."""
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("key must be a non-empty str")
        clean = sanitize_to_json({key: value}, self._rules(), _ATTRIBUTE_BYTES)[0]
        self._attributes.update(clean)

    def add_event(self, name: str, **attributes: Any) -> None:
        """Record a named point in time inside this span."""
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a non-empty str")
        rules = self._rules()
        clean = sanitize_to_json(attributes, rules, _ATTRIBUTE_BYTES)[0]
        self._events.append(
            {"name": _clean_name(name, rules), "timestamp": _now(), "attributes": clean}
        )

    def record_error(self, error: object) -> None:
        """Record an error (as an execution trace records one) and set status ``"error"``."""
        self._error = dict(describe_error(error, self._rules(), _now()))
        self._status = "error"

    def set_status(self, status: str) -> None:
        """Choose the status this span ends with."""
        if status not in SPAN_STATUSES:
            raise InvalidArgumentError(f"status must be one of {', '.join(SPAN_STATUSES)}")
        self._status = status

    def end(self) -> None:
        """End the span now; ending twice raises ``TraceStateError``."""
        if self._end is not None:
            raise TraceStateError(f"Span '{self.operation}' already ended")
        now = _now()
        self._end = now if now > self._start else self._start + 1e-6
        if self._status == "active":
            self._status = "success"

    # -- context manager (sync and async) ----------------------------------------------------------

    def __enter__(self) -> Span:
        self._token = ACTIVE_SPAN.set((self._trace or _DETACHED, self))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                ACTIVE_SPAN.reset(token)
            except ValueError:  # closed in another context than it was opened in
                ACTIVE_SPAN.set(token.old_value if token.old_value is not Token.MISSING else None)
        if error is not None and self._error is None:
            self.record_error(error)
        if self._end is None:
            self.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, error, tb)

    def to_dict(self) -> dict[str, Any]:
        """Return this span as it appears in ``StructuredTrace.to_dict()["spans"]``."""
        return {
            "spanId": self.span_id,
            "parentId": self.parent_id,
            "operation": self.operation,
            "startTime": self._start,
            "endTime": self._end,
            "duration": self.duration,
            "status": self._status,
            "attributes": self.attributes,
            "events": json.loads(compact_json(self._events)),
            "error": self.error,
        }

    def __repr__(self) -> str:
        return f"<Span {self.operation!r} {self._status} {self.span_id}>"


class StructuredTrace:
    """A tree of timed operations (spans) inside one action.

    ``with trace.span("resolve_target"):`` opens a child of the span open in the current context;
    ``start_span()`` / ``Span.end()`` do the same by hand. At most ``MAX_SPANS`` spans are stored.
    """

    _trace_type = "structured"

    def __init__(
        self,
        *,
        parent: ActionExecutionTrace | TraceContext | None = None,
        sensitive_fields: Iterable[str] = (),
        safe_fields: Iterable[str] = (),
    ) -> None:
        trace_id, parent_span = parent_ids(parent)
        self._trace_id = trace_id if trace_id is not None else new_trace_id()
        self._parent_span = parent_span
        self._rules = rules_for(sensitive_fields, safe_fields)
        # The wall clock and the trace clock read together: exporters place spans in time with it.
        self._created_ns = time.time_ns()
        self._anchor_ms = _now()
        self._spans: list[Span] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._info: dict[str, Any] = {}

    # -- identity ----------------------------------------------------------------------------------

    @property
    def trace_id(self) -> str:
        """32 lowercase hex digits, shared with the parent when there is one."""
        return format_trace_id(self._trace_id)

    @property
    def parent_span_id(self) -> str | None:
        """The span id of the parent given at creation (or by ``link_to``), else ``None``."""
        return None if self._parent_span is None else format_span_id(self._parent_span)

    def link_to(self, parent: ActionExecutionTrace | TraceContext) -> None:
        """Join ``parent``'s trace: take its trace id and record its span as this trace's parent."""
        trace_id, parent_span = parent_ids(parent)
        self._trace_id = trace_id if trace_id is not None else self._trace_id
        self._parent_span = parent_span

    def annotate(self, **info: Any) -> None:
        """Add (sanitised) descriptive keys to ``to_dict()["metadata"]``, e.g. ``actionId``."""
        self._info.update(sanitize_to_json(info, self._rules, _ATTRIBUTE_BYTES)[0])

    # -- spans -------------------------------------------------------------------------------------

    def _open_parent(self) -> Span | None:
        active = ACTIVE_SPAN.get()
        if active is not None and active[0] is self:
            return active[1]
        return None

    def _new_span(self, operation: str, attributes: Mapping[str, Any] | None) -> Span:
        if not isinstance(operation, str) or not operation:
            raise InvalidArgumentError("operation must be a non-empty str")
        if attributes is not None and not isinstance(attributes, Mapping):
            raise InvalidArgumentError("attributes must be a mapping")
        parent = self._open_parent()
        with self._lock:
            recorded = len(self._spans) < MAX_SPANS
            if not recorded:
                self._dropped += 1
            new = Span(self, _clean_name(operation, self._rules), parent, recorded)
            if recorded:
                self._spans.append(new)
        if attributes:
            for key, value in attributes.items():
                new.set_attribute(str(key), value)
        return new

    def span(self, operation: str, **attributes: Any) -> Span:
        """Open a span for ``with``/``async with``: current inside the block, ended on exit."""
        return self._new_span(operation, attributes)

    def start_span(self, operation: str, attributes: Mapping[str, Any] | None = None) -> Span:
        """Start a child of the current span by hand; it does not become current. Call ``end()``."""
        return self._new_span(operation, attributes)

    def get_spans(self) -> list[Span]:
        """Return the stored spans in start order."""
        with self._lock:
            return list(self._spans)

    @property
    def dropped_spans(self) -> int:
        """Spans not stored because the trace already held ``MAX_SPANS``."""
        return self._dropped

    # -- analysis ----------------------------------------------------------------------------------

    def _children(self) -> dict[Span | None, list[Span]]:
        spans = self.get_spans()
        stored = set(map(id, spans))
        tree: dict[Span | None, list[Span]] = {}
        for item in spans:
            parent = item._parent
            if parent is not None and id(parent) not in stored:
                parent = None
            tree.setdefault(parent, []).append(item)
        return tree

    def get_hierarchical_view(self) -> list[dict[str, Any]]:
        """Return the span tree: a list of roots, each with its ``children``."""
        tree = self._children()

        def node(item: Span) -> dict[str, Any]:
            view: dict[str, Any] = {
                "operation": item.operation,
                "duration": item.duration,
                "status": item.status,
                "attributes": item.attributes,
                "children": [node(child) for child in tree.get(item, [])],
            }
            if item._error is not None:
                view["error"] = item.error
            return view

        return [node(root) for root in tree.get(None, [])]

    def get_critical_path(self) -> list[str]:
        """Operation names from the root that ended last, following the child that ended last."""
        tree = self._children()
        path: list[str] = []
        level = tree.get(None, [])
        while level:
            last = max(level, key=lambda item: -1.0 if item._end is None else item._end)
            path.append(last.operation)
            level = tree.get(last, [])
        return path

    def get_performance_summary(self) -> dict[str, Any]:
        """Totals, error count, the ten slowest operations, per-operation stats, critical path."""
        spans = self.get_spans()
        ended = [item for item in spans if item._end is not None]
        ends = [item._end for item in ended if item._end is not None]
        total = 0.0
        if spans:
            first = min(item._start for item in spans)
            total = max(max(ends, default=first) - first, 0.0)
        stats: dict[str, dict[str, float]] = {}
        for item in ended:
            duration = item.duration or 0.0
            entry = stats.setdefault(item.operation, {"count": 0, "total": 0.0, "max": 0.0})
            entry["count"] += 1
            entry["total"] += duration
            entry["max"] = max(entry["max"], duration)
        for entry in stats.values():
            entry["mean"] = entry["total"] / entry["count"]
        slowest = sorted(ended, key=lambda item: item.duration or 0.0, reverse=True)[:10]
        return {
            "totalDuration": total,
            "operationCount": len(spans),
            "errorCount": sum(1 for item in spans if item._status == "error"),
            "slowestOperations": [
                {"operation": item.operation, "duration": item.duration} for item in slowest
            ],
            "operationStats": stats,
            "criticalPath": self.get_critical_path(),
        }

    # -- serialisation -----------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "traceType": self._trace_type,
            "traceId": self.trace_id,
            "createdAt": format_created_at(self._created_ns),
            "version": TRACE_FORMAT_VERSION,
            "startEpochNs": self._created_ns,
            "startTime": self._anchor_ms,
        }
        if self._parent_span is not None:
            meta["parentSpanId"] = self.parent_span_id
        meta.update(self._info)
        return meta

    def to_dict(self) -> dict[str, Any]:
        """Return a new JSON-compatible dict: metadata, spans, summary, ``droppedSpans``."""
        return {
            "metadata": self._metadata(),
            "spans": [item.to_dict() for item in self.get_spans()],
            "summary": self.get_performance_summary(),
            "droppedSpans": self._dropped,
        }

    def to_json(self, indent: int | str | None = None) -> str:
        """Return the trace as JSON text (never NaN or Infinity)."""
        if indent is None:
            return compact_json(self.to_dict())
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


def _clean_name(name: str, rules: SanitizeRules) -> str:
    """Return a span, event, stage or action name as recorded: value rules applied, clipped."""
    if len(name) > _MAX_NAME_CHARS:
        kept = rules.redact(clean_text(name[: 2 * _MAX_NAME_CHARS]))[:_MAX_NAME_CHARS]
        return f"{kept}...[Truncated]"
    return rules.redact(clean_text(name))


_DETACHED = StructuredTrace()  # owner of spans past MAX_SPANS: they nest but are never stored


class _NoSpan:
    """What ``span()`` gives when no structured trace is active: takes every call, keeps nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> _NoSpan:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        """Do nothing."""

    def add_event(self, name: str, **attributes: Any) -> None:
        """Do nothing."""

    def record_error(self, error: object) -> None:
        """Do nothing."""

    def set_status(self, status: str) -> None:
        """Do nothing."""


_NO_SPAN = _NoSpan()
_active_get = ACTIVE_SPAN.get


def span(operation: str, **attributes: Any) -> Span | _NoSpan:
    """Open a span in the structured trace active in this context, under its innermost open span.

    With no structured trace active it returns a shared do-nothing context manager, at almost no
    cost, so handlers can call it unconditionally::

        with actiontrace.span("resolve_target", target=target_id):
            ...
    """
    active = _active_get()
    if active is None:
        return _NO_SPAN
    owner = active[0]
    if owner is _DETACHED:
        return _NO_SPAN
    return owner._new_span(operation, attributes)


class ActionAwareStructuredTrace(StructuredTrace):
    """A ``StructuredTrace`` that also records per-action stage data, reduced by verbosity.

    ``context`` may be a ``TraceContext`` or an ``ActionExecutionTrace`` to join (as ``parent=``),
    or a mapping of descriptive information (turn number, scene…) recorded under ``"context"``.
    """

    _trace_type = "action_aware_structured"

    def __init__(
        self,
        *,
        actor_id: str,
        trace_filter: Any = None,
        verbosity: Verbosity | str = "standard",
        context: Any = None,
        parent: ActionExecutionTrace | TraceContext | None = None,
        sensitive_fields: Iterable[str] = (),
        safe_fields: Iterable[str] = (),
    ) -> None:
        if not isinstance(actor_id, str) or not actor_id.strip():
            raise InvalidArgumentError("actor_id must be a non-blank string")
        if trace_filter is not None and not callable(getattr(trace_filter, "should_trace", None)):
            raise InvalidArgumentError("trace_filter must have a should_trace(action_id) method")
        info: Any = None
        if isinstance(context, (TraceContext, ActionExecutionTrace)):
            if parent is None:
                parent = context
        elif context is not None:
            if not isinstance(context, Mapping):
                raise InvalidArgumentError(
                    "context must be a mapping, a TraceContext or an ActionExecutionTrace"
                )
            info = context
        super().__init__(parent=parent, sensitive_fields=sensitive_fields, safe_fields=safe_fields)
        self._actor_id = _clean_name(actor_id, self._rules)
        self._filter = trace_filter
        self._verbosity = parse_verbosity(verbosity)
        self._context = None if info is None else sanitize_to_json(info, self._rules)[0]
        self._actions: dict[str, dict[str, Any]] = {}
        self._first_capture: float | None = None
        self._last_capture: float | None = None

    @property
    def actor_id(self) -> str:
        """The actor whose actions this trace follows."""
        return self._actor_id

    @property
    def verbosity(self) -> Verbosity:
        """How much stage data is kept."""
        return self._verbosity

    def capture_action_data(self, stage: str, action_id: str, data: Any = None) -> None:
        """Record ``data`` for ``action_id`` at ``stage``; skipped when the filter says no.

        Never raises: a bad argument or a failing filter is ignored (tracing never breaks the game).
        """
        try:
            if not isinstance(stage, str) or not stage or not isinstance(action_id, str):
                return
            if self._filter is not None and not self._filter.should_trace(action_id):
                return
            clean = sanitize_to_json(data, self._rules)[0]
            stage = _clean_name(stage, self._rules)
            action_id = _clean_name(action_id, self._rules)
            now = _now()
            with self._lock:
                entry = self._actions.setdefault(
                    action_id, {"actionId": action_id, "actorId": self._actor_id, "stages": {}}
                )
                entry["stages"][stage] = {
                    "timestamp": now,
                    "data": reduce_stage_data(clean, self._verbosity),
                }
                if self._first_capture is None:
                    self._first_capture = now
                self._last_capture = now
        except Exception:
            return

    def get_traced_actions(self) -> dict[str, dict[str, Any]]:
        """Return a fresh dict ``action_id -> {"actionId", "actorId", "stages": {...}}``."""
        with self._lock:
            return json.loads(compact_json(self._actions))  # type: ignore[no-any-return]

    def get_action_trace(self, action_id: str) -> dict[str, Any] | None:
        """One action's record, or ``None``."""
        if not isinstance(action_id, str):
            return None
        return self.get_traced_actions().get(_clean_name(action_id, self._rules))

    def is_action_traced(self, action_id: str) -> bool:
        """Whether any stage was recorded for ``action_id``."""
        return isinstance(action_id, str) and _clean_name(action_id, self._rules) in self._actions

    def get_tracing_summary(self) -> dict[str, Any]:
        """Return counts of traced actions and stages, session duration (ms), stages per action."""
        with self._lock:
            actions = len(self._actions)
            stages = sum(len(entry["stages"]) for entry in self._actions.values())
            first, last = self._first_capture, self._last_capture
        return {
            "tracedActionCount": actions,
            "totalStagesTracked": stages,
            "sessionDuration": 0.0 if first is None or last is None else last - first,
            "averageStagesPerAction": stages / actions if actions else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        """As ``StructuredTrace.to_dict()`` plus ``actions`` and ``actorId``."""
        data = super().to_dict()
        data["actorId"] = self._actor_id
        data["actions"] = self.get_traced_actions()
        if self._context is not None:
            data["context"] = self._context
        return data
