"""StructuredTrace, Span, span() and ActionAwareStructuredTrace (reference §10)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from actiontrace import InvalidArgumentError, TraceStateError
from actiontrace.ids import TraceContext
from actiontrace.structured import (
    MAX_SPANS,
    ActionAwareStructuredTrace,
    StructuredTrace,
    span,
)


def _by_operation(trace: StructuredTrace) -> dict[str, object]:
    return {item.operation: item for item in trace.get_spans()}


def test_with_span_nests_children_under_the_open_span_and_ends_them() -> None:
    trace = StructuredTrace()
    with trace.span("outer") as outer:
        assert outer.status == "active" and outer.end_time is None
        with trace.span("inner") as inner:
            assert inner.parent_id == outer.span_id
    assert outer.parent_id is None
    assert outer.status == "success" and inner.status == "success"
    assert outer.duration is not None and outer.duration > 0
    assert outer.duration == outer.end_time - outer.start_time  # type: ignore[operator]


def test_module_span_nests_inside_the_active_structured_trace() -> None:
    trace = StructuredTrace()
    with trace.span("dispatch_event") as event:
        with span("resolve_target", target="door") as step:
            with span("load_rules"):
                pass
    spans = _by_operation(trace)
    assert spans["resolve_target"].parent_id == event.span_id  # type: ignore[attr-defined]
    assert spans["load_rules"].parent_id == step.span_id  # type: ignore[union-attr]
    assert spans["resolve_target"].attributes == {"target": "door"}  # type: ignore[attr-defined]


def test_module_span_does_nothing_without_an_active_trace() -> None:
    with span("nothing", secret="x") as nothing:
        nothing.set_attribute("a", 1)
        nothing.add_event("e")
        nothing.record_error(ValueError("x"))
        nothing.set_status("error")
    assert span("again") is nothing


async def test_module_span_works_with_async_with() -> None:
    trace = StructuredTrace()
    async with trace.span("root") as root:
        async with span("child") as child:
            await asyncio.sleep(0)
    assert child.parent_id == root.span_id  # type: ignore[union-attr]
    async with span("no trace") as nothing:
        assert not hasattr(nothing, "span_id")


def test_an_exception_in_a_span_is_recorded_and_re_raised() -> None:
    trace = StructuredTrace()
    with pytest.raises(KeyError):
        with trace.span("lookup") as item:
            raise KeyError("missing")
    assert item.status == "error"
    assert item.error is not None and item.error["type"] == "KeyError"
    assert item.end_time is not None
    assert trace.get_performance_summary()["errorCount"] == 1


def test_start_span_is_a_child_of_the_current_span_but_not_current_itself() -> None:
    trace = StructuredTrace()
    with trace.span("parent") as parent:
        manual = trace.start_span("manual", {"n": 1})
        with trace.span("sibling") as sibling:
            pass
        manual.end()
    assert manual.parent_id == parent.span_id
    assert sibling.parent_id == parent.span_id
    assert manual.attributes == {"n": 1}


def test_ending_a_span_twice_raises_trace_state_error() -> None:
    item = StructuredTrace().start_span("once")
    item.end()
    with pytest.raises(TraceStateError, match="already ended"):
        item.end()


def test_a_span_ended_inside_its_with_block_is_not_ended_again() -> None:
    trace = StructuredTrace()
    with trace.span("early") as item:
        item.end()
    assert item.status == "success"


def test_set_status_is_kept_at_end_and_unknown_status_raises() -> None:
    item = StructuredTrace().start_span("rule")
    item.set_status("failure")
    item.end()
    assert item.status == "failure"
    with pytest.raises(InvalidArgumentError, match="status must be one of"):
        item.set_status("meh")


def test_span_attributes_and_events_are_sanitised_copies() -> None:
    trace = StructuredTrace(sensitive_fields=("pin",))
    item = trace.start_span("login", {"password": "hunter2", "user": "ann"})
    item.set_attribute("pin", 1234)
    item.add_event("checked", token="abc", ok=True)
    item.end()
    assert item.attributes == {"password": "[REDACTED]", "user": "ann", "pin": "[REDACTED]"}
    copy = item.attributes
    copy["user"] = "changed"
    assert item.attributes["user"] == "ann"
    event = trace.to_dict()["spans"][0]["events"][0]
    assert event["name"] == "checked"
    assert event["attributes"] == {"token": "[REDACTED]", "ok": True}


def test_span_argument_validation_names_the_argument() -> None:
    trace = StructuredTrace()
    with pytest.raises(InvalidArgumentError, match="operation"):
        trace.start_span("")
    with pytest.raises(InvalidArgumentError, match="attributes"):
        trace.start_span("x", ["not", "a", "mapping"])  # type: ignore[arg-type]
    item = trace.start_span("x")
    with pytest.raises(InvalidArgumentError, match="key"):
        item.set_attribute("", 1)
    with pytest.raises(InvalidArgumentError, match="name"):
        item.add_event("")
    with pytest.raises(InvalidArgumentError, match="parent"):
        StructuredTrace(parent="00-abc")  # type: ignore[arg-type]


def test_record_error_sets_error_status_with_the_error_record() -> None:
    item = StructuredTrace().start_span("x")
    item.record_error(OSError(28, "No space left on device"))
    item.end()
    assert item.status == "error"
    assert item.error["code"] == 28 and item.error["type"] == "OSError"  # type: ignore[index]


async def test_overlapping_async_tasks_each_nest_their_own_spans() -> None:
    trace = StructuredTrace()
    ready = asyncio.Event()
    started = 0

    async def operation(name: str) -> None:
        nonlocal started
        with trace.span(name):
            started += 1
            if started == 2:
                ready.set()
            await ready.wait()  # both outer spans are open at once here
            with span(f"{name}.step"):
                await asyncio.sleep(0.001)

    await asyncio.gather(operation("a"), operation("b"))
    spans = _by_operation(trace)
    assert spans["a.step"].parent_id == spans["a"].span_id  # type: ignore[attr-defined]
    assert spans["b.step"].parent_id == spans["b"].span_id  # type: ignore[attr-defined]
    assert spans["a"].parent_id is None and spans["b"].parent_id is None  # type: ignore[attr-defined]


def test_threads_do_not_see_each_others_open_spans() -> None:
    trace = StructuredTrace()
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        with trace.span(name):
            barrier.wait()
            with span(f"{name}.step"):
                pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = _by_operation(trace)
    assert spans["t1.step"].parent_id == spans["t1"].span_id  # type: ignore[attr-defined]
    assert spans["t2.step"].parent_id == spans["t2"].span_id  # type: ignore[attr-defined]
    # The main thread never had a span open.
    assert span("main") is span("main")


def test_hierarchical_view_critical_path_and_summary() -> None:
    trace = StructuredTrace()
    with trace.span("dispatch_action"):
        with trace.span("create_payload"):
            pass
        with trace.span("dispatch_event"):
            with trace.span("resolve_target"):
                pass
    view = trace.get_hierarchical_view()
    assert [root["operation"] for root in view] == ["dispatch_action"]
    children = view[0]["children"]
    assert [child["operation"] for child in children] == ["create_payload", "dispatch_event"]
    assert children[1]["children"][0]["operation"] == "resolve_target"
    assert "error" not in children[0]
    assert trace.get_critical_path() == ["dispatch_action", "dispatch_event", "resolve_target"]
    summary = trace.get_performance_summary()
    assert summary["operationCount"] == 4
    assert summary["errorCount"] == 0
    assert summary["criticalPath"] == trace.get_critical_path()
    assert summary["operationStats"]["resolve_target"]["count"] == 1
    stats = summary["operationStats"]["dispatch_action"]
    assert stats["mean"] == stats["total"] == stats["max"]
    assert summary["slowestOperations"][0]["operation"] == "dispatch_action"
    spans = trace.get_spans()
    assert summary["totalDuration"] == pytest.approx(
        max(s.end_time for s in spans) - min(s.start_time for s in spans)  # type: ignore[type-var]
    )


def test_get_spans_is_in_start_order() -> None:
    trace = StructuredTrace()
    for name in ("a", "b", "c"):
        trace.start_span(name).end()
    assert [s.operation for s in trace.get_spans()] == ["a", "b", "c"]


def test_at_most_ten_thousand_spans_are_stored_and_the_rest_counted() -> None:
    trace = StructuredTrace()
    for _ in range(MAX_SPANS + 25):
        with trace.span("step"):
            pass
    assert len(trace.get_spans()) == MAX_SPANS
    assert trace.dropped_spans == 25
    data = trace.to_dict()
    assert data["droppedSpans"] == 25 and len(data["spans"]) == MAX_SPANS


def test_a_dropped_span_still_works_and_its_children_are_not_stored() -> None:
    trace = StructuredTrace()
    for _ in range(MAX_SPANS):
        trace.start_span("fill").end()
    with trace.span("over") as over:
        assert not over.is_recording
        over.set_attribute("k", "v")
        with span("child"):
            pass
    assert trace.dropped_spans == 1
    assert len(trace.get_spans()) == MAX_SPANS


def test_to_dict_shape_and_json() -> None:
    trace = StructuredTrace()
    with trace.span("root", n=1):
        pass
    data = trace.to_dict()
    assert data["metadata"]["traceType"] == "structured"
    assert set(data["metadata"]) >= {"traceType", "traceId", "createdAt", "version"}
    assert set(data["spans"][0]) == {
        "spanId",
        "parentId",
        "operation",
        "startTime",
        "endTime",
        "duration",
        "status",
        "attributes",
        "events",
        "error",
    }
    assert set(data) == {"metadata", "spans", "summary", "droppedSpans"}
    assert json.loads(trace.to_json()) == data
    assert json.loads(trace.to_json(indent=2)) == data


def test_parent_trace_context_gives_the_trace_id_and_parent_span() -> None:
    parent = TraceContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    trace = StructuredTrace(parent=parent)
    assert trace.trace_id == parent.trace_id
    assert trace.parent_span_id == parent.span_id
    assert trace.to_dict()["metadata"]["parentSpanId"] == parent.span_id
    other = StructuredTrace()
    assert other.parent_span_id is None and other.trace_id != trace.trace_id
    other.link_to(parent)
    assert other.trace_id == parent.trace_id


def test_annotate_adds_sanitised_metadata() -> None:
    trace = StructuredTrace()
    trace.annotate(actionId="core:go", apiKey="k")
    meta = trace.to_dict()["metadata"]
    assert meta["actionId"] == "core:go" and meta["apiKey"] == "[REDACTED]"


class _OnlyGo:
    def should_trace(self, action_id: str) -> bool:
        return action_id == "core:go"


def test_action_aware_trace_records_stage_data_reduced_by_verbosity() -> None:
    trace = ActionAwareStructuredTrace(actor_id="hero", verbosity="standard")
    trace.capture_action_data("component_filtering", "core:go", {"passed": True, "list": [1, 2]})
    trace.capture_action_data("prerequisites", "core:go", {"password": "x", "success": True})
    record = trace.get_action_trace("core:go")
    assert record == {
        "actionId": "core:go",
        "actorId": "hero",
        "stages": {
            "component_filtering": {
                "timestamp": record["stages"]["component_filtering"]["timestamp"],  # type: ignore[index]
                "data": {"passed": True, "listCount": 2},
            },
            "prerequisites": {
                "timestamp": record["stages"]["prerequisites"]["timestamp"],  # type: ignore[index]
                "data": {"password": "[REDACTED]", "success": True},
            },
        },
    }
    assert trace.is_action_traced("core:go") and not trace.is_action_traced("core:look")


def test_action_aware_trace_skips_actions_the_filter_rejects_and_never_raises() -> None:
    class Broken:
        def should_trace(self, action_id: str) -> bool:
            raise RuntimeError("filter bug")

    trace = ActionAwareStructuredTrace(actor_id="hero", trace_filter=_OnlyGo())
    trace.capture_action_data("stage", "core:look", {"x": 1})
    trace.capture_action_data("stage", "core:go", {"x": 1})
    trace.capture_action_data(None, "core:go", {})  # type: ignore[arg-type]
    assert list(trace.get_traced_actions()) == ["core:go"]
    broken = ActionAwareStructuredTrace(actor_id="hero", trace_filter=Broken())
    broken.capture_action_data("stage", "core:go", {"x": 1})
    assert broken.get_traced_actions() == {}


def test_action_aware_summary_and_to_dict() -> None:
    trace = ActionAwareStructuredTrace(actor_id="hero", verbosity="minimal", context={"turn": 3})
    assert trace.get_tracing_summary() == {
        "tracedActionCount": 0,
        "totalStagesTracked": 0,
        "sessionDuration": 0.0,
        "averageStagesPerAction": 0.0,
    }
    trace.capture_action_data("a", "core:go", {"passed": True, "extra": 1})
    trace.capture_action_data("b", "core:go", {"passed": False})
    trace.capture_action_data("a", "core:look", {"error": "blind"})
    summary = trace.get_tracing_summary()
    assert summary["tracedActionCount"] == 2
    assert summary["totalStagesTracked"] == 3
    assert summary["averageStagesPerAction"] == 1.5
    assert summary["sessionDuration"] > 0
    data = trace.to_dict()
    assert data["metadata"]["traceType"] == "action_aware_structured"
    assert data["actorId"] == "hero" and data["context"] == {"turn": 3}
    assert data["actions"]["core:go"]["stages"]["a"]["data"] == {"passed": True}
    fresh = trace.get_traced_actions()
    fresh["core:go"]["actorId"] = "villain"
    assert trace.get_traced_actions()["core:go"]["actorId"] == "hero"
    assert trace.verbosity.value == "minimal" and trace.actor_id == "hero"


def test_action_aware_trace_validates_its_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="actor_id"):
        ActionAwareStructuredTrace(actor_id=" ")
    with pytest.raises(InvalidArgumentError, match="trace_filter"):
        ActionAwareStructuredTrace(actor_id="a", trace_filter=object())
    with pytest.raises(InvalidArgumentError, match="verbosity"):
        ActionAwareStructuredTrace(actor_id="a", verbosity="loud")
    with pytest.raises(InvalidArgumentError, match="context"):
        ActionAwareStructuredTrace(actor_id="a", context=42)
    parent = TraceContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    joined = ActionAwareStructuredTrace(actor_id="a", context=parent)
    assert joined.trace_id == parent.trace_id


def test_a_span_closed_in_another_context_than_it_was_opened_in_still_ends() -> None:
    import contextvars

    trace = StructuredTrace()
    item = trace.span("handed_over")
    opened = contextvars.copy_context()
    opened.run(item.__enter__)
    item.__exit__(None, None, None)  # here, in the test's own context
    assert item.status == "success" and item.end_time is not None
    assert span("after") is span("after")  # nothing left open in this context
