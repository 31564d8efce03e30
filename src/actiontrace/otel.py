"""``OTelTraceSink``: finished traces become OpenTelemetry spans, off the game's thread.

This module is the only one that imports ``opentelemetry`` (the optional ``actiontrace[otel]``
extra); ``import actiontrace`` never loads it. The sink reads nothing but a trace's ``to_dict()``
output, which the trace has already sanitised; every string a span carries (name, attributes, event
names, exception fields) passes the sanitiser's value rules once more, so a dict replayed from a
file cannot bring a secret into a span either.

Threads: ``write_trace`` only hands the trace to the library's one background worker
(:mod:`actiontrace.output.worker`, shared with the file output service: bounded queue, batching,
errors-first eviction, bounded flush and close, exit and fork handling). Its thread calls
``to_dict()`` (a complete trace no longer changes, so this is safe on another thread), builds the
spans and ends them, which hands them to the provider's span processors. In a forked child the
worker is re-created, and the SDK's batch processor re-creates its own, so the child's spans are
exported too. The public contract is in ``docs/reference.md``.

Mapping of an execution trace dict to a span:

* name = ``metadata.actionId``; start = ``execution.startEpochNs``; end = start +
  ``round(duration_ms * 1e6)`` (the duration kept to the nanosecond, as far as a float allows).
* attributes ``actiontrace.action_id``, ``.actor_id``, ``.command`` (when the turn action has a
  command string), ``.status``, ``.payload_size``, ``.truncated``, and the payload flattened under
  ``actiontrace.payload.<dotted.path>``: mapping keys and list indexes become path segments, except
  that a list whose items are all strings, all booleans or all numbers becomes one OpenTelemetry
  array attribute; ``null`` values are left out (an attribute cannot hold one); a payload that is
  not a mapping is stored as ``actiontrace.payload`` itself. The flattened attributes are capped so
  that, with the fixed ones, they fit the provider's span attribute count limit; when the cap cuts
  them, ``actiontrace.payload_cut`` is ``True``. String values longer than the provider's
  attribute length limit are shortened by the SDK itself.
* one span event per phase, named after it, at its own time, with the phase's extra fields as
  ``actiontrace.*`` attributes; status OK for ``success``, ERROR (with a description) for
  ``failed`` and ``error``; a captured error also as an ``exception`` event with
  ``exception.type``, ``exception.message``, ``exception.stacktrace`` (and the first link of its
  cause chain as ``exception.cause.type`` / ``exception.cause.message``).
* W3C ids (``metadata.traceId``, ``spanId``, ``parentSpanId``) become the span's
  trace id, span id and (remote) parent, so linked actions form one tree in the backend.

A structured trace (``metadata.traceType`` ``structured`` or ``action_aware_structured``)
becomes one span per stored, ended span: same span id; parent = its ``parentId``, or for a root
span the trace's ``metadata.parentSpanId`` (the execution trace's span); trace id =
``metadata.traceId``; name = ``operation``; attributes flattened like a payload under
``actiontrace.attr.<dotted.path>`` (``actiontrace.attr_cut`` when cut) plus ``actiontrace.status``
and, when the trace names them, ``actiontrace.action_id`` / ``.actor_id``; its events at their
times; status OK for ``success``, ERROR for ``failure`` and ``error``; an error as an
``exception`` event. Span times are on the process's performance clock: the wall-clock anchor
``metadata.startEpochNs`` + ``metadata.startTime`` (read together when the trace was made) places
them; a structured trace without that anchor is skipped. A span still active is left out.

Incomplete traces (``pending``, ``in_progress``: no end time), malformed dicts and structured
traces without an anchor are skipped with a debug/warning log and counted as ``skipped``. The sink
never raises into the caller.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeGuard

try:
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, Tracer, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
    from opentelemetry.util.types import AttributeValue
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess without the SDK
    raise ImportError(
        "actiontrace.otel needs the OpenTelemetry SDK, which is not installed: "
        "pip install 'actiontrace[otel]'"
    ) from _missing

from .arguments import timeout_argument
from .errors import InvalidArgumentError
from .factory import LoggerLike, ensure_logger
from .logs import SafeLog
from .output.worker import DEFAULT_TIMEOUT, Batch, Worker, is_failure
from .sanitize import redact_secrets

__all__ = [
    "ATTRIBUTE_PREFIX",
    "DEFAULT_MAX_QUEUE_SIZE",
    "DEFAULT_SERVICE_NAME",
    "DEFAULT_TIMEOUT",
    "METADATA_PREFIX",
    "PAYLOAD_PREFIX",
    "OTelTraceSink",
    "flatten_payload",
]

DEFAULT_SERVICE_NAME: Final = "actiontrace"
"""``service.name`` of the resource when neither the argument nor ``OTEL_*`` variables name one."""

PAYLOAD_PREFIX: Final = "actiontrace.payload"
"""Attribute name prefix of the flattened payload."""

ATTRIBUTE_PREFIX: Final = "actiontrace.attr"
"""Attribute name prefix of a structured span's (and its events') flattened attributes."""

METADATA_PREFIX: Final = "actiontrace.metadata"
"""Prefix of an execution trace's flattened custom metadata."""

DEFAULT_MAX_QUEUE_SIZE: Final = 10_000
"""Traces waiting for the worker at most; more are dropped and counted."""

_SCOPE = "actiontrace"
_FIXED_ATTRIBUTES = 7  # action_id, actor_id, command, status, payload_size, truncated, payload_cut
_FIXED_SPAN_ATTRIBUTES = 4  # status, attr_cut, action_id, actor_id (structured spans)
_UNLIMITED_PAYLOAD_ATTRIBUTES = 1000  # our own cap when the provider sets no count limit
_WORK_SLICE = 0.001  # seconds the worker converts before letting a waiting thread have the GIL
_INT64 = (-(2**63), 2**63 - 1)
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_DONE_STATUSES = {"success": True, "failed": False, "error": False}
_SPAN_STATUSES = {"success": None, "failure": "Operation failed", "error": "Operation error"}
_STRUCTURED_TYPES = frozenset(("structured", "action_aware_structured"))
_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)
_PHASE_FIELDS = (
    ("description", "actiontrace.description"),
    ("payloadSize", "actiontrace.payload_size"),
    ("truncated", "actiontrace.truncated"),
    ("success", "actiontrace.success"),
    ("errorType", "actiontrace.error_type"),
)
_monotonic = time.monotonic
_yield_gil = time.sleep


# -- payload flattening ----------------------------------------------------------------------------


def _leaf(value: Any) -> AttributeValue | None:
    """Return a JSON scalar as an attribute value; ``None`` for null (attributes cannot hold it)."""
    if isinstance(value, str):
        return redact_secrets(value)  # a replayed file was never sanitised by this process
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # OTLP carries int64; a larger int would fail the whole batch's encoding.
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    return None


def _array(items: Sequence[Any]) -> AttributeValue | None:
    """Return a list of JSON scalars of one kind as an array attribute, else ``None``."""
    kinds = {bool if isinstance(item, bool) else type(item) for item in items}
    if not items:
        return ()
    if kinds == {str}:
        return tuple(map(redact_secrets, items))
    if kinds == {bool}:
        return tuple(items)
    if kinds <= {int, float}:
        if kinds == {int} and all(_INT64[0] <= item <= _INT64[1] for item in items):
            return tuple(items)
        return tuple(float(item) for item in items)
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, AttributeValue]]:
    """Depth-first ``(dotted path, value)`` leaves, in document order, without recursion."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(
                reversed(
                    [(f"{where}.{redact_secrets(str(key))}", item) for key, item in node.items()]
                )
            )
        elif isinstance(node, list | tuple):
            array = _array(node)
            if array is not None:
                yield where, array
            else:
                stack.extend(reversed([(f"{where}.{i}", item) for i, item in enumerate(node)]))
        else:
            leaf = _leaf(node)
            if leaf is not None:
                yield where, leaf


def flatten_payload(
    payload: Any, limit: int, prefix: str = PAYLOAD_PREFIX
) -> tuple[dict[str, AttributeValue], bool]:
    """Flatten a sanitised payload into at most ``limit`` attributes; return them and whether cut.

    Only as much of the payload is walked as the limit needs, so a 1 MB payload costs little.
    """
    attributes: dict[str, AttributeValue] = {}
    if limit <= 0:
        return attributes, any(True for _ in _walk(payload, prefix))
    for name, value in _walk(payload, prefix):
        if len(attributes) == limit:
            return attributes, True
        attributes[name] = value
    return attributes, False


# -- ids -------------------------------------------------------------------------------------------


def _hex_id(value: Any, pattern: re.Pattern[str]) -> int | None:
    if isinstance(value, str) and pattern.fullmatch(value):
        number = int(value, 16)
        return number or None  # all zeros is the invalid id
    return None


class _PresetIds(IdGenerator):
    """Ids set for the span being started on this thread, else the wrapped generator's.

    The SDK's ``Tracer.start_span`` draws the span id (and a root's trace id) from its
    ``IdGenerator``; a custom generator is the documented way to choose ids:
    https://opentelemetry-python.readthedocs.io/en/stable/sdk/trace.id_generator.html
    """

    __slots__ = ("_inner", "_local")

    def __init__(self, inner: IdGenerator) -> None:
        self._inner = inner
        self._local = threading.local()

    def preset(self, trace_id: int | None, span_id: int | None) -> None:
        """Use these ids for the next span started on this thread (``None``: generate)."""
        self._local.ids = (trace_id, span_id)

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._local, "ids", (None, None))[0]
        return trace_id if trace_id is not None else self._inner.generate_trace_id()

    def generate_span_id(self) -> int:
        span_id = getattr(self._local, "ids", (None, None))[1]
        return span_id if span_id is not None else self._inner.generate_span_id()

    def is_trace_id_random(self) -> bool:
        # The library's trace ids are random, so a preset one qualifies as much as a generated one.
        return self._inner.is_trace_id_random()


# -- accounting and logging ------------------------------------------------------------------------


class _Counts:
    """The sink's own counters (the worker counts the queue's), and the lock that guards them."""

    __slots__ = ("dropped", "exported", "failed", "lock", "skipped", "spans")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans = self.exported = self.failed = self.dropped = self.skipped = 0

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def reset(self) -> None:
        """Start from zero with a new lock (in a forked child: the parent's counts are its own)."""
        self.lock = threading.Lock()
        self.spans = self.exported = self.failed = self.dropped = self.skipped = 0


class _CountingExporter(SpanExporter):
    """Counts what the wrapped exporter delivered or lost; fails fast past a flush deadline.

    ``SpanExporter.export`` reports failure through its ``SpanExportResult``, never by raising,
    and the batch processor discards that result: this wrapper is where the sink learns of it.
    """

    def __init__(
        self,
        inner: SpanExporter,
        counts: _Counts,
        logger: SafeLog,
        renew: Callable[[], SpanExporter] | None = None,
    ) -> None:
        self._inner = inner
        self._counts = counts
        self._logger = logger
        self._renew = renew
        self.deadline: float | None = None

    def after_fork(self) -> None:
        """In a forked child: an exporter of its own, when this one was built here.

        The OTLP exporter keeps HTTP connections open between exports; a child using the ones it
        inherited would write into the parent's connections and corrupt both streams. Dropping
        them in the child closes only the child's copies.
        """
        self.deadline = None
        if self._renew is not None:
            self._inner = self._renew()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        count = len(spans)
        deadline = self.deadline
        if deadline is not None and time.monotonic() > deadline:
            self._counts.add("failed", count)
            self._logger.limited(
                "deadline", "OpenTelemetry export: %d span(s) not sent before flush timeout", count
            )
            return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
        except Exception as error:  # an exporter that raises counts as one that failed
            self._logger.limited(
                "raised", "OpenTelemetry export raised %s: %s", type(error).__name__, error
            )
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._counts.add("exported", count)
        else:
            self._counts.add("failed", count)
            self._logger.limited("failed", "OpenTelemetry export of %d span(s) failed", count)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    # No force_flush delegate: the batch processor never calls its exporter's (it flushes by
    # exporting), and SpanExporter's default returns True.


# -- the sink --------------------------------------------------------------------------------------


def _resource(service_name: str | None) -> Resource:
    """Build the resource (``Resource.create`` reads ``OTEL_RESOURCE_ATTRIBUTES``)."""
    if service_name is None:
        from_env = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
        service_name = from_env if isinstance(from_env, str) and from_env else DEFAULT_SERVICE_NAME
    return Resource.create({SERVICE_NAME: service_name})


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as error:  # pragma: no cover - the extra installs it
        raise ImportError(
            "OTelTraceSink needs the OTLP/HTTP exporter: pip install 'actiontrace[otel]'"
        ) from error
    # With endpoint=None the exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then
    # OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, then http://localhost:4318/v1/traces; headers,
    # timeout and compression come from their OTEL_EXPORTER_OTLP_* variables the same way.
    return OTLPSpanExporter(endpoint=endpoint)


def _span_limits(provider: Any) -> SpanLimits:
    # The SDK has no public getter for a provider's limits; an unknown provider gets the defaults
    # (which honour the OTEL_*_LIMIT variables).
    limits = getattr(provider, "_span_limits", None)
    return limits if isinstance(limits, SpanLimits) else SpanLimits()


def _ns(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _incomplete(trace: Any) -> bool:
    """Whether ``trace`` says cheaply, without ``to_dict()``, that it is not finished."""
    try:
        return getattr(trace, "is_complete", True) is False
    except Exception:  # a raising attribute: let the worker find out (and count) what is wrong
        return False


class _SpanWriter:
    """What the worker hands batches to: each trace converted into spans by ``convert``."""

    __slots__ = ("_convert",)

    def __init__(self, convert: Callable[[Any], None]) -> None:
        self._convert = convert

    def write(self, batch: Batch) -> None:
        """Convert every trace of ``batch`` (``convert`` never raises), then settle them."""
        convert = self._convert
        slice_end = _monotonic() + _WORK_SLICE
        for trace in batch.items:
            convert(trace)
            if _monotonic() >= slice_end:
                # Hand the GIL over now and then: a thread waiting for it (the game) would
                # otherwise wait out the interpreter's switch interval (5 ms) behind this
                # loop. Not after every trace: each handover costs a context switch.
                _yield_gil(0)
                slice_end = _monotonic() + _WORK_SLICE
        batch.settle(len(batch.items), written=len(batch.items))

    def stop(self) -> None:
        """Release nothing: the provider is flushed and shut down by the sink's ``close()``."""


class OTelTraceSink:
    """Turns each finished trace into OpenTelemetry spans on a worker thread; an output service.

    ``tracer_provider``: an SDK ``TracerProvider`` to send spans through (it keeps its own
    resource, exporters and limits; ``close()`` flushes it but leaves it running). Without one,
    the sink builds its own: resource ``service.name`` = ``service_name``, else the one the
    ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` variables give, else ``"actiontrace"``;
    a ``BatchSpanProcessor`` around ``exporter``, by default an OTLP/HTTP exporter configured by
    the ``OTEL_EXPORTER_OTLP_*`` variables (``endpoint`` overrides the traces endpoint).

    ``write_trace`` only enqueues (at most ``max_queue_size`` traces wait); one daemon worker
    converts and ends the spans. ``stats``: ``spans`` handed to OpenTelemetry; ``exported`` and
    ``failed``: spans the exporter delivered or lost (counted only for a provider the sink built);
    ``dropped``: traces never converted (queue full, written after ``close()``, still queued when
    ``close()`` timed out) plus spans the SDK's batch queue lost (counted at ``close()``);
    ``skipped``: traces not converted because incomplete, malformed, or a structured trace without
    its clock anchor.
    """

    __slots__ = (
        "__weakref__",
        "_closing",
        "_counting",
        "_counts",
        "_event_limit",
        "_ids",
        "_limit",
        "_provider",
        "_random_ids",
        "_say",
        "_span_limit",
        "_tracer",
        "_worker",
    )

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        service_name: str | None = None,
        exporter: SpanExporter | None = None,
        endpoint: str | None = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        logger: LoggerLike | None = None,
    ) -> None:
        if service_name is not None and (not isinstance(service_name, str) or not service_name):
            raise InvalidArgumentError("service_name must be a non-empty str or None")
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
            raise InvalidArgumentError("endpoint must be a non-empty str or None")
        if exporter is not None and not isinstance(exporter, SpanExporter):
            raise InvalidArgumentError("exporter must be an opentelemetry SpanExporter or None")
        if (
            not isinstance(max_queue_size, int)
            or isinstance(max_queue_size, bool)
            or max_queue_size < 1
        ):
            raise InvalidArgumentError(
                f"max_queue_size must be an int >= 1, got {max_queue_size!r}"
            )
        if tracer_provider is not None:
            if not callable(getattr(tracer_provider, "get_tracer", None)):
                raise InvalidArgumentError(
                    "tracer_provider must be an OpenTelemetry TracerProvider"
                )
            if exporter is not None or endpoint is not None:
                raise InvalidArgumentError(
                    "exporter and endpoint apply only when no tracer_provider is given"
                )
        self._say = SafeLog(ensure_logger(logger))
        self._counts = _Counts()
        self._counting: _CountingExporter | None = None
        if tracer_provider is None:
            self._counting = _CountingExporter(
                exporter if exporter is not None else _otlp_exporter(endpoint),
                self._counts,
                self._say,
                # An exporter built here is built afresh in a forked child; a given one is the
                # caller's to make fork-safe.
                None if exporter is not None else lambda: _otlp_exporter(endpoint),
            )
            # No exit hook of its own: the sink's (run first) flushes its queue into the provider,
            # then shuts it down.
            tracer_provider = TracerProvider(
                resource=_resource(service_name),
                id_generator=_PresetIds(RandomIdGenerator()),
                shutdown_on_exit=False,
            )
            tracer_provider.add_span_processor(BatchSpanProcessor(self._counting))
        self._provider: Any = tracer_provider
        self._tracer: trace_api.Tracer = tracer_provider.get_tracer(_SCOPE)
        self._ids: _PresetIds | None = None
        if isinstance(self._tracer, Tracer):
            if not isinstance(self._tracer.id_generator, _PresetIds):
                # A provider built elsewhere: wrap the tracer's generator; with no preset ids it
                # delegates, so anyone else using this tracer sees no change.
                self._tracer.id_generator = _PresetIds(self._tracer.id_generator)
            self._ids = self._tracer.id_generator
        self._random_ids = RandomIdGenerator()
        limits = _span_limits(tracer_provider)
        most = limits.max_span_attributes
        self._limit = (
            _UNLIMITED_PAYLOAD_ATTRIBUTES if most is None else max(0, most - _FIXED_ATTRIBUTES)
        )
        self._span_limit = (
            _UNLIMITED_PAYLOAD_ATTRIBUTES if most is None else max(0, most - _FIXED_SPAN_ATTRIBUTES)
        )
        events = limits.max_event_attributes
        self._event_limit = _UNLIMITED_PAYLOAD_ATTRIBUTES if events is None else events
        self._closing = False
        self._worker = Worker(
            _SpanWriter(self._convert),
            name="actiontrace-otel-sink",
            label="OTelTraceSink",
            log=self._say,
            max_queue=max_queue_size,
            at_exit=self._close_at_exit,
            after_fork=self._after_fork,
        )

    @property
    def stats(self) -> dict[str, int]:
        """Counts: ``spans``, ``exported``, ``failed``, ``dropped``, ``skipped`` (see the class)."""
        queue = self._worker.stats
        counts = self._counts
        with counts.lock:
            return {
                "spans": counts.spans,
                "exported": counts.exported,
                "failed": counts.failed,
                "dropped": counts.dropped + queue["dropped"] + queue["failed"],
                "skipped": counts.skipped,
            }

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._worker.closed

    # -- the caller's side: enqueue only -----------------------------------------------------------

    def write_trace(self, trace: Any) -> None:
        """Queue one trace for export; O(1), never blocks, never raises.

        ``trace``: an ``ActionExecutionTrace``, a structured trace, anything with ``to_dict()``,
        or a trace dict.
        A trace that says it is not finished (``is_complete`` false) is skipped at once; a full
        queue or a closed sink drops the trace (counted, and reported in a rate-limited warning);
        a failed or error trace arriving at a full queue evicts a queued successful one instead.
        """
        if _incomplete(trace):
            self._counts.add("skipped")
            self._say("debug", "OTelTraceSink skips an incomplete trace")
            return
        self._worker.put(trace, failure=is_failure(trace))

    # -- flush and close ---------------------------------------------------------------------------

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Convert and export every trace written so far; ``False`` when not done in time.

        Waits for the worker to convert what was queued before the call, then for the provider's
        ``force_flush``, both within ``timeout`` seconds in all: past it, batches still waiting are
        counted as ``failed`` instead of sent (one request already in flight ends by the
        exporter's own timeout). Never raises for a fault of the export.
        """
        wait = timeout_argument(timeout)
        deadline = _monotonic() + wait
        worker = self._worker
        if worker.closed:
            return True
        # From inside the worker (a logger, an exporter) it cannot wait for its own conversion.
        if threading.current_thread() is not worker.thread and not worker.flush(wait):
            return False
        return self._flush_provider(deadline)

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Convert what is queued, flush, then shut down the provider the sink built.

        A given provider is only flushed. Within ``timeout`` seconds in all: traces still queued
        then are counted as ``dropped``, like spans that never reached the exporter. Idempotent;
        never raises for a fault of the export. The sink also closes itself at interpreter exit.
        """
        self._shutdown(timeout_argument(timeout))

    def __enter__(self) -> OTelTraceSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _close_at_exit(self) -> None:
        self._shutdown(DEFAULT_TIMEOUT)

    def _after_fork(self) -> None:
        self._counts.reset()  # the parent's counts are the parent's
        if self._counting is not None:
            self._counting.after_fork()

    def _flush_provider(self, deadline: float) -> bool:
        counting = self._counting
        if counting is not None:
            counting.deadline = deadline
        try:
            force_flush = getattr(self._provider, "force_flush", None)
            if not callable(force_flush):
                return True
            return bool(force_flush(max(0, int((deadline - _monotonic()) * 1000))))
        except Exception as error:
            self._say("warning", "OpenTelemetry flush raised %s: %s", type(error).__name__, error)
            return False
        finally:
            if counting is not None:
                counting.deadline = None

    def _shutdown(self, timeout: float) -> None:
        deadline = _monotonic() + timeout
        with self._counts.lock:
            if self._closing:
                return
            self._closing = True
        # From inside the worker (a logger, a to_dict calling close) it cannot wait for itself:
        # it finishes its queue on its own after this returns.
        self._worker.close(timeout)
        self._flush_provider(deadline)
        counting = self._counting
        if counting is None:
            return
        counting.deadline = deadline
        try:
            self._provider.shutdown()
        except Exception as error:
            self._say(
                "warning", "OpenTelemetry shutdown raised %s: %s", type(error).__name__, error
            )
        counts = self._counts
        with counts.lock:
            counts.dropped += max(0, counts.spans - counts.exported - counts.failed)

    # -- the worker thread -------------------------------------------------------------------------

    def _convert(self, trace: Any) -> None:
        """Turn one queued trace into spans; count the outcome. Never raises."""
        try:
            record = trace if isinstance(trace, Mapping) else trace.to_dict()
            if not isinstance(record, Mapping):
                raise TypeError(f"to_dict() returned {type(record).__name__}")
            sent = self._emit(record)
        except Exception as error:
            self._counts.add("skipped")
            self._say.limited(
                "convert",
                "OTelTraceSink could not convert a trace (%s: %s)",
                type(error).__name__,
                error,
            )
            return
        if sent is None:
            self._counts.add("skipped")
        else:
            self._counts.add("spans", sent)

    def _emit(self, record: Mapping[str, Any]) -> int | None:
        """Build and end the spans of one trace dict; their number, ``None`` when skipped."""
        metadata = record["metadata"]
        if metadata.get("traceType") in _STRUCTURED_TYPES:
            return self._emit_structured(record, metadata)
        return 1 if self._emit_action(record, metadata) else None

    # -- an execution trace: one span --------------------------------------------------------------

    def _emit_action(self, record: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
        execution = record["execution"]
        status = execution["status"]
        start_ns = execution["startEpochNs"]
        start_ms = execution["startTime"]
        duration = execution["duration"]
        if status not in _DONE_STATUSES or not (
            _ns(start_ns) and _number(start_ms) and _number(duration)
        ):
            self._say(
                "debug",
                "OTelTraceSink skips an incomplete trace of %r (status %r)",
                metadata.get("actionId"),
                status,
            )
            return False
        begin: int = start_ns
        origin = float(start_ms)
        end_ns = begin + round(float(duration) * 1e6)

        def at(ms: Any) -> int:
            return begin + round((float(ms) - origin) * 1e6) if _number(ms) else end_ns

        phases = [p for p in execution.get("phases") or () if isinstance(p, Mapping)]
        captured = next((p for p in phases if p.get("phase") == "payload_captured"), {})
        # Custom metadata (build, scene...) first: it is small, and what a backend groups by.
        attributes, meta_cut = flatten_payload(
            record.get("customMetadata") or None, self._limit, METADATA_PREFIX
        )
        payload_attributes, cut = flatten_payload(
            record.get("eventPayload"), self._limit - len(attributes)
        )
        attributes.update(payload_attributes)
        if cut or meta_cut:
            attributes["actiontrace.payload_cut"] = True
        command = (record.get("turnAction") or {}).get("commandString")
        if isinstance(command, str):
            attributes["actiontrace.command"] = redact_secrets(command)
        # The fixed attributes go last: a count limit the cap misjudged evicts the oldest first.
        attributes["actiontrace.action_id"] = redact_secrets(str(metadata["actionId"]))
        attributes["actiontrace.actor_id"] = redact_secrets(str(metadata["actorId"]))
        attributes["actiontrace.status"] = status
        attributes["actiontrace.payload_size"] = int(captured.get("payloadSize") or 0)
        attributes["actiontrace.truncated"] = bool(captured.get("truncated"))

        trace_id = _hex_id(metadata.get("traceId"), _HEX32)
        parent_id = _hex_id(metadata.get("parentSpanId"), _HEX16)
        span = self._start(
            redact_secrets(str(metadata["actionId"])),
            trace_id,
            _hex_id(metadata.get("spanId"), _HEX16),
            # A parent without a trace id cannot be placed: the span becomes a root.
            (parent_id, True) if trace_id is not None and parent_id is not None else None,
            attributes,
            begin,
        )
        for phase in phases:
            fields = {
                name: value
                for key, name in _PHASE_FIELDS
                if (value := _leaf(phase.get(key))) is not None
            }
            span.add_event(
                redact_secrets(str(phase.get("phase"))),
                fields,
                timestamp=at(phase.get("timestamp")),
            )
        error = record.get("error")
        if isinstance(error, Mapping):
            span.add_event("exception", _exception_attributes(error), at(error.get("timestamp")))
        if _DONE_STATUSES[status]:
            span.set_status(trace_api.Status(trace_api.StatusCode.OK))
        else:
            span.set_status(trace_api.Status(trace_api.StatusCode.ERROR, _describe(status, error)))
        span.end(end_time=end_ns)
        return True

    # -- a structured trace: one span per stored span ----------------------------------------------

    def _emit_structured(
        self, record: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> int | None:
        anchor_ns = metadata.get("startEpochNs")
        anchor_ms = metadata.get("startTime")
        if not (_ns(anchor_ns) and _number(anchor_ms)):
            self._say(
                "debug", "OTelTraceSink skips a structured trace without its wall-clock anchor"
            )
            return None
        spans = [item for item in record["spans"] if isinstance(item, Mapping)]
        trace_id = _hex_id(metadata.get("traceId"), _HEX32)
        if trace_id is None:  # every span of the trace must share one, even an invented one
            trace_id = self._random_ids.generate_trace_id()
        outer = _hex_id(metadata.get("parentSpanId"), _HEX16)
        ids: dict[Any, int] = {}
        for item in spans:
            own = _hex_id(item.get("spanId"), _HEX16)
            ids[item.get("spanId")] = (
                own if own is not None else self._random_ids.generate_span_id()
            )
        fixed: dict[str, AttributeValue] = {}
        for key, name in (("actionId", "action_id"), ("actorId", "actor_id")):
            value = metadata.get(key, record.get(key))
            if isinstance(value, str):
                fixed[f"actiontrace.{name}"] = redact_secrets(value)
        begin: int = anchor_ns
        origin = float(anchor_ms)

        def at(ms: Any, default: int) -> int:
            return begin + round((float(ms) - origin) * 1e6) if _number(ms) else default

        sent = 0
        for item in spans:
            status = item.get("status")
            start = item.get("startTime")
            duration = item.get("duration")
            if status not in _SPAN_STATUSES or not (_number(start) and _number(duration)):
                continue  # still active: it has no end to export
            start_ns = at(start, begin)
            end_ns = start_ns + round(float(duration) * 1e6)
            parent_key = item.get("parentId")
            if parent_key is None:
                parent = None if outer is None else (outer, True)
            elif parent_key in ids:
                parent = (ids[parent_key], False)
            else:  # a parent not stored here (dropped, or from elsewhere): keep the link if valid
                remote = _hex_id(parent_key, _HEX16)
                parent = None if remote is None else (remote, True)
            attributes, cut = flatten_payload(
                item.get("attributes") or {}, self._span_limit, ATTRIBUTE_PREFIX
            )
            if cut:
                attributes["actiontrace.attr_cut"] = True
            attributes.update(fixed)
            attributes["actiontrace.status"] = status
            span = self._start(
                redact_secrets(str(item.get("operation"))),
                trace_id,
                ids[item.get("spanId")],
                parent,
                attributes,
                start_ns,
            )
            for event in item.get("events") or ():
                if isinstance(event, Mapping):
                    fields = flatten_payload(
                        event.get("attributes") or {}, self._event_limit, ATTRIBUTE_PREFIX
                    )[0]
                    span.add_event(
                        redact_secrets(str(event.get("name"))),
                        fields,
                        at(event.get("timestamp"), end_ns),
                    )
            error = item.get("error")
            if isinstance(error, Mapping):
                span.add_event(
                    "exception", _exception_attributes(error), at(error.get("timestamp"), end_ns)
                )
            description = _SPAN_STATUSES[status]
            if description is None:
                span.set_status(trace_api.Status(trace_api.StatusCode.OK))
            else:
                if isinstance(error, Mapping):
                    description = redact_secrets(f"{error.get('type')}: {error.get('message')}")
                span.set_status(trace_api.Status(trace_api.StatusCode.ERROR, description))
            span.end(end_time=end_ns)
            sent += 1
        return sent

    # -- starting a span with chosen ids -----------------------------------------------------------

    def _start(  # noqa: PLR0917 - private, called from two places with every argument named
        self,
        name: str,
        trace_id: int | None,
        span_id: int | None,
        parent: tuple[int, bool] | None,
        attributes: dict[str, AttributeValue],
        start_ns: int,
    ) -> trace_api.Span:
        """Start a span; ``parent`` is ``(span id, is_remote)`` in trace ``trace_id``."""
        context = None
        if parent is not None and trace_id is not None:
            # A parent made from the stored ids: the documented way to continue a trace whose
            # parent span lives elsewhere (opentelemetry.trace.NonRecordingSpan +
            # set_span_in_context); the SDK then takes the trace id from it.
            parent_context = trace_api.SpanContext(
                trace_id, parent[0], is_remote=parent[1], trace_flags=_SAMPLED
            )
            context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent_context))
        ids = self._ids
        if ids is None:
            return self._tracer.start_span(
                name, context, attributes=attributes, start_time=start_ns
            )
        ids.preset(trace_id, span_id)
        try:
            return self._tracer.start_span(
                name, context, attributes=attributes, start_time=start_ns
            )
        finally:
            ids.preset(None, None)


def _exception_attributes(error: Mapping[str, Any]) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "exception.type": redact_secrets(str(error.get("type"))),
        "exception.message": redact_secrets(str(error.get("message"))),
    }
    stack = error.get("stack")
    if isinstance(stack, str):
        attributes["exception.stacktrace"] = redact_secrets(stack)
    code = _leaf(error.get("code"))
    if code is not None:
        attributes["actiontrace.error.code"] = code
    cause = error.get("cause")
    if isinstance(cause, Mapping):
        attributes["exception.cause.type"] = redact_secrets(str(cause.get("type")))
        attributes["exception.cause.message"] = redact_secrets(str(cause.get("message")))
    return attributes


def _describe(status: str, error: Any) -> str:
    if isinstance(error, Mapping):
        return redact_secrets(f"{error.get('type')}: {error.get('message')}")
    return "Dispatch failed" if status == "failed" else "Dispatch error"
