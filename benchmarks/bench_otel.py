"""OpenTelemetry export beside the JSON Lines output service, in one interleaved run.

(a) ``OTelTraceSink`` with the SDK's ``BatchSpanProcessor`` around an ``InMemorySpanExporter``
(the network left out, so the figure is the sink's and the SDK's own cost); (b) the real
``ActionTraceOutputService`` writing JSON Lines to a temporary directory. Each round writes the
same finished traces through one, then the other, timing every ``write_trace`` call (what the game
pays: both only enqueue, the work happens on their background threads) and the whole round up to
``flush()`` (end-to-end throughput, background work included). Figures: median and p99 of the
caller-side cost over all calls, and the median over rounds of traces per second.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import Row, header, percentile, pick, print_table
from actiontrace import ActionExecutionTraceFactory

try:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from actiontrace.otel import OTelTraceSink
except ImportError:  # the otel extra is not installed
    OTelTraceSink = None  # type: ignore[assignment,misc]

try:
    from actiontrace import ActionTraceOutputService  # type: ignore[attr-defined]
except ImportError:  # the output module has not landed
    ActionTraceOutputService = None

BATCH = 1000  # traces per timed round: below the batch processor's default queue of 2048
STEP_US = 200  # a game step's own work in the game-step figure


def make_traces(count: int) -> list[Any]:
    """Finished traces with a small, realistic payload; some failed, some with an error."""
    factory = ActionExecutionTraceFactory()
    traces = []
    for index in range(count):
        action = ("core:go", "core:take", "core:attack")[index % 3]
        trace = factory.create_trace(
            action_id=action,
            actor_id=f"player-{index % 4}",
            turn_action={"actionDefinitionId": action, "commandString": f"{action} {index}"},
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload(
            {"actorId": f"player-{index % 4}", "target": {"id": "door", "hp": 3}, "turn": index}
        )
        if index % 10 == 9:
            try:
                raise ValueError("the door is locked")
            except ValueError as error:
                trace.capture_error(error)
        else:
            trace.capture_dispatch_result({"success": index % 5 != 0})
        traces.append(trace)
    return traces


def timed_round(sink: Any, traces: list[Any], held: list[float]) -> float:
    """Seconds to write one batch through ``sink`` and flush it; appends each call's µs to held."""
    clock = time.perf_counter_ns
    write = sink.write_trace
    began = clock()
    for trace in traces:
        start = clock()
        write(trace)
        held.append((clock() - start) / 1000)
    sink.flush()
    return (clock() - began) / 1e9


def measure(
    sinks: dict[str, Any], traces: list[Any], rounds: int, between: Callable[[], None]
) -> dict[str, tuple[float, float, float]]:
    """Per sink: (median traces/s over rounds, median µs per call, p99 µs per call)."""
    rates: dict[str, list[float]] = {name: [] for name in sinks}
    holds: dict[str, list[float]] = {name: [] for name in sinks}
    for sink in sinks.values():  # warm-up
        timed_round(sink, traces[: len(traces) // 10], [])
    between()
    for _ in range(rounds):
        for name, sink in sinks.items():
            total = timed_round(sink, traces, holds[name])
            rates[name].append(len(traces) / total)
            between()
    return {
        name: (
            statistics.median(rates[name]),
            statistics.median(holds[name]),
            percentile(holds[name], 0.99),
        )
        for name in sinks
    }


def busy(microseconds: float) -> None:
    """Spin for a while, holding the GIL, as a game's own work would."""
    end = time.perf_counter_ns() + microseconds * 1000
    while time.perf_counter_ns() < end:
        pass


def game_steps(
    sinks: dict[str, Any], traces: list[Any], rounds: int, between: Callable[[], None]
) -> dict[str, float]:
    """p99 µs of a game step (``STEP_US`` of work, then one ``write_trace``), per sink.

    The background thread competes with the game for the GIL; this is the figure that shows it.
    ``"none"`` writes nowhere: the game's own step time on this machine.
    """
    steps: dict[str, list[float]] = {"none": [], **{name: [] for name in sinks}}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, samples in steps.items():
            write = sinks[name].write_trace if name in sinks else None
            for trace in traces:
                began = clock()
                busy(STEP_US)
                if write is not None:
                    write(trace)
                samples.append((clock() - began) / 1000)
            if name in sinks:
                sinks[name].flush()
            between()
    return {name: percentile(samples, 0.99) for name, samples in steps.items()}


def main() -> None:
    header("OpenTelemetry export")
    if OTelTraceSink is None:
        print("   skipped: the otel extra is not installed (pip install 'actiontrace[otel]')")
        return
    traces = make_traces(pick(BATCH, 100))
    rounds = pick(15, 2)
    exporter = InMemorySpanExporter()
    sinks: dict[str, Any] = {"otel": OTelTraceSink(exporter=exporter)}
    with tempfile.TemporaryDirectory() as folder:
        if ActionTraceOutputService is not None:
            sinks["jsonl"] = ActionTraceOutputService(folder, format="jsonl")
        try:
            results = measure(sinks, traces, rounds, exporter.clear)
            stalls = game_steps(sinks, traces[: pick(500, 50)], pick(3, 1), exporter.clear)
        finally:
            for sink in sinks.values():
                sink.close()
    otel_rate, otel_median, otel_p99 = results["otel"]
    caller_ok = otel_median < 5.0
    rows = []
    if "jsonl" in results:
        jsonl_rate, jsonl_median, jsonl_p99 = results["jsonl"]
        rows += [
            Row("jsonl write_trace median", jsonl_median, "µs"),
            Row(
                "otel write_trace median",
                otel_median,
                "µs",
                ratio=otel_median / jsonl_median,
                target="< 5 µs",
                ok=caller_ok,
            ),
            Row("jsonl write_trace p99", jsonl_p99, "µs"),
            Row("otel write_trace p99", otel_p99, "µs", ratio=otel_p99 / jsonl_p99),
            Row("jsonl service traces/s", jsonl_rate, "traces/s"),
            Row("otel sink traces/s", otel_rate, "traces/s", ratio=otel_rate / jsonl_rate),
        ]
    else:
        rows += [
            Row("otel write_trace median", otel_median, "µs", target="< 5 µs", ok=caller_ok),
            Row("otel write_trace p99", otel_p99, "µs"),
            Row("otel sink traces/s", otel_rate, "traces/s"),
        ]
    rows.append(Row(f"game step p99, no tracing ({STEP_US} µs work)", stalls["none"], "µs"))
    for name in ("jsonl", "otel"):
        if name in stalls:
            rows.append(
                Row(f"game step p99 with {name}", stalls[name], "µs", stalls[name] / stalls["none"])
            )
    stats = sinks["otel"].stats
    lost = stats["failed"] + stats["dropped"] + stats["skipped"]
    rows.append(Row("otel spans lost", lost, "spans", target="0", ok=lost == 0))
    print_table("Caller-side cost per trace (all calls) and throughput (median of rounds)", rows)
    if "jsonl" not in results:
        print("   (jsonl side skipped: actiontrace.ActionTraceOutputService not available)")


if __name__ == "__main__":
    main()
