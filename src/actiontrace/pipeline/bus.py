"""``EventBus``: named events delivered to sync and async handlers in order."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from inspect import isawaitable
from types import CoroutineType
from typing import Any, TypeAlias

from ..errors import InvalidArgumentError

__all__ = ["EventBus", "EventHandler", "Unsubscribe", "close_awaitable"]

EventHandler: TypeAlias = Callable[[Any], Awaitable[object] | object]
"""A handler: called with the payload alone; may return an awaitable, which is awaited."""

Unsubscribe: TypeAlias = Callable[[], None]
"""What ``subscribe`` returns: call it to remove that subscription (again: no effect)."""


class _Subscription:
    __slots__ = ("active", "handler")

    def __init__(self, handler: EventHandler) -> None:
        self.handler = handler
        self.active = True


def _check_event_name(event_name: object) -> None:
    if not isinstance(event_name, str) or not event_name:
        raise InvalidArgumentError(f"event_name must be a non-empty str, got {event_name!r}")


class EventBus:
    """Delivers each dispatched payload to the event's handlers, one after another.

    Handlers run in subscription order; an async handler (one returning an awaitable) is awaited
    before the next starts. Subscribing or unsubscribing while a dispatch runs is safe: a handler
    subscribed during a dispatch is first called by the next dispatch, and one unsubscribed during
    a dispatch is not called after its unsubscribe. An exception from a handler stops that
    dispatch and propagates to the caller (``EventDispatchService`` turns it into ``False``).
    ``dispatch_sync`` does the same without an event loop, for engines that are not asynchronous.

    The bus holds no event loop, lock or task of asyncio, so one bus serves any number of
    ``asyncio.run`` calls. ``subscribe`` and unsubscribe are thread-safe.
    """

    __slots__ = ("__weakref__", "_handlers", "_lock")

    def __init__(self) -> None:
        # Copy-on-write tuples: a dispatch iterates the tuple it read, which no one mutates.
        self._handlers: dict[str, tuple[_Subscription, ...]] = {}
        self._lock = threading.Lock()

    def subscribe(self, event_name: str, handler: EventHandler) -> Unsubscribe:
        """Call ``handler(payload)`` for every later dispatch of ``event_name``.

        Returns a callable that removes this subscription; calling it again does nothing.
        Subscribing one handler twice makes two subscriptions (it is called twice).
        """
        _check_event_name(event_name)
        if not callable(handler):
            raise InvalidArgumentError(f"handler must be callable, got {type(handler).__name__}")
        subscription = _Subscription(handler)
        with self._lock:
            self._handlers[event_name] = (*self._handlers.get(event_name, ()), subscription)

        def unsubscribe() -> None:
            with self._lock:
                if not subscription.active:
                    return
                subscription.active = False
                remaining = tuple(s for s in self._handlers[event_name] if s is not subscription)
                if remaining:
                    self._handlers[event_name] = remaining
                else:
                    del self._handlers[event_name]

        return unsubscribe

    def handler_count(self, event_name: str) -> int:
        """How many subscriptions ``event_name`` has."""
        _check_event_name(event_name)
        return len(self._handlers.get(event_name, ()))

    async def dispatch(self, event_name: str, payload: Any) -> None:
        """Call every handler of ``event_name`` with ``payload``, in order, awaiting async ones."""
        if type(event_name) is not str or not event_name:
            _check_event_name(event_name)
        subscriptions = self._handlers.get(event_name)
        if subscriptions is None:
            return
        for subscription in subscriptions:
            if not subscription.active:
                continue
            result = subscription.handler(payload)
            if result is not None and (type(result) is CoroutineType or isawaitable(result)):
                await result

    def dispatch_sync(self, event_name: str, payload: Any) -> None:
        """Call every handler of ``event_name`` with ``payload``, in order, without an event loop.

        An async handler cannot run here: its awaitable is closed (never run) and a ``TypeError``
        naming the handler stops the dispatch, as any handler error does.
        """
        if type(event_name) is not str or not event_name:
            _check_event_name(event_name)
        subscriptions = self._handlers.get(event_name)
        if subscriptions is None:
            return
        for subscription in subscriptions:
            if not subscription.active:
                continue
            result = subscription.handler(payload)
            if result is not None and (type(result) is CoroutineType or isawaitable(result)):
                close_awaitable(result)
                raise TypeError(
                    f"handler {_name(subscription.handler)} of '{event_name}' is asynchronous: "
                    "dispatch_sync cannot await it (use dispatch)"
                )


def close_awaitable(value: object) -> None:
    """Close an awaitable a synchronous caller cannot run (so it never warns "never awaited")."""
    close = getattr(value, "close", None)
    if callable(close):
        # Closing is a courtesy; a broken close must not mask the real error.
        with suppress(Exception):
            close()


def _name(handler: object) -> str:
    return str(getattr(handler, "__qualname__", None) or type(handler).__name__)
