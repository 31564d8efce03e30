"""CommandProcessor with a structured trace factory: nested spans per dispatch (reference §10)."""

from __future__ import annotations

from typing import Any

import actiontrace
from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionAwareStructuredTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    StructuredTrace,
)


class Collect:
    def __init__(self) -> None:
        self.traces: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.traces.append(trace)


class StructuredFactory:
    def __init__(self) -> None:
        self.made: list[StructuredTrace] = []

    def create_trace(self, action_id: str, actor_id: str) -> StructuredTrace:
        trace = ActionAwareStructuredTrace(actor_id=actor_id)
        self.made.append(trace)
        return trace


def _turn(action: str) -> dict[str, Any]:
    return {"actionDefinitionId": action, "commandString": action}


def _spans(trace: StructuredTrace) -> dict[str, Any]:
    return {span.operation: span for span in trace.get_spans()}


async def test_dispatch_runs_in_nested_spans_and_handler_spans_nest_under_dispatch_event() -> None:
    bus, out, factory = EventBus(), Collect(), StructuredFactory()

    def handler(payload: dict[str, Any]) -> None:
        with actiontrace.span("resolve_target", target="door"):
            with actiontrace.span("check_lock"):
                pass

    bus.subscribe(ATTEMPT_ACTION_ID, handler)
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
        structured_trace_factory=factory,
    )
    result = await processor.dispatch_action({"id": "hero"}, _turn("core:open"))
    assert result["success"] is True
    structured = factory.made[0]
    spans = _spans(structured)
    assert spans["dispatch_action"].parent_id is None
    assert spans["create_payload"].parent_id == spans["dispatch_action"].span_id
    assert spans["dispatch_event"].parent_id == spans["dispatch_action"].span_id
    assert spans["resolve_target"].parent_id == spans["dispatch_event"].span_id
    assert spans["check_lock"].parent_id == spans["resolve_target"].span_id
    assert all(span.status == "success" for span in spans.values())
    execution = out.traces[0]
    assert out.traces == [execution, structured]
    assert structured.trace_id == execution.trace_id
    meta = structured.to_dict()["metadata"]
    assert meta["parentSpanId"] == execution.span_id
    assert meta["actionId"] == "core:open" and meta["actorId"] == "hero"
    assert structured.get_critical_path()[:2] == ["dispatch_action", "dispatch_event"]


async def test_a_failed_dispatch_marks_the_spans_failure_and_a_raise_marks_them_error() -> None:
    bus, out, factory = EventBus(), Collect(), StructuredFactory()

    def refuse(payload: dict[str, Any]) -> None:
        raise ValueError("locked")

    bus.subscribe(ATTEMPT_ACTION_ID, refuse)
    processor = CommandProcessor(
        EventDispatchService(bus), trace_output_service=out, structured_trace_factory=factory
    )
    result = await processor.dispatch_action({"id": "hero"}, _turn("core:open"))
    assert result["success"] is False
    spans = _spans(factory.made[0])
    # The handler's exception, handed over by the dispatch service, is the spans' error.
    assert spans["dispatch_event"].status == "error"
    assert spans["dispatch_event"].error["message"] == "locked"
    assert spans["dispatch_action"].status == "error"
    assert out.traces == [factory.made[0]]  # no filter and factory: no execution trace

    class Exploding:
        async def dispatch_with_error_handling(self, *args: Any) -> bool:
            raise RuntimeError("rules engine crashed")

    crashing = CommandProcessor(
        Exploding(), trace_output_service=out, structured_trace_factory=factory
    )
    result = await crashing.dispatch_action({"id": "hero"}, _turn("core:open"))
    assert result["success"] is False
    spans = _spans(factory.made[1])
    assert spans["dispatch_event"].status == "error"
    assert spans["dispatch_event"].error["message"] == "rules engine crashed"


async def test_the_filter_decides_for_structured_traces_too() -> None:
    bus, out, factory = EventBus(), Collect(), StructuredFactory()
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(excluded_actions=("core:look",)),
        trace_output_service=out,
        structured_trace_factory=factory,
    )
    await processor.dispatch_action({"id": "hero"}, _turn("core:look"))
    await processor.dispatch_action({"id": "hero"}, _turn("core:go"))
    assert len(factory.made) == 1
    assert factory.made[0].to_dict()["metadata"]["actionId"] == "core:go"
    assert processor.structured_trace_factory is factory


async def test_a_broken_structured_factory_never_changes_the_outcome() -> None:
    bus, out = EventBus(), Collect()
    seen: list[str] = []
    bus.subscribe(ATTEMPT_ACTION_ID, lambda payload: seen.append(payload["actionId"]))

    class Broken:
        def create_trace(self, action_id: str, actor_id: str) -> Any:
            raise RuntimeError("factory bug")

    class BadSpans:
        def create_trace(self, action_id: str, actor_id: str) -> Any:
            return self

        def span(self, operation: str) -> Any:
            raise RuntimeError("span bug")

        def to_dict(self) -> dict[str, Any]:
            return {}

    for factory in (Broken(), BadSpans()):
        processor = CommandProcessor(
            EventDispatchService(bus), trace_output_service=out, structured_trace_factory=factory
        )
        result = await processor.dispatch_action({"id": "hero"}, _turn("core:go"))
        assert result == {
            "success": True,
            "turnEnded": False,
            "originalInput": "core:go",
            "actionResult": {"actionId": "core:go"},
        }
    assert seen == ["core:go", "core:go"]


async def test_verbosity_for_of_the_filter_reaches_the_factory() -> None:
    bus, out = EventBus(), Collect()
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(verbosity_overrides={"core:*": "minimal"}),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
    )
    await processor.dispatch_action({"id": "hero"}, _turn("core:go"))
    await processor.dispatch_action({"id": "hero"}, _turn("magic:cast"))
    minimal, standard = (t.to_dict() for t in out.traces)
    assert minimal["eventPayload"] is None
    assert standard["eventPayload"]["actionId"] == "magic:cast"
