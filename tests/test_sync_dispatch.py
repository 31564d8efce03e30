"""The synchronous path: EventBus.dispatch_sync, dispatch_with_error_handling_sync,
dispatch_action_sync; handler exceptions handed to the traced dispatch; outputs fan-out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    current_trace,
)


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str, *a: Any, **k: Any) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str, *a: Any, **k: Any) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str, *a: Any, **k: Any) -> None:
        self.lines.append(("warning", msg))

    def error(self, msg: str, *a: Any, **k: Any) -> None:
        self.lines.append(("error", msg))


class Keep:
    def __init__(self) -> None:
        self.traces: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.traces.append(trace)


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def write_trace(self, trace: Any) -> None:
        self.calls += 1
        raise OSError("disk on fire")


def traced_processor(bus: Any, output: Any, log: Log | None = None) -> CommandProcessor:
    """A tracing processor over ``bus`` (or over a dispatch service given instead)."""
    service = bus if isinstance(bus, EventDispatchService) else EventDispatchService(bus, Log())
    return CommandProcessor(
        service,
        log or Log(),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=output,
    )


GO = {"actionDefinitionId": "core:go", "commandString": "go north"}


# -- EventBus.dispatch_sync --------------------------------------------------------------------


def test_dispatch_sync_runs_handlers_in_order() -> None:
    bus, seen = EventBus(), []
    bus.subscribe("ev", lambda p: seen.append(("a", p)))
    bus.subscribe("ev", lambda p: seen.append(("b", p)))
    bus.dispatch_sync("ev", 1)
    bus.dispatch_sync("none", 2)  # no handlers: nothing happens
    assert seen == [("a", 1), ("b", 1)]


def test_dispatch_sync_closes_an_async_handlers_coroutine_and_stops() -> None:
    bus, seen, ran, made = EventBus(), [], [], []

    async def later(payload: Any) -> None:
        ran.append(payload)

    def handler(payload: Any) -> Any:
        made.append(later(payload))
        return made[-1]

    bus.subscribe("ev", handler)
    bus.subscribe("ev", seen.append)
    with pytest.raises(TypeError, match=r"<locals>\.handler of 'ev' is asynchronous"):
        bus.dispatch_sync("ev", 1)
    assert ran == [] and seen == []
    assert made[0].cr_frame is None  # closed: it will never run, nor warn "never awaited"


def test_dispatch_sync_rejects_a_bad_event_name() -> None:
    with pytest.raises(ValueError, match="event_name"):
        EventBus().dispatch_sync("", 1)


# -- dispatch_with_error_handling_sync ---------------------------------------------------------


def test_sync_dispatch_service_reports_a_handler_error_as_false() -> None:
    bus, log = EventBus(), Log()
    bus.subscribe("ev", lambda p: {}["missing"])
    service = EventDispatchService(bus, log)
    assert service.dispatch_with_error_handling_sync("ev", {}, "ctx") is False
    [(level, message)] = log.lines
    assert level == "error" and "ctx" in message and "KeyError" in message
    assert "Traceback" in message
    bus2 = EventBus()
    bus2.subscribe("ev", lambda p: None)
    assert EventDispatchService(bus2).dispatch_with_error_handling_sync("ev", {}, "c") is True


def test_sync_dispatch_service_uses_a_plain_sync_dispatch_when_no_dispatch_sync() -> None:
    heard = []

    class PlainBus:
        def dispatch(self, name: str, payload: Any) -> None:
            heard.append(name)

    assert EventDispatchService(PlainBus()).dispatch_with_error_handling_sync("e", 1, "c")
    assert heard == ["e"]


def test_sync_dispatch_service_cannot_run_an_async_only_bus() -> None:
    ran, made = [], []

    async def run(name: str) -> None:
        ran.append(name)

    class AsyncBus:
        def dispatch(self, name: str, payload: Any) -> Any:
            made.append(run(name))
            return made[-1]

    log = Log()
    ok = EventDispatchService(AsyncBus(), log).dispatch_with_error_handling_sync("e", 1, "c")
    assert ok is False and ran == []
    assert made[0].cr_frame is None
    assert "dispatch_sync" in log.lines[0][1]


# -- dispatch_action_sync ----------------------------------------------------------------------


@pytest.fixture
def no_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to create or fetch an event loop fail loudly."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an event loop was created")

    monkeypatch.setattr(asyncio, "new_event_loop", forbidden)
    monkeypatch.setattr(asyncio, "run", forbidden)
    monkeypatch.setattr(asyncio, "get_event_loop", forbidden)
    monkeypatch.setattr(asyncio.events, "new_event_loop", forbidden)
    monkeypatch.setattr(asyncio.DefaultEventLoopPolicy, "new_event_loop", forbidden)


@pytest.mark.usefixtures("no_event_loop")
def test_dispatch_action_sync_traces_without_an_event_loop() -> None:
    bus, seen, out = EventBus(), [], Keep()
    bus.subscribe(ATTEMPT_ACTION_ID, lambda p: seen.append((p, current_trace())))
    processor = traced_processor(bus, out)
    turn = {**GO, "parameters": {"direction": "north", "password": "hunter2"}}
    result = processor.dispatch_action_sync({"id": "p1"}, turn)
    assert result == {
        "success": True,
        "turnEnded": False,
        "originalInput": "go north",
        "actionResult": {"actionId": "core:go"},
    }
    [(payload, during)] = seen
    # Handlers get the parameters, to act on them; the trace keeps them sanitised.
    assert payload["parameters"] == {"direction": "north", "password": "hunter2"}
    [trace] = out.traces
    assert during is trace and current_trace() is None
    assert trace.status == "success"
    assert trace.to_dict()["eventPayload"]["parameters"]["password"] == "[REDACTED]"


@pytest.mark.usefixtures("no_event_loop")
def test_dispatch_action_sync_untraced_gives_the_async_result() -> None:
    bus = EventBus()
    bus.subscribe(ATTEMPT_ACTION_ID, lambda p: None)
    processor = CommandProcessor(EventDispatchService(bus))
    assert processor.dispatch_action_sync({"id": "p"}, GO)["success"] is True
    bad = processor.dispatch_action_sync({"id": ""}, GO)
    assert bad["success"] is False and "Invalid action request" in bad["error"]


def test_sync_and_async_dispatch_give_the_same_results_and_statuses() -> None:
    def build() -> tuple[CommandProcessor, Keep]:
        bus, out = EventBus(), Keep()

        def handle(payload: dict[str, Any]) -> None:
            if payload["actionId"] == "core:fail":
                raise ValueError("no way")

        bus.subscribe(ATTEMPT_ACTION_ID, handle)
        return traced_processor(bus, out), out

    turns = [GO, {"actionDefinitionId": "core:fail"}, "bad", {"actionDefinitionId": "x:y"}]
    sync_processor, sync_out = build()
    async_processor, async_out = build()
    sync_results = [sync_processor.dispatch_action_sync({"id": "p"}, t) for t in turns]

    async def play() -> list[dict[str, Any]]:
        return [await async_processor.dispatch_action({"id": "p"}, t) for t in turns]

    assert sync_results == asyncio.run(play())
    assert [t.status for t in sync_out.traces] == [t.status for t in async_out.traces]
    assert [t.status for t in sync_out.traces] == ["success", "error", "success"]


def test_dispatch_action_sync_accepts_a_plain_sync_dispatch_service() -> None:
    class Plain:
        def dispatch_with_error_handling(self, name: str, payload: Any, context: str) -> bool:
            return payload["actionId"] == "core:go"

    processor = CommandProcessor(Plain())
    assert processor.dispatch_action_sync({"id": "p"}, GO)["success"] is True
    refused = processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": "core:no"})
    assert refused["success"] is False and refused["turnEnded"] is True


def test_dispatch_action_sync_refuses_an_async_only_dispatch_service() -> None:
    made = []

    async def answer() -> bool:
        return True

    class AsyncOnly:
        def dispatch_with_error_handling(self, *args: Any) -> Any:
            made.append(answer())
            return made[-1]

    out, log = Keep(), Log()
    processor = CommandProcessor(
        AsyncOnly(),
        log,
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
    )
    result = processor.dispatch_action_sync({"id": "p"}, GO)
    assert made[0].cr_frame is None
    assert result["success"] is False and "TypeError" in result["internalError"]
    assert out.traces[0].status == "error"


def test_dispatch_action_sync_service_raising_is_a_failure_and_the_traces_error() -> None:
    class Raising:
        def dispatch_with_error_handling_sync(self, *args: Any) -> bool:
            raise RuntimeError("rules engine crashed")

        async def dispatch_with_error_handling(self, *args: Any) -> bool:
            raise AssertionError("not used")

    out = Keep()
    processor = CommandProcessor(
        Raising(),
        Log(),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=out,
    )
    result = processor.dispatch_action_sync({"id": "p"}, GO)
    assert result["internalError"] == "RuntimeError: rules engine crashed"
    assert out.traces[0].to_dict()["error"]["message"] == "rules engine crashed"
    untraced = CommandProcessor(Raising(), Log())
    assert untraced.dispatch_action_sync({"id": "p"}, GO)["success"] is False


@pytest.mark.parametrize("code", [None, 0])
def test_a_clean_system_exit_propagates_and_is_a_successful_exit(code: Any) -> None:
    bus, out = EventBus(), Keep()

    def quit_game(payload: Any) -> None:
        raise SystemExit(code)

    bus.subscribe(ATTEMPT_ACTION_ID, quit_game)
    processor = traced_processor(bus, out)
    with pytest.raises(SystemExit) as raised:
        processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": "core:quit"})
    assert raised.value.code == code
    [trace] = out.traces
    assert trace.status == "success"
    assert trace.to_dict()["result"]["metadata"] == {"exit": True}

    async def play() -> None:
        await processor.dispatch_action({"id": "p"}, {"actionDefinitionId": "core:quit"})

    with pytest.raises(SystemExit):
        asyncio.run(play())
    assert out.traces[1].to_dict()["result"]["metadata"] == {"exit": True}


@pytest.mark.parametrize("error", [SystemExit(3), SystemExit("fatal"), KeyboardInterrupt()])
def test_other_stops_propagate_and_are_errors(error: BaseException) -> None:
    bus, out = EventBus(), Keep()

    def stop(payload: Any) -> None:
        raise error

    bus.subscribe(ATTEMPT_ACTION_ID, stop)
    with pytest.raises(type(error)) as raised:
        traced_processor(bus, out).dispatch_action_sync({"id": "p"}, GO)
    assert raised.value is error
    [trace] = out.traces
    assert trace.status == "error"
    assert trace.to_dict()["error"]["type"] == type(error).__name__


# -- the hand-over of a handler's exception ----------------------------------------------------


def test_a_nested_untraced_dispatch_keeps_its_handlers_exception() -> None:
    bus, out = EventBus(), Keep()
    service = EventDispatchService(bus, Log())
    nested: list[bool] = []

    def outer(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:go":
            nested.append(service.dispatch_with_error_handling_sync("side", {}, "inner"))

    def side(payload: Any) -> None:
        raise ValueError("inner failure, handled by the inner dispatch")

    bus.subscribe(ATTEMPT_ACTION_ID, outer)
    bus.subscribe("side", side)
    processor = traced_processor(service, out)
    assert processor.dispatch_action_sync({"id": "p"}, GO)["success"] is True
    assert nested == [False]
    assert out.traces[0].status == "success"


def test_a_nested_traced_dispatch_owns_its_own_handler_exception() -> None:
    bus, out = EventBus(), Keep()
    processor = traced_processor(bus, out)

    def handle(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:go":
            processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": "core:trip"})
        else:
            raise ValueError("tripped")

    bus.subscribe(ATTEMPT_ACTION_ID, handle)
    assert processor.dispatch_action_sync({"id": "p"}, GO)["success"] is True
    inner, outer = out.traces
    assert inner.status == "error" and inner.parent_span_id == outer.span_id
    assert outer.status == "success"


async def test_an_async_handlers_exception_is_handed_over() -> None:
    bus, out = EventBus(), Keep()

    async def handle(payload: Any) -> None:
        await asyncio.sleep(0)
        raise LookupError("lost")

    bus.subscribe(ATTEMPT_ACTION_ID, handle)
    result = await traced_processor(bus, out).dispatch_action({"id": "p"}, GO)
    assert result["success"] is False
    error = out.traces[0].to_dict()["error"]
    assert error["type"] == "LookupError" and "in handle" in error["stack"]


async def test_a_nested_untraced_async_dispatch_keeps_its_exception() -> None:
    bus = EventBus()
    service = EventDispatchService(bus, Log())
    out = Keep()

    async def outer(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:go":
            assert not await service.dispatch_with_error_handling("side", {}, "inner")

    def side(payload: Any) -> None:
        raise ValueError("inner")

    bus.subscribe(ATTEMPT_ACTION_ID, outer)
    bus.subscribe("side", side)
    processor = traced_processor(service, out)
    assert (await processor.dispatch_action({"id": "p"}, GO))["success"] is True
    assert out.traces[0].status == "success"


# -- a sequence of outputs ---------------------------------------------------------------------


def test_each_output_gets_every_trace_in_order_and_a_broken_one_harms_none() -> None:
    bus = EventBus()
    first, broken, last, log = Keep(), Broken(), Keep(), Log()
    processor = traced_processor(bus, [first, broken, last], log)
    for action in ("a:1", "a:2", "a:3"):
        processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": action})
    assert [t.action_id for t in first.traces] == ["a:1", "a:2", "a:3"]
    assert last.traces == first.traces
    assert broken.calls == 3
    faults = [m for level, m in log.lines if level == "warning"]
    assert len(faults) == 3 and "trace_output_service[1].write_trace" in faults[0]
    assert processor.trace_output_service == [first, broken, last]


async def test_async_outputs_in_a_sequence_are_each_awaited() -> None:
    got: list[str] = []

    class AsyncKeep:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        async def write_trace(self, trace: Any) -> None:
            await asyncio.sleep(0)
            if self.fail:
                raise OSError("collector down")
            got.append(f"{self.name}:{trace.action_id}")

    processor = traced_processor(EventBus(), [AsyncKeep("a", fail=True), AsyncKeep("b")])
    await processor.dispatch_action({"id": "p"}, GO)
    assert got == ["b:core:go"]


def test_an_async_output_cannot_be_awaited_by_a_sync_dispatch() -> None:
    written: list[Any] = []
    made: list[Any] = []

    async def keep(trace: Any) -> None:
        written.append(trace)

    class AsyncOut:
        def write_trace(self, trace: Any) -> Any:
            made.append(keep(trace))
            return made[-1]

    log, sync_out = Log(), Keep()
    processor = traced_processor(EventBus(), [AsyncOut(), sync_out], log)
    assert processor.dispatch_action_sync({"id": "p"}, GO)["success"] is True
    assert written == [] and len(sync_out.traces) == 1
    assert made[0].cr_frame is None
    assert any("synchronous dispatch cannot await" in m for _, m in log.lines)


def test_an_output_in_the_sequence_must_have_write_trace() -> None:
    with pytest.raises(ValueError, match=r"trace_output_service\[1\] must have a callable"):
        CommandProcessor(EventDispatchService(EventBus()), trace_output_service=[Keep(), 42])


def test_dispatch_sync_names_an_async_handler_even_when_its_awaitable_cannot_close() -> None:
    class Stubborn:
        """An awaitable whose close() itself fails."""

        def __await__(self) -> Any:
            yield None

        def close(self) -> None:
            raise RuntimeError("cannot close")

    def handler(payload: Any) -> Stubborn:
        return Stubborn()

    bus = EventBus()
    bus.subscribe("evt", handler)
    with pytest.raises(TypeError, match="is asynchronous"):
        bus.dispatch_sync("evt", {})
