"""``show`` rendering: the summary line as to_summary(), phases, payload, result and error chain."""

from __future__ import annotations

from typing import Any

import pytest

from actiontrace import ActionExecutionTrace
from actiontrace.analysis import printable, render_record, render_trace, summary_line


def new_trace(action: str = "core:go", actor: str = "hero") -> ActionExecutionTrace:
    return ActionExecutionTrace(
        action_id=action,
        actor_id=actor,
        turn_action={
            "actionDefinitionId": action,
            "commandString": "go north",
            "parameters": {"direction": "north", "password": "swordfish"},
        },
    )


def finished(success: bool = True) -> ActionExecutionTrace:
    trace = new_trace()
    trace.capture_dispatch_start()
    trace.capture_event_payload({"room": "hall", "token": "abc", "note": "hi"})
    trace.capture_dispatch_result({"success": success, "metadata": {"moves": 1}})
    return trace


def errored() -> ActionExecutionTrace:
    trace = new_trace("magic:cast")
    trace.capture_dispatch_start()
    try:
        try:
            {}["mana"]
        except KeyError as inner:
            raise RuntimeError("the rules engine crashed") from inner
    except RuntimeError as error:
        trace.capture_error(error)
    return trace


def started_only() -> ActionExecutionTrace:
    trace = new_trace()
    trace.capture_dispatch_start()
    return trace


@pytest.mark.parametrize(
    "make", [finished, lambda: finished(False), errored, started_only, new_trace]
)
def test_summary_line_is_exactly_to_summary(make: Any) -> None:
    trace = make()
    assert summary_line(trace.to_dict()) == trace.to_summary()


def test_summary_line_of_a_malformed_trace_does_not_fail() -> None:
    assert summary_line({}) == "Action: ? | Actor: ? | Status: unknown | Duration: incomplete"
    odd = {
        "metadata": {"actionId": 5, "actorId": None, "traceType": "execution"},
        "execution": {"duration": "x"},
    }
    assert summary_line(odd) == "Action: ? | Actor: ? | Status: unknown | Duration: incomplete"


def test_render_shows_phases_relative_to_start_in_ms() -> None:
    data = finished().to_dict()
    text = render_trace(data)
    assert text.splitlines()[0] == summary_line(data)
    assert "Phases (ms after start):" in text
    start = data["execution"]["startTime"]
    for phase in data["execution"]["phases"]:
        assert f"+{phase['timestamp'] - start:.3f}  {phase['phase']}" in text
    assert "+0.000  dispatch_start" in text
    assert "Dispatch succeeded" in text
    size = data["execution"]["phases"][1]["payloadSize"]
    assert f"Event payload captured ({size} bytes)" in text


def test_render_shows_the_sanitised_payload_as_pretty_json() -> None:
    text = render_trace(finished().to_dict())
    assert 'Payload:\n  {\n    "room": "hall",\n    "token": "[REDACTED]",' in text
    assert "Command: go north" in text
    assert '"password": "[REDACTED]"' in text  # the turn action's parameters
    assert "Result: success" in text
    assert '"moves": 1' in text
    assert "Error: none" in text
    assert "swordfish" not in text


def test_render_of_a_failed_trace_says_failure() -> None:
    text = render_trace(finished(False).to_dict())
    assert "Result: failure" in text and "Dispatch failed" in text


def test_render_shows_the_error_with_stack_and_cause_chain() -> None:
    data = errored().to_dict()
    text = render_trace(data)
    assert "Error:\n  RuntimeError: the rules engine crashed" in text
    assert "  stack:" in text
    assert "Traceback (most recent call last):" in text
    assert "    caused by KeyError: 'mana'" in text
    # The cause's stack is already part of the outer one: not printed twice.
    assert text.count("Traceback (most recent call last):") == 2
    assert "error_captured" in text and "Error occurred: the rules engine crashed" in text


def test_render_shows_a_cause_stack_that_the_outer_stack_lacks_and_codes() -> None:
    data = finished().to_dict()
    data["error"] = {
        "type": "OSError",
        "message": "disk full",
        "stack": "outer stack",
        "code": 28,
        "cause": {
            "type": "Inner",
            "message": "",
            "stack": "inner stack",
            "code": None,
            "cause": None,
        },
    }
    text = render_trace(data)
    assert "  code: 28" in text
    assert "    caused by Inner: " in text
    assert "      inner stack" in text


def test_render_of_a_minimal_trace_has_a_result_without_metadata() -> None:
    trace = ActionExecutionTrace(
        action_id="core:go",
        actor_id="hero",
        turn_action={"actionDefinitionId": "core:go"},
        verbosity="minimal",
    )
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True, "metadata": {"moves": 1}})
    text = render_trace(trace.to_dict())
    assert "Result: success" in text
    assert "Result metadata" not in text and "moves" not in text


def test_render_of_a_pending_trace_has_no_phases() -> None:
    text = render_trace(new_trace().to_dict())
    assert "Phases: none" in text
    assert "Payload:\n  null" in text


def test_render_of_unknown_phase_times_shows_a_question_mark() -> None:
    data = finished().to_dict()
    data["execution"]["startTime"] = None
    assert "           ?  dispatch_start" in render_trace(data)


def test_render_shows_trace_ids_and_custom_metadata_when_present() -> None:
    data: dict[str, Any] = dict(finished().to_dict())
    data["metadata"] = {**data["metadata"], "traceId": "ab" * 16, "spanId": "cd" * 8}
    data["customMetadata"] = {"zone": "north"}
    text = render_trace(data)
    assert f"Trace: {'ab' * 16}  span {'cd' * 8}" in text
    assert 'Custom metadata:\n  {\n    "zone": "north"' in text


def test_unknown_trace_types_are_shown_generically() -> None:
    trace = {"metadata": {"traceType": "structured"}, "spans": [{"operation": "load"}]}
    text = render_trace(trace)
    assert text.startswith("Trace type: structured\nContent:\n  {")
    assert '"operation": "load"' in text


def test_render_record_names_file_and_line() -> None:
    text = render_record(finished().to_dict(), "traces/a.jsonl", 3)
    assert text.startswith("── traces/a.jsonl:3\nAction: core:go")
    assert render_record({}, "one.json").startswith("── one.json\n")


def test_printable_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert printable("plain ünïcode") == "plain ünïcode"
    assert printable("a\tb") == "a\\x09b"
    assert printable("a\tb", multiline=True) == "a\tb"
    assert printable("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert printable("a\u202eb\x85") == "a\\u202eb\\x85"
    assert printable("two\nlines") == "two\\x0alines"
    assert printable("two\nlines", multiline=True) == "two\nlines"


def test_render_never_lets_escape_sequences_reach_the_terminal() -> None:
    data = errored().to_dict()
    data["metadata"]["actorId"] = "\x1b]0;pwned\x07"
    data["error"]["message"] = "\x1b[2J"
    data["eventPayload"] = {"text": "\x9b31m"}
    text = render_trace(data)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
