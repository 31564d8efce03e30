"""Ref. §3: ActionExecutionTrace — construction, lifecycle, phases, timing, status, immutability,
serialisation. Every trace a test here constructs is validated against the packaged schema (and
its ``to_json()`` compared with ``to_dict()``) when the test ends.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
import types
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import actiontrace.trace as trace_module
from actiontrace import (
    REDACTED,
    ActionExecutionTrace,
    ExecutionPhase,
    ExecutionStatus,
    InvalidArgumentError,
    TraceStateError,
)

pytestmark = pytest.mark.usefixtures("validate_all_traces")

TURN_ACTION = {
    "actionDefinitionId": "core:go",
    "commandString": "go north",
    "parameters": {"direction": "north"},
}
CREATED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def new_trace(turn_action: Mapping[str, Any] | None = None) -> ActionExecutionTrace:
    return ActionExecutionTrace(
        action_id="core:go",
        actor_id="player-1",
        turn_action=TURN_ACTION if turn_action is None else turn_action,
    )


def started() -> ActionExecutionTrace:
    trace = new_trace()
    trace.capture_dispatch_start()
    return trace


def compact_bytes(value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(text.encode("utf-8"))


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Drive the trace clock by hand: the trace reads ``clock[0]`` nanoseconds."""
    clock = [1_000_000_000]
    monkeypatch.setattr(trace_module, "_perf_ns", lambda: clock[0])
    yield clock


# -- constructor -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", None, 42, b"core:go", ["core:go"]])
def test_constructor_rejects_invalid_action_id(bad: Any) -> None:
    with pytest.raises(
        InvalidArgumentError, match="ActionExecutionTrace requires valid action_id string"
    ):
        ActionExecutionTrace(action_id=bad, actor_id="player-1", turn_action=TURN_ACTION)


@pytest.mark.parametrize("bad", ["", None, 7, b"player-1"])
def test_constructor_rejects_invalid_actor_id(bad: Any) -> None:
    with pytest.raises(
        InvalidArgumentError, match="ActionExecutionTrace requires valid actor_id string"
    ):
        ActionExecutionTrace(action_id="core:go", actor_id=bad, turn_action=TURN_ACTION)


@pytest.mark.parametrize("bad", [None, "core:go", [("actionDefinitionId", "x")], 3])
def test_constructor_rejects_non_mapping_turn_action(bad: Any) -> None:
    with pytest.raises(
        InvalidArgumentError, match="ActionExecutionTrace requires valid turn_action mapping"
    ):
        ActionExecutionTrace(action_id="core:go", actor_id="player-1", turn_action=bad)


def test_constructor_checks_action_id_before_actor_id_and_turn_action() -> None:
    with pytest.raises(InvalidArgumentError, match="action_id"):
        ActionExecutionTrace(action_id="", actor_id="", turn_action=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="actor_id"):
        ActionExecutionTrace(action_id="a", actor_id="", turn_action=None)  # type: ignore[arg-type]


def test_constructor_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ActionExecutionTrace("core:go", "player-1", TURN_ACTION)  # type: ignore[misc]


def test_constructor_accepts_any_mapping_as_turn_action() -> None:
    trace = new_trace(types.MappingProxyType({"actionDefinitionId": "core:go"}))
    assert trace.to_dict()["turnAction"]["actionDefinitionId"] == "core:go"


def test_constructor_rejects_rules_that_are_not_sanitize_rules() -> None:
    with pytest.raises(InvalidArgumentError, match="rules"):
        ActionExecutionTrace(
            action_id="a",
            actor_id="b",
            turn_action=TURN_ACTION,
            rules="password",  # type: ignore[arg-type]
        )


def test_new_trace_is_pending_with_nothing_captured() -> None:
    trace = new_trace()
    assert trace.action_id == "core:go"
    assert trace.actor_id == "player-1"
    assert not trace.is_complete
    assert not trace.has_error
    assert trace.duration is None
    assert trace.status is ExecutionStatus.PENDING
    assert trace.get_execution_phases() == []
    data = trace.to_dict()
    assert data["execution"] == {
        "startTime": None,
        "endTime": None,
        "duration": None,
        "status": "pending",
        "phases": [],
        "startEpochNs": None,
    }
    assert data["eventPayload"] is None
    assert data["result"] is None
    assert data["error"] is None


# -- lifecycle errors --------------------------------------------------------------------------


def test_capture_dispatch_start_twice_raises_trace_state_error() -> None:
    trace = started()
    with pytest.raises(TraceStateError, match="Dispatch already started for this trace"):
        trace.capture_dispatch_start()


def test_capture_dispatch_start_after_completion_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    with pytest.raises(TraceStateError, match="Dispatch already started for this trace"):
        trace.capture_dispatch_start()


def test_capture_payload_before_start_raises_trace_state_error() -> None:
    with pytest.raises(
        TraceStateError,
        match=re.escape("Must call capture_dispatch_start() before capturing payload"),
    ):
        new_trace().capture_event_payload({"a": 1})


def test_capture_payload_after_result_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    with pytest.raises(TraceStateError, match="Cannot capture payload after dispatch has ended"):
        trace.capture_event_payload({"a": 1})


def test_capture_payload_after_error_ended_dispatch_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_error(ValueError("boom"))
    with pytest.raises(TraceStateError, match="Cannot capture payload after dispatch has ended"):
        trace.capture_event_payload({"a": 1})


def test_capture_payload_twice_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_event_payload({"a": 1})
    with pytest.raises(TraceStateError, match="Event payload already captured"):
        trace.capture_event_payload({"a": 2})
    assert trace.to_dict()["eventPayload"] == {"a": 1}


def test_capture_payload_checks_ended_before_already_captured() -> None:
    trace = started()
    trace.capture_event_payload({"a": 1})
    trace.capture_dispatch_result({"success": True})
    with pytest.raises(TraceStateError, match="Cannot capture payload after dispatch has ended"):
        trace.capture_event_payload({"a": 2})


def test_capture_result_before_start_raises_trace_state_error() -> None:
    with pytest.raises(
        TraceStateError,
        match=re.escape("Must call capture_dispatch_start() before capturing result"),
    ):
        new_trace().capture_dispatch_result({"success": True})


def test_capture_result_twice_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    with pytest.raises(TraceStateError, match="Dispatch result already captured"):
        trace.capture_dispatch_result({"success": False})
    assert trace.status is ExecutionStatus.SUCCESS


def test_capture_result_after_error_ended_dispatch_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_error(ValueError("boom"))
    with pytest.raises(TraceStateError, match="Dispatch result already captured"):
        trace.capture_dispatch_result({"success": True})
    assert trace.to_dict()["result"] is None


def test_capture_error_before_start_raises_trace_state_error() -> None:
    with pytest.raises(
        TraceStateError,
        match=re.escape("Must call capture_dispatch_start() before capturing error"),
    ):
        new_trace().capture_error(ValueError("boom"))


def test_capture_error_twice_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_error(ValueError("first"))
    with pytest.raises(TraceStateError, match="Error already captured"):
        trace.capture_error(ValueError("second"))
    assert trace.to_dict()["error"]["message"] == "first"


def test_capture_error_after_result_and_error_raises_trace_state_error() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    trace.capture_error(ValueError("first"))
    with pytest.raises(TraceStateError, match="Error already captured"):
        trace.capture_error(ValueError("second"))


def test_refused_capture_leaves_the_trace_unchanged() -> None:
    trace = started()
    trace.capture_event_payload({"a": 1})
    trace.capture_dispatch_result({"success": False})
    before = trace.to_dict()
    for call in (
        trace.capture_dispatch_start,
        lambda: trace.capture_event_payload({"b": 2}),
        lambda: trace.capture_dispatch_result({"success": True}),
    ):
        with pytest.raises(TraceStateError):
            call()
    assert trace.to_dict() == before


@pytest.mark.parametrize("bad", [None, [("success", True)], "success", True, 1])
def test_capture_dispatch_result_with_non_mapping_raises_invalid_argument_error(bad: Any) -> None:
    trace = started()
    with pytest.raises(InvalidArgumentError, match="result"):
        trace.capture_dispatch_result(bad)
    assert not trace.is_complete
    assert trace.status is ExecutionStatus.IN_PROGRESS


# -- the result --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (1, True),
        ("yes", True),
        ([0], True),
        (False, False),
        (0, False),
        ("", False),
        (None, False),
        ([], False),
    ],
)
def test_result_success_is_recorded_by_truthiness(value: Any, expected: bool) -> None:
    trace = started()
    trace.capture_dispatch_result({"success": value})
    result = trace.to_dict()["result"]
    assert result is not None
    assert result["success"] is expected
    assert trace.status is (ExecutionStatus.SUCCESS if expected else ExecutionStatus.FAILED)


def test_result_without_success_key_is_a_failure() -> None:
    trace = started()
    trace.capture_dispatch_result({})
    assert trace.to_dict()["result"]["success"] is False  # type: ignore[index]
    assert trace.status is ExecutionStatus.FAILED


def test_result_success_whose_truth_test_raises_is_a_failure() -> None:
    class Undecided:
        def __bool__(self) -> bool:
            raise RuntimeError("no answer")

    trace = started()
    trace.capture_dispatch_result({"success": Undecided()})
    assert trace.status is ExecutionStatus.FAILED


def test_result_from_a_mapping_whose_lookups_raise_is_a_failure_without_extras() -> None:
    class Hostile(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("no")

        def __iter__(self) -> Iterator[str]:
            return iter(["success"])

        def __len__(self) -> int:
            return 1

        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("no")

    trace = started()
    trace.capture_dispatch_result(Hostile())
    result = trace.to_dict()["result"]
    assert result == {"success": False, "timestamp": trace.end_time, "metadata": None}


def test_capture_dispatch_result_ends_timing() -> None:
    trace = started()
    assert not trace.is_complete
    trace.capture_dispatch_result({"success": True})
    assert trace.is_complete
    assert trace.end_time is not None
    assert trace.duration is not None


def test_result_timestamp_missing_is_recorded_as_end_time() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    data = trace.to_dict()
    assert data["result"]["timestamp"] == data["execution"]["endTime"]  # type: ignore[index]


def test_result_timestamp_none_is_treated_as_missing() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True, "timestamp": None})
    data = trace.to_dict()
    assert data["result"]["timestamp"] == data["execution"]["endTime"]  # type: ignore[index]


@pytest.mark.parametrize("stamp", [1_700_000_000_000, 12.5, "2026-11-24T10:00:00.123Z"])
def test_result_timestamp_given_is_kept(stamp: Any) -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True, "timestamp": stamp})
    assert trace.to_dict()["result"]["timestamp"] == stamp  # type: ignore[index]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
        ("Bearer abcdefghijklmnopqrstuvwxyz", f"Bearer {REDACTED}"),
        ({"at": 1}, '{"at":1}'),
        (True, "true"),
    ],
)
def test_result_timestamp_of_another_type_is_recorded_as_json_safe_text(
    stamp: Any, expected: Any
) -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True, "timestamp": stamp})
    assert trace.to_dict()["result"]["timestamp"] == expected  # type: ignore[index]


def test_result_metadata_missing_is_none() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    assert trace.to_dict()["result"]["metadata"] is None  # type: ignore[index]


def test_result_metadata_is_sanitised() -> None:
    trace = started()
    trace.capture_dispatch_result(
        {
            "success": True,
            "metadata": {
                "handlers": 3,
                "password": "hunter2",
                "note": "Bearer abcdefghijklmnopqrstuvwxyz",
                "ratio": math.nan,
            },
        }
    )
    assert trace.to_dict()["result"]["metadata"] == {  # type: ignore[index]
        "handlers": 3,
        "password": REDACTED,
        "note": f"Bearer {REDACTED}",
        "ratio": "NaN",
    }
    assert "hunter2" not in trace.to_json()


# -- capture_error and timing ------------------------------------------------------------------


def test_capture_error_ends_timing_when_no_result() -> None:
    trace = started()
    trace.capture_error(ValueError("boom"))
    assert trace.is_complete
    assert trace.has_error
    assert trace.end_time is not None
    assert trace.to_dict()["result"] is None


def test_capture_error_after_result_is_allowed_and_keeps_end_time() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    end = trace.end_time
    trace.capture_error(ValueError("late"))
    assert trace.end_time == end
    assert trace.to_dict()["execution"]["endTime"] == end
    assert trace.has_error
    assert trace.status is ExecutionStatus.ERROR


# -- phases ------------------------------------------------------------------------------------


def test_dispatch_start_phase_record() -> None:
    trace = started()
    assert trace.get_execution_phases() == [
        {
            "phase": "dispatch_start",
            "timestamp": trace.start_time,
            "description": "Action dispatch initiated",
        }
    ]


def test_payload_phase_record_has_description_size_and_truncated_flag() -> None:
    trace = started()
    payload = {"eventType": "core:attempt_action", "actor": "player-1"}
    trace.capture_event_payload(payload)
    phase = trace.get_execution_phases()[1]
    assert phase == {
        "phase": "payload_captured",
        "timestamp": phase["timestamp"],
        "description": "Event payload captured",
        "payloadSize": compact_bytes(payload),
        "truncated": False,
    }


def test_payload_size_counts_utf8_bytes_not_characters() -> None:
    payload = {"name": "Zoë ☃ 😀", "line": "a\u2028b", "n": [1, 2.5, None, True]}
    trace = started()
    trace.capture_event_payload(payload)
    size = trace.get_execution_phases()[1]["payloadSize"]
    chars = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
    assert size == compact_bytes(payload)
    assert size > chars


def test_payload_size_is_that_of_the_captured_sanitised_payload() -> None:
    trace = started()
    trace.capture_event_payload({"user": "ann", "password": "a much longer secret value here"})
    captured = trace.to_dict()["eventPayload"]
    assert captured == {"user": "ann", "password": REDACTED}
    assert trace.get_execution_phases()[1]["payloadSize"] == compact_bytes(captured)


def test_payload_phase_says_truncated_for_an_oversized_payload() -> None:
    trace = started()
    trace.capture_event_payload({"blob": "x" * (2 * 1024 * 1024)})
    phase = trace.get_execution_phases()[1]
    assert phase["truncated"] is True
    assert phase["payloadSize"] <= 1024 * 1024
    assert phase["payloadSize"] == compact_bytes(trace.to_dict()["eventPayload"])


@pytest.mark.parametrize(
    ("success", "description"), [(True, "Dispatch succeeded"), (False, "Dispatch failed")]
)
def test_dispatch_completed_phase_record(success: bool, description: str) -> None:
    trace = started()
    trace.capture_dispatch_result({"success": success})
    assert trace.get_execution_phases()[-1] == {
        "phase": "dispatch_completed",
        "timestamp": trace.end_time,
        "description": description,
        "success": success,
    }


def test_error_phase_record() -> None:
    trace = started()
    trace.capture_error(KeyError("missing"))
    assert trace.get_execution_phases()[-1] == {
        "phase": "error_captured",
        "timestamp": trace.end_time,
        "description": "Error occurred: 'missing'",
        "errorType": "KeyError",
    }


def test_phases_are_listed_in_capture_order() -> None:
    trace = started()
    trace.capture_event_payload({"a": 1})
    trace.capture_dispatch_result({"success": True})
    trace.capture_error(ValueError("late"))
    phases = trace.get_execution_phases()
    assert [p["phase"] for p in phases] == [member.value for member in ExecutionPhase]
    stamps = [p["timestamp"] for p in phases]
    assert stamps == sorted(stamps)


# -- times -------------------------------------------------------------------------------------


def test_timestamps_are_perf_counter_milliseconds() -> None:
    trace = new_trace()
    marks = [time.perf_counter_ns() / 1_000_000]
    trace.capture_dispatch_start()
    marks.append(time.perf_counter_ns() / 1_000_000)
    trace.capture_event_payload({"a": 1})
    marks.append(time.perf_counter_ns() / 1_000_000)
    trace.capture_dispatch_result({"success": True})
    marks.append(time.perf_counter_ns() / 1_000_000)
    trace.capture_error(ValueError("after"))
    marks.append(time.perf_counter_ns() / 1_000_000)
    stamps = [p["timestamp"] for p in trace.get_execution_phases()]
    for index, stamp in enumerate(stamps):
        assert isinstance(stamp, float)
        assert marks[index] <= stamp <= marks[index + 1]
    assert trace.to_dict()["error"]["timestamp"] == stamps[-1]  # type: ignore[index]


def test_now_ms_is_the_trace_clock() -> None:
    before = time.perf_counter_ns() / 1_000_000
    now = trace_module.now_ms()
    after = time.perf_counter_ns() / 1_000_000
    assert before <= now <= after


def test_duration_is_positive_and_equals_end_minus_start() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    execution = trace.to_dict()["execution"]
    assert execution["duration"] is not None
    assert execution["duration"] > 0
    assert execution["duration"] == execution["endTime"] - execution["startTime"]  # type: ignore[operator]
    assert trace.duration == execution["duration"]


def test_duration_is_positive_on_a_clock_that_did_not_move(fake_clock: list[int]) -> None:
    for end in ("result", "error"):
        trace = started()
        if end == "result":
            trace.capture_dispatch_result({"success": True})
        else:
            trace.capture_error(ValueError("x"))
        assert trace.duration is not None
        assert trace.duration > 0
        assert trace.duration == trace.end_time - trace.start_time  # type: ignore[operator]


def test_duration_is_none_until_complete() -> None:
    trace = new_trace()
    assert trace.duration is None
    trace.capture_dispatch_start()
    trace.capture_event_payload({})
    assert trace.duration is None


def test_dispatch_start_phase_timestamp_is_start_time() -> None:
    trace = started()
    trace.capture_dispatch_result({"success": True})
    data = trace.to_dict()
    assert data["execution"]["phases"][0]["timestamp"] == data["execution"]["startTime"]


def test_ending_phase_timestamp_is_end_time_for_result_and_for_error() -> None:
    by_result = started()
    by_result.capture_dispatch_result({"success": False})
    by_error = started()
    by_error.capture_error(ValueError("x"))
    for trace, phase in ((by_result, "dispatch_completed"), (by_error, "error_captured")):
        data = trace.to_dict()
        last = data["execution"]["phases"][-1]
        assert last["phase"] == phase
        assert last["timestamp"] == data["execution"]["endTime"]


def test_timestamps_follow_the_clock_exactly(fake_clock: list[int]) -> None:
    trace = new_trace()
    trace.capture_dispatch_start()
    fake_clock[0] += 1_234_567
    trace.capture_dispatch_result({"success": True})
    assert trace.start_time == 1000.0
    assert trace.end_time == 1001.234567
    assert trace.to_summary().endswith("Duration: 1.23ms")


def test_created_at_is_iso_utc_with_milliseconds_and_z() -> None:
    before = time.time_ns() // 1_000_000
    trace = new_trace()
    after = time.time_ns() // 1_000_000
    created = trace.to_dict()["metadata"]["createdAt"]
    assert CREATED_AT_RE.fullmatch(created)
    parsed = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    millis = round(parsed.timestamp() * 1000)
    assert before <= millis <= after


def test_created_at_is_fixed_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1_795_514_400_123_456_789]  # 2026-11-24T10:00:00.123Z
    monkeypatch.setattr(trace_module, "_wall_ns", lambda: wall[0])
    trace = new_trace()
    first = trace.to_dict()["metadata"]["createdAt"]
    assert first == "2026-11-24T10:00:00.123Z"
    wall[0] += 3_600_000_000_000
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True})
    assert trace.to_dict()["metadata"]["createdAt"] == first
    assert json.loads(trace.to_json())["metadata"]["createdAt"] == first


def test_created_at_is_right_for_traces_made_in_different_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall = [0]
    monkeypatch.setattr(trace_module, "_wall_ns", lambda: wall[0])
    expected = {}
    for ns in (1_795_514_400_123_456_789, 1_795_514_401_999_000_000, 1_795_514_400_001_000_000):
        wall[0] = ns
        expected[ns] = (new_trace(), ns)
    for trace, ns in expected.values():
        stamp = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert trace.to_dict()["metadata"]["createdAt"] == f"{stamp}.{ns // 1_000_000 % 1000:03d}Z"


def test_start_epoch_ns_is_wall_clock_of_dispatch_start() -> None:
    trace = new_trace()
    assert trace.start_epoch_ns is None
    assert trace.to_dict()["execution"]["startEpochNs"] is None
    before = time.time_ns()
    trace.capture_dispatch_start()
    after = time.time_ns()
    epoch = trace.to_dict()["execution"]["startEpochNs"]
    assert isinstance(epoch, int)
    assert before <= epoch <= after
    assert trace.start_epoch_ns == epoch


# -- status ------------------------------------------------------------------------------------


def _drive(trace: ActionExecutionTrace, steps: str) -> None:
    for step in steps.split():
        if step == "start":
            trace.capture_dispatch_start()
        elif step == "payload":
            trace.capture_event_payload({"a": 1})
        elif step == "ok":
            trace.capture_dispatch_result({"success": True})
        elif step == "fail":
            trace.capture_dispatch_result({"success": False})
        elif step == "error":
            trace.capture_error(RuntimeError("x"))


@pytest.mark.parametrize(
    ("steps", "status", "complete", "has_error"),
    [
        ("", ExecutionStatus.PENDING, False, False),
        ("start", ExecutionStatus.IN_PROGRESS, False, False),
        ("start payload", ExecutionStatus.IN_PROGRESS, False, False),
        ("start payload ok", ExecutionStatus.SUCCESS, True, False),
        ("start fail", ExecutionStatus.FAILED, True, False),
        ("start error", ExecutionStatus.ERROR, True, True),
        ("start payload error", ExecutionStatus.ERROR, True, True),
        ("start ok error", ExecutionStatus.ERROR, True, True),
        ("start fail error", ExecutionStatus.ERROR, True, True),
    ],
)
def test_status_precedence(
    steps: str, status: ExecutionStatus, complete: bool, has_error: bool
) -> None:
    trace = new_trace()
    _drive(trace, steps)
    assert trace.status is status
    assert trace.is_complete is complete
    assert trace.has_error is has_error
    assert trace.to_dict()["execution"]["status"] == status.value


# -- immutability ------------------------------------------------------------------------------


def test_turn_action_is_copied_at_construction() -> None:
    turn = copy.deepcopy(TURN_ACTION)
    trace = new_trace(turn)
    before = trace.to_dict()
    turn["commandString"] = "go south"
    turn["parameters"]["direction"] = "south"  # type: ignore[index]
    turn["extra"] = 1
    assert trace.to_dict() == before


def test_payload_is_copied_at_capture() -> None:
    payload: dict[str, Any] = {"actor": {"id": "p1", "items": ["sword"]}}
    trace = started()
    trace.capture_event_payload(payload)
    payload["actor"]["items"].append("shield")
    payload["actor"]["id"] = "p2"
    payload["new"] = True
    assert trace.to_dict()["eventPayload"] == {"actor": {"id": "p1", "items": ["sword"]}}


def test_result_metadata_is_copied_at_capture() -> None:
    metadata: dict[str, Any] = {"handlers": ["a"]}
    result = {"success": True, "metadata": metadata}
    trace = started()
    trace.capture_dispatch_result(result)
    metadata["handlers"].append("b")
    result["success"] = False
    assert trace.to_dict()["result"]["metadata"] == {"handlers": ["a"]}  # type: ignore[index]
    assert trace.status is ExecutionStatus.SUCCESS


def test_error_data_is_copied_at_capture() -> None:
    error = ValueError("original")
    error.code = {"kind": "E1"}  # type: ignore[attr-defined]
    trace = started()
    trace.capture_error(error)
    before = trace.to_dict()
    error.args = ("changed",)
    error.code["kind"] = "E2"  # type: ignore[attr-defined]
    error.__cause__ = KeyError("late cause")
    assert trace.to_dict() == before
    assert before["error"]["message"] == "original"  # type: ignore[index]
    assert before["error"]["code"] == {"kind": "E1"}  # type: ignore[index]


def complete_trace() -> ActionExecutionTrace:
    trace = started()
    trace.capture_event_payload({"actor": {"id": "p1", "items": ["sword"]}})
    trace.capture_dispatch_result({"success": True, "metadata": {"handlers": ["a"]}})
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as error:
        trace.capture_error(error)
    return trace


def test_mutating_to_dict_output_does_not_change_the_trace() -> None:
    trace = complete_trace()
    data = trace.to_dict()
    expected = copy.deepcopy(data)
    data["metadata"]["actionId"] = "x"
    data["turnAction"]["parameters"]["direction"] = "south"
    data["execution"]["phases"][0]["description"] = "x"
    data["execution"]["phases"].clear()
    data["eventPayload"]["actor"]["items"].append("shield")
    data["result"]["metadata"]["handlers"].append("b")  # type: ignore[index]
    data["error"]["cause"]["message"] = "x"  # type: ignore[index]
    data["new"] = 1  # type: ignore[typeddict-unknown-key]
    assert trace.to_dict() == expected
    assert trace.to_dict() is not trace.to_dict()


def test_mutating_get_execution_phases_output_does_not_change_the_trace() -> None:
    trace = complete_trace()
    phases = trace.get_execution_phases()
    expected = copy.deepcopy(phases)
    phases[0]["description"] = "x"
    phases[1]["payloadSize"] = -1
    phases.pop()
    assert trace.get_execution_phases() == expected
    assert trace.get_execution_phases() is not trace.get_execution_phases()


ATTRIBUTE_NAMES = sorted(
    {*ActionExecutionTrace.__slots__}
    | {
        "action_id",
        "actor_id",
        "status",
        "duration",
        "is_complete",
        "has_error",
        "to_dict",
        "brand_new_attribute",
        "__class__",
    }
)


@pytest.mark.parametrize("name", ATTRIBUTE_NAMES)
def test_assigning_any_attribute_raises_attribute_error(name: str) -> None:
    trace = complete_trace()
    before = trace.to_dict()
    with pytest.raises(AttributeError):
        setattr(trace, name, "changed")
    assert trace.to_dict() == before


@pytest.mark.parametrize("name", ATTRIBUTE_NAMES)
def test_deleting_any_attribute_raises_attribute_error(name: str) -> None:
    trace = complete_trace()
    before = trace.to_dict()
    with pytest.raises(AttributeError):
        delattr(trace, name)
    assert trace.to_dict() == before


def test_trace_has_no_instance_dict() -> None:
    assert not hasattr(new_trace(), "__dict__")


# -- to_dict shape -----------------------------------------------------------------------------


def test_to_dict_has_every_key_of_the_spec() -> None:
    data = complete_trace().to_dict()
    assert {"metadata", "turnAction", "execution", "eventPayload", "result", "error"} <= set(data)
    assert {"actionId", "actorId", "traceType", "createdAt", "version"} <= set(data["metadata"])
    assert {"actionDefinitionId", "commandString", "parameters"} <= set(data["turnAction"])
    assert {"startTime", "endTime", "duration", "status", "phases", "startEpochNs"} <= set(
        data["execution"]
    )
    assert set(data["result"]) == {"success", "timestamp", "metadata"}  # type: ignore[arg-type]
    assert {"message", "type", "stack", "timestamp", "code", "cause"} <= set(data["error"])  # type: ignore[arg-type]


def test_to_dict_metadata_values() -> None:
    metadata = new_trace().to_dict()["metadata"]
    assert metadata["actionId"] == "core:go"
    assert metadata["actorId"] == "player-1"
    assert metadata["traceType"] == "execution"
    assert metadata["version"] == "1.0"


def test_to_dict_turn_action_values() -> None:
    assert new_trace().to_dict()["turnAction"] == {
        "actionDefinitionId": "core:go",
        "commandString": "go north",
        "parameters": {"direction": "north"},
    }


def test_turn_action_parameters_are_empty_dict_when_absent() -> None:
    turn = new_trace({"actionDefinitionId": "core:wait"}).to_dict()["turnAction"]
    assert turn["parameters"] == {}
    assert turn["commandString"] is None
    none_given = new_trace({"actionDefinitionId": "core:wait", "parameters": None})
    assert none_given.to_dict()["turnAction"]["parameters"] == {}


def test_turn_action_is_sanitised() -> None:
    trace = new_trace(
        {
            "actionDefinitionId": "core:login",
            "commandString": "login Bearer abcdefghijklmnopqrstuvwxyz0123",
            "parameters": {"user": "ann", "password": "hunter2", "when": math.inf},
        }
    )
    turn = trace.to_dict()["turnAction"]
    assert turn["commandString"] == f"login Bearer {REDACTED}"
    assert turn["parameters"] == {"user": "ann", "password": REDACTED, "when": "Infinity"}
    assert "hunter2" not in trace.to_json()


def test_turn_action_extra_keys_are_kept_whichever_optional_keys_are_present() -> None:
    short = new_trace({"actionDefinitionId": "core:take", "targetId": "lamp"})
    full = new_trace({**TURN_ACTION, "targetId": "lamp", "apiKey": "k"})
    assert short.to_dict()["turnAction"]["targetId"] == "lamp"  # type: ignore[typeddict-item]
    assert full.to_dict()["turnAction"]["targetId"] == "lamp"  # type: ignore[typeddict-item]
    assert full.to_dict()["turnAction"]["apiKey"] == REDACTED  # type: ignore[typeddict-item]


def test_turn_action_whose_items_fail_keeps_the_known_keys() -> None:
    class Flaky(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return {"actionDefinitionId": "core:go", "extra": 1}[key]

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("cannot iterate")

        def __len__(self) -> int:
            return 2

    turn = new_trace(Flaky()).to_dict()["turnAction"]
    assert turn == {"actionDefinitionId": "core:go", "commandString": None, "parameters": {}}


def test_ids_are_sanitised_for_secrets() -> None:
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id="Bearer abcdefghijklmnopqrstuvwxyz", turn_action=TURN_ACTION
    )
    assert trace.actor_id == f"Bearer {REDACTED}"
    assert "abcdefghijklmnop" not in trace.to_json()


def test_event_payload_result_and_error_are_none_until_captured() -> None:
    trace = started()
    data = trace.to_dict()
    assert (data["eventPayload"], data["result"], data["error"]) == (None, None, None)


# -- to_json -----------------------------------------------------------------------------------


def _trace_variants() -> list[Callable[[], ActionExecutionTrace]]:
    def pending() -> ActionExecutionTrace:
        return new_trace()

    def in_progress() -> ActionExecutionTrace:
        trace = started()
        trace.capture_event_payload({"text": 'héllo ☃ \u2028 "quoted" \\ \x00', "n": 1e300})
        return trace

    def failed_with_metadata() -> ActionExecutionTrace:
        trace = started()
        trace.capture_dispatch_result(
            {"success": 0, "timestamp": 12.5, "metadata": {"why": "blocked"}}
        )
        return trace

    def error_only() -> ActionExecutionTrace:
        trace = started()
        trace.capture_error(OSError(2, "No such file"))
        return trace

    def non_ascii_ids() -> ActionExecutionTrace:
        trace = ActionExecutionTrace(
            action_id="mod:走る",
            actor_id="joueur-é",
            turn_action={"actionDefinitionId": "mod:走る"},
        )
        trace.capture_dispatch_start()
        trace.capture_dispatch_result({"success": True, "timestamp": "later"})
        return trace

    return [pending, in_progress, failed_with_metadata, error_only, non_ascii_ids, complete_trace]


@pytest.mark.parametrize("make", _trace_variants(), ids=lambda f: f.__name__)
@pytest.mark.parametrize("indent", [None, 2, "\t"])
def test_to_json_equals_json_of_to_dict(
    make: Callable[[], ActionExecutionTrace], indent: int | str | None
) -> None:
    trace = make()
    text = trace.to_json(indent=indent)
    assert json.loads(text) == trace.to_dict()
    if indent is None:
        assert "\n" not in text
    else:
        assert "\n" in text


def _no_constants(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name}")


@pytest.mark.parametrize("indent", [None, 2])
def test_to_json_never_holds_nan_or_infinity(indent: int | None) -> None:
    trace = started()
    trace.capture_event_payload({"a": math.nan, "b": [math.inf, -math.inf], math.nan: 1})
    trace.capture_dispatch_result(
        {"success": True, "timestamp": math.nan, "metadata": {"x": -math.inf}}
    )
    text = trace.to_json(indent=indent)
    data = json.loads(text, parse_constant=_no_constants)
    assert data["eventPayload"] == {"a": "NaN", "b": ["Infinity", "-Infinity"], "NaN": 1}
    assert data["result"]["timestamp"] == "NaN"
    assert data["result"]["metadata"] == {"x": "-Infinity"}


# -- to_summary --------------------------------------------------------------------------------


def test_to_summary_exact_format_with_two_decimals(fake_clock: list[int]) -> None:
    trace = started()
    fake_clock[0] += 12_500_000
    trace.capture_dispatch_result({"success": True})
    assert trace.to_summary() == (
        "Action: core:go | Actor: player-1 | Status: success | Duration: 12.50ms"
    )


def test_to_summary_says_incomplete_until_complete() -> None:
    trace = new_trace()
    assert trace.to_summary() == (
        "Action: core:go | Actor: player-1 | Status: pending | Duration: incomplete"
    )
    trace.capture_dispatch_start()
    assert trace.to_summary().endswith("Status: in_progress | Duration: incomplete")


def test_to_summary_of_an_error_trace(fake_clock: list[int]) -> None:
    trace = started()
    fake_clock[0] += 1_005_000
    trace.capture_error(ValueError("x"))
    assert trace.to_summary() == (
        "Action: core:go | Actor: player-1 | Status: error | Duration: 1.00ms"
    )


def test_repr_shows_the_summary() -> None:
    trace = new_trace()
    assert trace.to_summary() in repr(trace)


def test_repeated_turn_actions_share_one_sanitised_copy_that_tells_types_apart() -> None:
    from actiontrace.trace import _turn_cache

    _turn_cache.clear()
    turn = {"actionDefinitionId": "core:go", "commandString": "go", "parameters": {"n": 1}}
    first = ActionExecutionTrace(action_id="core:go", actor_id="a", turn_action=turn)
    second = ActionExecutionTrace(action_id="core:go", actor_id="a", turn_action=dict(turn))
    assert first.to_dict()["turnAction"] == second.to_dict()["turnAction"]
    assert len(_turn_cache) == 1
    # Equal but differently written values must not share an entry.
    for value in (True, 1.0, -0.0, 0.0, "1"):
        other = {"actionDefinitionId": "core:go", "parameters": {"n": value}}
        trace = ActionExecutionTrace(action_id="core:go", actor_id="a", turn_action=other)
        written = json.loads(trace.to_json())["turnAction"]["parameters"]["n"]
        assert written == value and type(written) is type(value)
        if type(value) is float:
            assert math.copysign(1, written) == math.copysign(1, value)
    # A secret in a memoised turn action stays redacted, and mutation after capture is not seen.
    secret = {"actionDefinitionId": "core:login", "parameters": {"password": "hunter2"}}
    for _ in range(2):
        trace = ActionExecutionTrace(action_id="core:login", actor_id="a", turn_action=secret)
        assert "hunter2" not in trace.to_json()
    secret["parameters"]["password"] = "changed"
    assert "changed" not in trace.to_json()


def test_turn_actions_that_cannot_be_memoised_are_still_sanitised() -> None:
    from actiontrace.trace import _turn_cache

    _turn_cache.clear()
    odd = [
        {"actionDefinitionId": "a", "parameters": {"items": [1, 2]}},  # a list inside
        {"actionDefinitionId": "a", "parameters": {str(i): i for i in range(9)}},  # too many
        {"actionDefinitionId": "a", 1: "x"},  # a non-str key
        {"actionDefinitionId": "a", "commandString": "c", "parameters": {}, "x": 1, "y": 2},
        {"actionDefinitionId": "a", "parameters": {1: "x"}},
        {"actionDefinitionId": "a", "when": object()},
    ]
    for turn in odd:
        trace = ActionExecutionTrace(action_id="a", actor_id="b", turn_action=turn)
        assert trace.to_dict()["turnAction"]["actionDefinitionId"] == "a"
    assert _turn_cache == {}
