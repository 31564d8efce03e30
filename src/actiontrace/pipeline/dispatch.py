"""``EventDispatchService``: dispatch an event; a handler raising gives ``False`` (SPEC §6)."""

from __future__ import annotations

import logging
from inspect import isawaitable
from typing import Any, Final

from ..errors import InvalidArgumentError
from ..factory import LoggerLike, ensure_logger

__all__ = ["ATTEMPT_ACTION_ID", "EventDispatchService", "describe_exception"]

ATTEMPT_ACTION_ID: Final = "core:attempt_action"
"""The event ``CommandProcessor`` dispatches for every action."""


def describe_exception(error: BaseException) -> str:
    """Return ``"Type: message"`` for an exception, even one whose ``str()`` fails."""
    try:
        text = str(error)
    except Exception:
        text = "<unprintable>"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class EventDispatchService:
    """Dispatches events through a bus and reports failure as ``False`` instead of raising.

    ``event_bus`` is any object with a ``dispatch(event_name, payload)`` method (an ``EventBus``);
    its result is awaited when it is awaitable.
    """

    __slots__ = ("_bus_dispatch", "_event_bus", "_logger")

    def __init__(self, event_bus: Any, logger: LoggerLike | None = None) -> None:
        dispatch = getattr(event_bus, "dispatch", None)
        if not callable(dispatch):
            raise InvalidArgumentError("event_bus must have a callable dispatch method")
        self._event_bus = event_bus
        self._bus_dispatch = dispatch
        self._logger = ensure_logger(logger)

    @property
    def event_bus(self) -> Any:
        """The bus events go through."""
        return self._event_bus

    async def dispatch_with_error_handling(
        self, event_name: str, payload: Any, context: str
    ) -> bool:
        """Dispatch ``payload`` as ``event_name``; ``True`` when every handler ran.

        When a handler (or the bus) raises an ``Exception``, logs an error naming the event,
        ``context`` and the exception, and returns ``False``. It never raises for an
        ``Exception``; ``KeyboardInterrupt``, ``SystemExit`` and ``asyncio.CancelledError`` are
        not failures of the dispatch but requests to stop, and propagate.
        """
        try:
            result = self._bus_dispatch(event_name, payload)
            if result is not None and isawaitable(result):
                await result
        except Exception as error:
            self._report(event_name, context, error)
            return False
        return True

    def _report(self, event_name: object, context: object, error: Exception) -> None:
        try:
            detail = describe_exception(error)
            message = f"Error dispatching event '{event_name}' ({context}): {detail}"
            logger = self._logger
            if isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
                logger.error(message, exc_info=error)
            else:
                # A duck-typed logger is only promised error(message).
                logger.error(message)
        except Exception:  # a broken logger must not break the "never raises" promise
            pass
