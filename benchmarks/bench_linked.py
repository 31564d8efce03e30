"""Linked traces (issue 6): the cost of ``actiontrace.span()`` when off, and verbosity side by side.

1. ``actiontrace.span()`` with no structured trace active, against an empty
   ``contextlib.nullcontext()`` block, interleaved in one run; target: at most 2x.
2. The same with a structured trace active: what a handler's inner step costs when traced.
3. The full lifecycle (create -> start -> payload -> result -> ``to_json()``) at ``minimal`` and at
   ``standard`` verbosity, interleaved, and the bytes each writes per trace.
4. Retained memory of the core's reference trace with its ids generated and empty custom metadata
   (the 1 KB target of the core issue still holds).
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Any

import actiontrace
from _common import Row, header, interleaved_ns, pick, print_table, retained_bytes
from actiontrace import ActionExecutionTrace, ActionExecutionTraceFactory
from actiontrace.structured import StructuredTrace
from bench_core import LIFECYCLE_PAYLOAD, TURN_ACTION, reference_trace


def _span_off() -> None:
    with actiontrace.span("resolve_target"):
        pass


def _nullcontext() -> None:
    with contextlib.nullcontext():
        pass


def _bench_span() -> None:
    rounds, batch = pick(40, 2), pick(2000, 50)
    off, null = interleaved_ns([_span_off, _nullcontext], rounds=rounds, batch=batch, warmup=500)
    off_ns, null_ns = statistics.median(off), statistics.median(null)
    trace = StructuredTrace()
    root = trace.span("dispatch_event")
    root.__enter__()
    try:
        on_samples = interleaved_ns([_span_on_in(trace)], rounds=pick(10, 1), batch=pick(500, 10))[
            0
        ]
    finally:
        root.__exit__(None, None, None)
    ratio = off_ns / null_ns
    print_table(
        "actiontrace.span() with no structured trace active",
        [
            Row("empty nullcontext() block", null_ns, "ns"),
            Row("span() with nothing active", off_ns, "ns", ratio, "<= 2x nullcontext", ratio <= 2),
            Row("span() inside an active trace", statistics.median(on_samples), "ns"),
        ],
    )


def _span_on_in(trace: StructuredTrace) -> Any:
    def run() -> None:
        with actiontrace.span("resolve_target"):
            pass

    del trace  # the trace is active through the open root span, as in a handler
    return run


def _lifecycle(verbosity: str) -> Any:
    factory = ActionExecutionTraceFactory()

    def run() -> str:
        trace = factory.create_trace(
            action_id="core:go", actor_id="player-1", turn_action=TURN_ACTION, verbosity=verbosity
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload(LIFECYCLE_PAYLOAD)
        trace.capture_dispatch_result({"success": True})
        return trace.to_json()

    return run


def _bench_verbosity() -> None:
    minimal, standard = _lifecycle("minimal"), _lifecycle("standard")
    samples = interleaved_ns(
        [minimal, standard], rounds=pick(30, 2), batch=pick(300, 10), warmup=200
    )
    minimal_us, standard_us = (statistics.median(s) / 1000 for s in samples)
    minimal_bytes = len(minimal().encode("utf-8"))
    standard_bytes = len(standard().encode("utf-8"))
    print_table(
        "Verbosity: lifecycle cost and bytes on disk per trace",
        [
            Row("lifecycle at minimal", minimal_us, "µs", minimal_us / standard_us),
            Row("lifecycle at standard", standard_us, "µs", 1.0),
            Row("bytes per trace at minimal", minimal_bytes, "B", minimal_bytes / standard_bytes),
            Row("bytes per trace at standard", standard_bytes, "B", 1.0),
        ],
    )


def _reference_trace() -> ActionExecutionTrace:
    trace = reference_trace()  # the core benchmark's trace, the one its 1 KB target is about
    _ = trace.trace_id, trace.span_id  # ids generated and kept, as once serialised
    return trace


def _bench_memory() -> None:
    for _ in range(100):
        _reference_trace()
    per_trace = retained_bytes(_reference_trace, pick(10_000, 200))
    print_table(
        "Memory with ids and (empty) custom metadata",
        [
            Row(
                "retained bytes per reference trace",
                per_trace,
                "B",
                target="<= 1,024 B",
                ok=per_trace <= 1024,
            )
        ],
    )


def main() -> None:
    """Print the linked-traces figures."""
    header("linked traces: span() cost, verbosity, memory with ids")
    _bench_span()
    _bench_verbosity()
    _bench_memory()


if __name__ == "__main__":
    main()
