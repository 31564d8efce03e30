"""Reference §1 (errors) and §2 (constants, enums, TypedDicts)."""

from __future__ import annotations

import typing
from enum import StrEnum

import pytest

import actiontrace
from actiontrace import (
    MAX_PAYLOAD_SIZE,
    REDACTED,
    SENSITIVE_FIELDS,
    TRACE_FORMAT_VERSION,
    ExecutionPhase,
    ExecutionStatus,
    InvalidArgumentError,
    TraceStateError,
)


def test_invalid_argument_error_is_a_value_error() -> None:
    assert issubclass(InvalidArgumentError, ValueError)
    with pytest.raises(ValueError, match="bad"):
        raise InvalidArgumentError("bad")


def test_trace_state_error_is_a_runtime_error() -> None:
    assert issubclass(TraceStateError, RuntimeError)
    with pytest.raises(RuntimeError, match="order"):
        raise TraceStateError("order")


def test_the_two_errors_are_unrelated() -> None:
    assert not issubclass(InvalidArgumentError, TraceStateError)
    assert not issubclass(TraceStateError, InvalidArgumentError)
    assert not issubclass(InvalidArgumentError, RuntimeError)
    assert not issubclass(TraceStateError, ValueError)


def test_execution_phase_is_a_str_enum_with_the_spec_values() -> None:
    assert issubclass(ExecutionPhase, StrEnum)
    assert {m.name: m.value for m in ExecutionPhase} == {
        "DISPATCH_START": "dispatch_start",
        "PAYLOAD_CAPTURED": "payload_captured",
        "DISPATCH_COMPLETED": "dispatch_completed",
        "ERROR_CAPTURED": "error_captured",
    }
    assert ExecutionPhase.DISPATCH_START == "dispatch_start"


def test_execution_status_is_a_str_enum_with_the_spec_values() -> None:
    assert issubclass(ExecutionStatus, StrEnum)
    assert {m.name: m.value for m in ExecutionStatus} == {
        "PENDING": "pending",
        "IN_PROGRESS": "in_progress",
        "SUCCESS": "success",
        "FAILED": "failed",
        "ERROR": "error",
    }
    assert f"{ExecutionStatus.SUCCESS}" == "success"


def test_trace_format_version_is_1_0() -> None:
    assert TRACE_FORMAT_VERSION == "1.0"


def test_max_payload_size_is_one_mebibyte() -> None:
    assert MAX_PAYLOAD_SIZE == 1024 * 1024


def test_redacted_marker_text() -> None:
    assert REDACTED == "[REDACTED]"


def test_sensitive_fields_hold_at_least_the_eight_spec_names() -> None:
    required = {
        "password",
        "token",
        "apiKey",
        "api_key",
        "secret",
        "credential",
        "auth",
        "authorization",
    }
    assert required <= set(SENSITIVE_FIELDS)
    assert all(isinstance(name, str) and name for name in SENSITIVE_FIELDS)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        (
            "PhaseRecord",
            {"phase", "timestamp", "description", "payloadSize", "truncated", "success"},
        ),
        ("DispatchResult", {"success", "timestamp", "metadata"}),
        ("ErrorInfo", {"message", "type", "stack", "timestamp", "code", "cause"}),
        ("TraceDict", {"metadata", "turnAction", "execution", "eventPayload", "result", "error"}),
    ],
)
def test_typed_dicts_are_importable_from_the_package_and_document_the_records(
    name: str, keys: set[str]
) -> None:
    cls = getattr(actiontrace, name)
    assert typing.is_typeddict(cls)
    assert keys <= set(typing.get_type_hints(cls))
    assert name in actiontrace.__all__


def test_error_info_cause_is_a_nested_error_info() -> None:
    hints = typing.get_type_hints(actiontrace.ErrorInfo)
    assert actiontrace.ErrorInfo in typing.get_args(hints["cause"])


@pytest.mark.parametrize(
    "name",
    [
        "InvalidArgumentError",
        "TraceStateError",
        "ExecutionPhase",
        "ExecutionStatus",
        "TRACE_FORMAT_VERSION",
        "MAX_PAYLOAD_SIZE",
        "REDACTED",
        "SENSITIVE_FIELDS",
        "ActionExecutionTrace",
        "ActionExecutionTraceFactory",
        "sanitize_payload",
        "is_sensitive_key",
    ],
)
def test_spec_names_are_public_at_top_level(name: str) -> None:
    assert name in actiontrace.__all__
    assert getattr(actiontrace, name) is not None
