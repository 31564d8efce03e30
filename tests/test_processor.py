"""CommandProcessor: payload and result shapes, malformed input, opt-in tracing, fault isolation."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import actiontrace.trace as trace_module
from actiontrace import ActionExecutionTraceFactory, InvalidArgumentError, Verbosity
from actiontrace.pipeline import (
    ATTEMPT_ACTION_ID,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
)

# -- doubles ---------------------------------------------------------------------------------------


class RecordingLogger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append(("debug", message))

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append(("info", message))

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append(("warning", message))

    def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append(("error", message))

    def at(self, level: str) -> list[str]:
        return [message for lvl, message in self.records if lvl == level]


class BrokenLogger:
    def debug(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("logger down")

    info = warning = error = debug


class RecordingDispatch:
    """A dispatch service double: records calls, answers ``answer`` (or raises it)."""

    def __init__(self, answer: Any = True) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.answer = answer

    async def dispatch_with_error_handling(
        self, event_name: str, payload: dict[str, Any], context: str
    ) -> Any:
        self.calls.append((event_name, dict(payload), context))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class RecordingFilter:
    def __init__(self, answer: Any = True) -> None:
        self.asked: list[str] = []
        self.answer = answer

    def should_trace(self, action_id: str) -> Any:
        self.asked.append(action_id)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class RecordingFactory:
    def __init__(self, inner: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.inner = inner or ActionExecutionTraceFactory()
        self.traces: list[Any] = []

    def create_trace(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        trace = self.inner.create_trace(**kwargs)
        self.traces.append(trace)
        return trace


class ListOutput:
    def __init__(self) -> None:
        self.traces: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.traces.append(trace)


class AsyncOutput:
    def __init__(self) -> None:
        self.traces: list[Any] = []

    async def write_trace(self, trace: Any) -> None:
        await asyncio.sleep(0)
        self.traces.append(trace)


class Raising:
    """Every method call raises: a filter, factory, output or trace that is broken throughout."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("tracing component broken")
        self.calls = 0

    def _raise(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise self.error

    should_trace = create_trace = write_trace = _raise
    capture_dispatch_start = capture_event_payload = _raise
    capture_dispatch_result = capture_error = _raise


class Actor:
    def __init__(self, actor_id: Any) -> None:
        self.id = actor_id


def go(**extra: Any) -> dict[str, Any]:
    return {"actionDefinitionId": "core:go", "commandString": "go north", **extra}


def run(processor: CommandProcessor, actor: Any, turn_action: Any) -> dict[str, Any]:
    return asyncio.run(processor.dispatch_action(actor, turn_action))


def traced(
    dispatch: Any = None, output: Any = None, logger: Any = None
) -> tuple[CommandProcessor, RecordingFactory, ListOutput]:
    factory = RecordingFactory()
    sink = output if output is not None else ListOutput()
    processor = CommandProcessor(
        dispatch or RecordingDispatch(),
        logger or RecordingLogger(),
        trace_filter=ActionTraceFilter(),
        trace_factory=factory,
        trace_output_service=sink,
    )
    return processor, factory, sink


# -- payload and result ----------------------------------------------------------------------------


def test_payload_has_event_actor_action_and_original_input() -> None:
    dispatch = RecordingDispatch()
    run(CommandProcessor(dispatch), {"id": "p1"}, go())
    [(event, payload, context)] = dispatch.calls
    assert event == ATTEMPT_ACTION_ID
    assert payload == {
        "eventName": "core:attempt_action",
        "actorId": "p1",
        "actionId": "core:go",
        "originalInput": "go north",
    }
    assert list(payload) == ["eventName", "actorId", "actionId", "originalInput"]
    assert context == "Action dispatch for core:go"


@pytest.mark.parametrize(
    ("turn_action", "target"),
    [
        (go(targetId="door-1"), "door-1"),
        (go(parameters={"targetId": "npc-2"}), "npc-2"),
        (go(targetId="", parameters={"targetId": "npc-3"}), "npc-3"),
        (go(targetId="door-1", parameters={"targetId": "npc-2"}), "door-1"),
    ],
)
def test_target_id_is_included_when_the_turn_action_names_one(
    turn_action: dict[str, Any], target: str
) -> None:
    dispatch = RecordingDispatch()
    run(CommandProcessor(dispatch), {"id": "p1"}, turn_action)
    payload = dispatch.calls[0][1]
    assert payload["targetId"] == target
    keys = ["eventName", "actorId", "actionId", "targetId", "originalInput"]
    if "parameters" in turn_action:  # handlers get the parameters too, to act on them
        keys.insert(4, "parameters")
        assert payload["parameters"] == turn_action["parameters"]
    assert list(payload) == keys


@pytest.mark.parametrize(
    "turn_action",
    [
        go(),
        go(targetId=None),
        go(targetId=""),
        go(parameters={"targetId": ""}),
        go(parameters="not a mapping"),
    ],
)
def test_target_id_is_absent_when_none_is_named(turn_action: dict[str, Any]) -> None:
    dispatch = RecordingDispatch()
    run(CommandProcessor(dispatch), {"id": "p1"}, turn_action)
    assert "targetId" not in dispatch.calls[0][1]


@pytest.mark.parametrize("command", [None, "", 42])
def test_original_input_falls_back_to_the_action_id(command: Any) -> None:
    dispatch = RecordingDispatch()
    result = run(
        CommandProcessor(dispatch),
        {"id": "p1"},
        {"actionDefinitionId": "core:wait", "commandString": command},
    )
    assert dispatch.calls[0][1]["originalInput"] == "core:wait"
    assert result["originalInput"] == "core:wait"


def test_success_result_shape() -> None:
    result = run(CommandProcessor(RecordingDispatch(True)), Actor("p1"), go())
    assert result == {
        "success": True,
        "turnEnded": False,
        "originalInput": "go north",
        "actionResult": {"actionId": "core:go"},
    }


def test_failure_result_shape_when_a_handler_raised() -> None:
    bus = EventBus()
    bus.subscribe(ATTEMPT_ACTION_ID, lambda payload: 1 / 0)
    processor = CommandProcessor(EventDispatchService(bus, RecordingLogger()))
    result = run(processor, Actor("p1"), go())
    assert result["success"] is False
    assert result["turnEnded"] is True
    assert result["originalInput"] == "go north"
    assert result["actionResult"] == {"actionId": "core:go"}
    assert isinstance(result["error"], str) and "core:go" in result["error"]


def test_results_are_fresh_objects_each_call() -> None:
    processor = CommandProcessor(RecordingDispatch())
    first = run(processor, {"id": "p1"}, go())
    first["actionResult"]["actionId"] = "mutated"
    assert run(processor, {"id": "p1"}, go())["actionResult"]["actionId"] == "core:go"


def maybe_traced(dispatch: Any, tracing: bool) -> tuple[CommandProcessor, ListOutput]:
    if tracing:
        processor, _, sink = traced(dispatch)
        return processor, sink
    return CommandProcessor(dispatch), ListOutput()


@pytest.mark.parametrize("tracing", [False, True])
@pytest.mark.parametrize(("answer", "success"), [(1, True), (0, False), (None, False)])
def test_non_bool_answer_of_the_dispatch_service_is_taken_by_truth(
    answer: Any, success: bool, tracing: bool
) -> None:
    processor, sink = maybe_traced(RecordingDispatch(answer), tracing)
    assert run(processor, {"id": "a"}, go())["success"] is success
    assert [t.to_dict()["result"]["success"] for t in sink.traces] == [success] * tracing


@pytest.mark.parametrize("tracing", [False, True])
def test_sync_dispatch_service_is_accepted(tracing: bool) -> None:
    class SyncDispatch:
        def dispatch_with_error_handling(self, event: str, payload: Any, context: str) -> bool:
            return False

    processor, sink = maybe_traced(SyncDispatch(), tracing)
    assert run(processor, {"id": "a"}, go())["success"] is False
    assert [t.status for t in sink.traces] == ["failed"] * tracing


# -- malformed input -------------------------------------------------------------------------------


class ExplodingMapping(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("mapping exploded")


class BadId:
    @property
    def id(self) -> str:
        raise RuntimeError("no id for you")


@pytest.mark.parametrize(
    ("actor", "turn_action", "reason"),
    [
        (None, go(), "actor must have a non-empty str id, got NoneType"),
        ({"id": ""}, go(), "got an empty str"),
        ({"name": "p1"}, go(), "actor must have a non-empty str id"),
        (Actor(5), go(), "got int"),
        (BadId(), go(), "unreadable input"),
        ({"id": "p1"}, None, "turn_action must be a mapping, got NoneType"),
        ({"id": "p1"}, ["core:go"], "turn_action must be a mapping"),
        ({"id": "p1"}, {}, "non-empty str actionDefinitionId, got None"),
        ({"id": "p1"}, {"actionDefinitionId": ""}, "actionDefinitionId, got ''"),
        ({"id": "p1"}, {"actionDefinitionId": 7}, "actionDefinitionId, got 7"),
        ({"id": "p1"}, ExplodingMapping(actionDefinitionId="core:go"), "unreadable input"),
    ],
)
def test_malformed_input_gives_a_failure_result_and_dispatches_nothing(
    actor: Any, turn_action: Any, reason: str
) -> None:
    dispatch = RecordingDispatch()
    trace_filter = RecordingFilter()
    factory = RecordingFactory()
    logger = RecordingLogger()
    processor = CommandProcessor(dispatch, logger, trace_filter=trace_filter, trace_factory=factory)
    result = run(processor, actor, turn_action)
    assert dispatch.calls == []
    assert trace_filter.asked == [] and factory.calls == []
    assert result["success"] is False
    assert result["turnEnded"] is True
    assert reason in result["error"]
    assert "actionResult" in result and "originalInput" in result
    assert any(reason in message for message in logger.at("error"))


def test_malformed_failure_keeps_what_input_it_could_read() -> None:
    processor = CommandProcessor(RecordingDispatch(), RecordingLogger())
    with_command = run(processor, {"id": ""}, go())
    assert with_command["originalInput"] == "go north"
    assert with_command["actionResult"] == {"actionId": "core:go"}
    without_command = run(processor, None, {"actionDefinitionId": "core:wait"})
    assert without_command["originalInput"] == "core:wait"
    nothing = run(processor, {"id": "p1"}, {"actionDefinitionId": ""})
    assert nothing["originalInput"] == ""
    assert nothing["actionResult"] == {"actionId": None}
    unreadable = run(processor, {"id": "p1"}, ExplodingMapping())
    assert (unreadable["originalInput"], unreadable["actionResult"]) == ("", {"actionId": None})


def test_malformed_input_with_a_broken_logger_still_returns_a_failure() -> None:
    result = run(CommandProcessor(RecordingDispatch(), BrokenLogger()), None, go())
    assert result["success"] is False


# -- the dispatch service raising ------------------------------------------------------------------


def test_dispatch_service_exception_gives_a_failure_result_and_is_logged() -> None:
    logger = RecordingLogger()
    processor = CommandProcessor(RecordingDispatch(RuntimeError("bus on fire")), logger)
    result = run(processor, {"id": "p1"}, go())
    assert result["success"] is False and result["turnEnded"] is True
    assert result["error"]
    assert result["internalError"] == "RuntimeError: bus on fire"
    assert any("bus on fire" in message for message in logger.at("error"))


def test_dispatch_service_exception_is_the_traces_error() -> None:
    processor, _, sink = traced(RecordingDispatch(ValueError("nope")))
    result = run(processor, {"id": "p1"}, go())
    assert result["success"] is False
    [trace] = sink.traces
    assert trace.status == "error"
    assert trace.to_dict()["error"]["message"] == "nope"
    assert trace.to_dict()["result"] is None


def test_standard_logger_gets_the_traceback_as_redacted_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    processor = CommandProcessor(RecordingDispatch(KeyError("Bearer abcdefghijklmnopqrstuvwxyz")))
    with caplog.at_level(logging.ERROR, logger="actiontrace"):
        run(processor, {"id": "p1"}, go())
    [record] = caplog.records
    # The traceback is formatted into the message, through the value rules; the raw exception
    # never reaches the application's handlers.
    assert record.exc_info is None
    message = record.getMessage()
    assert "Traceback (most recent call last)" in message and "KeyError" in message
    assert "abcdefghijklmnopqrstuvwxyz" not in message


def test_unprintable_and_empty_exceptions_are_described() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    first = run(CommandProcessor(RecordingDispatch(Unprintable())), {"id": "p"}, go())
    assert first["internalError"] == "Unprintable: <unprintable>"
    second = run(CommandProcessor(RecordingDispatch(LookupError())), {"id": "p"}, go())
    assert second["internalError"] == "LookupError"


@pytest.mark.parametrize("error", [asyncio.CancelledError(), KeyboardInterrupt()])
def test_requests_to_stop_propagate_untraced(error: BaseException) -> None:
    processor = CommandProcessor(RecordingDispatch(error))
    with pytest.raises(type(error)):
        run(processor, {"id": "p1"}, go())


def test_cancellation_propagates_when_the_trace_could_not_be_made() -> None:
    processor = CommandProcessor(
        RecordingDispatch(asyncio.CancelledError()),
        RecordingLogger(),
        trace_filter=ActionTraceFilter(),
        trace_factory=Raising(),
        trace_output_service=ListOutput(),
    )
    with pytest.raises(asyncio.CancelledError):
        run(processor, {"id": "p1"}, go())


def test_cancellation_during_a_traced_dispatch_is_recorded_then_propagates() -> None:
    processor, _, sink = traced(RecordingDispatch(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        run(processor, {"id": "p1"}, go())
    [trace] = sink.traces
    assert trace.status == "error"
    assert trace.to_dict()["error"]["type"] == "CancelledError"


# -- tracing ---------------------------------------------------------------------------------------


def test_traced_action_records_start_payload_and_result_before_returning() -> None:
    output = AsyncOutput()
    processor, factory, _ = traced(output=output)
    result = run(processor, {"id": "p1"}, go(targetId="door"))
    assert result["success"] is True
    assert factory.calls == [
        {
            "action_id": "core:go",
            "actor_id": "p1",
            "turn_action": go(targetId="door"),
            "verbosity": Verbosity.STANDARD,  # the filter's verbosity_for answer (reference §10)
        }
    ]
    [trace] = output.traces  # the awaitable write_trace finished before dispatch_action returned
    data = trace.to_dict()
    assert [p["phase"] for p in data["execution"]["phases"]] == [
        "dispatch_start",
        "payload_captured",
        "dispatch_completed",
    ]
    assert data["eventPayload"] == {
        "eventName": "core:attempt_action",
        "actorId": "p1",
        "actionId": "core:go",
        "targetId": "door",
        "originalInput": "go north",
    }
    assert data["result"]["success"] is True
    assert trace.status == "success"


def divide_by_zero(payload: Any) -> None:
    1 / 0  # noqa: B018


def test_handler_exception_makes_an_error_trace_with_its_stack() -> None:
    bus = EventBus()
    bus.subscribe(ATTEMPT_ACTION_ID, divide_by_zero)
    processor, _, sink = traced(EventDispatchService(bus, RecordingLogger()))
    assert run(processor, {"id": "p1"}, go())["success"] is False
    [trace] = sink.traces
    assert trace.status == "error"
    data = trace.to_dict()
    assert data["result"] is None
    assert data["error"]["type"] == "ZeroDivisionError"
    assert "divide_by_zero" in data["error"]["stack"]


def test_dispatch_service_saying_false_without_an_exception_makes_a_failed_trace() -> None:
    processor, _, sink = traced(RecordingDispatch(False))
    assert run(processor, {"id": "p1"}, go())["success"] is False
    [trace] = sink.traces
    assert trace.status == "failed"
    assert trace.to_dict()["result"]["success"] is False
    assert trace.to_dict()["error"] is None


def test_trace_payload_is_sanitised() -> None:
    dispatch = RecordingDispatch()
    processor, _, sink = traced(dispatch)
    run(
        processor,
        {"id": "p1"},
        go(commandString="login password hunter2 Bearer abcdefghijklmnopqrstu"),
    )
    recorded = sink.traces[0].to_dict()["eventPayload"]["originalInput"]
    assert "abcdefghijklmnopqrstu" not in recorded
    # The handlers still see the real input: sanitising is for the trace only.
    assert "abcdefghijklmnopqrstu" in dispatch.calls[0][1]["originalInput"]


def test_filter_saying_no_means_no_trace() -> None:
    factory = RecordingFactory()
    sink = ListOutput()
    trace_filter = ActionTraceFilter(excluded_actions=["core:go"])
    processor = CommandProcessor(
        RecordingDispatch(),
        trace_filter=trace_filter,
        trace_factory=factory,
        trace_output_service=sink,
    )
    run(processor, {"id": "p1"}, go())
    run(processor, {"id": "p1"}, {"actionDefinitionId": "core:take"})
    assert [c["action_id"] for c in factory.calls] == ["core:take"]
    assert [t.action_id for t in sink.traces] == ["core:take"]


def test_truthy_filter_answer_traces_and_broken_truth_is_a_fault() -> None:
    class NoBool:
        def __bool__(self) -> bool:
            raise RuntimeError("undecidable")

    logger = RecordingLogger()
    factory = RecordingFactory()
    processor = CommandProcessor(
        RecordingDispatch(), logger, trace_filter=RecordingFilter(1), trace_factory=factory
    )
    assert run(processor, {"id": "p1"}, go())["success"] is True
    assert len(factory.calls) == 1
    broken = CommandProcessor(
        RecordingDispatch(), logger, trace_filter=RecordingFilter(NoBool()), trace_factory=factory
    )
    assert run(broken, {"id": "p1"}, go())["success"] is True
    assert len(factory.calls) == 1
    assert any("undecidable" in message for message in logger.at("warning"))


class LookupFilter:
    """A filter whose should_trace is a dict's own lookup, judging misses as ``judge`` says."""

    def __init__(self, judge: Callable[[str], Any]) -> None:
        class Verdicts(dict[str, Any]):
            def __missing__(self, action_id: str) -> Any:
                return judge(action_id)

        self.should_trace = Verdicts().__getitem__


@pytest.mark.parametrize("sync", [False, True])
def test_a_filter_answering_from_a_dict_is_looked_up_in_place_and_its_fault_is_no(
    sync: bool,
) -> None:
    """ActionTraceFilter without sampling answers from a dict: the processor looks it up itself
    (a filter that says no costs the game a subscript); a fault in that lookup is logged and the
    action is dispatched untraced, as with any faulty filter."""

    class NoBool:
        def __bool__(self) -> bool:
            raise RuntimeError("undecidable")

    def judge(action_id: str) -> Any:
        if action_id == "core:boom":
            raise RuntimeError("filter broke")
        return NoBool() if action_id == "core:odd" else action_id == "core:take"

    class Dispatch(RecordingDispatch):
        def dispatch_with_error_handling_sync(
            self, event_name: str, payload: dict[str, Any], context: str
        ) -> bool:
            self.calls.append((event_name, dict(payload), context))
            return True

    logger = RecordingLogger()
    factory = RecordingFactory()
    dispatch = Dispatch()
    processor = CommandProcessor(
        dispatch, logger, trace_filter=LookupFilter(judge), trace_factory=factory
    )

    def act(action_id: str) -> dict[str, Any]:
        turn = {"actionDefinitionId": action_id}
        if sync:
            return processor.dispatch_action_sync({"id": "p1"}, turn)
        return run(processor, {"id": "p1"}, turn)

    assert processor._parts.verdicts is not None
    names = ("core:go", "core:take", "core:boom", "core:odd")
    assert [act(name)["success"] for name in names] == [True] * 4
    assert [call["action_id"] for call in factory.calls] == ["core:take"]
    assert len(dispatch.calls) == 4
    assert any("filter broke" in message for message in logger.at("warning"))
    assert any("undecidable" in message for message in logger.at("warning"))


def test_only_a_filter_answering_from_a_dict_is_looked_up_in_place() -> None:
    def verdicts(trace_filter: Any) -> Any:
        processor = CommandProcessor(
            RecordingDispatch(), trace_filter=trace_filter, trace_factory=RecordingFactory()
        )
        return processor._parts.verdicts

    assert verdicts(ActionTraceFilter(traced_actions=("core:*",))) is not None
    assert verdicts(ActionTraceFilter(sample_rate=0.5)) is None  # counts its calls: it is called
    assert verdicts(RecordingFilter()) is None
    assert verdicts(None) is None


def test_trace_is_created_without_an_output_service() -> None:
    factory = RecordingFactory()
    processor = CommandProcessor(
        RecordingDispatch(), trace_filter=ActionTraceFilter(), trace_factory=factory
    )
    assert run(processor, {"id": "p1"}, go())["success"] is True
    [trace] = factory.traces
    assert trace.status == "success"


class ClockSpy:
    """Counts the trace module's clock reads and sanitiser calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        for name in ("_perf_ns", "_wall_ns", "sanitize_to_json", "describe_error"):
            monkeypatch.setattr(
                trace_module, name, self._counting(name, getattr(trace_module, name))
            )

    def _counting(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return real(*args, **kwargs)

        return spy


@pytest.mark.parametrize(
    "setup",
    ["no filter or factory", "filter only", "factory only", "filter says no", "filter disabled"],
)
def test_untraced_dispatch_does_no_tracing_work(
    setup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace_filter: Any = None
    factory: Any = None
    if setup in ("filter only", "filter says no"):
        trace_filter = RecordingFilter(False)
    if setup == "filter disabled":
        trace_filter = ActionTraceFilter(enabled=False)
    if setup in ("factory only", "filter says no", "filter disabled"):
        factory = RecordingFactory()
    output = ListOutput()
    processor = CommandProcessor(
        RecordingDispatch(),
        RecordingLogger(),
        trace_filter=trace_filter,
        trace_factory=factory,
        trace_output_service=output,
    )
    spy = ClockSpy(monkeypatch)
    for _ in range(3):
        assert run(processor, {"id": "p1"}, go())["success"] is True
    assert spy.calls == {}
    assert output.traces == []
    if factory is not None:
        assert factory.calls == []
    if setup == "filter only":
        assert trace_filter.asked == []  # without a factory the filter is not even asked
    if setup == "filter says no":
        assert trace_filter.asked == ["core:go"] * 3


def test_clock_spy_sees_the_work_of_a_traced_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    # The control for the test above: the same spy does see a traced dispatch's work.
    processor, _, _ = traced()
    spy = ClockSpy(monkeypatch)
    run(processor, {"id": "p1"}, go())
    assert spy.calls["_perf_ns"] >= 3
    # The payload is always sanitised; the turn action may come from the trace's memo.
    assert spy.calls["sanitize_to_json"] >= 1


@pytest.mark.parametrize("given", ["trace_filter", "trace_factory"])
def test_half_configured_tracing_warns_at_construction(given: str) -> None:
    logger = RecordingLogger()
    part = ActionTraceFilter() if given == "trace_filter" else ActionExecutionTraceFactory()
    CommandProcessor(RecordingDispatch(), logger, **{given: part})
    [message] = logger.at("warning")
    assert given in message and "tracing is off" in message


def test_concurrent_dispatches_each_get_their_own_trace() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        seen.append(payload["actorId"])

    bus.subscribe(ATTEMPT_ACTION_ID, handler)
    processor, _, sink = traced(EventDispatchService(bus))

    async def session() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(processor.dispatch_action({"id": f"p{i}"}, go()) for i in range(20))
        )

    results = asyncio.run(session())
    assert all(r["success"] for r in results)
    assert sorted(seen) == sorted(f"p{i}" for i in range(20))
    assert sorted(t.actor_id for t in sink.traces) == sorted(seen)
    for trace in sink.traces:
        assert trace.to_dict()["eventPayload"]["actorId"] == trace.actor_id


def test_processor_serves_several_event_loops() -> None:
    processor, _, sink = traced()
    for _ in range(3):
        assert run(processor, {"id": "p1"}, go())["success"] is True
    assert len(sink.traces) == 3


# -- tracing faults never change the outcome -------------------------------------------------------


class TraceWith:
    """A real trace whose one named capture raises."""

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.real = ActionExecutionTraceFactory()

    def create_trace(self, **kwargs: Any) -> Any:
        trace = self.real.create_trace(**kwargs)
        broken = self.broken

        class Proxy:
            def __getattr__(self, name: str) -> Any:
                if name == broken:
                    raise_error: Callable[..., Any] = Raising()._raise
                    return raise_error
                return getattr(trace, name)

        return Proxy()


@pytest.mark.parametrize(
    ("name", "components", "where"),
    [
        ("filter raises", {"trace_filter": Raising()}, "trace_filter.should_trace"),
        ("factory raises", {"trace_factory": Raising()}, "trace_factory.create_trace"),
        ("output raises", {"trace_output_service": Raising()}, "trace_output_service.write_trace"),
        ("start raises", {"trace_factory": TraceWith("capture_dispatch_start")}, "create_trace"),
        (
            "payload raises",
            {"trace_factory": TraceWith("capture_event_payload")},
            "capture_event_payload",
        ),
        (
            "result raises",
            {"trace_factory": TraceWith("capture_dispatch_result")},
            "capture_dispatch_result",
        ),
    ],
)
def test_each_tracing_fault_is_logged_and_swallowed(
    name: str, components: dict[str, Any], where: str
) -> None:
    parts: dict[str, Any] = {
        "trace_filter": ActionTraceFilter(),
        "trace_factory": ActionExecutionTraceFactory(),
        "trace_output_service": ListOutput(),
        **components,
    }
    logger = RecordingLogger()
    dispatch = RecordingDispatch()
    processor = CommandProcessor(dispatch, logger, **parts)
    result = run(processor, {"id": "p1"}, go())
    assert result == {
        "success": True,
        "turnEnded": False,
        "originalInput": "go north",
        "actionResult": {"actionId": "core:go"},
    }
    assert len(dispatch.calls) == 1
    warnings = logger.at("warning")
    assert any(where in message and "core:go" in message for message in warnings), warnings


def test_capture_error_fault_is_swallowed_when_the_dispatch_service_raises() -> None:
    logger = RecordingLogger()
    processor = CommandProcessor(
        RecordingDispatch(RuntimeError("bus")),
        logger,
        trace_filter=ActionTraceFilter(),
        trace_factory=TraceWith("capture_error"),
        trace_output_service=ListOutput(),
    )
    result = run(processor, {"id": "p1"}, go())
    assert result["success"] is False and result["internalError"] == "RuntimeError: bus"
    assert any("capture_error" in message for message in logger.at("warning"))


def test_async_output_that_raises_is_swallowed() -> None:
    class FailingAsyncOutput:
        async def write_trace(self, trace: Any) -> None:
            await asyncio.sleep(0)
            raise OSError(28, "No space left on device")

    logger = RecordingLogger()
    processor, _, _ = traced(output=FailingAsyncOutput(), logger=logger)
    assert run(processor, {"id": "p1"}, go())["success"] is True
    assert any("No space left" in message for message in logger.at("warning"))


def test_tracing_faults_with_a_broken_logger_still_do_not_change_the_outcome() -> None:
    processor = CommandProcessor(
        RecordingDispatch(),
        BrokenLogger(),
        trace_filter=Raising(),
        trace_factory=Raising(),
        trace_output_service=Raising(),
    )
    assert run(processor, {"id": "p1"}, go())["success"] is True


class Game:
    """A scripted little game: handlers that move, take, talk, attack; some fail, some raise."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.inventory: dict[str, list[str]] = {}
        self.seen: list[dict[str, Any]] = []
        self.bus = EventBus()
        self.bus.subscribe(ATTEMPT_ACTION_ID, self.record)
        self.bus.subscribe(ATTEMPT_ACTION_ID, self.handle)

    def record(self, payload: dict[str, Any]) -> None:
        self.seen.append(dict(payload))

    async def handle(self, payload: dict[str, Any]) -> None:
        actor, action = payload["actorId"], payload["actionId"]
        if action == "core:go":
            self.positions[actor] = self.positions.get(actor, 0) + 1
        elif action == "core:take":
            await asyncio.sleep(0)
            self.inventory.setdefault(actor, []).append(payload.get("targetId", "?"))
        elif action == "core:attack" and payload.get("targetId") == "dragon":
            raise ValueError("the dragon is too strong")
        elif action == "core:talk":
            await asyncio.sleep(0)
            raise RuntimeError("nobody answers")


class ExplodingDispatch:
    """The real service, except that it raises for one action id."""

    def __init__(self, inner: EventDispatchService) -> None:
        self.inner = inner

    async def dispatch_with_error_handling(self, event: str, payload: Any, context: str) -> bool:
        if payload["actionId"] == "sys:explode":
            raise RuntimeError("dispatch service exploded")
        return await self.inner.dispatch_with_error_handling(event, payload, context)


SCRIPT: list[tuple[Any, Any]] = [
    ({"id": "p1"}, {"actionDefinitionId": "core:go", "commandString": "go north"}),
    (Actor("p2"), {"actionDefinitionId": "core:take", "targetId": "lamp"}),
    ({"id": "p1"}, {"actionDefinitionId": "core:attack", "targetId": "goblin"}),
    ({"id": "p2"}, {"actionDefinitionId": "core:attack", "targetId": "dragon"}),
    ({"id": "p1"}, {"actionDefinitionId": "core:talk", "commandString": "talk to bard"}),
    ({"id": ""}, {"actionDefinitionId": "core:go"}),
    ({"id": "p3"}, {"commandString": "no action id"}),
    ({"id": "p3"}, {"actionDefinitionId": "sys:explode", "commandString": "boom"}),
    ({"id": "p3"}, {"actionDefinitionId": "core:take", "parameters": {"targetId": "sword"}}),
    (Actor("p2"), {"actionDefinitionId": "core:go", "commandString": "go south"}),
    ({"id": "p1"}, {"actionDefinitionId": "core:wait", "parameters": {"password": "hunter2"}}),
    ({"id": "p2"}, {"actionDefinitionId": "core:talk"}),
    ({"id": "p1"}, "not a turn action"),
    ({"id": "p1"}, {"actionDefinitionId": "core:go", "commandString": "go east"}),
]


def play(**tracing: Any) -> tuple[list[dict[str, Any]], Game]:
    game = Game()
    service = ExplodingDispatch(EventDispatchService(game.bus, RecordingLogger()))
    processor = CommandProcessor(service, RecordingLogger(), **tracing)

    async def session() -> list[dict[str, Any]]:
        return [await processor.dispatch_action(actor, action) for actor, action in SCRIPT]

    return asyncio.run(session()), game


# Each returns the processor's tracing parts, and under "reached" the broken ones a dispatch
# must reach (a raising filter stops tracing before the factory and output are asked).


def broken_everywhere() -> dict[str, Any]:
    trace_filter = Raising()
    return {
        "trace_filter": trace_filter,
        "trace_factory": Raising(),
        "trace_output_service": Raising(),
        "reached": [trace_filter],
    }


def broken_after_the_filter() -> dict[str, Any]:
    factory = Raising()
    return {
        "trace_filter": ActionTraceFilter(),
        "trace_factory": factory,
        "trace_output_service": Raising(),
        "reached": [factory],
    }


class StartedButBroken(Raising):
    """A trace that starts, then raises on every other capture."""

    def capture_dispatch_start(self) -> None:
        self.calls += 1


def broken_traces_and_output() -> dict[str, Any]:
    trace = StartedButBroken()

    class BrokenTraceFactory:
        def create_trace(self, **kwargs: Any) -> Any:
            return trace

    output = Raising()
    return {
        "trace_filter": ActionTraceFilter(),
        "trace_factory": BrokenTraceFactory(),
        "trace_output_service": output,
        "reached": [trace, output],
    }


@pytest.mark.parametrize(
    "broken", [broken_everywhere, broken_after_the_filter, broken_traces_and_output]
)
def test_tracing_never_changes_the_outcome(broken: Callable[[], dict[str, Any]]) -> None:
    plain_results, plain_game = play()
    sink = ListOutput()
    traced_results, traced_game = play(
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=sink,
    )
    parts = broken()
    reached = parts.pop("reached")
    broken_results, broken_game = play(**parts)

    assert len(plain_results) == len(SCRIPT)
    for index, (plain, with_tracing, with_faults) in enumerate(
        zip(plain_results, traced_results, broken_results, strict=True)
    ):
        assert with_tracing == plain, index
        assert with_faults == plain, index
    for game in (traced_game, broken_game):
        assert game.seen == plain_game.seen
        assert game.positions == plain_game.positions
        assert game.inventory == plain_game.inventory

    # The session really exercised every kind of outcome ...
    assert [r["success"] for r in plain_results] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
        True,
    ]
    assert plain_game.positions == {"p1": 2, "p2": 1}
    assert plain_game.inventory == {"p2": ["lamp"], "p3": ["sword"]}
    # ... the traced run wrote one trace per well-formed action, with the right statuses ...
    # (a handler that raised makes an error trace, as the dispatch service raising does)
    assert [t.status for t in sink.traces] == [
        "success",
        "success",
        "success",
        "error",
        "error",
        "error",
        "success",
        "success",
        "success",
        "error",
        "success",
    ]
    # ... and every broken component was really called (and so really failed).
    assert all(part.calls > 0 for part in reached)


# -- construction ----------------------------------------------------------------------------------


class Unreadable:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("attribute access explodes")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"event_dispatch_service": object()}, "event_dispatch_service"),
        ({"event_dispatch_service": Unreadable()}, "event_dispatch_service"),
        ({"trace_filter": object()}, "trace_filter"),
        ({"trace_factory": object()}, "trace_factory"),
        ({"trace_output_service": object()}, "trace_output_service"),
        ({"logger": object()}, "logger"),
    ],
)
def test_constructor_rejects_objects_lacking_their_method(
    kwargs: dict[str, Any], argument: str
) -> None:
    arguments: dict[str, Any] = {"event_dispatch_service": RecordingDispatch(), **kwargs}
    with pytest.raises(InvalidArgumentError, match=argument):
        CommandProcessor(**arguments)


def test_properties_return_the_parts_given() -> None:
    dispatch, trace_filter, factory, output = (
        RecordingDispatch(),
        ActionTraceFilter(),
        ActionExecutionTraceFactory(),
        ListOutput(),
    )
    processor = CommandProcessor(dispatch, None, trace_filter, factory, output)
    assert processor.event_dispatch_service is dispatch
    assert processor.trace_filter is trace_filter
    assert processor.trace_factory is factory
    assert processor.trace_output_service is output


# -- the integration guide -------------------------------------------------------------------------


def test_integration_guide_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guide = Path(__file__).resolve().parents[1] / "docs" / "integration.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the guide's temp dirs land here
    from actiontrace.pipeline import default as tracer_module

    monkeypatch.setattr(tracer_module, "_default", None)  # the guide configures its own
    namespace: dict[str, Any] = {"__name__": "integration_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"integration.md block {index}", "exec"), namespace)
