"""Automatic correlation of actions dispatched from inside other actions' handlers (ref. §10)."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    InvalidArgumentError,
    TraceContext,
    current_trace,
)
from actiontrace.trace import integer_ids


class Collect:
    """An output service double that keeps what it is given."""

    def __init__(self) -> None:
        self.traces: list[ActionExecutionTrace] = []

    def write_trace(self, trace: ActionExecutionTrace) -> None:
        self.traces.append(trace)


def _processor(bus: EventBus, out: Collect) -> CommandProcessor:
    return CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
    )


def _turn(action: str, **extra: Any) -> dict[str, Any]:
    return {"actionDefinitionId": action, "commandString": action, **extra}


def _by_action(out: Collect) -> dict[str, ActionExecutionTrace]:
    return {trace.action_id: trace for trace in out.traces}


async def test_a_reaction_of_a_reaction_is_linked_three_levels_deep(
    assert_valid_trace: Any,
) -> None:
    bus, out = EventBus(), Collect()
    processor = _processor(bus, out)

    async def react(payload: dict[str, Any]) -> None:
        follow = {"core:attack": "core:damage", "core:damage": "core:die"}.get(payload["actionId"])
        if follow:
            await processor.dispatch_action({"id": "world"}, _turn(follow))

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await processor.dispatch_action({"id": "hero"}, _turn("core:attack"))
    traces = _by_action(out)
    attack, damage, die = traces["core:attack"], traces["core:damage"], traces["core:die"]
    assert attack.parent_span_id is None
    assert damage.parent_span_id == attack.span_id
    assert die.parent_span_id == damage.span_id
    assert attack.trace_id == damage.trace_id == die.trace_id
    assert len({attack.span_id, damage.span_id, die.span_id}) == 3
    on_disk = die.to_dict()["metadata"]
    assert on_disk["traceId"] == attack.trace_id and on_disk["parentSpanId"] == damage.span_id
    for trace in (attack, damage, die):
        assert_valid_trace(trace)


async def test_current_trace_is_the_dispatching_trace_inside_handlers_only() -> None:
    bus, out = EventBus(), Collect()
    processor = _processor(bus, out)
    seen: list[ActionExecutionTrace | None] = []
    bus.subscribe(ATTEMPT_ACTION_ID, lambda payload: seen.append(current_trace()))
    assert current_trace() is None
    await processor.dispatch_action({"id": "hero"}, _turn("core:look"))
    assert current_trace() is None
    assert seen == [out.traces[0]]


async def test_an_action_dispatched_from_a_task_created_in_a_handler_is_a_child() -> None:
    bus, out = EventBus(), Collect()
    processor = _processor(bus, out)
    tasks: list[asyncio.Task[Any]] = []

    def spawn(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:cast":
            tasks.append(
                asyncio.ensure_future(
                    processor.dispatch_action({"id": "spell"}, _turn("magic:burn"))
                )
            )

    bus.subscribe(ATTEMPT_ACTION_ID, spawn)
    await processor.dispatch_action({"id": "mage"}, _turn("core:cast"))
    await asyncio.gather(*tasks)
    traces = _by_action(out)
    assert traces["magic:burn"].parent_span_id == traces["core:cast"].span_id
    assert traces["magic:burn"].trace_id == traces["core:cast"].trace_id


async def test_fifty_concurrent_dispatches_never_adopt_each_others_traces() -> None:
    bus, out = EventBus(), Collect()
    processor = _processor(bus, out)

    async def react(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:act":
            await asyncio.sleep(0)  # let the other 49 interleave here
            await processor.dispatch_action({"id": payload["actorId"]}, _turn("core:react"))
            await asyncio.sleep(0)
            await processor.dispatch_action({"id": payload["actorId"]}, _turn("core:react"))

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await asyncio.gather(
        *(processor.dispatch_action({"id": f"actor-{i}"}, _turn("core:act")) for i in range(50))
    )
    roots = {t.actor_id: t for t in out.traces if t.action_id == "core:act"}
    children = [t for t in out.traces if t.action_id == "core:react"]
    assert len(roots) == 50 and len(children) == 100
    assert len({t.trace_id for t in roots.values()}) == 50
    for child in children:
        parent = roots[child.actor_id]
        assert child.parent_span_id == parent.span_id
        assert child.trace_id == parent.trace_id


async def test_a_thread_pool_worker_does_not_inherit_the_current_trace() -> None:
    bus, out = EventBus(), Collect()
    processor = _processor(bus, out)
    seen: dict[str, Any] = {}
    pool = ThreadPoolExecutor(max_workers=1)

    def handler(payload: dict[str, Any]) -> None:
        seen["handler"] = current_trace()
        seen["worker"] = pool.submit(current_trace).result()
        seen["passed on"] = pool.submit(contextvars.copy_context().run, current_trace).result()

    bus.subscribe(ATTEMPT_ACTION_ID, handler)
    try:
        await processor.dispatch_action({"id": "hero"}, _turn("core:look"))
    finally:
        pool.shutdown()
    assert seen["handler"] is out.traces[0]
    assert seen["worker"] is None
    assert seen["passed on"] is out.traces[0]


def test_explicit_parent_trace_or_context_links_a_trace() -> None:
    factory = ActionExecutionTraceFactory()
    root = factory.create_trace(action_id="core:go", actor_id="a", turn_action=_turn("core:go"))
    child = factory.create_trace(
        action_id="core:arrive", actor_id="a", turn_action=_turn("core:arrive"), parent=root
    )
    assert child.trace_id == root.trace_id and child.parent_span_id == root.span_id
    remote = TraceContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    linked = ActionExecutionTrace(
        action_id="core:go", actor_id="a", turn_action=_turn("core:go"), parent=remote
    )
    assert linked.trace_id == remote.trace_id and linked.parent_span_id == remote.span_id
    assert linked.context == TraceContext(linked.trace_id, linked.span_id)
    with pytest.raises(InvalidArgumentError, match="parent"):
        ActionExecutionTrace(
            action_id="core:go", actor_id="a", turn_action=_turn("core:go"), parent="00-..."
        )


def test_integer_ids_are_the_hex_ids_as_numbers_made_once() -> None:
    root = ActionExecutionTrace(action_id="core:go", actor_id="a", turn_action=_turn("core:go"))
    # asked first, before any hex form exists: the ids are made then, and kept
    trace_id, span_id, parent = integer_ids(root)
    assert (trace_id, span_id, parent) == (int(root.trace_id, 16), int(root.span_id, 16), None)
    child = ActionExecutionTrace(
        action_id="core:arrive", actor_id="a", turn_action=_turn("core:arrive"), parent=root
    )
    assert integer_ids(child) == (trace_id, int(child.span_id, 16), span_id)


def test_every_trace_has_valid_distinct_ids_and_a_root_has_no_parent(
    assert_valid_trace: Any,
) -> None:
    traces = [
        ActionExecutionTrace(action_id="core:go", actor_id="a", turn_action=_turn("core:go"))
        for _ in range(100)
    ]
    assert len({t.span_id for t in traces}) == 100
    assert len({t.trace_id for t in traces}) == 100
    for trace in traces:
        assert len(trace.trace_id) == 32 and int(trace.trace_id, 16)
        assert len(trace.span_id) == 16 and int(trace.span_id, 16)
        assert trace.parent_span_id is None
        meta = trace.to_dict()["metadata"]
        assert meta["traceId"] == trace.trace_id and meta["spanId"] == trace.span_id
        assert meta["parentSpanId"] is None
        assert_valid_trace(trace)
