"""What an execution trace keeps at each verbosity (reference §10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, ActionExecutionTraceFactory, InvalidArgumentError

TURN = {"actionDefinitionId": "core:go", "commandString": "go north", "parameters": {"d": "n"}}


def _complete(verbosity: str) -> ActionExecutionTrace:
    trace = ActionExecutionTraceFactory().create_trace(
        action_id="core:go", actor_id="hero", turn_action=TURN, verbosity=verbosity
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"room": "hall", "items": [1, 2, 3]})
    trace.capture_dispatch_result({"success": False, "metadata": {"why": "locked"}})
    try:
        raise OSError(13, "Permission denied")
    except OSError as error:
        trace.capture_error(error)
    return trace


def test_minimal_keeps_ids_times_phases_status_and_error_type_and_message(
    assert_valid_trace: Any,
) -> None:
    trace = _complete("minimal")
    assert_valid_trace(trace)
    data = trace.to_dict()
    assert data["eventPayload"] is None
    payload_phase = data["execution"]["phases"][1]
    assert payload_phase["payloadSize"] == len(b'{"room":"hall","items":[1,2,3]}')
    assert data["result"] == {
        "success": False,
        "timestamp": data["result"]["timestamp"],
        "metadata": None,
    }
    error = data["error"]
    assert error["type"] == "PermissionError" and error["message"] == "[Errno 13] Permission denied"
    assert error["stack"] is None and error["code"] is None and error["cause"] is None
    assert data["execution"]["status"] == "error"
    assert data["metadata"]["traceId"] and data["execution"]["duration"] > 0
    assert json.loads(_complete("minimal").to_json())["eventPayload"] is None


@pytest.mark.parametrize("level", ["standard", "detailed", "verbose"])
def test_standard_and_above_keep_everything(level: str) -> None:
    data = _complete(level).to_dict()
    assert data["eventPayload"] == {"room": "hall", "items": [1, 2, 3]}
    assert data["result"]["metadata"] == {"why": "locked"}
    assert data["error"]["stack"].endswith("PermissionError: [Errno 13] Permission denied\n")
    assert data["error"]["code"] == 13


def test_default_verbosity_is_standard_and_unknown_levels_are_rejected() -> None:
    trace = ActionExecutionTrace(action_id="core:go", actor_id="hero", turn_action=TURN)
    assert trace.verbosity.value == "standard"
    with pytest.raises(InvalidArgumentError, match="verbosity"):
        ActionExecutionTrace(action_id="core:go", actor_id="hero", turn_action=TURN, verbosity="x")
