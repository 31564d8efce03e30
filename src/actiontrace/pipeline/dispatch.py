"""``EventDispatchService``: dispatch an event; a handler raising gives ``False``, not an exception.

The first exception a handler of a traced dispatch raises is handed to the dispatch that owns the
trace (the processor, or a ``Tracer`` block), which records it as the trace's error with its stack.
"""

from __future__ import annotations

from inspect import isawaitable
from typing import Any, Final

from ..context import DISPATCHING, hand_over
from ..errors import InvalidArgumentError
from ..factory import LoggerLike, ensure_logger
from ..logs import SafeLog
from .bus import close_awaitable

__all__ = ["ATTEMPT_ACTION_ID", "EventDispatchService", "close_awaitable", "describe_exception"]

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
    its result is awaited when it is awaitable. ``dispatch_with_error_handling_sync`` uses the
    bus's ``dispatch_sync`` when it has one, else a ``dispatch`` that does not return an awaitable.
    """

    __slots__ = ("_bus_dispatch", "_bus_dispatch_sync", "_event_bus", "_log")

    def __init__(self, event_bus: Any, logger: LoggerLike | None = None) -> None:
        dispatch = getattr(event_bus, "dispatch", None)
        if not callable(dispatch):
            raise InvalidArgumentError("event_bus must have a callable dispatch method")
        dispatch_sync = getattr(event_bus, "dispatch_sync", None)
        self._event_bus = event_bus
        self._bus_dispatch = dispatch
        self._bus_dispatch_sync = dispatch_sync if callable(dispatch_sync) else None
        self._log = SafeLog(ensure_logger(logger))

    @property
    def event_bus(self) -> Any:
        """The bus events go through."""
        return self._event_bus

    async def dispatch_with_error_handling(
        self, event_name: str, payload: Any, context: str
    ) -> bool:
        """Dispatch ``payload`` as ``event_name``; ``True`` when every handler ran.

        When a handler (or the bus) raises an ``Exception``, logs an error naming the event,
        ``context`` and the exception, hands the exception to the traced dispatch this one runs
        for (if any), and returns ``False``. It never raises an ``Exception``;
        ``KeyboardInterrupt``, ``SystemExit`` and ``asyncio.CancelledError`` are requests to stop,
        not failures of the dispatch, and propagate.
        """
        dispatching = DISPATCHING.get()
        owner = dispatching is not None and dispatching.depth == 0
        if dispatching is not None:
            dispatching.depth += 1
        try:
            result = self._bus_dispatch(event_name, payload)
            if result is not None and isawaitable(result):
                await result
        except Exception as error:
            self._report(event_name, context, error)
            if owner and dispatching is not None:
                hand_over(dispatching, error)
            return False
        finally:
            if dispatching is not None:
                dispatching.depth -= 1
        return True

    def dispatch_with_error_handling_sync(
        self, event_name: str, payload: Any, context: str
    ) -> bool:
        """Do what ``dispatch_with_error_handling`` does, without an event loop.

        A bus ``dispatch`` that returns an awaitable cannot run here: it is closed, not run, and
        counts as a failure.
        """
        dispatching = DISPATCHING.get()
        owner = dispatching is not None and dispatching.depth == 0
        if dispatching is not None:
            dispatching.depth += 1
        try:
            dispatch_sync = self._bus_dispatch_sync
            if dispatch_sync is not None:
                dispatch_sync(event_name, payload)
            else:
                result = self._bus_dispatch(event_name, payload)
                if result is not None and isawaitable(result):
                    close_awaitable(result)
                    raise TypeError(
                        "event_bus.dispatch returned an awaitable and the bus has no "
                        "dispatch_sync: it cannot run without an event loop"
                    )
        except Exception as error:
            self._report(event_name, context, error)
            if owner and dispatching is not None:
                hand_over(dispatching, error)
            return False
        finally:
            if dispatching is not None:
                dispatching.depth -= 1
        return True

    def _report(self, event_name: object, context: object, error: Exception) -> None:
        self._log(
            "error",
            "Error dispatching event '%s' (%s): %s",
            event_name,
            context,
            describe_exception(error),
            exc=error,
        )
