"""TailSampler: what deciding costs per trace, and what holding linked traces costs in memory.

1. The decision per finished trace (``write_trace`` into an output that keeps nothing), for root
   traces at rate 0.1 with a ``slow_ms`` pattern list; target: at most 2 µs. Beside it, the same
   output written to directly, interleaved in the same run, for the ratio.
2. Children held while their root runs (a root that never ends, flooded with children): the
   sampler's memory after 20,000 and after 100,000 children with ``max_pending=10_000`` — bounded
   by ``max_pending``, not by the flood — and the bytes held per pending trace.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import tracemalloc
from typing import Any

from _common import Row, header, interleaved_ns, pick, print_table
from actiontrace import ActionExecutionTrace, TailSampler
from actiontrace.context import DISPATCHING, Dispatching

TURN = {"actionDefinitionId": "core:go", "commandString": "go north"}


class _Nothing:
    """An output that keeps nothing: only the sampler's own cost is measured."""

    def write_trace(self, trace: Any) -> None:
        return None


def _finished(parent: ActionExecutionTrace | None = None) -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id="hero", turn_action=TURN, parent=parent
    )
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True})
    trace.span_id  # noqa: B018 - ids made now, as the processor's writer would make them anyway
    return trace


def _bench_decision() -> None:
    count = pick(20_000, 200)
    traces = [_finished() for _ in range(count)]
    output = _Nothing()
    sampler = TailSampler(output, rate=0.1, slow_ms={"magic:*": 50, "core:*": 200})
    feed_s, feed_o = itertools.cycle(traces), itertools.cycle(traces)

    def decide() -> None:
        sampler.write_trace(next(feed_s))

    def direct() -> None:
        output.write_trace(next(feed_o))

    rounds, batch = pick(20, 2), pick(500, 50)
    sampled, plain = interleaved_ns([decide, direct], rounds=rounds, batch=batch, warmup=1000)
    decision_ns = statistics.median(sampled)
    plain_ns = statistics.median(plain)
    print_table(
        "TailSampler decision per finished trace (root traces, rate 0.1, slow_ms patterns)",
        [
            Row(
                "sampler decision per trace (median)",
                decision_ns / 1000,
                "µs",
                ratio=decision_ns / plain_ns,
                target="<= 2 µs",
                ok=decision_ns <= 2000,
            ),
            Row("output write_trace alone (median)", plain_ns / 1000, "µs"),
        ],
    )


def _held_bytes(children: int) -> tuple[int, int]:
    """Memory the sampler holds after a flood of ``children`` of one never-ending root."""
    root = _finished()
    kids = [_finished(parent=root) for _ in range(children)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sampler = TailSampler(_Nothing(), rate=0.1, max_pending=pick(10_000, 100))
        token = DISPATCHING.set(Dispatching(root))
        try:
            for kid in kids:
                sampler.write_trace(kid)
        finally:
            DISPATCHING.reset(token)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    pending = sampler.pending
    sampler.close()
    return held, pending


def _bench_holding() -> None:
    small_n, big_n = pick(20_000, 300), pick(100_000, 1_000)
    small, small_pending = _held_bytes(small_n)
    big, big_pending = _held_bytes(big_n)
    limit = pick(10_000, 100)
    print_table(
        "Linked traces held for a root that never ends (max_pending bounds them)",
        [
            Row(
                f"sampler memory after {small_n:,} children",
                small / 1024,
                "KiB",
                target=f"pending <= {limit:,}",
                ok=small_pending <= limit,
            ),
            Row(
                f"sampler memory after {big_n:,} children",
                big / 1024,
                "KiB",
                ratio=big / small if small else None,
                target="~ the same (bounded)",
                ok=big <= 1.5 * small and big_pending <= limit,
            ),
            Row("held per pending trace (bookkeeping)", big / max(big_pending, 1), "bytes"),
        ],
    )


def main() -> None:
    """Run both measurements."""
    header("TailSampler")
    _bench_decision()
    _bench_holding()


if __name__ == "__main__":
    main()
