"""Ref. §5: ActionExecutionTraceFactory — the logger contract, validation, logging, user rules."""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any

import pytest

from actiontrace import (
    REDACTED,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    InvalidArgumentError,
)
from actiontrace.factory import ensure_logger

pytestmark = pytest.mark.usefixtures("validate_all_traces")

TURN_ACTION = {
    "actionDefinitionId": "core:go",
    "commandString": "go north",
    "parameters": {"direction": "north"},
}


class RecordingLogger:
    """A duck-typed logger that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("debug", msg % args if args else msg))

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("info", msg % args if args else msg))

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("warning", msg % args if args else msg))

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("error", msg % args if args else msg))

    def of(self, level: str) -> list[str]:
        return [msg for lvl, msg in self.calls if lvl == level]


@pytest.fixture
def log() -> RecordingLogger:
    return RecordingLogger()


@pytest.fixture
def factory(log: RecordingLogger) -> ActionExecutionTraceFactory:
    return ActionExecutionTraceFactory(log)  # type: ignore[arg-type]


# -- logger contract ---------------------------------------------------------------------------


def test_no_logger_means_the_actiontrace_logger() -> None:
    assert ActionExecutionTraceFactory().logger is logging.getLogger("actiontrace")
    assert ActionExecutionTraceFactory(None).logger is logging.getLogger("actiontrace")
    assert ensure_logger(None) is logging.getLogger("actiontrace")


def test_a_logging_logger_is_accepted() -> None:
    logger = logging.getLogger("game.engine")
    assert ActionExecutionTraceFactory(logger).logger is logger


def test_a_duck_typed_logger_is_accepted(log: RecordingLogger) -> None:
    assert ActionExecutionTraceFactory(log).logger is log  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["debug", "info", "warning", "error"])
def test_a_logger_lacking_a_method_raises_invalid_argument_error(missing: str) -> None:
    methods = {name: (lambda *a, **k: None) for name in ("debug", "info", "warning", "error")}
    methods[missing] = "not callable"  # type: ignore[assignment]
    partial = type(
        "PartialLogger", (), {k: staticmethod(v) if callable(v) else v for k, v in methods.items()}
    )
    with pytest.raises(InvalidArgumentError, match="logger") as caught:
        ActionExecutionTraceFactory(partial())
    assert missing in str(caught.value)


@pytest.mark.parametrize("bad", ["logger", 42, object(), print])
def test_a_non_logger_raises_invalid_argument_error(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="logger"):
        ActionExecutionTraceFactory(bad)


def test_ensure_logger_names_the_argument_it_checks() -> None:
    with pytest.raises(InvalidArgumentError, match="audit_logger"):
        ensure_logger(object(), "audit_logger")


# -- create_trace ------------------------------------------------------------------------------


def test_create_trace_returns_a_trace_and_logs_debug(
    factory: ActionExecutionTraceFactory, log: RecordingLogger
) -> None:
    trace = factory.create_trace(action_id="core:go", actor_id="player-1", turn_action=TURN_ACTION)
    assert isinstance(trace, ActionExecutionTrace)
    assert trace.action_id == "core:go"
    assert trace.actor_id == "player-1"
    assert log.of("debug") == ["Created execution trace for action 'core:go' by actor 'player-1'"]
    assert log.of("warning") == []
    assert log.of("error") == []


def test_create_trace_debug_message_through_a_real_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("actiontrace.test.factory")
    factory = ActionExecutionTraceFactory(logger)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        factory.create_trace(action_id="core:look", actor_id="npc-7", turn_action=TURN_ACTION)
    records = [r for r in caplog.records if r.name == logger.name]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.DEBUG, "Created execution trace for action 'core:look' by actor 'npc-7'")
    ]


def test_create_trace_skips_the_debug_message_when_debug_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("actiontrace.test.quiet")
    factory = ActionExecutionTraceFactory(logger)
    with caplog.at_level(logging.INFO, logger=logger.name):
        factory.create_trace(action_id="core:look", actor_id="npc-7", turn_action=TURN_ACTION)
    assert [r for r in caplog.records if r.name == logger.name] == []


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"action_id": ""}, "action_id"),
        ({"action_id": "   "}, "action_id"),
        ({"action_id": None}, "action_id"),
        ({"action_id": 5}, "action_id"),
        ({"actor_id": ""}, "actor_id"),
        ({"actor_id": "\t\n"}, "actor_id"),
        ({"actor_id": None}, "actor_id"),
        ({"turn_action": None}, "turn_action"),
        ({"turn_action": ["actionDefinitionId"]}, "turn_action"),
        ({"turn_action": {"commandString": "go"}}, "actionDefinitionId"),
    ],
)
def test_create_trace_validation_failure_logs_an_error_and_raises(
    factory: ActionExecutionTraceFactory, log: RecordingLogger, kwargs: dict[str, Any], why: str
) -> None:
    arguments = {"action_id": "core:go", "actor_id": "player-1", "turn_action": TURN_ACTION}
    arguments.update(kwargs)
    with pytest.raises(InvalidArgumentError) as caught:
        factory.create_trace(**arguments)
    message = str(caught.value)
    assert message.startswith("Failed to create execution trace: ")
    assert why in message
    assert log.of("error") == [message]
    assert log.of("debug") == []


def test_create_trace_wraps_an_unexpected_failure(log: RecordingLogger) -> None:
    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("mapping exploded")

    factory = ActionExecutionTraceFactory(log)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="Failed to create execution trace: ") as caught:
        factory.create_trace(
            action_id="core:go", actor_id="p", turn_action=Exploding(actionDefinitionId="x")
        )
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "mapping exploded" in str(caught.value)
    assert len(log.of("error")) == 1


def test_create_trace_warns_naming_command_string_when_not_a_str(
    factory: ActionExecutionTraceFactory, log: RecordingLogger
) -> None:
    trace = factory.create_trace(
        action_id="core:go",
        actor_id="p",
        turn_action={"actionDefinitionId": "core:go", "commandString": 42},
    )
    assert isinstance(trace, ActionExecutionTrace)
    (warning,) = log.of("warning")
    assert "commandString" in warning


def test_create_trace_warns_naming_parameters_when_not_a_mapping(
    factory: ActionExecutionTraceFactory, log: RecordingLogger
) -> None:
    trace = factory.create_trace(
        action_id="core:go",
        actor_id="p",
        turn_action={"actionDefinitionId": "core:go", "parameters": ["north"]},
    )
    assert isinstance(trace, ActionExecutionTrace)
    (warning,) = log.of("warning")
    assert "parameters" in warning


def test_create_trace_does_not_warn_for_absent_optional_keys(
    factory: ActionExecutionTraceFactory, log: RecordingLogger
) -> None:
    factory.create_trace(
        action_id="core:wait", actor_id="p", turn_action={"actionDefinitionId": "core:wait"}
    )
    factory.create_trace(
        action_id="core:wait",
        actor_id="p",
        turn_action=MappingProxyType({"actionDefinitionId": "core:wait", "parameters": {}}),
    )
    assert log.of("warning") == []


def test_create_trace_arguments_are_keyword_only(factory: ActionExecutionTraceFactory) -> None:
    with pytest.raises(TypeError):
        factory.create_trace("core:go", "p", TURN_ACTION)  # type: ignore[misc]


# -- create_from_turn_action -------------------------------------------------------------------


def test_create_from_turn_action_uses_the_action_definition_id(
    factory: ActionExecutionTraceFactory, log: RecordingLogger
) -> None:
    trace = factory.create_from_turn_action(TURN_ACTION, "player-1")
    assert trace.action_id == "core:go"
    assert trace.actor_id == "player-1"
    assert trace.to_dict()["turnAction"]["commandString"] == "go north"
    assert log.of("debug") == ["Created execution trace for action 'core:go' by actor 'player-1'"]


@pytest.mark.parametrize(
    ("turn_action", "actor_id", "why"),
    [
        (None, "p", "turn_action"),
        ("core:go", "p", "turn_action"),
        ({"commandString": "go"}, "p", "actionDefinitionId"),
        ({"actionDefinitionId": ""}, "p", "actionDefinitionId"),
        ({"actionDefinitionId": 7}, "p", "actionDefinitionId"),
        (TURN_ACTION, "", "actor_id"),
        (TURN_ACTION, "  ", "actor_id"),
        (TURN_ACTION, None, "actor_id"),
    ],
)
def test_create_from_turn_action_rejects_invalid_input(
    factory: ActionExecutionTraceFactory, turn_action: Any, actor_id: Any, why: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        factory.create_from_turn_action(turn_action, actor_id)


# -- user rules --------------------------------------------------------------------------------


def test_factory_rules_apply_to_every_trace_it_creates() -> None:
    factory = ActionExecutionTraceFactory(sensitive_fields=["vault"], safe_fields=["token_count"])
    for _ in range(2):
        trace = factory.create_trace(
            action_id="bank:withdraw",
            actor_id="p",
            turn_action={"actionDefinitionId": "bank:withdraw", "parameters": {"vault": 1234}},
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload({"vault": 1234, "token_count": 3, "token": "t", "amount": 5})
        trace.capture_dispatch_result({"success": True, "metadata": {"userVault": 1}})
        data = trace.to_dict()
        assert data["turnAction"]["parameters"] == {"vault": REDACTED}
        assert data["eventPayload"] == {
            "vault": REDACTED,
            "token_count": 3,
            "token": REDACTED,
            "amount": 5,
        }
        assert data["result"]["metadata"] == {"userVault": REDACTED}  # type: ignore[index]


def test_factory_without_rules_does_not_redact_user_fields() -> None:
    trace = ActionExecutionTraceFactory().create_trace(
        action_id="a", actor_id="p", turn_action={"actionDefinitionId": "a"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"vault": 1234})
    assert trace.to_dict()["eventPayload"] == {"vault": 1234}


@pytest.mark.parametrize("argument", ["sensitive_fields", "safe_fields"])
@pytest.mark.parametrize("bad", ["pin", [1], [""]])
def test_factory_rejects_invalid_field_names_naming_the_argument(argument: str, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        ActionExecutionTraceFactory(**{argument: bad})


def test_debug_message_shows_the_redacted_ids() -> None:
    logger = RecordingLogger()
    token = "Bearer abcdefghijklmnopqrstuvwxyz0123"
    factory = ActionExecutionTraceFactory(logger)
    factory.create_trace(
        action_id="core:login", actor_id=token, turn_action={"actionDefinitionId": "core:login"}
    )
    debug = " ".join(str(call) for call in logger.calls)
    assert "abcdefghijklmnop" not in debug
    assert "Bearer [REDACTED]" in debug
