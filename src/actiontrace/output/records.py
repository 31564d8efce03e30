"""The record model: one trace read back, parsed once, with every field a consumer needs.

Every reader of trace files (``scan_traces``, ``follow_records``) turns each line into a
``TraceRecord`` here, and every consumer (report, show, tree, HTML page, live page, tail, exports)
reads the record's normalised fields instead of digging in the dict, so they all agree on what a
trace is, what its status and duration are, and what to skip.

* ``parse_line(data, file, line, fast=False)`` parses one line of a trace file: the record, or
  ``None`` when the line is damaged (not UTF-8, not JSON, nested deeper than ``MAX_DEPTH``,
  holding ``NaN``/``Infinity`` or a number too large for a float, or a lone surrogate escape, or
  valid JSON that is not a trace). A blank line is ``BLANK``: neither a trace nor damage.
* ``make_record(value, file, line)``: the record of an already parsed value (``None``: not a trace).
* ``as_record(item)``: a ``TraceRecord`` as is, a trace mapping made into one (for callers that hold
  bare dicts), anything else ``None``.

A trace is a JSON object whose ``metadata`` is an object naming its trace type (a non-empty string
``traceType``). Everything else the record holds is normalised: a field of the wrong type or out of
range reads as its default (``"?"`` for names, ``None`` for numbers and ids), never raises.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any, Final, NamedTuple

from ..statuses import SPAN_STATUSES, STATUSES

_fast_loads: Callable[[bytes], Any] | None
try:  # the optional ``actiontrace[fast]`` extra: orjson parses trace lines about 4x faster
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None

__all__ = [
    "BLANK",
    "EXECUTION",
    "MAX_DEPTH",
    "MAX_ERROR_CHAIN",
    "SPAN_STATUSES",
    "STATUSES",
    "STRUCTURED_TYPES",
    "ErrorView",
    "PhaseView",
    "SpanView",
    "TraceRecord",
    "as_record",
    "is_trace_value",
    "make_record",
    "parse_exact",
    "parse_fast",
    "parse_line",
    "parse_value",
]

MAX_DEPTH: Final = 512
"""Deepest nesting of arrays and objects a line may have; deeper lines are damaged."""

MAX_ERROR_CHAIN: Final = 16
"""Links of an error's cause chain ``TraceRecord.errors()`` follows."""

EXECUTION: Final = "execution"
"""``metadata.traceType`` of an action execution trace."""

STRUCTURED_TYPES: Final = ("structured", "action_aware_structured")
"""``metadata.traceType`` values of structured (nested-operation) traces."""


BLANK: Final = object()
"""What ``parse_line`` returns for a line of only whitespace: not a trace, not damage."""

_TIME_LIMIT = 1e12  # ms (about 31 years): a larger time or duration is not a real one
_EPOCH_LIMIT = 1 << 63
_ID_CHARS = 256
_STATUS_SET = frozenset(STATUSES)
_SPAN_STATUS_SET = frozenset(SPAN_STATUSES)
_STRUCTURED_SET = frozenset(STRUCTURED_TYPES)
_REASONS = frozenset(("error", "failed", "slow", "linked", "rate"))
_BOM = b"\xef\xbb\xbf"
_EMPTY: dict[str, Any] = {}
# A raw-byte hint that a parsed line needs a closer look (after a cheap ``in`` test).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Nesting depth: brackets to +1 / -1 as signed bytes, everything else to 0.
_DEPTH_TABLE = bytes(1 if c in b"[{" else 255 if c in b"]}" else 0 for c in range(256))
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class _Damaged(ValueError):
    """A line that parses as JSON but breaks a reading rule (NaN, depth, surrogate, overflow)."""


def _reject_constant(name: str) -> Any:
    raise _Damaged(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value:  # inf - inf is NaN: 1e400 is valid JSON, but no float holds it
        raise _Damaged("number too large for a float")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _too_deep(data: bytes) -> bool:
    """Whether ``data`` nests arrays/objects deeper than ``MAX_DEPTH`` (strings ignored)."""
    # Deeper needs more than MAX_DEPTH opening and closing brackets; a shorter line that opens
    # that many without closing them is not JSON (the parsers refuse it, within their limits).
    if len(data) <= 2 * MAX_DEPTH + 1 or data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False  # the usual case: too few brackets to be that deep
    bare = _STRINGS.sub(b"", data) if b'"' in data else data
    steps = array("b", bare.translate(_DEPTH_TABLE).replace(b"\0", b""))
    return max(accumulate(steps), default=0) > MAX_DEPTH


def _bad_value(value: Any) -> bool:
    """Whether ``value`` holds a lone surrogate or a non-finite float anywhere (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if _SURROGATE.search(item):
                return True
        elif kind is float:
            if not math.isfinite(item):
                return True
        elif kind is dict:
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return True
                stack.append(child)
        elif kind is list:
            stack.extend(item)
    return False


def parse_exact(data: bytes) -> Any:
    """``parse_value(data)``: the standard parser, under the same rules."""
    if _too_deep(data):
        raise _Damaged("nested too deep")
    value = _DECODER.decode(data.decode("utf-8"))
    if b"\\u" in data and _SURROGATE_ESCAPE.search(data) and _bad_value(value):
        raise _Damaged("lone surrogate")
    return value


def parse_fast(data: bytes) -> Any:
    """``parse_value(data, fast=True)``: orjson when installed, under the same rules."""
    if _fast_loads is None:
        return parse_exact(data)
    if _too_deep(data):
        raise _Damaged("nested too deep")
    try:
        # orjson refuses NaN, infinite numbers and lone surrogates itself; what it refuses that
        # the rules allow (an integer past 1e308) the exact parser reads.
        return _fast_loads(data)
    except ValueError:
        return parse_exact(data)


def parse_value(data: bytes, *, fast: bool = False) -> Any:
    """Parse one JSON text under the reading rules; raise ``ValueError`` when it breaks one.

    The rules: UTF-8 only, nesting at most ``MAX_DEPTH``, no ``NaN``/``Infinity``, no number
    that overflows a float, no lone surrogate. ``fast`` uses orjson when installed (integers
    past 64 bits then fall back to the standard parser, exactly).
    """
    return parse_fast(data) if fast else parse_exact(data)


def parse_line(
    data: bytes, file: str, line: int, *, fast: bool = False, first: bool = False
) -> TraceRecord | object | None:
    """Parse one line of a trace file: a ``TraceRecord``, ``BLANK``, or ``None`` when damaged.

    ``first``: the file's first line, which may start with a UTF-8 byte order mark.
    """
    try:
        value = parse_value(data, fast=fast)
    except (ValueError, RecursionError):
        # Only a line that does not parse can be blank or start with a byte order mark.
        if first and data.startswith(_BOM):
            return parse_line(data[len(_BOM) :], file, line, fast=fast)
        return BLANK if not data or data.isspace() else None
    return make_record(value, file, line)


class ErrorView(NamedTuple):
    """One link of an error's chain: ``type``, ``message``, ``stack`` (or ``None``), ``code``."""

    type: str
    message: str
    stack: str | None
    code: Any


class PhaseView(NamedTuple):
    """One phase record of an execution trace (``timestamp`` in ms, on the trace's clock)."""

    phase: str
    timestamp: float | None
    description: str
    payload_size: int | None
    truncated: bool
    success: bool | None
    error_type: str | None


class SpanView(NamedTuple):
    """One span of a structured trace, normalised (times in ms, on the trace's clock)."""

    span_id: str | None
    parent_id: str | None
    operation: str
    start_ms: float | None
    end_ms: float | None
    duration: float | None
    status: str
    error: ErrorView | None
    attributes: Mapping[str, Any]


def _text(value: object, default: str = "?") -> str:
    return value if type(value) is str and value else default


def _opt_text(value: object) -> str | None:
    return value if type(value) is str else None


def _id(value: object) -> str | None:
    return value if type(value) is str and 0 < len(value) <= _ID_CHARS else None


def _ms(value: object) -> float | None:
    """Return a time in ms: a finite number within ``_TIME_LIMIT``, else ``None``."""
    if type(value) is float:
        return value if -_TIME_LIMIT <= value <= _TIME_LIMIT else None
    if type(value) is int:
        return float(value) if -_TIME_LIMIT <= value <= _TIME_LIMIT else None
    return None


def _duration(value: object) -> float | None:
    """Return a duration in ms: as ``_ms`` and not negative."""
    if type(value) is float:
        return value if 0.0 <= value <= _TIME_LIMIT else None
    if type(value) is int:
        return float(value) if 0 <= value <= _TIME_LIMIT else None
    return None


def _epoch(value: object) -> int | None:
    return value if type(value) is int and 0 <= value < _EPOCH_LIMIT else None


def _dict(value: object) -> dict[str, Any]:
    return value if type(value) is dict else _EMPTY


def _error_view(value: object) -> ErrorView | None:
    if type(value) is not dict:
        return None
    stack = value.get("stack")
    return ErrorView(
        _text(value.get("type"), "UnknownError"),
        _text(value.get("message"), ""),
        stack if type(stack) is str and stack else None,
        value.get("code"),
    )


def _execution_status(value: dict[str, Any]) -> str:
    """Return the status of a trace that does not state a known one: from its error or result."""
    if type(value.get("error")) is dict:
        return "error"
    result = value.get("result")
    if type(result) is dict and "success" in result:
        return "success" if result["success"] else "failed"
    return "unknown"


def _root_span(spans: list[Any]) -> dict[str, Any] | None:
    first = None
    for span in spans:
        if type(span) is dict:
            if span.get("parentId") is None:
                return span
            if first is None:
                first = span
    return first


class TraceRecord(NamedTuple):
    """One trace read back: the parsed dict, where it was read, and its normalised fields.

    Where: ``file`` (display-safe text of the path) and ``line`` (1-based line; a ``.json`` file's
    position in its list). ``trace`` is the parsed dict (treat it as read-only).

    Every trace: ``kind`` (``metadata.traceType``: ``"execution"``, ``"structured"``,
    ``"action_aware_structured"`` or another name), ``action_id`` and ``actor_id`` (``"?"`` when
    missing), ``status``, ``duration`` (ms, finite, >= 0, else ``None``), ``start_ms`` (the
    trace's own clock, ms), ``start_epoch_ns`` (wall clock, int ns), the W3C ids ``trace_id``,
    ``span_id``, ``parent_span_id`` (strings or ``None``), ``sampling_reason`` and
    ``sampling_rate`` (from the optional ``"sampling"`` key: a reason of ``error``, ``failed``,
    ``slow``, ``linked``, ``rate`` and a rate in (0, 1], else ``None``).

    Execution view: ``status`` is one of ``STATUSES`` (derived from the result or error when the
    written one is missing or unknown) or ``"unknown"``; ``error_type`` and ``error_message``
    describe the captured error (``None`` when there is none); ``errors()`` gives the cause chain,
    ``phases()`` the phase records; ``command``, ``payload``, ``custom_metadata`` and friends read
    the rest.

    Structured view: ``operation`` is the root span's operation, ``status`` its status (one of
    ``SPAN_STATUSES`` or ``"unknown"``), ``duration`` the summary's total (else the root span's),
    ``span_count`` the spans stored; ``spans()`` gives each span normalised.
    """

    trace: dict[str, Any]
    file: str
    line: int
    kind: str
    action_id: str
    actor_id: str
    status: str
    duration: float | None
    start_ms: float | None
    start_epoch_ns: int | None
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    error_type: str | None
    error_message: str | None
    sampling_reason: str | None
    sampling_rate: float | None
    operation: str | None
    span_count: int

    @property
    def is_execution(self) -> bool:
        """Whether this is an action execution trace."""
        return self.kind == EXECUTION

    @property
    def is_structured(self) -> bool:
        """Whether this is a structured (nested-operation) trace."""
        return self.kind in _STRUCTURED_SET

    @property
    def where(self) -> str:
        """``file:line``, the form ``show FILE:LINE`` takes."""
        return f"{self.file}:{self.line}"

    @property
    def created_at(self) -> str | None:
        """``metadata.createdAt`` when it is a string."""
        return _opt_text(_dict(self.trace.get("metadata")).get("createdAt"))

    @property
    def command(self) -> str | None:
        """``turnAction.commandString`` when it is a string."""
        return _opt_text(_dict(self.trace.get("turnAction")).get("commandString"))

    @property
    def parameters(self) -> Any:
        """``turnAction.parameters`` as written (``None`` when absent)."""
        return _dict(self.trace.get("turnAction")).get("parameters")

    @property
    def payload(self) -> Any:
        """``eventPayload`` as written (any JSON value, ``None`` when absent)."""
        return self.trace.get("eventPayload")

    @property
    def custom_metadata(self) -> dict[str, Any]:
        """``customMetadata`` (``{}`` when absent or not an object)."""
        return _dict(self.trace.get("customMetadata"))

    @property
    def result_success(self) -> bool | None:
        """The result's ``success`` as a bool, ``None`` when there is no result."""
        result = self.trace.get("result")
        if type(result) is not dict or "success" not in result:
            return None
        return bool(result["success"])

    @property
    def result_metadata(self) -> Any:
        """The result's ``metadata`` as written."""
        return _dict(self.trace.get("result")).get("metadata")

    @property
    def dropped_spans(self) -> int:
        """``droppedSpans`` of a structured trace (0 when absent)."""
        dropped = self.trace.get("droppedSpans")
        return dropped if type(dropped) is int and dropped > 0 else 0

    def errors(self) -> tuple[ErrorView, ...]:
        """Return the error, then its causes (at most ``MAX_ERROR_CHAIN``); ``()`` when none."""
        chain: list[ErrorView] = []
        link: object = self.trace.get("error")
        while len(chain) < MAX_ERROR_CHAIN:
            view = _error_view(link)
            if view is None:
                break
            chain.append(view)
            link = link.get("cause")  # type: ignore[attr-defined]
        return tuple(chain)

    def phases(self) -> tuple[PhaseView, ...]:
        """Return the phase records of an execution trace, normalised, in written order."""
        phases = _dict(self.trace.get("execution")).get("phases")
        if type(phases) is not list:
            return ()
        views = []
        for item in phases:
            if type(item) is not dict:
                continue
            size = item.get("payloadSize")
            success = item.get("success")
            views.append(
                PhaseView(
                    _text(item.get("phase")),
                    _ms(item.get("timestamp")),
                    _text(item.get("description"), ""),
                    size if type(size) is int and size >= 0 else None,
                    item.get("truncated") is True,
                    success if type(success) is bool else None,
                    _opt_text(item.get("errorType")),
                )
            )
        return tuple(views)

    def spans(self) -> tuple[SpanView, ...]:
        """Return a structured trace's spans, normalised, in written order (else ``()``)."""
        spans = self.trace.get("spans")
        if type(spans) is not list:
            return ()
        views = []
        for item in spans:
            if type(item) is not dict:
                continue
            start = _ms(item.get("startTime"))
            end = _ms(item.get("endTime"))
            duration = _duration(item.get("duration"))
            if end is None and start is not None and duration is not None:
                end = start + duration
            status = item.get("status")
            attributes = item.get("attributes")
            views.append(
                SpanView(
                    _id(item.get("spanId")),
                    _id(item.get("parentId")),
                    _text(item.get("operation")),
                    start,
                    end,
                    duration,
                    status if type(status) is str and status in _SPAN_STATUS_SET else "unknown",
                    _error_view(item.get("error")),
                    attributes if type(attributes) is dict else _EMPTY,
                )
            )
        return tuple(views)


def _sampling(value: object) -> tuple[str | None, float | None]:
    if type(value) is not dict:
        return None, None
    reason = value.get("reason")
    rate = value.get("rate")
    shown_rate = None
    if (type(rate) is float or type(rate) is int) and 0 < rate <= 1:
        shown_rate = float(rate)
    return (reason if type(reason) is str and reason in _REASONS else None), shown_rate


_new_record = tuple.__new__  # builds a TraceRecord without the generated __new__'s argument passing


def is_trace_value(value: Any) -> bool:
    """Whether ``make_record`` makes a record of ``value`` (its first checks, without the record).

    That is: an object whose ``metadata`` is an object naming a ``traceType`` (a non-empty string).
    """
    meta = value.get("metadata") if type(value) is dict else None
    kind = meta.get("traceType") if type(meta) is dict else None
    return type(kind) is str and kind != ""


def make_record(value: Any, file: str, line: int) -> TraceRecord | None:
    """Return the ``TraceRecord`` of a parsed JSON value, or ``None`` when it is not a trace."""
    if type(value) is not dict:
        return None
    meta = value.get("metadata")
    if type(meta) is not dict:
        return None
    kind = meta.get("traceType")
    if type(kind) is not str or not kind:
        return None
    sampling = value.get("sampling")
    reason, rate = _sampling(sampling) if sampling is not None else (None, None)
    if kind in _STRUCTURED_SET:
        return _structured(value, meta, kind, file, line, reason, rate)
    execution = value.get("execution")
    if type(execution) is not dict:
        execution = _EMPTY
    error = value.get("error")
    error_type = error_message = None
    if type(error) is dict:
        error_type = _text(error.get("type"), "UnknownError")
        error_message = _text(error.get("message"), "")
    # The hot path of every reader: the usual shapes are checked inline, odd ones by the helpers.
    action = meta.get("actionId")
    if type(action) is not str or not action:
        action = "?"
    actor = meta.get("actorId")
    if type(actor) is not str or not actor:
        actor = "?"
    status = execution.get("status")
    if type(status) is not str or status not in _STATUS_SET:
        status = _execution_status(value)
    duration = execution.get("duration")
    if type(duration) is not float or not 0.0 <= duration <= _TIME_LIMIT:
        duration = _duration(duration)
    start = execution.get("startTime")
    if type(start) is not float or not -_TIME_LIMIT <= start <= _TIME_LIMIT:
        start = _ms(start)
    epoch = execution.get("startEpochNs")
    if type(epoch) is not int or not 0 <= epoch < _EPOCH_LIMIT:
        epoch = None
    trace_id = meta.get("traceId")
    if type(trace_id) is not str or not 0 < len(trace_id) <= _ID_CHARS:
        trace_id = None
    span_id = meta.get("spanId")
    if type(span_id) is not str or not 0 < len(span_id) <= _ID_CHARS:
        span_id = None
    parent = meta.get("parentSpanId")
    if type(parent) is not str or not 0 < len(parent) <= _ID_CHARS:
        parent = None
    return _new_record(
        TraceRecord,
        (
            value,
            file,
            line,
            kind,
            action,
            actor,
            status,
            duration,
            start,
            epoch,
            trace_id,
            span_id,
            parent,
            error_type,
            error_message,
            reason,
            rate,
            None,
            0,
        ),
    )


def _structured(  # noqa: PLR0917 - private, one caller
    value: dict[str, Any],
    meta: dict[str, Any],
    kind: str,
    file: str,
    line: int,
    reason: str | None,
    rate: float | None,
) -> TraceRecord:
    spans = value.get("spans")
    if type(spans) is not list:
        spans = []
    root = _root_span(spans)
    status = root.get("status") if root is not None else None
    duration = _duration(_dict(value.get("summary")).get("totalDuration"))
    if duration is None and root is not None:
        duration = _duration(root.get("duration"))
    actor = value.get("actorId")
    return TraceRecord(
        value,
        file,
        line,
        kind,
        _text(meta.get("actionId")),
        _text(actor if type(actor) is str else meta.get("actorId")),
        status if type(status) is str and status in _SPAN_STATUS_SET else "unknown",
        duration,
        _ms(meta.get("startTime")),
        _epoch(meta.get("startEpochNs")),
        _id(meta.get("traceId")),
        _id(meta.get("spanId")),
        _id(meta.get("parentSpanId")),
        None,
        None,
        reason,
        rate,
        _text(root.get("operation")) if root is not None else None,
        sum(1 for span in spans if type(span) is dict),
    )


def as_record(item: object, file: str = "", line: int = 0) -> TraceRecord | None:
    """``item`` as a record: a ``TraceRecord`` as is, a trace mapping parsed, else ``None``.

    A mapping that holds values JSON cannot (NaN, lone surrogates) is not a trace here either.
    """
    if isinstance(item, TraceRecord):
        return item
    if isinstance(item, Mapping):
        value = item if type(item) is dict else dict(item)
        if _bad_value(value):
            return None
        return make_record(value, file, line)
    return None
