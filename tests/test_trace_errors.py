"""Ref. §3: the error record of ``capture_error`` — message, type, stack, code, the cause chain —
and that it never raises (beyond its TraceStateErrors) whatever the error object does.
"""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest

from actiontrace import REDACTED, ActionExecutionTrace, ErrorInfo
from actiontrace.error_info import MAX_CAUSE_DEPTH, MAX_MESSAGE_CHARS, MAX_STACK_CHARS

pytestmark = pytest.mark.usefixtures("validate_all_traces")

TOKEN = "abcdefghijklmnopqrstuvwxyz012345"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGF5ZXIifQ.c2lnbmF0dXJlLXZhbHVl"


def error_record(error: object) -> ErrorInfo:
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id="player-1", turn_action={"actionDefinitionId": "core:go"}
    )
    trace.capture_dispatch_start()
    trace.capture_error(error)
    record = trace.to_dict()["error"]
    assert record is not None
    return record


def chain(record: ErrorInfo | None) -> list[ErrorInfo]:
    links = []
    while record is not None:
        links.append(record)
        record = record["cause"]
    return links


def raise_value_error(message: str) -> None:
    raise ValueError(message)


# -- message -----------------------------------------------------------------------------------


def test_message_is_str_of_the_error() -> None:
    assert error_record(ValueError("bad move"))["message"] == "bad move"


def test_empty_message_is_unknown_error() -> None:
    assert error_record(ValueError())["message"] == "Unknown error"
    assert error_record(RuntimeError(""))["message"] == "Unknown error"


def test_message_placeholder_names_the_type_when_str_raises() -> None:
    class UnprintableError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    record = error_record(UnprintableError("x"))
    assert "UnprintableError" in record["message"]
    assert record["type"] == "UnprintableError"
    assert record["stack"] is not None


def test_message_placeholder_when_str_returns_a_non_str() -> None:
    class WrongStrError(Exception):
        def __str__(self) -> Any:
            return 42  # noqa: PLE0307 - the broken __str__ is the point

    assert "WrongStrError" in error_record(WrongStrError())["message"]


def test_very_long_message_is_clipped_with_a_marker() -> None:
    record = error_record(ValueError("m" * (MAX_MESSAGE_CHARS * 3)))
    assert record["message"].startswith("m" * 100)
    assert "[Truncated:" in record["message"]
    assert len(record["message"]) < MAX_MESSAGE_CHARS + 100
    assert len(record["stack"]) < MAX_STACK_CHARS + 100  # type: ignore[arg-type]


def test_secret_across_the_message_clip_point_is_redacted() -> None:
    for shift in range(-40, 8, 4):
        text = "x" * (MAX_MESSAGE_CHARS + shift) + " Bearer " + "Z" * 40 + " tail" * 20_000
        record = error_record(ValueError(text))
        assert "Z" not in record["message"]
        assert "Z" not in json.dumps(record)


# -- type --------------------------------------------------------------------------------------


def test_type_is_the_class_name() -> None:
    class GameRuleError(Exception):
        pass

    assert error_record(GameRuleError("x"))["type"] == "GameRuleError"
    assert error_record(KeyError("k"))["type"] == "KeyError"


# -- stack -------------------------------------------------------------------------------------


def test_stack_of_a_never_raised_exception_ends_with_type_and_message() -> None:
    stack = error_record(ValueError("msg"))["stack"]
    assert stack is not None
    assert stack.rstrip("\n").endswith("ValueError: msg")


def test_stack_of_a_raised_exception_holds_the_traceback() -> None:
    try:
        raise_value_error("from deep")
    except ValueError as error:
        stack = error_record(error)["stack"]
    assert stack is not None
    assert stack.startswith("Traceback (most recent call last):")
    assert "raise_value_error" in stack
    assert stack.rstrip("\n").endswith("ValueError: from deep")


def test_stack_of_the_outer_error_shows_the_whole_chain() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as error:
        record = error_record(error)
    assert "KeyError: 'inner'" in record["stack"]  # type: ignore[operator]
    assert "direct cause" in record["stack"]  # type: ignore[operator]


def test_stack_of_an_exception_group_shows_its_members() -> None:
    group = ExceptionGroup("several", [ValueError("first"), KeyError("second")])
    record = error_record(group)
    assert record["type"] == "ExceptionGroup"
    assert "ValueError: first" in record["stack"]  # type: ignore[operator]
    assert "KeyError: 'second'" in record["stack"]  # type: ignore[operator]


def test_very_long_stack_keeps_its_end_with_a_marker() -> None:
    message = "".join(f"{i:07d}" for i in range(MAX_STACK_CHARS // 7 * 2))
    try:
        raise_value_error(message)
    except ValueError as error:
        stack = error_record(error)["stack"]
    assert stack is not None
    assert len(stack) <= MAX_STACK_CHARS + 100
    assert stack.startswith("[Truncated:")
    assert stack.rstrip("\n").endswith(message[-1000:])


def test_secret_across_the_stack_clip_point_is_redacted() -> None:
    for shift in range(-40, 8, 4):
        message = "Bearer " + "Z" * 40 + " " + "x" * (MAX_STACK_CHARS + shift)
        record = error_record(ValueError(message))
        assert "Z" not in record["stack"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "42"),
        (2.5, "2.5"),
        ("plain text", "plain text"),
        ("", "Unknown error"),
        (None, "<NoneType>"),
        ({"code": 1}, '{"code":1}'),
        (["a", ("b", 2)], '["a",["b",2]]'),
        (object(), "<object>"),
    ],
)
def test_non_exception_value_has_no_stack_and_its_type_name(value: object, message: str) -> None:
    record = error_record(value)
    assert record["stack"] is None
    assert record["type"] == type(value).__name__
    assert record["cause"] is None
    assert record["message"] == message


def test_a_non_exception_value_never_shows_its_str_or_a_secret() -> None:
    class Holder:
        def __str__(self) -> str:
            return "password=hunter2"

    assert error_record(Holder())["message"] == "<Holder>"
    assert error_record("login failed, password: hunter2")["message"] == (
        "login failed, password: [REDACTED]"
    )
    assert error_record(4111111111111111)["message"] == '"[REDACTED]"'
    assert error_record({"user": "ann", "pin": 1234})["message"] == (
        '{"user":"ann","pin":"[REDACTED]"}'
    )


# -- code --------------------------------------------------------------------------------------


def test_code_is_the_errors_code_attribute() -> None:
    class CodedError(Exception):
        code = "E_BLOCKED"

    assert error_record(CodedError("x"))["code"] == "E_BLOCKED"
    assert error_record(SystemExit(3))["code"] == 3


def test_code_is_sanitised() -> None:
    error = RuntimeError("x")
    error.code = {"id": 7, "apiKey": "k-123", "when": float("nan")}  # type: ignore[attr-defined]
    assert error_record(error)["code"] == {"id": 7, "apiKey": REDACTED, "when": "NaN"}


def test_code_is_errno_for_os_error() -> None:
    assert error_record(OSError(errno.ENOENT, "No such file"))["code"] == errno.ENOENT
    assert error_record(FileNotFoundError(errno.ENOENT, "gone"))["code"] == errno.ENOENT


def test_code_is_none_without_code_or_errno() -> None:
    assert error_record(ValueError("x"))["code"] is None
    assert error_record(OSError("no errno"))["code"] is None


def test_code_whose_lookup_raises_is_none() -> None:
    class TouchyError(Exception):
        @property
        def code(self) -> Any:
            raise RuntimeError("no code for you")

    assert error_record(TouchyError("x"))["code"] is None


# -- cause chain -------------------------------------------------------------------------------


def test_cause_from_dunder_cause() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as error:
        record = error_record(error)
    cause = record["cause"]
    assert cause is not None
    assert set(cause) == {"message", "type", "stack", "timestamp", "code", "cause"}
    assert cause["type"] == "KeyError"
    assert cause["message"] == "'inner'"
    assert cause["stack"].rstrip("\n").endswith("KeyError: 'inner'")  # type: ignore[union-attr]
    assert cause["timestamp"] == record["timestamp"]
    assert cause["cause"] is None


def test_cause_from_unsuppressed_context() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise ValueError("while handling")  # noqa: B904 - the implicit context is the point
    except ValueError as error:
        record = error_record(error)
    assert record["cause"] is not None
    assert record["cause"]["type"] == "KeyError"


def test_no_cause_from_suppressed_context() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise ValueError("clean") from None
    except ValueError as error:
        assert error.__context__ is not None
        record = error_record(error)
    assert record["cause"] is None


def test_explicit_cause_wins_over_context() -> None:
    error = ValueError("outer")
    error.__context__ = KeyError("context")
    error.__cause__ = TypeError("cause")
    assert error_record(error)["cause"]["type"] == "TypeError"  # type: ignore[index]


def test_cause_chain_cycle_terminates() -> None:
    a = ValueError("a")
    b = KeyError("b")
    a.__cause__ = b
    b.__cause__ = a
    links = chain(error_record(a))
    assert [link["type"] for link in links] == ["ValueError", "KeyError"]


def test_self_cause_terminates() -> None:
    a = ValueError("a")
    a.__cause__ = a
    assert [link["type"] for link in chain(error_record(a))] == ["ValueError"]


def test_deep_cause_chain_is_depth_limited() -> None:
    error: BaseException = ValueError("link 0")
    for index in range(1, 5000):
        nxt = ValueError(f"link {index}")
        nxt.__cause__ = error
        error = nxt
    links = chain(error_record(error))
    assert len(links) == MAX_CAUSE_DEPTH + 1
    assert [link["message"] for link in links[:3]] == ["link 4999", "link 4998", "link 4997"]


# -- hostile error objects ---------------------------------------------------------------------


def test_error_whose_every_attribute_raises_never_makes_capture_error_raise() -> None:
    class HostileError(Exception):
        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

        def __str__(self) -> str:
            raise RuntimeError("no str")

    record = error_record(HostileError())
    assert record["type"] == "HostileError"
    assert "HostileError" in record["message"]
    assert record["stack"] is not None
    assert "HostileError" in record["stack"]
    assert record["code"] is None


def test_error_whose_str_and_repr_raise_gets_a_stack() -> None:
    class SilentError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    try:
        raise SilentError
    except SilentError as error:
        record = error_record(error)
    assert "SilentError" in record["stack"]  # type: ignore[operator]


def test_non_exception_whose_str_raises_is_recorded() -> None:
    class Weird:
        def __str__(self) -> str:
            raise ValueError("no")

    record = error_record(Weird())
    assert record["type"] == "Weird"
    assert "Weird" in record["message"]
    assert record["stack"] is None


def test_os_error_whose_errno_raises_has_no_code() -> None:
    class BrokenOSError(OSError):
        @property
        def errno(self) -> Any:  # type: ignore[override]
            raise RuntimeError("no errno")

    assert error_record(BrokenOSError("x"))["code"] is None


def test_error_with_an_unserialisable_code_gets_a_type_marker() -> None:
    error = ValueError("x")
    error.code = object()  # type: ignore[attr-defined]
    assert error_record(error)["code"] == "<object>"


def test_error_with_lone_surrogates_is_recorded_as_valid_utf8() -> None:
    record = error_record(ValueError("bad \ud800 text"))
    json.dumps(record, ensure_ascii=False).encode("utf-8")
    assert record["message"].startswith("bad ")


# -- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (JWT, JWT),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA",
        ),
    ],
    ids=["bearer", "jwt", "pem"],
)
def test_secrets_in_error_messages_and_stacks_are_redacted(secret: str, body: str) -> None:
    try:
        try:
            raise KeyError(f"inner {secret}")
        except KeyError as inner:
            raise ValueError(f"login failed with {secret} !") from inner
    except ValueError as error:
        trace = ActionExecutionTrace(
            action_id="core:go", actor_id="p", turn_action={"actionDefinitionId": "core:go"}
        )
        trace.capture_dispatch_start()
        trace.capture_error(error)
    assert body not in trace.to_json()
    record = trace.to_dict()["error"]
    assert REDACTED in record["message"]  # type: ignore[index]
    assert REDACTED in record["stack"]  # type: ignore[index]
    assert REDACTED in record["cause"]["message"]  # type: ignore[index]
    assert REDACTED in trace.get_execution_phases()[-1]["description"]


def test_a_raised_dict_value_is_described_without_its_secrets() -> None:
    from actiontrace import ActionExecutionTrace

    trace = ActionExecutionTrace(action_id="a", actor_id="b", turn_action={})
    trace.capture_dispatch_start()
    trace.capture_error({"reason": "login failed", "password": "hunter2"})
    error = trace.to_dict()["error"]
    assert error["type"] == "dict" and error["stack"] is None
    assert "hunter2" not in trace.to_json()
    assert error["message"] == '{"reason":"login failed","password":"[REDACTED]"}'
