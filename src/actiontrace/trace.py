"""``ActionExecutionTrace``: what happened to one dispatched action (reference §3).

The trace is built to be cheap to keep: ``__slots__``, three clock readings, and every captured
structure stored once as its compact JSON text (sanitised, size-capped). Phase records are derived
from the capture times, and dicts are only materialised when someone asks for them.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from .error_info import describe_error
from .errors import InvalidArgumentError, TraceStateError
from .ids import TraceContext, format_span_id, format_trace_id, new_span_id, new_trace_id
from .reused_secrets import merge_secrets, scrub_error, scrub_json
from .sanitize import (
    SanitizeRules,
    clean_text,
    compact_json,
    redact_secrets,
    rules_for,
    sanitize_to_json,
)
from .types import (
    MAX_PAYLOAD_SIZE,
    TRACE_FORMAT_VERSION,
    DispatchResult,
    ExecutionPhase,
    ExecutionStatus,
    PhaseRecord,
    TraceDict,
)
from .verbosity import Verbosity, parse_verbosity

__all__ = [
    "CUSTOM_METADATA_LIMIT",
    "ActionExecutionTrace",
    "format_created_at",
    "integer_ids",
    "now_ms",
    "parent_ids",
]

_perf_ns = time.perf_counter_ns
_wall_ns = time.time_ns
_MISSING = object()
_ID_LOCK = threading.Lock()
_STANDARD = Verbosity.STANDARD
_MINIMAL = Verbosity.MINIMAL

CUSTOM_METADATA_LIMIT = 64 * 1024
"""All custom metadata of one trace together, in bytes of compact JSON."""
_TURN_KEYS = ("actionDefinitionId", "commandString", "parameters")


def now_ms() -> float:
    """Return the trace clock: ``time.perf_counter_ns()`` in milliseconds (one per process)."""
    return _perf_ns() / 1_000_000


_second_cache: list[Any] = [None, ""]


def format_created_at(epoch_ns: int) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: ``2026-11-24T10:00:00.123Z``."""
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    cached_second, prefix = _second_cache
    if seconds != cached_second:
        # Traces come in bursts within one second: format the date part once per second.
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache[:] = [seconds, prefix]
    return f"{prefix}.{rest // 1_000_000:03d}Z"


_dumps = compact_json
_quote = json.encoder.encode_basestring


def _number(value: float | int | None) -> str:
    return "null" if value is None else repr(value)


def _read(mapping: Mapping[Any, Any], key: str) -> Any:
    """``mapping.get(key)`` that treats a mapping which raises as not having the key."""
    try:
        return mapping.get(key, _MISSING)
    except Exception:
        return _MISSING


_SCALARS = frozenset({str, int, float, bool, type(None)})
_TURN_CACHE_LIMIT = 1024
_turn_cache: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None]] = {}


def _turn_key(turn_action: Mapping[Any, Any]) -> tuple[Any, ...] | None:
    """Return a hashable key of a small turn action's exact content, or ``None``.

    Types are part of the key (``1``, ``1.0`` and ``True`` are equal but write differently);
    only plain dicts of str keys and scalar values (one level of nesting) qualify.
    """
    if type(turn_action) is not dict or len(turn_action) > 4:
        return None
    key: list[Any] = []
    for name, value in turn_action.items():
        kind = type(value)
        if type(name) is not str:
            return None
        if kind is dict:
            if len(value) > 8:
                return None
            inner: list[Any] = []
            for inner_name, item in value.items():
                if type(inner_name) is not str or type(item) not in _SCALARS:
                    return None
                # ``float.hex`` tells -0.0 from 0.0, which compare (and hash) equal.
                inner.append((inner_name, type(item), item.hex() if type(item) is float else item))
            key.append((name, dict, tuple(inner)))
        elif kind in _SCALARS:
            key.append((name, kind, value.hex() if kind is float else value))
        else:
            return None
    return tuple(key)


def _turn_action_json(
    turn_action: Mapping[Any, Any], rules: SanitizeRules
) -> tuple[str, tuple[str, ...] | None]:
    """Return the turn action's sanitised JSON and the values under its sensitive keys."""
    # Games send the same few turn actions over and over: remember their sanitised JSON.
    shape = _turn_key(turn_action)
    if shape is not None:
        cached = _turn_cache.get((rules, shape))
        if cached is not None:
            return cached
    found: list[str] = []
    text = _build_turn_action_json(turn_action, rules, found)
    secrets = merge_secrets(None, found)
    entry = (scrub_json(text, secrets) or text, secrets)
    if shape is not None:
        if len(_turn_cache) >= _TURN_CACHE_LIMIT:
            _turn_cache.clear()
        _turn_cache[rules, shape] = entry
    return entry


def _build_turn_action_json(
    turn_action: Mapping[Any, Any], rules: SanitizeRules, found: list[str]
) -> str:
    if type(turn_action) is dict:  # a plain dict's get cannot raise for these str keys
        get = turn_action.get
        record: dict[Any, Any] = {
            "actionDefinitionId": get("actionDefinitionId", _MISSING),
            "commandString": get("commandString", _MISSING),
            "parameters": get("parameters", _MISSING),
        }
    else:
        record = {
            "actionDefinitionId": _read(turn_action, "actionDefinitionId"),
            "commandString": _read(turn_action, "commandString"),
            "parameters": _read(turn_action, "parameters"),
        }
    present = 0
    for key in _TURN_KEYS:
        if record[key] is _MISSING:
            record[key] = None
        else:
            present += 1
    if record["parameters"] is None:
        record["parameters"] = {}
    try:
        # Other keys (``targetId``...) are kept too; skip the walk when there can be none.
        if len(turn_action) > present:
            for key, value in turn_action.items():
                if key not in record:
                    record[key] = value
    except Exception:
        pass
    return sanitize_to_json(record, rules, MAX_PAYLOAD_SIZE, found)[1]


_known_texts = rules_for()._values


def _clean_id(text: str) -> str:
    """Return an id as recorded: a plain str, lone surrogates replaced, secrets redacted."""
    if type(text) is str:
        known = _known_texts.get(text)  # the value rules' cache: games reuse their ids
        if known is not None:
            return known
    return redact_secrets(clean_text(str.__str__(text)))


def parent_ids(parent: object) -> tuple[int | None, int | None]:
    """Return (trace id, span id) of a ``parent=`` argument as integers; (None, None) for none.

    ``parent`` is an ``ActionExecutionTrace`` or a ``TraceContext``; anything else raises
    ``InvalidArgumentError``.
    """
    if parent is None:
        return None, None
    if isinstance(parent, ActionExecutionTrace):
        return parent._ids()
    if isinstance(parent, TraceContext):
        return int(parent.trace_id, 16), int(parent.span_id, 16)
    raise InvalidArgumentError(
        f"parent must be an ActionExecutionTrace or a TraceContext, got {type(parent).__name__}"
    )


def integer_ids(trace: ActionExecutionTrace) -> tuple[int, int, int | None]:
    """Return (trace id, span id, parent span id) of ``trace`` as integers (``None``: a root).

    For a decision made on every trace (the sampler's): the ids as the trace holds them, without
    formatting them as hex and parsing them back.
    """
    trace_id, span_id = trace._ids()
    return trace_id, span_id, trace._parent_span


def _after(start: float, end: float) -> float:
    """Return ``end``, or just after ``start``: a completed trace's duration is > 0."""
    return end if end > start else math.nextafter(start, math.inf)


def _frozen(self: object, name: str, value: object = None) -> NoReturn:
    raise AttributeError(f"ActionExecutionTrace is immutable: cannot assign or delete {name!r}")


class ActionExecutionTrace:
    """The execution record of one action: timing, sanitised payload, result and error.

    Captures happen in order, each at most once: ``capture_dispatch_start()``, then optionally
    ``capture_event_payload()``, then ``capture_dispatch_result()`` and/or ``capture_error()``.
    The trace copies what it captures; nothing outside can change it afterwards.
    """

    __slots__ = (
        "_action_id",
        "_actor_id",
        "_created_ns",
        "_custom",
        "_end",
        "_error",
        "_parent_span",
        "_payload_at",
        "_payload_json",
        "_payload_size",
        "_result_meta",
        "_result_ts",
        "_rules",
        "_secrets",
        "_span_id",
        "_start",
        "_start_epoch_ns",
        "_success",
        "_trace_id",
        "_truncated",
        "_turn_json",
        "_verbosity",
    )

    _action_id: str
    _actor_id: str
    _created_ns: int
    _end: float | None
    _error: tuple[float, str, str, str] | None
    _payload_at: float | None
    _payload_json: str | None
    _payload_size: int
    _result_meta: str | None
    _result_ts: Any
    _rules: SanitizeRules
    # Values found under sensitive keys anywhere in the trace, redacted in its free text too.
    _secrets: tuple[str, ...] | None
    _start: float | None
    _start_epoch_ns: int | None
    _success: bool | None
    _truncated: bool
    _turn_json: str
    # Ids are integers, made on first use (most traces are written once, then dropped).
    _trace_id: int | None
    _span_id: int | None
    _parent_span: int | None
    _custom: str | None
    _verbosity: Verbosity

    __setattr__ = _frozen
    __delattr__ = _frozen

    def __init__(
        self,
        *,
        action_id: str,
        actor_id: str,
        turn_action: Mapping[str, Any],
        sensitive_fields: Iterable[str] = (),
        safe_fields: Iterable[str] = (),
        rules: SanitizeRules | None = None,
        parent: ActionExecutionTrace | TraceContext | None = None,
        verbosity: Verbosity | str = _STANDARD,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_id, str) or not action_id:
            raise InvalidArgumentError("ActionExecutionTrace requires valid action_id string")
        if not isinstance(actor_id, str) or not actor_id:
            raise InvalidArgumentError("ActionExecutionTrace requires valid actor_id string")
        if type(turn_action) is not dict and not isinstance(turn_action, Mapping):
            raise InvalidArgumentError("ActionExecutionTrace requires valid turn_action mapping")
        if rules is None:
            rules = rules_for(sensitive_fields, safe_fields)
        elif not isinstance(rules, SanitizeRules):
            raise InvalidArgumentError("rules must be a SanitizeRules")
        trace_id, parent_span = parent_ids(parent)
        _set_trace_id(self, trace_id)
        _set_parent_span(self, parent_span)
        _set_verbosity(self, verbosity if verbosity is _STANDARD else parse_verbosity(verbosity))
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidArgumentError("metadata must be a mapping")
        _set_created(self, _wall_ns())
        _set_action(self, _clean_id(action_id))
        _set_actor(self, _clean_id(actor_id))
        _set_rules(self, rules)
        turn_json, secrets = _turn_action_json(turn_action, rules)
        _set_turn(self, turn_json)
        _set_secrets(self, secrets)
        _set_start(self, None)
        _set_epoch(self, None)
        _set_end(self, None)
        _set_payload_json(self, None)
        _set_payload_at(self, None)
        _set_payload_size(self, 0)
        _set_truncated(self, False)
        _set_success(self, None)
        _set_result_ts(self, None)
        _set_result_meta(self, None)
        _set_error(self, None)
        _set_span_id(self, None)
        _set_custom(self, None)
        if metadata:
            found: list[str] = []
            _set_custom(self, _custom_json(metadata, rules, found))
            self._absorb(found)

    # -- captures ----------------------------------------------------------------------------------

    def capture_dispatch_start(self) -> None:
        """Record the start of dispatch: ``startTime`` and the wall-clock ``startEpochNs``."""
        if self._start is not None:
            raise TraceStateError("Dispatch already started for this trace")
        _set_epoch(self, _wall_ns())
        _set_start(self, _perf_ns() / 1_000_000)

    def capture_event_payload(self, payload: Any) -> None:
        """Record a sanitised, size-capped copy of the event payload."""
        if self._start is None:
            raise TraceStateError("Must call capture_dispatch_start() before capturing payload")
        if self._end is not None:
            raise TraceStateError("Cannot capture payload after dispatch has ended")
        if self._payload_at is not None:
            raise TraceStateError("Event payload already captured")
        found: list[str] = []
        _, text, size, truncated = sanitize_to_json(payload, self._rules, MAX_PAYLOAD_SIZE, found)
        if found:
            self._absorb(found)
        if self._secrets:
            scrubbed = scrub_json(text, self._secrets) or text
            if scrubbed is not text:
                text = scrubbed
                size = len(text.encode("utf-8"))
        _set_payload_size(self, size)
        _set_truncated(self, truncated)
        if self._verbosity is not _MINIMAL:  # minimal keeps the size, not the payload
            _set_payload_json(self, text)
        _set_payload_at(self, _perf_ns() / 1_000_000)

    def capture_dispatch_result(self, result: Mapping[str, Any]) -> None:
        """Record the dispatch result (``success``, optional ``timestamp``, ``metadata``).

        Ends timing.
        """
        if not isinstance(result, Mapping):
            raise InvalidArgumentError("capture_dispatch_result requires a result mapping")
        if self._start is None:
            raise TraceStateError("Must call capture_dispatch_start() before capturing result")
        if self._end is not None:
            raise TraceStateError("Dispatch result already captured")
        end = _after(self._start, _perf_ns() / 1_000_000)
        success = _read(result, "success")
        try:
            ok = success is not _MISSING and bool(success)
        except Exception:
            ok = False
        timestamp = _read(result, "timestamp")
        metadata = _read(result, "metadata")
        _set_end(self, end)
        _set_success(self, ok)
        if timestamp is not _MISSING and timestamp is not None:
            _set_result_ts(self, _clean_timestamp(timestamp, self._rules))
        if metadata is not _MISSING and metadata is not None and self._verbosity is not _MINIMAL:
            found: list[str] = []
            _set_result_meta(
                self, sanitize_to_json(metadata, self._rules, MAX_PAYLOAD_SIZE, found)[1]
            )
            self._absorb(found)

    def capture_error(self, error: object) -> None:
        """Record an error (any exception, or any value); ends timing if the result has not.

        Raises nothing but ``TraceStateError``, whatever ``error`` does.
        """
        if self._start is None:
            raise TraceStateError("Must call capture_dispatch_start() before capturing error")
        if self._error is not None:
            raise TraceStateError("Error already captured")
        at = _perf_ns() / 1_000_000
        if self._end is None:
            at = _after(self._start, at)
            _set_end(self, at)
        info = scrub_error(describe_error(error, self._rules, at), self._secrets)
        if self._verbosity is _MINIMAL:
            info["stack"] = info["code"] = info["cause"] = None
        _set_error(self, (at, info["type"], info["message"], _dumps(info)))

    def set_metadata(self, key: str, value: Any) -> None:
        """Add or replace one custom metadata entry (sanitised) until the trace is complete."""
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("key must be a non-empty str")
        if self._end is not None:
            raise TraceStateError("Cannot set metadata on a completed trace")
        merged = self.metadata
        merged[key] = value
        found: list[str] = []
        _set_custom(self, _custom_json(merged, self._rules, found))
        self._absorb(found)

    def _absorb(self, found: list[str]) -> None:
        """Add newly found secrets; redact them in the free text already recorded."""
        if not found:
            return
        known = self._secrets
        if known is None and len(found) == 1:
            secrets: tuple[str, ...] | None = (found[0],)  # the usual case: one password
        else:
            secrets = merge_secrets(known, found)
            if secrets == known:
                return
        _set_secrets(self, secrets)
        _set_turn(self, scrub_json(self._turn_json, secrets) or self._turn_json)
        if self._result_meta is not None:
            _set_result_meta(self, scrub_json(self._result_meta, secrets))
        if self._custom is not None:
            _set_custom(self, scrub_json(self._custom, secrets))
        payload = self._payload_json
        if payload is not None:
            scrubbed = scrub_json(payload, secrets) or payload
            if scrubbed is not payload:
                _set_payload_json(self, scrubbed)
                _set_payload_size(self, len(scrubbed.encode("utf-8")))

    # -- identity ----------------------------------------------------------------------------------

    def _ids(self) -> tuple[int, int]:
        """(trace id, span id) as integers, made on first use."""
        trace_id, span_id = self._trace_id, self._span_id
        if trace_id is None or span_id is None:
            with _ID_LOCK:  # two threads asking at once must agree
                if self._trace_id is None:
                    _set_trace_id(self, new_trace_id())
                if self._span_id is None:
                    _set_span_id(self, new_span_id())
                trace_id, span_id = self._trace_id, self._span_id
        return trace_id, span_id  # type: ignore[return-value]

    @property
    def trace_id(self) -> str:
        """32 lowercase hex digits; shared by every trace linked to the same root."""
        return format_trace_id(self._ids()[0])

    @property
    def span_id(self) -> str:
        """16 lowercase hex digits, unique to this trace."""
        return format_span_id(self._ids()[1])

    @property
    def parent_span_id(self) -> str | None:
        """The parent's span id, ``None`` for a root trace."""
        parent = self._parent_span
        return None if parent is None else format_span_id(parent)

    @property
    def context(self) -> TraceContext:
        """This trace's own ``TraceContext`` (pass it as ``parent=`` to continue it elsewhere)."""
        trace_id, span_id = self._ids()
        return TraceContext(format_trace_id(trace_id), format_span_id(span_id))

    @property
    def metadata(self) -> dict[str, Any]:
        """A fresh dict of the custom metadata."""
        custom = self._custom
        return {} if custom is None else json.loads(custom)

    @property
    def verbosity(self) -> Verbosity:
        """How much this trace keeps (its verbosity)."""
        return self._verbosity

    # -- read-only views ---------------------------------------------------------------------------

    @property
    def action_id(self) -> str:
        """The traced action's id."""
        return self._action_id

    @property
    def actor_id(self) -> str:
        """The acting actor's id."""
        return self._actor_id

    @property
    def is_complete(self) -> bool:
        """Whether dispatch has ended, by a result or an error."""
        return self._end is not None

    @property
    def has_error(self) -> bool:
        """Whether an error was captured."""
        return self._error is not None

    @property
    def start_time(self) -> float | None:
        """``startTime`` in milliseconds on the trace clock, ``None`` until started."""
        return self._start

    @property
    def end_time(self) -> float | None:
        """``endTime`` in milliseconds on the trace clock, ``None`` until complete."""
        return self._end

    @property
    def start_epoch_ns(self) -> int | None:
        """Wall-clock time of ``capture_dispatch_start()`` in ns since the epoch."""
        return self._start_epoch_ns

    @property
    def duration(self) -> float | None:
        """``endTime - startTime`` in milliseconds, ``None`` until complete."""
        start, end = self._start, self._end
        if start is None or end is None:
            return None
        return end - start

    @property
    def status(self) -> ExecutionStatus:
        """Return where the trace stands: error > success/failed > in_progress > pending."""
        if self._error is not None:
            return ExecutionStatus.ERROR
        if self._success is not None:
            return ExecutionStatus.SUCCESS if self._success else ExecutionStatus.FAILED
        if self._start is not None:
            return ExecutionStatus.IN_PROGRESS
        return ExecutionStatus.PENDING

    def _status_text(self) -> str:
        if self._error is not None:
            return "error"
        if self._success is not None:
            return "success" if self._success else "failed"
        return "in_progress" if self._start is not None else "pending"

    def get_execution_phases(self) -> list[PhaseRecord]:
        """Return a fresh list of the phase records, in capture order."""
        phases: list[PhaseRecord] = []
        if self._start is None:
            return phases
        phases.append(
            {
                "phase": ExecutionPhase.DISPATCH_START.value,
                "timestamp": self._start,
                "description": "Action dispatch initiated",
            }
        )
        if self._payload_at is not None:
            phases.append(
                {
                    "phase": ExecutionPhase.PAYLOAD_CAPTURED.value,
                    "timestamp": self._payload_at,
                    "description": "Event payload captured",
                    "payloadSize": self._payload_size,
                    "truncated": self._truncated,
                }
            )
        if self._success is not None and self._end is not None:
            phases.append(
                {
                    "phase": ExecutionPhase.DISPATCH_COMPLETED.value,
                    "timestamp": self._end,
                    "description": "Dispatch succeeded" if self._success else "Dispatch failed",
                    "success": self._success,
                }
            )
        if self._error is not None:
            at, kind, message, _ = self._error
            phases.append(
                {
                    "phase": ExecutionPhase.ERROR_CAPTURED.value,
                    "timestamp": at,
                    "description": f"Error occurred: {message}",
                    "errorType": kind,
                }
            )
        return phases

    # -- serialisation -----------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        trace_id, span_id = self._ids()
        return {
            "actionId": self._action_id,
            "actorId": self._actor_id,
            "traceType": "execution",
            "createdAt": format_created_at(self._created_ns),
            "version": TRACE_FORMAT_VERSION,
            "traceId": format_trace_id(trace_id),
            "spanId": format_span_id(span_id),
            "parentSpanId": self.parent_span_id,
        }

    def _execution(self) -> dict[str, Any]:
        return {
            "startTime": self._start,
            "endTime": self._end,
            "duration": self.duration,
            "status": self.status.value,
            "phases": self.get_execution_phases(),
            "startEpochNs": self._start_epoch_ns,
        }

    def _result_head(self) -> dict[str, Any] | None:
        if self._success is None:
            return None
        timestamp = self._result_ts if self._result_ts is not None else self._end
        return {"success": self._success, "timestamp": timestamp}

    def to_dict(self) -> TraceDict:
        """Return a new JSON-compatible dict in the on-disk format (camelCase keys)."""
        result: DispatchResult | None = None
        head = self._result_head()
        if head is not None:
            meta = self._result_meta
            result = {
                "success": head["success"],
                "timestamp": head["timestamp"],
                "metadata": json.loads(meta) if meta is not None else None,
            }
        payload = self._payload_json
        error = self._error
        return {
            "metadata": self._metadata(),  # type: ignore[typeddict-item]
            "turnAction": json.loads(self._turn_json),
            "execution": self._execution(),  # type: ignore[typeddict-item]
            "eventPayload": json.loads(payload) if payload is not None else None,
            "result": result,
            "error": json.loads(error[3]) if error is not None else None,
            "customMetadata": self.metadata,
        }

    def to_json(self, indent: int | str | None = None) -> str:
        """Return the trace as JSON text (always valid JSON: never NaN or Infinity)."""
        if indent is not None:
            return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)
        # Hot path of every writer: the captured parts are already compact JSON, and the rest is
        # our own fixed shape, so the text is assembled directly instead of encoding a dict.
        # Each float is formatted once (``repr`` is what json writes for a float, and it costs).
        start, end = self._start, self._end
        start_text = "null" if start is None else repr(start)
        end_text = "null" if end is None else repr(end)
        duration_text = "null" if start is None or end is None else repr(end - start)
        success = self._success
        if success is None:
            result = "null"
        else:
            stamp = self._result_ts
            meta = self._result_meta if self._result_meta is not None else "null"
            stamp_text = end_text if stamp is None else _dumps(stamp)
            result = (
                f'{{"success":{"true" if success else "false"},'
                f'"timestamp":{stamp_text},"metadata":{meta}}}'
            )
        error = self._error
        trace_id, span_id = self._ids()
        parent = self._parent_span
        parent_text = "null" if parent is None else f'"{parent:016x}"'
        return (
            f'{{"metadata":{{"actionId":{_quote(self._action_id)},'
            f'"actorId":{_quote(self._actor_id)},"traceType":"execution",'
            f'"createdAt":"{format_created_at(self._created_ns)}",'
            f'"version":"{TRACE_FORMAT_VERSION}","traceId":"{trace_id:032x}",'
            f'"spanId":"{span_id:016x}","parentSpanId":{parent_text}}},'
            f'"turnAction":{self._turn_json},'
            f'"execution":{{"startTime":{start_text},"endTime":{end_text},'
            f'"duration":{duration_text},"status":"{self._status_text()}",'
            f'"phases":{self._phases_json(start_text, end_text)},'
            f'"startEpochNs":{_number(self._start_epoch_ns)}}},'
            f'"eventPayload":{self._payload_json if self._payload_json is not None else "null"},'
            f'"result":{result},"error":{error[3] if error is not None else "null"},'
            f'"customMetadata":{self._custom if self._custom is not None else "{}"}}}'
        )

    def _phases_json(self, start_text: str, end_text: str) -> str:
        if self._start is None:
            return "[]"
        parts = [
            f'{{"phase":"dispatch_start","timestamp":{start_text},'
            '"description":"Action dispatch initiated"}'
        ]
        if self._payload_at is not None:
            parts.append(
                f'{{"phase":"payload_captured","timestamp":{self._payload_at!r},'
                f'"description":"Event payload captured","payloadSize":{self._payload_size},'
                f'"truncated":{"true" if self._truncated else "false"}}}'
            )
        if self._success is not None:
            ok = self._success
            parts.append(
                f'{{"phase":"dispatch_completed","timestamp":{end_text},'
                f'"description":"{"Dispatch succeeded" if ok else "Dispatch failed"}",'
                f'"success":{"true" if ok else "false"}}}'
            )
        if self._error is not None:
            at, kind, message, _ = self._error
            parts.append(
                f'{{"phase":"error_captured","timestamp":{at!r},'
                f'"description":{_quote("Error occurred: " + message)},"errorType":{_quote(kind)}}}'
            )
        return "[" + ",".join(parts) + "]"

    def to_summary(self) -> str:
        """One line: ``Action: core:go | Actor: player-1 | Status: success | Duration: 1.23ms``."""
        duration = self.duration
        shown = "incomplete" if duration is None else f"{duration:.2f}ms"
        return (
            f"Action: {self._action_id} | Actor: {self._actor_id} | "
            f"Status: {self.status.value} | Duration: {shown}"
        )

    def __repr__(self) -> str:
        return f"<ActionExecutionTrace {self.to_summary()}>"


def _clean_timestamp(value: Any, rules: SanitizeRules) -> Any:
    if type(value) in (int, float) and math.isfinite(value):
        return value
    clean = sanitize_to_json(value, rules, 1024)[0]
    if isinstance(clean, (str, int, float)) and not isinstance(clean, bool):
        return clean
    return _dumps(clean)


def _custom_json(metadata: Mapping[str, Any], rules: SanitizeRules, found: list[str]) -> str | None:
    text = sanitize_to_json(dict(metadata), rules, CUSTOM_METADATA_LIMIT, found)[1]
    return None if text == "{}" else text


def _setter(name: str) -> Any:
    return ActionExecutionTrace.__dict__[name].__set__


# Slot descriptors write past the frozen __setattr__; bound once here so the hot path stays cheap.
_set_action = _setter("_action_id")
_set_actor = _setter("_actor_id")
_set_created = _setter("_created_ns")
_set_end = _setter("_end")
_set_error = _setter("_error")
_set_payload_at = _setter("_payload_at")
_set_payload_json = _setter("_payload_json")
_set_payload_size = _setter("_payload_size")
_set_result_meta = _setter("_result_meta")
_set_result_ts = _setter("_result_ts")
_set_rules = _setter("_rules")
_set_secrets = _setter("_secrets")
_set_start = _setter("_start")
_set_epoch = _setter("_start_epoch_ns")
_set_success = _setter("_success")
_set_truncated = _setter("_truncated")
_set_turn = _setter("_turn_json")
_set_trace_id = _setter("_trace_id")
_set_span_id = _setter("_span_id")
_set_parent_span = _setter("_parent_span")
_set_custom = _setter("_custom")
_set_verbosity = _setter("_verbosity")
