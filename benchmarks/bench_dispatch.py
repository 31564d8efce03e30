"""Dispatch overhead per action through the real CommandProcessor, side by side in one run.

(a) no tracing; (b) a filter that says no; (c) tracing into an in-memory list; (d) tracing into
the real ActionTraceOutputService writing JSON Lines to a temporary directory, timed up to its
flush() so the writer thread's work counts there (skipped when the output module is missing).
Configurations are measured in interleaved batches inside one event loop, so machine noise hits
them alike; each figure is the median over rounds of the mean per action.
Target: (b) within 5% of (a).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from typing import Any

from _common import Row, header, pick, print_table
from actiontrace import ActionExecutionTraceFactory
from actiontrace.pipeline import (
    ATTEMPT_ACTION_ID,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
)

ACTIONS = [
    ({"id": f"player-{i % 4}"}, {"actionDefinitionId": action, "commandString": command})
    for i, (action, command) in enumerate(
        [
            ("core:go", "go north"),
            ("core:take", "take lamp"),
            ("core:talk", "talk to innkeeper"),
            ("core:attack", "attack goblin"),
        ]
        * 4
    )
]


class ListOutput:
    """The cheapest possible output: keep the trace."""

    __slots__ = ("traces",)

    def __init__(self) -> None:
        self.traces: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.traces.append(trace)
        if len(self.traces) >= 1_000:  # keep memory flat over a long run
            self.traces.clear()


def make_bus() -> EventBus:
    """A bus whose one handler does a little game work: move a counter, format a line."""
    bus = EventBus()
    state: dict[str, int] = {}
    log: list[str] = []

    def handle(payload: dict[str, Any]) -> None:
        actor = payload["actorId"]
        state[actor] = state.get(actor, 0) + 1
        log.append(f"{actor} {payload['originalInput']} #{state[actor]}")
        if len(log) > 64:
            del log[:32]

    bus.subscribe(ATTEMPT_ACTION_ID, handle)
    return bus


async def batch(processor: CommandProcessor, count: int, flush: Any = None) -> float:
    """Mean ns per action over ``count`` dispatches (and the ``flush`` after them, if given)."""
    actions = ACTIONS
    size = len(actions)
    dispatch = processor.dispatch_action
    clock = time.perf_counter_ns
    start = clock()
    for index in range(count):
        actor, action = actions[index % size]
        await dispatch(actor, action)
    if flush is not None:
        flush()
    return (clock() - start) / count


def output_service(directory: str) -> Any:
    try:
        from actiontrace.output.service import ActionTraceOutputService
    except ImportError:
        return None
    return ActionTraceOutputService(directory, format="jsonl")


async def measure(directory: str) -> tuple[dict[str, list[float]], Any]:
    """Per-configuration samples (mean ns per action of each batch), and the output service."""
    factory = ActionExecutionTraceFactory()
    no = ActionTraceFilter(traced_actions=("debug:*",))
    everything = ActionTraceFilter()
    service = output_service(directory)
    processors = {
        "a": CommandProcessor(EventDispatchService(make_bus())),
        "b": CommandProcessor(
            EventDispatchService(make_bus()), trace_filter=no, trace_factory=factory
        ),
        "c": CommandProcessor(
            EventDispatchService(make_bus()),
            trace_filter=everything,
            trace_factory=factory,
            trace_output_service=ListOutput(),
        ),
    }
    if service is not None:
        processors["d"] = CommandProcessor(
            EventDispatchService(make_bus()),
            trace_filter=everything,
            trace_factory=factory,
            trace_output_service=service,
        )
    count = pick(2_000, 50)
    # (d) is timed up to its flush(): that counts the writer thread's work (which competes for
    # the GIL) in (d) instead of letting it spill into the next configuration's batch.
    flushes = {"d": service.flush} if service is not None else {}
    for key, processor in processors.items():  # warm up caches and the filter's verdicts
        await batch(processor, count, flushes.get(key))
    samples: dict[str, list[float]] = {key: [] for key in processors}
    # As timeit does: no cyclic GC inside a timed batch (one configuration's garbage must not be
    # collected on another's clock); collect between batches instead.
    gc.disable()
    try:
        for _ in range(pick(41, 3)):
            # (a) and (b) run back to back, in alternating order, several times a round: paired
            # ratios that slow drifts of the machine cancel out of. (c) and (d) once a round.
            order = ["a", "b", "b", "a", "a", "b", *(k for k in processors if k not in "ab")]
            for key in order:
                gc.collect()
                samples[key].append(await batch(processors[key], count, flushes.get(key)))
    finally:
        gc.enable()
    return samples, service


def main() -> None:
    header("dispatch overhead per action (CommandProcessor)")
    with tempfile.TemporaryDirectory() as directory:
        samples, service = asyncio.run(measure(directory))
        stats = None
        if service is not None:
            service.close()
            stats = service.stats
    figures = {key: statistics.median(values) for key, values in samples.items()}
    base = figures["a"]
    # The target compares the paired per-round ratios, not two independent medians.
    paired = statistics.median(b / a for a, b in zip(samples["a"], samples["b"], strict=True))
    rows = [
        Row("(a) no tracing", base / 1000, "µs/action", 1.0),
        Row(
            "(b) filter says no",
            figures["b"] / 1000,
            "µs/action",
            paired,
            target="<= 1.05x (a)",
            ok=paired <= 1.05,
        ),
        Row("(c) tracing, in-memory output", figures["c"] / 1000, "µs/action", figures["c"] / base),
    ]
    if "d" in figures:
        rows.append(
            Row(
                "(d) tracing, JSON Lines, to flush",
                figures["d"] / 1000,
                "µs/action",
                figures["d"] / base,
            )
        )
    print_table("Dispatch overhead (median of interleaved rounds; (b): median paired ratio)", rows)
    if stats is not None:
        print(f"   (d) output service stats after close: {stats}")
    else:
        print("   (d) skipped: actiontrace.output is not available")


if __name__ == "__main__":
    main()
