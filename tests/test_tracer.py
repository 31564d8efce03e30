"""Tracer: blocks around an engine's own dispatch, the decorator, and the default tracer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import actiontrace
from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionAwareStructuredTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    InvalidArgumentError,
    StructuredTrace,
    TraceContext,
    Tracer,
    TraceStateError,
    current_trace,
    read_traces,
    span,
)
from actiontrace.pipeline import default as tracer_module


class Keep:
    def __init__(self) -> None:
        self.traces: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.traces.append(trace)


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str, *a: Any) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str, *a: Any) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str, *a: Any) -> None:
        self.lines.append(("warning", msg))

    def error(self, msg: str, *a: Any) -> None:
        self.lines.append(("error", msg))


class Raising:
    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            raise RuntimeError(f"{name} broke")

        return method


def make(**options: Any) -> tuple[Tracer, Keep]:
    out = Keep()
    return Tracer(output=out, **options), out


# -- tracer.action -------------------------------------------------------------------------------


def test_a_selected_action_is_traced_and_current_inside_the_block() -> None:
    tracer, out = make()
    assert current_trace() is None
    with tracer.action("core:go", actor_id="p1", command="go north") as action:
        assert action.trace is not None and current_trace() is action.trace
        assert action.trace.status == "in_progress"
    assert current_trace() is None
    [trace] = out.traces
    assert trace is action.trace and trace.status == "success"
    data = trace.to_dict()
    assert data["turnAction"]["commandString"] == "go north"
    assert data["eventPayload"] == {
        "eventName": ATTEMPT_ACTION_ID,
        "actorId": "p1",
        "actionId": "core:go",
        "originalInput": "go north",
    }


def test_the_default_payload_carries_parameters_and_target() -> None:
    tracer, out = make()
    with tracer.action(
        "core:take", actor_id="p", parameters={"targetId": "lamp", "password": 1234}
    ):
        pass
    payload = out.traces[0].to_dict()["eventPayload"]
    assert payload["targetId"] == "lamp" and payload["originalInput"] == "core:take"
    assert payload["parameters"] == {"targetId": "lamp", "password": "[REDACTED]"}


def test_payload_argument_and_set_payload() -> None:
    tracer, out = make()
    with tracer.action("a", actor_id="p", payload={"given": 1}):
        pass
    with tracer.action("b", actor_id="p", payload={"given": 1}) as action:
        action.set_payload({"set": 2})
        action.set_payload({"ignored": 3})  # captured once
    assert [t.to_dict()["eventPayload"] for t in out.traces] == [{"given": 1}, {"set": 2}]


def test_set_result_is_recorded_with_its_metadata() -> None:
    tracer, out = make()
    with tracer.action("a", actor_id="p") as action:
        action.set_result(False, reason="locked")
    data = out.traces[0].to_dict()
    assert data["execution"]["status"] == "failed"
    assert data["result"]["metadata"] == {"reason": "locked"}


def test_an_exception_leaving_the_block_is_the_error_and_is_reraised_unchanged() -> None:
    tracer, out = make()
    error = ValueError("the dragon is too strong")
    with pytest.raises(ValueError) as raised, tracer.action("core:attack", actor_id="p"):
        raise error
    assert raised.value is error
    data = out.traces[0].to_dict()
    assert data["execution"]["status"] == "error"
    assert data["error"]["type"] == "ValueError" and "raise error" in data["error"]["stack"]


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        (SystemExit(), "success"),
        (SystemExit(0), "success"),
        (SystemExit(2), "error"),
        (KeyboardInterrupt(), "error"),
    ],
)
def test_base_exceptions_propagate_and_a_clean_exit_is_a_success(
    stop: BaseException, status: str
) -> None:
    tracer, out = make()
    with pytest.raises(type(stop)) as raised, tracer.action("core:quit", actor_id="p"):
        raise stop
    assert raised.value is stop
    [trace] = out.traces
    assert trace.status == status
    if status == "success":
        assert trace.to_dict()["result"]["metadata"] == {"exit": True}


def test_a_handler_exception_handed_over_by_the_dispatch_service_is_the_error() -> None:
    bus = EventBus()
    bus.subscribe("door:open", lambda payload: {}["key"])
    service = EventDispatchService(bus, Log())
    tracer, out = make()
    with tracer.action("core:open", actor_id="p"):
        assert service.dispatch_with_error_handling_sync("door:open", {}, "engine") is False
    with tracer.action("core:open", actor_id="p") as action:
        service.dispatch_with_error_handling_sync("door:open", {}, "engine")
        action.set_result(False, reason="stuck")
    first, second = (t.to_dict() for t in out.traces)
    assert first["execution"]["status"] == "error" and first["result"] is None
    assert first["error"]["type"] == "KeyError" and "<lambda>" in first["error"]["stack"]
    # A result set by the block is kept, and the handler's exception is still the error.
    assert second["result"]["metadata"] == {"reason": "stuck"}
    assert second["execution"]["status"] == "error"


def test_a_late_hand_over_never_changes_a_written_trace() -> None:
    tracer, out = make()
    bus = EventBus()
    bus.subscribe("ev", lambda payload: 1 / 0)
    service = EventDispatchService(bus, Log())
    import contextvars

    with tracer.action("a", actor_id="p"):
        saved = contextvars.copy_context()
    saved.run(service.dispatch_with_error_handling_sync, "ev", {}, "late")
    assert out.traces[0].status == "success"


def test_nested_blocks_and_processor_dispatches_link_to_the_block() -> None:
    tracer, out = make()
    bus = EventBus()
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
    )
    other = TraceContext("1" * 32, "2" * 16)
    with tracer.action("turn", actor_id="p") as turn:
        with tracer.action("step", actor_id="p") as step:
            processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": "core:go"})
        with tracer.action("elsewhere", actor_id="p", parent=other) as elsewhere:
            pass
    go, step_trace, elsewhere_trace, turn_trace = out.traces
    assert step_trace is step.trace and turn_trace is turn.trace
    assert step_trace.parent_span_id == turn_trace.span_id
    assert go.parent_span_id == step_trace.span_id and go.trace_id == turn_trace.trace_id
    assert elsewhere_trace is elsewhere.trace
    assert elsewhere_trace.trace_id == "1" * 32 and elsewhere_trace.parent_span_id == "2" * 16


def test_metadata_and_the_filters_verbosity_apply() -> None:
    tracer, out = make(trace_filter=ActionTraceFilter(verbosity="minimal"))
    with tracer.action("a", actor_id="p", metadata={"scene": "cellar"}):
        pass
    data = out.traces[0].to_dict()
    assert data["customMetadata"] == {"scene": "cellar"}
    assert data["eventPayload"] is None  # minimal keeps the size, not the payload


async def test_async_with_awaits_an_async_output_and_links_tasks() -> None:
    written: list[Any] = []

    class AsyncOut:
        async def write_trace(self, trace: Any) -> None:
            await asyncio.sleep(0)
            written.append(trace)

    tracer = Tracer(output=AsyncOut())

    async def child() -> None:
        async with tracer.action("child", actor_id="p"):
            await asyncio.sleep(0)

    async with tracer.action("parent", actor_id="p") as parent:
        await asyncio.gather(asyncio.create_task(child()), child())
    assert len(written) == 3
    assert all(t.parent_span_id == parent.trace.span_id for t in written[:2])


def test_the_filter_saying_no_gives_a_do_nothing_block() -> None:
    tracer, out = make(trace_filter=ActionTraceFilter(excluded_actions=["debug:*"]))
    with tracer.action("debug:x", actor_id="p") as action:
        assert action.trace is None and current_trace() is None
        action.set_payload({"a": 1})
        action.set_result(True)
    assert out.traces == []

    async def run() -> None:
        async with tracer.action("debug:y", actor_id="p") as handle:
            assert handle.trace is None

    asyncio.run(run())
    assert out.traces == []


def test_structured_traces_nest_the_blocks_spans() -> None:
    class Factory:
        def create_trace(self, action_id: str, actor_id: str) -> StructuredTrace:
            return ActionAwareStructuredTrace(actor_id=actor_id)

    tracer, out = make(structured_trace_factory=Factory())
    with tracer.action("core:cast", actor_id="p"), span("resolve_target"):
        pass
    execution, structured = out.traces
    spans = {s.operation: s for s in structured.get_spans()}
    assert spans["resolve_target"].parent_id == spans["core:cast"].span_id
    assert structured.trace_id == execution.trace_id


def test_tracing_faults_are_logged_and_swallowed() -> None:
    log = Log()
    broken = Raising()
    tracer = Tracer(trace_factory=broken, output=broken, logger=log)
    with tracer.action("a", actor_id="p") as action:
        ran = True
    assert ran and action.trace is None
    assert any("trace_factory.create_trace" in m for _, m in log.lines)
    refusing = Tracer(trace_filter=broken, logger=log)
    assert refusing.action("a", actor_id="p").trace is None
    assert any("trace_filter.should_trace" in m for _, m in log.lines)
    writing = Tracer(output=[broken, Keep()], logger=log)
    with writing.action("a", actor_id="p"):
        pass
    assert writing.output[1].traces and any("output[0].write_trace" in m for _, m in log.lines)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"action_id": ""}, "action_id"),
        ({"actor_id": None}, "actor_id"),
        ({"command": 3}, "command"),
        ({"parameters": ["x"]}, "parameters"),
        ({"metadata": "x"}, "metadata"),
        ({"parent": "x"}, "parent"),
    ],
)
def test_invalid_arguments_are_named(arguments: dict[str, Any], named: str) -> None:
    call: dict[str, Any] = {"action_id": "a", "actor_id": "p", **arguments}
    with pytest.raises(InvalidArgumentError, match=named):
        Tracer().action(call.pop("action_id"), **call)


def test_a_block_is_entered_once() -> None:
    tracer, _ = make()
    block = tracer.action("a", actor_id="p")
    with block:
        pass
    with pytest.raises(TraceStateError):
        block.__enter__()


# -- @tracer.traced ------------------------------------------------------------------------------


class Hero:
    def __init__(self, hero_id: str) -> None:
        self.id = hero_id

    def attack(self, target: str, password: str = "") -> str:
        return f"{self.id} hits {target}"


def test_the_decorator_traces_each_call_with_its_arguments() -> None:
    tracer, out = make()
    attack = tracer.traced(actor_id=lambda self, *a, **k: self.id)(Hero.attack)
    assert attack(Hero("h1"), "goblin", password="hunter2") == "h1 hits goblin"
    [trace] = out.traces
    data = trace.to_dict()
    assert data["metadata"]["actionId"] == "Hero.attack"
    assert data["metadata"]["actorId"] == "h1"
    assert data["turnAction"]["parameters"] == {"target": "goblin", "password": "[REDACTED]"}


def test_the_decorator_finds_the_actor() -> None:
    tracer, out = make()

    @tracer.traced("core:move")
    def move(actor: Any, steps: int = 1) -> int:
        return steps

    @tracer.traced
    def wait(actor_id: str) -> None:
        return None

    @tracer.traced("core:fixed", actor_id="narrator")
    def narrate() -> None:
        return None

    move(Hero("obj"))
    move({"id": "map"}, 2)
    move(None)
    wait("named")
    narrate()
    assert [t.actor_id for t in out.traces] == ["obj", "map", "unknown", "named", "narrator"]
    assert out.traces[3].action_id.endswith("wait")


def test_the_decorator_records_and_reraises_an_exception() -> None:
    tracer, out = make()

    @tracer.traced("core:fail")
    def fail() -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        fail()
    with pytest.raises(TypeError):
        fail(1)  # type: ignore[call-arg]  # a call that cannot bind is recorded too
    assert [t.status for t in out.traces] == ["error", "error"]


async def test_the_decorator_traces_async_functions() -> None:
    tracer, out = make(trace_filter=ActionTraceFilter(traced_actions=["core:*"]))

    @tracer.traced("core:rest")
    async def rest(actor_id: str) -> str:
        await asyncio.sleep(0)
        return actor_id

    @tracer.traced("other:rest")
    async def skipped(actor_id: str) -> str:
        return actor_id

    assert await rest("p") == "p" and await skipped("q") == "q"
    assert [t.actor_id for t in out.traces] == ["p"]


def test_the_decorator_survives_a_broken_actor_callable_and_rejects_bad_options() -> None:
    log = Log()
    tracer = Tracer(output=Keep(), logger=log)

    @tracer.traced("a", actor_id=lambda: 1 / 0)
    def act() -> int:
        return 7

    assert act() == 7 and tracer.output.traces[0].actor_id == "unknown"
    with pytest.raises(InvalidArgumentError, match="actor_id"):
        tracer.traced("a", actor_id=3)  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="action_id"):
        tracer.traced("")
    with pytest.raises(InvalidArgumentError):
        tracer.traced("a")(42)  # type: ignore[arg-type]


def test_the_decorator_on_a_builtin_records_its_arguments() -> None:
    tracer, out = make()
    traced_max = tracer.traced("max")(max)  # max has no signature to bind to
    assert traced_max(1, 3) == 3
    assert out.traces[0].to_dict()["turnAction"]["parameters"] == {"args": [1, 3]}


# -- the default tracer --------------------------------------------------------------------------


@pytest.fixture
def fresh_default() -> Iterator[None]:
    saved = tracer_module._default, tracer_module._owned_output
    tracer_module._default, tracer_module._owned_output = None, None
    yield
    owned = tracer_module._owned_output
    if owned is not None:
        owned.close()
    tracer_module._default, tracer_module._owned_output = saved


@pytest.mark.usefixtures("fresh_default")
def test_until_configure_nothing_is_traced() -> None:
    calls: list[int] = []

    @actiontrace.traced("core:x")
    def step() -> int:
        calls.append(1)
        return 5

    with actiontrace.trace_action("core:x", actor_id="p") as action:
        assert action.trace is None and current_trace() is None
    assert step() == 5 and calls == [1]


@pytest.mark.usefixtures("fresh_default")
def test_configure_sets_and_replaces_the_default() -> None:
    first, second = Keep(), Keep()

    @actiontrace.traced("core:x")
    def step() -> None:
        return None

    tracer = actiontrace.configure(output=first)
    assert isinstance(tracer, Tracer) and tracer.output is first
    with actiontrace.trace_action("core:y", actor_id="p", command="y") as action:
        assert current_trace() is action.trace
    step()
    actiontrace.configure(output=second)
    step()
    assert [t.action_id for t in first.traces] == ["core:y", "core:x"]
    assert [t.action_id for t in second.traces] == ["core:x"]


@pytest.mark.usefixtures("fresh_default")
def test_configure_without_arguments_reads_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ACTIONTRACE_ENABLED", "ACTIONTRACE_ACTIONS", "ACTIONTRACE_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "actiontrace.toml").write_text(
        'traced_actions = ["core:*"]\noutput_dir = "out"\n', encoding="utf-8"
    )
    tracer = actiontrace.configure()
    with actiontrace.trace_action("core:go", actor_id="p"):
        pass
    with actiontrace.trace_action("debug:dump", actor_id="p") as skipped:
        assert skipped.trace is None
    owned = tracer.output
    monkeypatch.setenv("ACTIONTRACE_ENABLED", "0")
    off = actiontrace.configure()  # replaces the first: its output is closed, all written
    assert off.output is None
    assert owned.stats["written"] == 1 and owned.stats["queued"] == 0
    [trace] = read_traces(tmp_path / "out")
    assert trace["metadata"]["actionId"] == "core:go"
    assert os.listdir(tmp_path / "out")


# -- edges ---------------------------------------------------------------------------------------


def test_the_tracers_parts_are_readable() -> None:
    trace_filter, factory = ActionTraceFilter(), ActionExecutionTraceFactory()
    tracer = Tracer(trace_filter=trace_filter, trace_factory=factory)
    assert tracer.trace_filter is trace_filter and tracer.trace_factory is factory
    assert tracer.output is None and tracer.structured_trace_factory is None
    with tracer.action("a", actor_id="p") as action:
        pass
    assert action.trace is not None and action.trace.status == "success"  # kept nowhere


def test_leaving_a_block_never_entered_is_a_state_error() -> None:
    block = Tracer().action("a", actor_id="p")
    with pytest.raises(TraceStateError, match="never entered"):
        block.__exit__(None, None, None)


def test_a_block_ended_in_another_context_restores_no_current_trace() -> None:
    import contextvars

    tracer, out = make()
    block = tracer.action("a", actor_id="p")
    contextvars.copy_context().run(block.__enter__)
    block.__exit__(None, None, None)
    assert current_trace() is None and out.traces[0].status == "success"


def test_faults_of_spans_and_captures_are_swallowed() -> None:
    class NoSpans(StructuredTrace):
        def span(self, operation: str, **attributes: Any) -> Any:
            raise RuntimeError("span broke")

    class BadStructured:
        def create_trace(self, action_id: str, actor_id: str) -> Any:
            return NoSpans()

    class HalfBrokenTrace:
        def __init__(self) -> None:
            self.inner = Tracer().trace_factory.create_trace(
                action_id="a", actor_id="p", turn_action={"actionDefinitionId": "a"}
            )

        def __getattr__(self, name: str) -> Any:
            if name == "capture_dispatch_result":
                raise RuntimeError("result broke")
            return getattr(self.inner, name)

    class Factory:
        def create_trace(self, **kwargs: Any) -> Any:
            return HalfBrokenTrace()

    log = Log()
    with Tracer(structured_trace_factory=BadStructured(), logger=log).action("a", actor_id="p"):
        pass
    with Tracer(trace_factory=Factory(), logger=log).action("a", actor_id="p"):
        pass
    faults = " ".join(m for _, m in log.lines)
    assert "structured trace span 'a'" in faults and "trace.capture_dispatch_result" in faults


@pytest.mark.usefixtures("fresh_default")
def test_configure_logs_a_previous_output_that_fails_to_close() -> None:
    class BadClose:
        def close(self) -> None:
            raise OSError("stuck")

    log = Log()
    tracer_module._owned_output = BadClose()
    actiontrace.configure(output=Keep(), logger=log)
    assert any("closing the previous output failed" in m for _, m in log.lines)


def test_an_empty_target_is_no_target() -> None:
    tracer, out = make()
    with tracer.action("core:look", actor_id="p", parameters={"targetId": ""}):
        pass
    assert "targetId" not in out.traces[0].to_dict()["eventPayload"]


def test_a_span_that_fails_to_end_is_a_logged_fault() -> None:
    class Stuck:
        def __enter__(self) -> Stuck:
            return self

        def __exit__(self, *exc: object) -> None:
            raise RuntimeError("span end broke")

    class StuckSpans(StructuredTrace):
        def span(self, operation: str, **attributes: Any) -> Any:
            return Stuck()

    class Factory:
        def create_trace(self, action_id: str, actor_id: str) -> Any:
            return StuckSpans()

    log, out = Log(), Keep()
    tracer = Tracer(structured_trace_factory=Factory(), output=out, logger=log)
    with tracer.action("a", actor_id="p"):
        pass
    assert out.traces[0].status == "success"
    assert any("structured trace span end" in m for _, m in log.lines)
