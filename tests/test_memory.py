"""Traces keep no memory after they are dropped, and never keep a captured exception (or the
frames of its traceback) alive.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
import weakref
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, ActionExecutionTraceFactory

TURN_ACTION = {
    "actionDefinitionId": "core:go",
    "commandString": "go north",
    "parameters": {"direction": "north"},
}
COUNT = 20_000
TRACED_COUNT = 10_000  # tracemalloc makes every allocation ~5x slower


class Bulky:
    """A large object that lives only in the frame that raises."""

    def __init__(self) -> None:
        self.blob = bytearray(4096)


class DispatchFailedError(RuntimeError):
    """A user exception (built-in exceptions cannot be weakly referenced)."""


class HandlerError(ValueError):
    """The handler's own failure, the cause."""


def _fail(depth: int) -> None:
    local = Bulky()  # noqa: F841 - kept in the frame the traceback references
    if depth == 0:
        raise HandlerError("handler failed")
    _fail(depth - 1)


def _raised_error() -> BaseException:
    try:
        try:
            _fail(3)
        except HandlerError as inner:
            raise DispatchFailedError("dispatch failed") from inner
    except DispatchFailedError as error:
        return error
    raise AssertionError("unreachable")


def _completed_trace(factory: ActionExecutionTraceFactory, index: int) -> ActionExecutionTrace:
    trace = factory.create_trace(action_id="core:go", actor_id="player-1", turn_action=TURN_ACTION)
    trace.capture_dispatch_start()
    trace.capture_event_payload(
        {
            "eventType": "core:attempt_action",
            "actor": "player-1",
            "action": TURN_ACTION,
            "timestamp": int(time.time() * 1000),
            "password": "hunter2",
        }
    )
    if index % 40 == 0:
        trace.capture_error(_raised_error())
    else:
        trace.capture_dispatch_result({"success": index % 3 != 0, "metadata": {"n": index % 7}})
    trace.to_json()
    return trace


def _live_traces() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is ActionExecutionTrace)


def test_memory_returns_to_baseline_after_dropping_many_traces() -> None:
    factory = ActionExecutionTraceFactory()
    for index in range(200):  # warm every cache the hot path uses
        _completed_trace(factory, index)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        traces = [_completed_trace(factory, index) for index in range(TRACED_COUNT)]
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
        assert len(traces) == TRACED_COUNT
        del traces
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert held > TRACED_COUNT * 200  # the traces were really held while alive
    assert left < 64 * 1024, f"{left} bytes still held after dropping {TRACED_COUNT} traces"


def test_dropped_traces_are_collected() -> None:
    factory = ActionExecutionTraceFactory()
    gc.collect()
    before = _live_traces()
    traces = [_completed_trace(factory, index) for index in range(COUNT)]
    assert _live_traces() - before == COUNT
    del traces
    gc.collect()
    assert _live_traces() == before


def test_trace_does_not_keep_the_exception_or_its_frames_alive() -> None:
    factory = ActionExecutionTraceFactory()
    trace = factory.create_trace(action_id="core:go", actor_id="p", turn_action=TURN_ACTION)
    trace.capture_dispatch_start()
    error = _raised_error()
    assert error.__traceback__ is not None
    frames_alive: list[weakref.ref[Any]] = []
    tb = error.__cause__.__traceback__  # type: ignore[union-attr]
    while tb is not None:
        local = tb.tb_frame.f_locals.get("local")
        if isinstance(local, Bulky):
            frames_alive.append(weakref.ref(local))
        tb = tb.tb_next
    assert len(frames_alive) == 4
    error_ref = weakref.ref(error)
    cause_ref = weakref.ref(error.__cause__)  # type: ignore[arg-type]
    trace.capture_error(error)
    del error, tb, local
    gc.collect()
    assert error_ref() is None
    assert cause_ref() is None
    assert all(ref() is None for ref in frames_alive)
    assert trace.to_dict()["error"]["cause"]["type"] == "HandlerError"  # type: ignore[index]


def test_many_error_traces_keep_no_exception_alive() -> None:
    factory = ActionExecutionTraceFactory()
    refs = []
    traces = []
    for _ in range(500):
        trace = factory.create_trace(action_id="core:go", actor_id="p", turn_action=TURN_ACTION)
        trace.capture_dispatch_start()
        error = _raised_error()
        refs.append(weakref.ref(error))
        trace.capture_error(error)
        traces.append(trace)
    del error
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0
    assert all(trace.has_error for trace in traces)


def test_trace_payload_does_not_keep_the_callers_objects_alive() -> None:
    trace = ActionExecutionTrace(action_id="a", actor_id="b", turn_action=TURN_ACTION)
    trace.capture_dispatch_start()
    payload = {"bulky": Bulky(), "nested": [Bulky()]}
    bulky_ref = weakref.ref(payload["bulky"])
    nested_ref = weakref.ref(payload["nested"][0])  # type: ignore[index]
    trace.capture_event_payload(payload)
    trace.capture_dispatch_result({"success": True, "metadata": {"obj": Bulky()}})
    del payload
    gc.collect()
    assert bulky_ref() is None
    assert nested_ref() is None


def test_traces_cannot_be_weakly_referenced() -> None:
    # __slots__ without __weakref__ (8 bytes saved per trace): the checks above use gc instead.
    trace = ActionExecutionTrace(action_id="a", actor_id="b", turn_action=TURN_ACTION)
    with pytest.raises(TypeError):
        weakref.ref(trace)


def test_huge_keys_are_not_kept_alive_by_the_key_caches() -> None:
    from actiontrace import is_sensitive_key, sanitize_payload

    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(20):
            key = f"{index}" + "k" * 500_000
            sanitize_payload({key: 1})
            is_sensitive_key(key)
            del key
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert left < 256 * 1024, f"{left} bytes of keys kept alive"
