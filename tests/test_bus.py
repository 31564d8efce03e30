"""EventBus: ordering, async handlers, unsubscribe, mutation during dispatch, validation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.pipeline import EventBus


def run(bus: EventBus, event: str, payload: Any) -> None:
    asyncio.run(bus.dispatch(event, payload))


def test_handlers_get_the_payload_alone_in_subscription_order() -> None:
    bus = EventBus()
    calls: list[tuple[str, Any]] = []
    bus.subscribe("ev", lambda p: calls.append(("first", p)))
    bus.subscribe("ev", lambda p: calls.append(("second", p)))
    bus.subscribe("ev", lambda p: calls.append(("third", p)))
    payload = {"x": 1}
    run(bus, "ev", payload)
    assert calls == [("first", payload), ("second", payload), ("third", payload)]
    assert all(seen is payload for _, seen in calls)


def test_async_handler_is_awaited_before_the_next_handler_starts() -> None:
    bus = EventBus()
    calls: list[str] = []

    async def slow(payload: Any) -> None:
        calls.append("slow:start")
        for _ in range(3):
            await asyncio.sleep(0)
        calls.append("slow:end")

    bus.subscribe("ev", slow)
    bus.subscribe("ev", lambda p: calls.append("sync"))
    run(bus, "ev", None)
    assert calls == ["slow:start", "slow:end", "sync"]


def test_awaitable_that_is_not_a_coroutine_is_awaited() -> None:
    bus = EventBus()
    calls: list[str] = []

    class Later:
        def __await__(self) -> Any:
            yield from asyncio.sleep(0).__await__()
            calls.append("awaited")

    bus.subscribe("ev", lambda p: Later())
    bus.subscribe("ev", lambda p: calls.append("next"))
    run(bus, "ev", None)
    assert calls == ["awaited", "next"]


def test_handler_returning_a_plain_value_is_not_awaited() -> None:
    bus = EventBus()
    bus.subscribe("ev", lambda p: 42)
    run(bus, "ev", None)  # would raise TypeError if 42 were awaited


def test_events_are_independent_and_unknown_events_are_a_no_op() -> None:
    bus = EventBus()
    calls: list[str] = []
    bus.subscribe("a", lambda p: calls.append("a"))
    bus.subscribe("b", lambda p: calls.append("b"))
    run(bus, "a", None)
    run(bus, "nobody-listens", None)
    assert calls == ["a"]


def test_unsubscribe_removes_only_that_subscription_and_is_idempotent() -> None:
    bus = EventBus()
    calls: list[str] = []

    def handler(payload: Any) -> None:
        calls.append("h")

    first = bus.subscribe("ev", handler)
    bus.subscribe("ev", handler)  # the same handler twice: two subscriptions
    run(bus, "ev", None)
    assert calls == ["h", "h"]
    first()
    first()  # again: no effect, must not remove the second subscription
    assert bus.handler_count("ev") == 1
    calls.clear()
    run(bus, "ev", None)
    assert calls == ["h"]


def test_unsubscribing_the_last_handler_leaves_no_handlers() -> None:
    bus = EventBus()
    unsubscribe = bus.subscribe("ev", lambda p: None)
    unsubscribe()
    assert bus.handler_count("ev") == 0
    run(bus, "ev", None)


def test_handler_subscribed_during_dispatch_runs_from_the_next_dispatch() -> None:
    bus = EventBus()
    calls: list[str] = []

    def adder(payload: Any) -> None:
        calls.append("adder")
        bus.subscribe("ev", lambda p: calls.append("late"))

    bus.subscribe("ev", adder)
    run(bus, "ev", None)
    assert calls == ["adder"]
    calls.clear()
    run(bus, "ev", None)
    # The first dispatch's late subscriber runs; the one added just now waits for the next.
    assert calls == ["adder", "late"]


def test_handler_unsubscribed_during_dispatch_is_not_called_afterwards() -> None:
    bus = EventBus()
    calls: list[str] = []
    removers: dict[str, Any] = {}

    def remover(payload: Any) -> None:
        calls.append("remover")
        removers["victim"]()
        removers["self"]()

    removers["self"] = bus.subscribe("ev", remover)
    removers["victim"] = bus.subscribe("ev", lambda p: calls.append("victim"))
    bus.subscribe("ev", lambda p: calls.append("survivor"))
    run(bus, "ev", None)
    assert calls == ["remover", "survivor"]
    calls.clear()
    run(bus, "ev", None)
    assert calls == ["survivor"]


def test_handler_exception_stops_the_dispatch_and_propagates() -> None:
    bus = EventBus()
    calls: list[str] = []

    def boom(payload: Any) -> None:
        raise ValueError("boom")

    bus.subscribe("ev", lambda p: calls.append("before"))
    bus.subscribe("ev", boom)
    bus.subscribe("ev", lambda p: calls.append("after"))
    with pytest.raises(ValueError, match="boom"):
        run(bus, "ev", None)
    assert calls == ["before"]


def test_async_handler_exception_propagates() -> None:
    bus = EventBus()

    async def boom(payload: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    bus.subscribe("ev", boom)
    with pytest.raises(RuntimeError, match="async boom"):
        run(bus, "ev", None)


def test_bus_works_across_separate_event_loops() -> None:
    bus = EventBus()
    calls: list[int] = []

    async def handler(payload: int) -> None:
        await asyncio.sleep(0)
        calls.append(payload)

    bus.subscribe("ev", handler)
    for value in range(3):
        asyncio.run(bus.dispatch("ev", value))
    assert calls == [0, 1, 2]


def test_concurrent_subscribes_from_threads_are_all_kept() -> None:
    bus = EventBus()
    hits: list[int] = []

    def subscribe_many() -> None:
        for _ in range(200):
            bus.subscribe("ev", lambda p: hits.append(1))

    threads = [threading.Thread(target=subscribe_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bus.handler_count("ev") == 1600
    run(bus, "ev", None)
    assert len(hits) == 1600


@pytest.mark.parametrize("name", ["", 5, None, b"ev"])
def test_subscribe_rejects_an_invalid_event_name(name: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="event_name"):
        EventBus().subscribe(name, lambda p: None)


def test_subscribe_rejects_a_handler_that_is_not_callable() -> None:
    with pytest.raises(InvalidArgumentError, match="handler must be callable"):
        EventBus().subscribe("ev", "not callable")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", 7, ["unhashable"]])
def test_dispatch_and_handler_count_reject_an_invalid_event_name(name: Any) -> None:
    bus = EventBus()
    with pytest.raises(InvalidArgumentError, match="event_name"):
        run(bus, name, None)
    with pytest.raises(InvalidArgumentError, match="event_name"):
        bus.handler_count(name)
