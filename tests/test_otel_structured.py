"""Linked traces through OTelTraceSink (issue 6): ids, parents and structured spans as child spans.

Checked in the SDK's in-memory exporter; ``test_otel_otlp_receiver.py`` checks the same through
the real OTLP/HTTP exporter.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actiontrace import (
    ActionAwareStructuredTrace,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    StructuredTrace,
    TraceContext,
)
from actiontrace.otel import OTelTraceSink

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_ID = "00f067aa0ba902b7"
CHILD_ID = "b7ad6b7169203331"
A = "actiontrace.attr"


def sent(sink: OTelTraceSink, exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    assert sink.flush() is True
    return {span.name: span for span in exporter.get_finished_spans()}


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) as W3C hex."""
    assert span.context is not None
    parent = None if span.parent is None else trace_api.format_span_id(span.parent.span_id)
    return (
        trace_api.format_trace_id(span.context.trace_id),
        trace_api.format_span_id(span.context.span_id),
        parent,
    )


def action(action_id: str, span_id: str, parent: str | None) -> dict[str, Any]:
    """A finished execution trace dict carrying reference §10 ids (built by hand)."""
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=action_id, actor_id="hero", turn_action={"actionDefinitionId": action_id}
    )
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True})
    record = dict(trace.to_dict())
    record["metadata"] = {
        **record["metadata"],
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": parent,
    }
    return record


UNDER_CHILD = TraceContext(TRACE_ID, CHILD_ID)


def steps(parent: TraceContext | None = UNDER_CHILD) -> StructuredTrace:
    """A structured trace of an action: dispatch_action > (create_payload, dispatch_event > ...)."""
    trace = StructuredTrace(parent=parent)
    with trace.span("dispatch_action", actor="hero", target={"id": "troll", "hp": [3, 4]}):
        with trace.span("create_payload") as payload:
            payload.add_event("payload_built", size=42, tags=["a", "b"])
        with trace.span("dispatch_event"):
            with trace.span("resolve_target") as resolve:
                resolve.set_status("failure")
            with pytest.raises(KeyError), trace.span("apply_damage"):
                raise KeyError("troll")
    return trace


def epoch_ns(record: dict[str, Any], ms: float) -> int:
    metadata = record["metadata"]
    return int(metadata["startEpochNs"] + round((ms - metadata["startTime"]) * 1e6))


# -- execution traces: ids and parents -------------------------------------------------------------


def test_linked_actions_form_one_tree_with_the_stored_ids(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    sink.write_trace(action("core:attack", ROOT_ID, None))
    sink.write_trace(action("core:react", CHILD_ID, ROOT_ID))
    spans = sent(sink, exporter)
    assert hex_ids(spans["core:attack"]) == (TRACE_ID, ROOT_ID, None)
    assert hex_ids(spans["core:react"]) == (TRACE_ID, CHILD_ID, ROOT_ID)


def test_real_linked_execution_traces_keep_their_ids(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    turn = {"actionDefinitionId": "core:attack"}
    parent = ActionExecutionTrace(action_id="core:attack", actor_id="hero", turn_action=turn)
    child = ActionExecutionTrace(
        action_id="core:react", actor_id="troll", turn_action=turn, parent=parent
    )
    for trace in (parent, child):
        trace.capture_dispatch_start()
        trace.capture_dispatch_result({"success": True})
        sink.write_trace(trace)
    spans = sent(sink, exporter)
    assert hex_ids(spans["core:attack"]) == (parent.trace_id, parent.span_id, None)
    assert hex_ids(spans["core:react"]) == (parent.trace_id, child.span_id, parent.span_id)


# -- structured traces: one child span per stored span ---------------------------------------------


def test_each_structured_span_becomes_a_span_with_its_own_id_and_parent(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = steps()
    record = trace.to_dict()
    sink.write_trace(action("core:attack", CHILD_ID, ROOT_ID))
    sink.write_trace(trace)
    spans = sent(sink, exporter)
    assert sink.stats["spans"] == 6
    stored = {item["operation"]: item for item in record["spans"]}
    assert set(spans) == {"core:attack", *stored}
    for operation, item in stored.items():
        parent = item["parentId"] if item["parentId"] is not None else CHILD_ID
        assert hex_ids(spans[operation]) == (TRACE_ID, item["spanId"], parent)
        span = spans[operation]
        assert span.start_time == epoch_ns(record, item["startTime"])
        assert span.end_time == span.start_time + round(item["duration"] * 1e6)  # type: ignore[operator]
        assert span.kind is trace_api.SpanKind.INTERNAL
    # The root structured span hangs under the execution trace's span (CHILD_ID).
    assert hex_ids(spans["dispatch_action"])[2] == hex_ids(spans["core:attack"])[1]
    assert spans["dispatch_action"].parent.is_remote  # type: ignore[union-attr]
    assert not spans["create_payload"].parent.is_remote  # type: ignore[union-attr]


def test_structured_span_attributes_events_status_and_error(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = steps()
    record = trace.to_dict()
    sink.write_trace(record)
    spans = sent(sink, exporter)
    stored = {item["operation"]: item for item in record["spans"]}

    root = spans["dispatch_action"]
    assert dict(root.attributes or {}) == {
        f"{A}.actor": "hero",
        f"{A}.target.id": "troll",
        f"{A}.target.hp": (3, 4),
        "actiontrace.status": "success",
    }
    assert root.status.status_code is trace_api.StatusCode.OK

    (event,) = spans["create_payload"].events
    assert event.name == "payload_built"
    assert dict(event.attributes or {}) == {f"{A}.size": 42, f"{A}.tags": ("a", "b")}
    assert event.timestamp == epoch_ns(record, stored["create_payload"]["events"][0]["timestamp"])

    failed = spans["resolve_target"]
    assert failed.status.status_code is trace_api.StatusCode.ERROR
    assert failed.status.description == "Operation failed"
    assert dict(failed.attributes or {})["actiontrace.status"] == "failure"

    broken = spans["apply_damage"]
    error = stored["apply_damage"]["error"]
    assert broken.status.status_code is trace_api.StatusCode.ERROR
    assert broken.status.description == f"KeyError: {error['message']}"
    (exception,) = broken.events
    assert exception.name == "exception"
    assert exception.timestamp == epoch_ns(record, error["timestamp"])
    assert dict(exception.attributes or {})["exception.type"] == "KeyError"
    assert dict(exception.attributes or {})["exception.stacktrace"] == error["stack"]


def test_error_status_without_an_error_record_and_odd_event_times(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = StructuredTrace()
    with trace.span("step") as step:
        step.add_event("tick")
        step.set_status("error")
    record = trace.to_dict()
    (item,) = record["spans"]
    item["events"] = [*item["events"], "not an event", {"name": "late", "timestamp": None}]
    sink.write_trace(record)
    span = sent(sink, exporter)["step"]
    assert span.status.description == "Operation error"
    assert [event.name for event in span.events] == ["tick", "late"]
    assert span.events[1].timestamp == span.end_time  # no time: placed at the span's end


def test_action_aware_traces_name_their_action_and_actor(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = ActionAwareStructuredTrace(actor_id="hero", context=TraceContext(TRACE_ID, CHILD_ID))
    trace.annotate(actionId="core:attack")
    with trace.span("dispatch_action"):
        trace.capture_action_data("resolve", "core:attack", {"passed": True})
    sink.write_trace(trace)
    span = sent(sink, exporter)["dispatch_action"]
    attributes = dict(span.attributes or {})
    assert attributes["actiontrace.action_id"] == "core:attack"
    assert attributes["actiontrace.actor_id"] == "hero"
    assert hex_ids(span) == (TRACE_ID, hex_ids(span)[1], CHILD_ID)


def test_a_structured_trace_without_its_clock_anchor_is_skipped(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    for key, value in (("startEpochNs", None), ("startTime", "soon"), ("startEpochNs", 1.5)):
        record = steps().to_dict()
        record["metadata"][key] = value
        sink.write_trace(record)
    record = steps().to_dict()
    del record["metadata"]["startEpochNs"]
    sink.write_trace(record)
    assert sent(sink, exporter) == {}
    assert sink.stats["skipped"] == 4


def test_a_span_still_active_is_left_out_and_its_children_keep_their_parent(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    trace = StructuredTrace(parent=TraceContext(TRACE_ID, CHILD_ID))
    with trace.span("still_running"):
        with trace.span("done"):
            pass
        record = trace.to_dict()
    sink.write_trace(record)
    spans = sent(sink, exporter)
    assert set(spans) == {"done"}
    running, done = record["spans"]
    assert hex_ids(spans["done"]) == (TRACE_ID, done["spanId"], running["spanId"])
    assert sink.stats == {"spans": 1, "exported": 0, "failed": 0, "dropped": 0, "skipped": 0}


def test_ids_that_are_not_w3c_ids_are_replaced_consistently(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    record = steps().to_dict()
    by_operation = {item["operation"]: item for item in record["spans"]}
    record["metadata"]["traceId"] = "not-a-trace-id"
    record["metadata"]["parentSpanId"] = "0" * 16  # the invalid all-zero id: no outer parent
    root = by_operation["dispatch_action"]
    old_root_id = root["spanId"]
    root["spanId"] = "X" * 16
    for item in record["spans"]:
        if item["parentId"] == old_root_id:
            item["parentId"] = "X" * 16
    by_operation["resolve_target"]["parentId"] = "ffffffffffffffff"  # not stored: remote parent
    by_operation["apply_damage"]["parentId"] = "nope"  # neither stored nor an id: a root
    sink.write_trace(record)
    spans = sent(sink, exporter)
    trace_ids = {hex_ids(span)[0] for span in spans.values()}
    assert len(trace_ids) == 1 and "not-a-trace-id" not in trace_ids
    new_root = hex_ids(spans["dispatch_action"])
    assert new_root[2] is None
    assert hex_ids(spans["create_payload"])[2] == new_root[1]
    assert hex_ids(spans["dispatch_event"])[2] == new_root[1]
    assert hex_ids(spans["resolve_target"])[2] == "ffffffffffffffff"
    assert hex_ids(spans["apply_damage"])[2] is None


def test_structured_attributes_are_capped_by_the_provider_limit() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=10))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider)
    trace = StructuredTrace()
    with trace.span("big", **{f"k{i:02d}": i for i in range(30)}):
        pass
    sink.write_trace(trace)
    try:
        span = sent(sink, exporter)["big"]
        attributes = dict(span.attributes or {})
        assert attributes["actiontrace.attr_cut"] is True
        assert len([key for key in attributes if key.startswith(f"{A}.")]) == 10 - 4
        assert span.dropped_attributes == 0
    finally:
        sink.close()
        provider.shutdown()


def test_malformed_structured_traces_are_skipped(
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
) -> None:
    sink, exporter = memory
    record = steps().to_dict()
    del record["spans"]
    sink.write_trace(record)
    record = steps().to_dict()
    record["spans"] = [*record["spans"][:1], "junk"]  # junk items are ignored
    sink.write_trace(record)
    spans = sent(sink, exporter)
    assert set(spans) == {"dispatch_action"}
    assert sink.stats["skipped"] == 1
