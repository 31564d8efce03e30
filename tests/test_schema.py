"""Reference §3: the JSON Schema (draft 2020-12) shipped as ``actiontrace/trace.schema.json``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from actiontrace import ActionExecutionTrace

TURN_ACTION = {"actionDefinitionId": "core:go", "commandString": "go north"}


def _complete() -> dict[str, Any]:
    trace = ActionExecutionTrace(action_id="core:go", actor_id="p1", turn_action=TURN_ACTION)
    trace.capture_dispatch_start()
    trace.capture_event_payload({"direction": "north"})
    trace.capture_dispatch_result({"success": True, "metadata": {"n": 1}})
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise OSError(2, "outer") from inner
    except OSError as error:
        trace.capture_error(error)
    return dict(trace.to_dict())


def test_schema_ships_in_the_package_and_is_a_valid_draft_2020_12_schema() -> None:
    resource = resources.files("actiontrace").joinpath("trace.schema.json")
    schema = json.loads(resource.read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_requires_every_key_of_the_spec(
    trace_schema_validator: Draft202012Validator,
) -> None:
    schema = trace_schema_validator.schema
    properties = schema["properties"]
    assert set(schema["required"]) == {
        "metadata",
        "turnAction",
        "execution",
        "eventPayload",
        "result",
        "error",
    }
    assert set(properties["metadata"]["required"]) == {
        "actionId",
        "actorId",
        "traceType",
        "createdAt",
        "version",
    }
    assert set(properties["turnAction"]["required"]) == {
        "actionDefinitionId",
        "commandString",
        "parameters",
    }
    assert set(properties["execution"]["required"]) == {
        "startTime",
        "endTime",
        "duration",
        "status",
        "phases",
        "startEpochNs",
    }


def test_every_stage_of_a_trace_validates(
    assert_valid_trace: Callable[[Any], None],
) -> None:
    trace = ActionExecutionTrace(action_id="core:go", actor_id="p1", turn_action=TURN_ACTION)
    assert_valid_trace(trace)
    trace.capture_dispatch_start()
    assert_valid_trace(trace)
    trace.capture_event_payload({"a": [1, None, "x"]})
    assert_valid_trace(trace)
    trace.capture_dispatch_result({"success": False, "timestamp": "soon"})
    assert_valid_trace(trace)
    trace.capture_error(42)
    assert_valid_trace(trace)
    assert_valid_trace(_complete())


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _drop(("metadata",)),
        _drop(("eventPayload",)),
        _drop(("error",)),
        _drop(("metadata", "createdAt")),
        _drop(("turnAction", "parameters")),
        _drop(("execution", "startEpochNs")),
        _drop(("result", "metadata")),
        _drop(("error", "cause", "stack")),
        _drop(("execution", "phases", 1, "payloadSize")),
        _set(("metadata", "traceType"), "structured"),
        _set(("metadata", "createdAt"), "2026-11-24 10:00:00"),
        _set(("execution", "status"), "done"),
        _set(("execution", "phases", 0, "phase"), "started"),
        _set(("execution", "duration"), -1.0),
        _set(("result", "success"), "yes"),
        _set(("error", "message"), ""),
    ],
    ids=lambda f: f.__qualname__,
)
def test_schema_rejects_a_trace_dict_missing_or_breaking_a_required_key(
    trace_schema_validator: Draft202012Validator, mutate: Callable[[dict[str, Any]], None]
) -> None:
    data = _complete()
    trace_schema_validator.validate(data)
    broken = copy.deepcopy(data)
    mutate(broken)
    assert not trace_schema_validator.is_valid(broken)


def test_schema_accepts_the_optional_keys_added_later(
    trace_schema_validator: Draft202012Validator,
) -> None:
    data = _complete()
    data["metadata"].update(traceId="0" * 31 + "1", spanId="0" * 15 + "1", parentSpanId=None)
    data["customMetadata"] = {"seed": 7}
    trace_schema_validator.validate(data)


def test_validate_all_traces_fixture_collects_traces(
    validate_all_traces: list[ActionExecutionTrace],
) -> None:
    trace = ActionExecutionTrace(action_id="core:go", actor_id="p1", turn_action=TURN_ACTION)
    assert validate_all_traces == [trace]
