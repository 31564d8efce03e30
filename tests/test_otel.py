"""OTelTraceSink with the SDK in-memory exporter: every span field checked against the trace."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actiontrace import ActionExecutionTraceFactory, InvalidArgumentError
from actiontrace.otel import DEFAULT_SERVICE_NAME, OTelTraceSink, flatten_payload

SECRET = "hunter2VerySecretToken0123456789"
P = "actiontrace.payload"


# -- helpers ---------------------------------------------------------------------------------------


def limited(limits: SpanLimits) -> tuple[OTelTraceSink, InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OTelTraceSink(provider), exporter, provider


def make_trace(
    payload: Any = None,
    *,
    action: str = "core:go",
    actor: str = "player-1",
    command: str | None = "go north",
    outcome: str = "success",
) -> Any:
    turn: dict[str, Any] = {"actionDefinitionId": action}
    if command is not None:
        turn["commandString"] = command
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=action, actor_id=actor, turn_action=turn
    )
    trace.capture_dispatch_start()
    if payload is not None:
        trace.capture_event_payload(payload)
    if outcome in ("success", "failed"):
        trace.capture_dispatch_result({"success": outcome == "success"})
    elif outcome == "error":
        try:
            try:
                raise KeyError("inner")
            except KeyError as inner:
                raise ValueError(f"boom: Authorization: Bearer {SECRET}") from inner
        except ValueError as error:
            trace.capture_error(error)
    return trace


def finished(sink: OTelTraceSink, exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """The spans exported once everything written so far is converted and flushed."""
    assert sink.flush() is True
    return exporter.get_finished_spans()


def only_span(exporter: InMemorySpanExporter, sink: OTelTraceSink | None = None) -> ReadableSpan:
    spans = exporter.get_finished_spans() if sink is None else finished(sink, exporter)
    assert len(spans) == 1
    return spans[0]


def epoch_ns(record: dict[str, Any], ms: float) -> int:
    execution = record["execution"]
    return int(execution["startEpochNs"] + round((ms - execution["startTime"]) * 1e6))


def all_text(span: ReadableSpan) -> str:
    parts = [span.name, str(span.status.description)]
    parts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
    for event in span.events:
        parts.append(event.name)
        parts += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
    return "\n".join(parts)


# -- the span of one trace -------------------------------------------------------------------------


def test_success_trace_becomes_one_span_with_every_field_from_the_trace(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = make_trace({"target": "door", "steps": 3})
    record = trace.to_dict()
    sink.write_trace(trace)

    span = only_span(exporter, sink)
    execution = record["execution"]
    assert span.name == "core:go"
    assert span.start_time == execution["startEpochNs"]
    assert span.end_time is not None
    assert span.end_time - span.start_time == round(execution["duration"] * 1e6)
    assert dict(span.attributes or {}) == {
        f"{P}.target": "door",
        f"{P}.steps": 3,
        "actiontrace.command": "go north",
        "actiontrace.action_id": "core:go",
        "actiontrace.actor_id": "player-1",
        "actiontrace.status": "success",
        "actiontrace.payload_size": execution["phases"][1]["payloadSize"],
        "actiontrace.truncated": False,
    }
    assert span.status.status_code is trace_api.StatusCode.OK
    assert span.kind is trace_api.SpanKind.INTERNAL
    assert span.parent is None
    assert [event.name for event in span.events] == [p["phase"] for p in execution["phases"]]
    for event, phase in zip(span.events, execution["phases"], strict=True):
        assert event.timestamp == epoch_ns(record, phase["timestamp"])
    assert dict(span.events[0].attributes or {}) == {
        "actiontrace.description": "Action dispatch initiated"
    }
    assert dict(span.events[1].attributes or {}) == {
        "actiontrace.description": "Event payload captured",
        "actiontrace.payload_size": execution["phases"][1]["payloadSize"],
        "actiontrace.truncated": False,
    }
    assert dict(span.events[2].attributes or {}) == {
        "actiontrace.description": "Dispatch succeeded",
        "actiontrace.success": True,
    }
    # The phase that ends timing sits exactly at the span's end.
    assert span.events[2].timestamp == span.end_time
    assert sink.stats["spans"] == 1


def test_failed_trace_has_error_status_and_no_exception_event(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    sink.write_trace(make_trace({"x": 1}, outcome="failed", command=None))
    span = only_span(exporter, sink)
    assert span.status.status_code is trace_api.StatusCode.ERROR
    assert span.status.description == "Dispatch failed"
    assert "actiontrace.command" not in (span.attributes or {})
    assert (span.attributes or {})["actiontrace.status"] == "failed"
    assert "exception" not in [event.name for event in span.events]


def test_error_trace_records_an_exception_event_with_standard_attributes(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = make_trace({"x": 1}, outcome="error")
    record = trace.to_dict()
    error = record["error"]
    assert error is not None
    sink.write_trace(trace)

    span = only_span(exporter, sink)
    assert span.status.status_code is trace_api.StatusCode.ERROR
    assert span.status.description == f"ValueError: {error['message']}"
    exception = span.events[-1]
    assert exception.name == "exception"
    assert exception.timestamp == epoch_ns(record, error["timestamp"])
    attributes = dict(exception.attributes or {})
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == error["message"]
    assert attributes["exception.stacktrace"] == error["stack"]
    assert "ValueError" in str(attributes["exception.stacktrace"])
    assert attributes["exception.cause.type"] == "KeyError"
    assert attributes["exception.cause.message"] == error["cause"]["message"]  # type: ignore[index]
    error_phase = span.events[-2]
    assert error_phase.name == "error_captured"
    assert dict(error_phase.attributes or {})["actiontrace.error_type"] == "ValueError"


def test_error_dict_with_code_and_no_stack_maps_what_it_has(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    record = make_trace({"x": 1}, outcome="error").to_dict()
    record["error"].update(stack=None, code=28, cause=None, timestamp="later")  # type: ignore[union-attr]
    sink.write_trace(record)
    span = only_span(exporter, sink)
    attributes = dict(span.events[-1].attributes or {})
    assert attributes["actiontrace.error.code"] == 28
    assert "exception.stacktrace" not in attributes
    assert "exception.cause.type" not in attributes
    # A timestamp that is not a number places the event at the span's end.
    assert span.events[-1].timestamp == span.end_time


def test_error_status_without_error_record_gets_a_generic_description(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    record = make_trace({"x": 1}, outcome="error").to_dict()
    record["error"] = None
    sink.write_trace(record)
    span = only_span(exporter, sink)
    assert span.status.description == "Dispatch error"
    assert "exception" not in [event.name for event in span.events]


def test_a_secret_in_payload_or_error_never_reaches_any_attribute_or_event(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    payload = {
        "password": SECRET,
        "nested": {"apiKey": SECRET, "list": [{"token": SECRET}]},
        "headers": {"authorization": f"Bearer {SECRET}"},
    }
    sink.write_trace(make_trace(payload, outcome="error"))
    span = only_span(exporter, sink)
    text = all_text(span)
    assert SECRET not in text
    assert f"{P}.password=[REDACTED]" in text


def test_dict_and_trace_object_give_the_same_span(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = make_trace({"a": [1, 2]})
    sink.write_trace(trace)
    sink.write_trace(trace.to_dict())

    class Wrapper:
        def to_dict(self) -> Any:
            return trace.to_dict()

    sink.write_trace(Wrapper())
    first, second, third = finished(sink, exporter)
    for other in (second, third):
        assert other.name == first.name
        assert (other.start_time, other.end_time) == (first.start_time, first.end_time)
        assert dict(other.attributes or {}) == dict(first.attributes or {})
        assert [(e.name, e.timestamp) for e in other.events] == [
            (e.name, e.timestamp) for e in first.events
        ]


# -- payload flattening and limits -----------------------------------------------------------------


def test_flattening_uses_dotted_paths_arrays_for_homogeneous_lists_and_indexes_otherwise() -> None:
    payload = {
        "name": "lamp",
        "flags": [True, False],
        "tags": ["a", "b"],
        "ints": [1, 2, 3],
        "mixed_numbers": [1, 2.5],
        "empty_list": [],
        "empty_dict": {},
        "nothing": None,
        "huge": 2**70,
        "huge_list": [1, 2**70],
        "rows": [{"x": 1, "y": [1, "a"]}, None, [True]],
        "deep": {"a": {"b": {"c": 1.5}}},
    }
    attributes, cut = flatten_payload(payload, 1000)
    assert cut is False
    assert attributes == {
        f"{P}.name": "lamp",
        f"{P}.flags": (True, False),
        f"{P}.tags": ("a", "b"),
        f"{P}.ints": (1, 2, 3),
        f"{P}.mixed_numbers": (1.0, 2.5),
        f"{P}.empty_list": (),
        f"{P}.huge": str(2**70),
        f"{P}.huge_list": (1.0, float(2**70)),
        f"{P}.rows.0.x": 1,
        f"{P}.rows.0.y.0": 1,
        f"{P}.rows.0.y.1": "a",
        f"{P}.rows.2": (True,),
        f"{P}.deep.a.b.c": 1.5,
    }
    # Document order is kept.
    assert list(attributes)[:3] == [f"{P}.name", f"{P}.flags", f"{P}.tags"]


def test_flattening_a_payload_that_is_not_a_mapping() -> None:
    assert flatten_payload("just text", 10) == ({P: "just text"}, False)
    assert flatten_payload([1, 2], 10) == ({P: (1, 2)}, False)
    assert flatten_payload([{"a": 1}], 10) == ({f"{P}.0.a": 1}, False)
    assert flatten_payload(None, 10) == ({}, False)


def test_flattening_stops_at_the_limit_and_says_it_was_cut() -> None:
    payload = {f"k{i}": i for i in range(10)}
    attributes, cut = flatten_payload(payload, 4)
    assert cut is True
    assert attributes == {f"{P}.k{i}": i for i in range(4)}
    assert flatten_payload(payload, 10) == ({f"{P}.k{i}": i for i in range(10)}, False)
    assert flatten_payload(payload, 0) == ({}, True)
    assert flatten_payload({}, 0) == ({}, False)


def test_attribute_count_limit_of_the_provider_is_respected_and_the_cut_marked() -> None:
    sink, exporter, provider = limited(SpanLimits(max_span_attributes=20))
    try:
        sink.write_trace(make_trace({f"key{i:03d}": i for i in range(100)}))
        span = only_span(exporter, sink)
        attributes = dict(span.attributes or {})
        assert len(attributes) <= 20
        assert span.dropped_attributes == 0  # nothing evicted by the SDK: the cap fitted
        assert attributes["actiontrace.payload_cut"] is True
        assert attributes["actiontrace.action_id"] == "core:go"
        assert attributes["actiontrace.status"] == "success"
        payload_keys = [key for key in attributes if key.startswith(f"{P}.")]
        assert payload_keys == [f"{P}.key{i:03d}" for i in range(len(payload_keys))]
        assert len(payload_keys) == 20 - 7
    finally:
        sink.close()
        provider.shutdown()


def test_value_length_limit_of_the_provider_shortens_long_strings() -> None:
    sink, exporter, provider = limited(SpanLimits(max_attribute_length=16))
    try:
        sink.write_trace(make_trace({"text": "x" * 500}))
        attributes = dict(only_span(exporter, sink).attributes or {})
        assert attributes[f"{P}.text"] == "x" * 16
    finally:
        sink.close()
        provider.shutdown()


def test_unlimited_attribute_count_still_caps_the_payload_attributes() -> None:
    sink, exporter, provider = limited(SpanLimits(max_span_attributes=SpanLimits.UNSET))
    try:
        sink.write_trace(make_trace({f"k{i}": i for i in range(1500)}))
        attributes = dict(only_span(exporter, sink).attributes or {})
        assert attributes["actiontrace.payload_cut"] is True
        assert len([k for k in attributes if k.startswith(f"{P}.")]) == 1000
    finally:
        sink.close()
        provider.shutdown()


def test_a_megabyte_payload_is_capped_to_the_default_limit(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    payload = {f"field_{i}": "v" * 40 for i in range(20_000)}  # ~1 MB of JSON
    trace = make_trace(payload)
    sink.write_trace(trace)
    span = only_span(exporter, sink)
    attributes = dict(span.attributes or {})
    assert len(attributes) <= SpanLimits().max_span_attributes  # type: ignore[operator]
    assert attributes["actiontrace.payload_cut"] is True
    assert (
        attributes["actiontrace.truncated"]
        is trace.to_dict()["execution"]["phases"][1]["truncated"]
    )
    assert span.dropped_attributes == 0


# -- skipped, malformed, closed --------------------------------------------------------------------


def test_incomplete_traces_are_skipped_and_counted(
    memory: tuple[OTelTraceSink, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    sink, exporter = memory
    factory = ActionExecutionTraceFactory()
    pending = factory.create_trace(
        action_id="core:wait", actor_id="p", turn_action={"actionDefinitionId": "core:wait"}
    )
    running = factory.create_trace(
        action_id="core:run", actor_id="p", turn_action={"actionDefinitionId": "core:run"}
    )
    running.capture_dispatch_start()
    with caplog.at_level(logging.DEBUG, logger="actiontrace"):
        sink.write_trace(pending)
        sink.write_trace(running)
    assert finished(sink, exporter) == ()
    assert sink.stats["skipped"] == 2
    assert sink.stats["spans"] == 0
    assert "incomplete" in caplog.text


@pytest.mark.parametrize(
    "bad",
    [
        object(),  # no to_dict
        {"metadata": {}},  # no execution
        {"metadata": {"actionId": "a", "actorId": "b"}, "execution": []},
    ],
)
def test_malformed_input_is_logged_and_skipped_never_raised(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
    caplog: pytest.LogCaptureFixture,
    bad: object,
) -> None:
    sink, exporter = memory
    with caplog.at_level(logging.WARNING, logger="actiontrace"):
        sink.write_trace(bad)
    assert finished(sink, exporter) == ()
    assert sink.stats["skipped"] == 1
    assert "could not convert" in caplog.text


def test_to_dict_that_raises_or_returns_a_non_mapping_is_skipped(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, _ = memory

    class Raises:
        def to_dict(self) -> Any:
            raise RuntimeError("broken")

    class ReturnsList:
        def to_dict(self) -> Any:
            return [1, 2]

    sink.write_trace(Raises())
    sink.write_trace(ReturnsList())
    assert sink.flush() is True
    assert sink.stats["skipped"] == 2


def test_non_numeric_times_are_treated_as_incomplete(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    for key, value in (("startEpochNs", True), ("startTime", "soon"), ("duration", None)):
        record = make_trace({"x": 1}).to_dict()
        record["execution"][key] = value  # type: ignore[literal-required]
        sink.write_trace(record)
    assert finished(sink, exporter) == ()
    assert sink.stats["skipped"] == 3


def test_writing_after_close_drops_and_counts(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    sink.close()
    sink.close()  # idempotent
    sink.write_trace(make_trace({"x": 1}))
    assert finished(sink, exporter) == ()
    assert sink.stats["dropped"] == 1
    assert sink.flush() is True


# -- ids (reference §10) ----------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
CHILD_ID = "b7ad6b7169203331"


def with_ids(trace_id: Any, span_id: Any, parent: Any) -> dict[str, Any]:
    record: dict[str, Any] = dict(make_trace({"x": 1}).to_dict())
    record["metadata"] = {
        **record["metadata"],
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
    }
    return record


def test_ids_in_the_dict_become_the_span_ids_and_parent(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    sink.write_trace(with_ids(TRACE_ID, PARENT_ID, None))
    sink.write_trace(with_ids(TRACE_ID, CHILD_ID, PARENT_ID))
    root, child = finished(sink, exporter)
    assert root.context is not None and child.context is not None
    assert trace_api.format_trace_id(root.context.trace_id) == TRACE_ID
    assert trace_api.format_span_id(root.context.span_id) == PARENT_ID
    assert root.parent is None
    assert trace_api.format_trace_id(child.context.trace_id) == TRACE_ID
    assert trace_api.format_span_id(child.context.span_id) == CHILD_ID
    assert child.parent is not None
    assert trace_api.format_span_id(child.parent.span_id) == PARENT_ID
    assert child.parent.is_remote


def test_preset_ids_do_not_leak_into_the_next_span(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    sink.write_trace(with_ids(TRACE_ID, PARENT_ID, None))
    sink.write_trace(make_trace({"x": 1}))
    first, second = finished(sink, exporter)
    assert first.context is not None and second.context is not None
    assert second.context.trace_id != first.context.trace_id
    assert second.context.span_id != first.context.span_id


@pytest.mark.parametrize(
    ("trace_id", "span_id", "parent"),
    [
        ("0" * 32, "0" * 16, None),  # all zeros is the invalid id
        (TRACE_ID.upper(), CHILD_ID.upper(), None),  # W3C ids are lowercase
        (TRACE_ID[:-1], CHILD_ID + "0", None),  # wrong lengths
        (123, 456, PARENT_ID),  # not strings; a parent without a trace id is ignored
    ],
)
def test_invalid_ids_fall_back_to_generated_ones(
    memory: tuple[OTelTraceSink, InMemorySpanExporter], trace_id: Any, span_id: Any, parent: Any
) -> None:
    sink, exporter = memory
    sink.write_trace(with_ids(trace_id, span_id, parent))
    span = only_span(exporter, sink)
    assert span.context is not None and span.context.is_valid
    assert span.parent is None
    assert trace_api.format_trace_id(span.context.trace_id) != str(trace_id).lower()


def test_ids_are_used_with_the_provider_the_sink_builds_itself() -> None:
    exporter = InMemorySpanExporter()
    sink = OTelTraceSink(exporter=exporter)
    sink.write_trace(with_ids(TRACE_ID, CHILD_ID, PARENT_ID))
    sink.close()
    span = only_span(exporter)
    assert span.context is not None and span.parent is not None
    assert trace_api.format_trace_id(span.context.trace_id) == TRACE_ID
    assert trace_api.format_span_id(span.context.span_id) == CHILD_ID
    assert trace_api.format_span_id(span.parent.span_id) == PARENT_ID


def test_a_provider_that_is_not_the_sdk_one_is_accepted() -> None:
    sink = OTelTraceSink(trace_api.NoOpTracerProvider())  # type: ignore[arg-type]
    sink.write_trace(with_ids(TRACE_ID, CHILD_ID, PARENT_ID))
    sink.write_trace(make_trace({"x": 1}))
    assert sink.flush() is True  # nothing to flush: no force_flush on it
    sink.close()
    assert sink.stats["spans"] == 2
    assert sink.stats["skipped"] == 0


# -- the provider the sink builds: resource, stats -------------------------------------------------


def resource_name(exporter: InMemorySpanExporter) -> Any:
    return only_span(exporter).resource.attributes.get("service.name")


def build_and_send(**kwargs: Any) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    with OTelTraceSink(exporter=exporter, **kwargs) as sink:
        sink.write_trace(make_trace({"x": 1}))
    return exporter


def test_own_provider_service_name_defaults_to_actiontrace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert resource_name(build_and_send()) == DEFAULT_SERVICE_NAME == "actiontrace"


def test_own_provider_service_name_comes_from_env_and_the_argument_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    exporter = build_and_send()
    assert resource_name(exporter) == "from-env"
    assert only_span(exporter).resource.attributes["deployment.environment"] == "test"
    assert resource_name(build_and_send(service_name="game-server")) == "game-server"


def test_service_name_in_resource_attributes_env_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=via-attributes")
    assert resource_name(build_and_send()) == "via-attributes"


class ScriptedExporter(SpanExporter):
    """Returns (or raises) what it is told; records what it was given."""

    def __init__(self, outcome: SpanExportResult | Exception) -> None:
        self.outcome = outcome
        self.batches: list[int] = []
        self.shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append(len(spans))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def shutdown(self) -> None:
        self.shut = True


def test_stats_count_exported_spans() -> None:
    exporter = ScriptedExporter(SpanExportResult.SUCCESS)
    sink = OTelTraceSink(exporter=exporter)
    for _ in range(5):
        sink.write_trace(make_trace({"x": 1}))
    assert sink.flush() is True
    assert sink.stats == {"spans": 5, "exported": 5, "failed": 0, "dropped": 0, "skipped": 0}
    sink.close()
    assert exporter.shut


@pytest.mark.parametrize(
    "outcome", [SpanExportResult.FAILURE, ConnectionError("collector went away")]
)
def test_export_failures_are_logged_and_counted_never_raised(
    outcome: SpanExportResult | Exception, caplog: pytest.LogCaptureFixture
) -> None:
    sink = OTelTraceSink(exporter=ScriptedExporter(outcome))
    with caplog.at_level(logging.WARNING, logger="actiontrace"):
        for _ in range(3):
            sink.write_trace(make_trace({"x": 1}))
        sink.close()
    assert sink.stats["failed"] == 3
    assert sink.stats["exported"] == 0
    assert sink.stats["dropped"] == 0
    assert "failed" in caplog.text or "raised" in caplog.text


def test_spans_lost_in_a_full_batch_queue_are_counted_as_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    gate = threading.Event()

    class Blocking(ScriptedExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            gate.wait(10)
            return super().export(spans)

    exporter = Blocking(SpanExportResult.SUCCESS)
    sink = OTelTraceSink(exporter=exporter)
    for _ in range(30):
        sink.write_trace(make_trace({"x": 1}))
    # Hold the exporter until the worker has ended all 30 spans: only then must the SDK's queue of
    # 4 (plus the batch stuck in export) have overflowed, whatever the thread timing.
    deadline = time.monotonic() + 10
    while sink.stats["spans"] < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    gate.set()
    sink.close()
    stats = sink.stats
    assert stats["spans"] == 30
    assert stats["exported"] == sum(exporter.batches)
    assert stats["dropped"] == 30 - stats["exported"] - stats["failed"] > 0


def test_flush_past_its_timeout_fails_waiting_batches_fast_instead_of_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")

    class Slow(ScriptedExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            time.sleep(0.2)  # a slow collector, not a wait for some other event
            return super().export(spans)

    exporter = Slow(SpanExportResult.SUCCESS)
    sink = OTelTraceSink(exporter=exporter)
    for _ in range(40):
        sink.write_trace(make_trace({"x": 1}))
    began = time.monotonic()
    sink.flush(timeout=0.1)
    took = time.monotonic() - began
    sink.close(timeout=0.1)
    stats = sink.stats
    assert stats["failed"] > 0
    assert stats["exported"] + stats["failed"] + stats["dropped"] == 40
    assert took < 3.0  # 20 batches at 0.2 s each would take 4 s


def test_flush_reports_a_provider_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(TracerProvider):
        def force_flush(self, timeout_millis: int = 30000) -> bool:
            raise RuntimeError("flush exploded")

    provider = Exploding()
    sink = OTelTraceSink(provider)
    with caplog.at_level(logging.WARNING, logger="actiontrace"):
        assert sink.flush() is False
        sink.close()
    assert "flush exploded" in caplog.text
    provider.shutdown()


def test_close_survives_an_exporter_whose_shutdown_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadShutdown(ScriptedExporter):
        def shutdown(self) -> None:
            raise RuntimeError("shutdown exploded")

    sink = OTelTraceSink(exporter=BadShutdown(SpanExportResult.SUCCESS))
    sink.write_trace(make_trace({"x": 1}))
    with caplog.at_level(logging.WARNING, logger="actiontrace"):
        sink.close()
    assert "shutdown exploded" in caplog.text
    assert sink.stats["exported"] == 1


# -- arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"service_name": ""}, "service_name"),
        ({"service_name": 5}, "service_name"),
        ({"endpoint": ""}, "endpoint"),
        ({"exporter": object()}, "exporter"),
        ({"tracer_provider": object()}, "tracer_provider"),
        ({"tracer_provider": TracerProvider(), "exporter": InMemorySpanExporter()}, "exporter"),
        ({"tracer_provider": TracerProvider(), "endpoint": "http://x"}, "endpoint"),
        ({"exporter": InMemorySpanExporter(), "logger": object()}, "logger"),
        ({"exporter": InMemorySpanExporter(), "max_queue_size": 0}, "max_queue_size"),
        ({"exporter": InMemorySpanExporter(), "max_queue_size": True}, "max_queue_size"),
        ({"exporter": InMemorySpanExporter(), "max_queue_size": 2.5}, "max_queue_size"),
    ],
)
def test_invalid_arguments_raise_invalid_argument_error_naming_them(
    kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        OTelTraceSink(**kwargs)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "5", True])
def test_invalid_flush_and_close_timeouts_raise_invalid_argument_error(timeout: Any) -> None:
    sink = OTelTraceSink(exporter=InMemorySpanExporter())
    try:
        with pytest.raises(InvalidArgumentError, match="timeout"):
            sink.flush(timeout)
        with pytest.raises(InvalidArgumentError, match="timeout"):
            sink.close(timeout)
        assert not sink.closed
    finally:
        sink.close()
    assert sink.closed


def test_a_custom_logger_receives_the_warnings() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def debug(self, msg: str, *args: Any) -> None:
            self.lines.append(msg % args)

        info = warning = error = debug

    recorder = Recorder()
    sink = OTelTraceSink(exporter=ScriptedExporter(SpanExportResult.FAILURE), logger=recorder)
    sink.write_trace(make_trace({"x": 1}))
    sink.close()
    assert any("failed" in line for line in recorder.lines)


# -- as the processor's output service -------------------------------------------------------------


def test_usable_as_the_command_processor_trace_output_service(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    pipeline = pytest.importorskip("actiontrace.pipeline")
    sink, exporter = memory
    bus = pipeline.EventBus()
    bus.subscribe("core:attempt_action", lambda payload: None)
    processor = pipeline.CommandProcessor(
        pipeline.EventDispatchService(bus),
        trace_filter=pipeline.ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=sink,
    )
    result = asyncio.run(
        processor.dispatch_action(
            {"id": "hero"},
            {"actionDefinitionId": "core:take", "commandString": "take lamp"},
        )
    )
    assert result["success"] is True
    span = only_span(exporter, sink)
    assert span.name == "core:take"
    attributes = dict(span.attributes or {})
    assert attributes["actiontrace.actor_id"] == "hero"
    assert attributes["actiontrace.command"] == "take lamp"
    assert attributes[f"{P}.actorId"] == "hero"


def test_custom_metadata_becomes_attributes_under_its_own_prefix(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    factory = ActionExecutionTraceFactory(metadata={"build": "1.2", "scene": {"room": "hall"}})
    trace = factory.create_trace(
        action_id="core:go", actor_id="hero", turn_action={"actionDefinitionId": "core:go"}
    )
    trace.set_metadata("apiKey", "k-123")
    trace.capture_dispatch_start()
    trace.capture_event_payload({"x": 1})
    trace.capture_dispatch_result({"success": True})
    sink.write_trace(trace)
    assert sink.flush()
    attributes = dict(exporter.get_finished_spans()[0].attributes or {})
    assert attributes["actiontrace.metadata.build"] == "1.2"
    assert attributes["actiontrace.metadata.scene.room"] == "hall"
    assert attributes["actiontrace.metadata.apiKey"] == "[REDACTED]"
    assert attributes[f"{P}.x"] == 1
    assert "k-123" not in repr(attributes)


def test_metadata_and_payload_share_the_attribute_limit() -> None:
    sink, exporter, provider = limited(SpanLimits(max_span_attributes=10))
    try:
        factory = ActionExecutionTraceFactory(metadata={f"m{i}": i for i in range(5)})
        trace = factory.create_trace(
            action_id="a", actor_id="b", turn_action={"actionDefinitionId": "a"}
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload({f"p{i}": i for i in range(5)})
        trace.capture_dispatch_result({"success": True})
        sink.write_trace(trace)
        assert sink.flush()
        attributes = dict(exporter.get_finished_spans()[0].attributes or {})
        assert attributes["actiontrace.payload_cut"] is True
        assert len([k for k in attributes if k.startswith("actiontrace.metadata.")]) == 3
        assert not [k for k in attributes if k.startswith(f"{P}.")]
    finally:
        sink.close()
        provider.shutdown()
