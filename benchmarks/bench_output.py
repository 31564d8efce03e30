"""Output service speed (issue 3): the caller's enqueue cost, and the writer's throughput to disk.

1. ``write_trace`` enqueue cost on the caller's thread, per call, with the writer running and
   writing at the same time (median and p99 over every call of several rounds).
2. Writer throughput to JSON Lines: completed ``ActionExecutionTrace`` objects, timed from the first
   enqueue to the return of ``flush()``; the queue is sized to hold the burst, so nothing drops.
   Target: >= 100,000 traces/s on this 2-core machine.
3. The same rate held steadily: a producer paced at 20,000 traces/s for a while, default queue
   (10,000); target: nothing dropped.
4. For comparison (ratios to 2): JSON Lines with ``compress_rotated`` (small files, so many
   rotations are gzipped on the writer thread), and ``format="json"`` (one file per trace).
5. A trickle: one trace every half millisecond, as a game writes them. The writer's batches and the
   process's CPU time per trace, with the worker's short linger (it gathers a trickle into a few
   batches) against none (one wake-up per trace).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Row, header, percentile, pick, print_table
from actiontrace import ActionExecutionTrace, ActionTraceOutputService

TARGET_RATE = 20_000.0
THROUGHPUT_TARGET = 100_000.0
TURN_ACTION: dict[str, Any] = {
    "actionDefinitionId": "core:go",
    "commandString": "go north",
    "parameters": {"direction": "north"},
}


def completed_trace(n: int) -> ActionExecutionTrace:
    """A completed trace like the processor makes: start, a small payload, a result."""
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id=f"player-{n % 8}", turn_action=TURN_ACTION
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload(
        {"eventName": "core:attempt_action", "actorId": f"player-{n % 8}", "turn": n}
    )
    trace.capture_dispatch_result({"success": n % 10 != 0})
    return trace


def enqueue_cost(traces: list[ActionExecutionTrace], rounds: int) -> tuple[float, float, int]:
    """Median and p99 ns of one ``write_trace`` call, and the traces dropped meanwhile."""
    samples: list[int] = []
    clock = time.perf_counter_ns
    dropped = 0
    with tempfile.TemporaryDirectory() as folder:
        service = ActionTraceOutputService(folder, max_queue_size=len(traces) + 1)
        write = service.write_trace
        append = samples.append
        for _ in range(rounds):
            for trace in traces:
                start = clock()
                write(trace)
                append(clock() - start)
            service.flush(60)
        dropped = service.stats["dropped"]
        service.close()
    return statistics.median(samples), percentile(samples, 0.99), dropped


def throughput(
    traces: list[ActionExecutionTrace], repeats: int, **options: Any
) -> tuple[float, int]:
    """Median traces/s from the first enqueue to ``flush()`` returning; total dropped+failed."""
    rates: list[float] = []
    lost = 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            service = ActionTraceOutputService(
                Path(folder) / "out", max_queue_size=len(traces) + 1, **options
            )
            write = service.write_trace
            start = time.perf_counter()
            for trace in traces:
                write(trace)
            done = service.flush(120)
            elapsed = time.perf_counter() - start
            service.close()
            stats = service.stats
            lost += stats["dropped"] + stats["failed"] + (0 if done else 1)
            rates.append(len(traces) / elapsed)
    return statistics.median(rates), lost


def paced(traces: list[ActionExecutionTrace], rate: float, seconds: float) -> tuple[float, int]:
    """Write at ``rate`` traces/s for ``seconds`` with the default queue; achieved rate, dropped."""
    batch = 200
    interval = batch / rate
    sent = 0
    with tempfile.TemporaryDirectory() as folder:
        service = ActionTraceOutputService(folder)
        write = service.write_trace
        start = time.perf_counter()
        next_at = start
        while time.perf_counter() - start < seconds:
            for index in range(batch):
                write(traces[(sent + index) % len(traces)])
            sent += batch
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        service.flush(60)
        elapsed = time.perf_counter() - start
        service.close()
        dropped = service.stats["dropped"]
    return sent / elapsed, dropped


class CountingSink:
    """Passes the worker's batches on to the service's writer, counting the writer's turns."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.turns = 0

    def write(self, batch: Any) -> None:
        self.turns += 1
        self.inner.write(batch)

    def stop(self) -> None:
        self.inner.stop()


def trickle(traces: list[ActionExecutionTrace], linger: float | None) -> tuple[float, int, int]:
    """Write one trace per 0.5 ms; return process CPU µs per trace, writer turns, and lost traces.

    ``linger=None`` keeps the service's default; a number sets the worker's (a private knob,
    touched here only to compare).
    """
    with tempfile.TemporaryDirectory() as folder:
        service = ActionTraceOutputService(folder)
        worker = service._worker
        if linger is not None:
            worker._linger = linger
        counting = CountingSink(worker._sink)
        worker._sink = counting
        began = time.process_time()
        for trace in traces:
            service.write_trace(trace)
            time.sleep(0.0005)
        service.flush(60)
        cpu = time.process_time() - began
        service.close()
        stats = service.stats
    return cpu / len(traces) * 1e6, counting.turns, stats["dropped"] + stats["failed"]


def timed(label: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    print(f"   ({label}: {time.perf_counter() - started:.1f} s)")
    return result


def main() -> None:
    header("output service: enqueue cost and writer throughput")
    count = pick(40_000, 400)
    traces = timed("building traces", lambda: [completed_trace(n) for n in range(count)])

    median, p99, dropped = enqueue_cost(traces[: pick(20_000, 200)], rounds=pick(5, 1))
    print_table(
        "write_trace on the caller's thread (writer running)",
        [
            Row(
                "write_trace enqueue (median)",
                median / 1000,
                "µs",
                target="< 5 µs",
                ok=median < 5000,
            ),
            Row("write_trace enqueue (p99)", p99 / 1000, "µs", target="< 50 µs", ok=p99 < 50_000),
            Row("dropped while measuring", dropped, "traces", target="0", ok=dropped == 0),
        ],
    )

    repeats = pick(3, 1)
    jsonl_rate, jsonl_lost = throughput(traces, repeats)
    gz_rate, gz_lost = throughput(
        traces, repeats, compress_rotated=True, max_file_bytes=4 * 1024 * 1024
    )
    json_traces = traces[: pick(4_000, 100)]
    json_rate, json_lost = throughput(json_traces, repeats, format="json")
    steady_rate, steady_dropped = paced(traces, TARGET_RATE, seconds=pick(3, 0.2))
    print_table(
        "writer throughput, first enqueue to flush() return",
        [
            Row(
                "JSON Lines writer throughput",
                jsonl_rate,
                "traces/s",
                ratio=1.0,
                target=">= 100,000/s",
                ok=jsonl_rate >= THROUGHPUT_TARGET and jsonl_lost == 0,
            ),
            Row(
                "JSON Lines dropped or failed", jsonl_lost, "traces", target="0", ok=jsonl_lost == 0
            ),
            Row("paced at 20,000/s, default queue: rate", steady_rate, "traces/s"),
            Row(
                "paced at 20,000/s, default queue: dropped",
                steady_dropped,
                "traces",
                target="0",
                ok=steady_dropped == 0,
            ),
            Row(
                "JSON Lines + compress_rotated (4 MB files)",
                gz_rate,
                "traces/s",
                ratio=gz_rate / jsonl_rate,
                ok=None if gz_lost == 0 else False,
            ),
            Row(
                "format=json, one file per trace",
                json_rate,
                "traces/s",
                ratio=json_rate / jsonl_rate,
                ok=None if json_lost == 0 else False,
            ),
        ],
    )

    trickling = traces[: pick(2_000, 50)]
    cpu_linger, turns_linger, lost_linger = trickle(trickling, None)
    cpu_none, turns_none, lost_none = trickle(trickling, 0.0)
    print_table(
        f"a trickle: {len(trickling)} traces, one per 0.5 ms (CPU of the whole process)",
        [
            Row("writer turns, default linger", turns_linger, "batches"),
            Row("writer turns, no linger", turns_none, "batches", ratio=turns_none / turns_linger),
            Row("CPU per trace, default linger", cpu_linger, "µs", ratio=1.0),
            Row("CPU per trace, no linger", cpu_none, "µs", ratio=cpu_none / cpu_linger),
            Row(
                "lost in the trickle",
                lost_linger + lost_none,
                "traces",
                target="0",
                ok=lost_linger + lost_none == 0,
            ),
        ],
    )


if __name__ == "__main__":
    main()
