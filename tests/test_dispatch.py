"""EventDispatchService: True/False outcome, logging with context, what propagates."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.pipeline import ATTEMPT_ACTION_ID, EventBus, EventDispatchService


class RecordingLogger:
    def __init__(self) -> None:
        self.records: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _log(self, level: str) -> Any:
        def log(message: str, *args: Any, **kwargs: Any) -> None:
            self.records.append((level, (message, *args), kwargs))

        return log

    def __getattr__(self, level: str) -> Any:
        if level in ("debug", "info", "warning", "error"):
            return self._log(level)
        raise AttributeError(level)

    def errors(self) -> list[str]:
        return [args[0] for level, args, _ in self.records if level == "error"]


class BrokenLogger:
    def debug(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("logger down")

    info = warning = error = debug


def dispatch(service: EventDispatchService, event: str = "ev", payload: Any = None) -> bool:
    return asyncio.run(service.dispatch_with_error_handling(event, payload, "ctx for test"))


def raising(error: BaseException) -> Any:
    def handler(payload: Any) -> None:
        raise error

    return handler


def test_attempt_action_id_is_the_spec_value() -> None:
    assert ATTEMPT_ACTION_ID == "core:attempt_action"


def test_returns_true_when_every_handler_ran() -> None:
    bus = EventBus()
    seen: list[Any] = []
    bus.subscribe("ev", seen.append)
    bus.subscribe("ev", seen.append)
    logger = RecordingLogger()
    assert dispatch(EventDispatchService(bus, logger), payload="p") is True
    assert seen == ["p", "p"]
    assert logger.records == []


def test_returns_false_and_logs_event_context_and_error_when_a_handler_raises() -> None:
    bus = EventBus()
    bus.subscribe("ev", raising(ValueError("bad move")))
    logger = RecordingLogger()
    assert dispatch(EventDispatchService(bus, logger)) is False
    [message] = logger.errors()
    assert "'ev'" in message
    assert "ctx for test" in message
    assert "ValueError: bad move" in message
    # A duck-typed logger is only promised error(message): no keyword arguments.
    assert logger.records[0][2] == {}


def test_async_handler_failure_returns_false() -> None:
    bus = EventBus()

    async def boom(payload: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    bus.subscribe("ev", boom)
    assert dispatch(EventDispatchService(bus, RecordingLogger())) is False


def test_standard_logger_gets_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    bus.subscribe("ev", raising(ValueError("with traceback")))
    with caplog.at_level(logging.ERROR, logger="actiontrace"):
        assert dispatch(EventDispatchService(bus)) is False
    [record] = caplog.records
    assert record.exc_info is None  # formatted into the message, through the value rules
    assert "ctx for test" in record.getMessage()
    assert "Traceback (most recent call last)" in record.getMessage()
    assert "ValueError: with traceback" in record.getMessage()


def test_broken_logger_does_not_make_it_raise() -> None:
    bus = EventBus()
    bus.subscribe("ev", raising(ValueError("x")))
    assert dispatch(EventDispatchService(bus, BrokenLogger())) is False


def test_error_with_unprintable_or_empty_message_is_still_logged() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    bus = EventBus()
    bus.subscribe("a", raising(Unprintable()))
    bus.subscribe("b", raising(LookupError()))
    logger = RecordingLogger()
    service = EventDispatchService(bus, logger)
    assert dispatch(service, "a") is False
    assert dispatch(service, "b") is False
    first, second = logger.errors()
    assert "Unprintable: <unprintable>" in first
    assert second.splitlines()[0].endswith(": LookupError")


def test_invalid_event_name_gives_false_not_an_exception() -> None:
    logger = RecordingLogger()
    assert dispatch(EventDispatchService(EventBus(), logger), "") is False
    assert "InvalidArgumentError" in logger.errors()[0]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3), asyncio.CancelledError()])
def test_requests_to_stop_propagate(error: BaseException) -> None:
    bus = EventBus()
    bus.subscribe("ev", raising(error))
    with pytest.raises(type(error)):
        dispatch(EventDispatchService(bus, RecordingLogger()))


def test_accepts_any_bus_with_a_dispatch_method_sync_or_async() -> None:
    class SyncBus:
        def __init__(self) -> None:
            self.calls: list[tuple[str, Any]] = []

        def dispatch(self, event: str, payload: Any) -> None:
            self.calls.append((event, payload))

    bus = SyncBus()
    service = EventDispatchService(bus)
    assert service.event_bus is bus
    assert dispatch(service, "ev", 1) is True
    assert bus.calls == [("ev", 1)]


def test_rejects_a_bus_without_dispatch() -> None:
    with pytest.raises(InvalidArgumentError, match="event_bus"):
        EventDispatchService(object())


def test_rejects_a_logger_without_the_logging_methods() -> None:
    with pytest.raises(InvalidArgumentError, match="logger"):
        EventDispatchService(EventBus(), logger=object())  # type: ignore[arg-type]
