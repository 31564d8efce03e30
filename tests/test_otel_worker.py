"""OTelTraceSink's worker thread: the caller only enqueues; flush and close wait for the worker.

Nothing here sleeps to pass: a held exporter (``Gate``) says when the worker is inside it, and
``flush()`` is what waits for the worker.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actiontrace import ActionExecutionTraceFactory
from actiontrace.otel import DEFAULT_MAX_QUEUE_SIZE, OTelTraceSink

WORKER = "actiontrace-otel-sink"


@pytest.fixture(autouse=True)
def no_worker_left_running() -> Iterator[None]:
    yield
    workers = [t for t in threading.enumerate() if t.name == WORKER]
    for worker in workers:
        worker.join(5)
    assert not [t for t in workers if t.is_alive()]


def finished_trace(index: int = 0) -> Any:
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=f"core:act{index}", actor_id="hero", turn_action={"actionDefinitionId": "x"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"turn": index})
    trace.capture_dispatch_result({"success": True})
    return trace


class Gate(SpanExporter):
    """An exporter that holds the thread calling it until released; says when it is held."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.names: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.names.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def held_sink(**kwargs: Any) -> tuple[OTelTraceSink, Gate, TracerProvider]:
    """A sink whose worker blocks inside span.end() (a synchronous processor) until released."""
    gate = Gate()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(gate))
    return OTelTraceSink(provider, **kwargs), gate, provider


def test_the_default_queue_bound_is_ten_thousand() -> None:
    assert DEFAULT_MAX_QUEUE_SIZE == 10_000


def test_to_dict_runs_on_the_worker_thread_never_on_the_callers() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace = finished_trace()
    threads: list[str] = []

    class Watched:
        def to_dict(self) -> Any:
            threads.append(threading.current_thread().name)
            return trace.to_dict()

    with OTelTraceSink(provider) as sink:
        sink.write_trace(Watched())
        assert sink.flush() is True
    assert threads == [WORKER]
    assert [span.name for span in exporter.get_finished_spans()] == ["core:act0"]
    provider.shutdown()


def test_write_trace_returns_at_once_while_the_worker_is_held_and_drops_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, gate, provider = held_sink(max_queue_size=5)
    try:
        sink.write_trace(finished_trace(0))
        assert gate.entered.wait(10)  # the worker now sits in the exporter
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="actiontrace"):
            for index in range(1, 51):
                sink.write_trace(finished_trace(index))
            took = time.monotonic() - began
            assert took < 5.0  # a blocking write would wait for the gate's 10 s
            assert sink.stats["dropped"] == 45
            assert "queue full" not in caplog.text  # never logged on the caller's thread
            gate.release.set()
            assert sink.flush() is True
        # The worker reports the drops in one warning once it is free again.
        assert caplog.text.count("queue full (max_queue_size=5): 45 traces dropped") == 1
        assert sink.stats["spans"] == 6
        assert gate.names == [f"core:act{i}" for i in range(6)]
    finally:
        gate.release.set()
        sink.close()
        provider.shutdown()


def test_flush_waits_until_every_queued_trace_is_converted_and_exported() -> None:
    exporter = InMemorySpanExporter()
    sink = OTelTraceSink(exporter=exporter)  # batch processor: exports after a 5 s delay
    try:
        for index in range(20):
            sink.write_trace(finished_trace(index))
        assert sink.flush() is True
        assert len(exporter.get_finished_spans()) == 20
        assert sink.stats == {"spans": 20, "exported": 20, "failed": 0, "dropped": 0, "skipped": 0}
    finally:
        sink.close()


def test_flush_returns_false_within_its_timeout_while_the_worker_is_held() -> None:
    sink, gate, provider = held_sink()
    try:
        sink.write_trace(finished_trace(0))
        sink.write_trace(finished_trace(1))
        assert gate.entered.wait(10)
        began = time.monotonic()
        assert sink.flush(timeout=0.2) is False
        assert time.monotonic() - began < 5.0
        gate.release.set()
        assert sink.flush() is True
        assert sink.stats["spans"] == 2
    finally:
        gate.release.set()
        sink.close()
        provider.shutdown()


def test_close_converts_and_exports_everything_still_queued() -> None:
    exporter = InMemorySpanExporter()
    sink = OTelTraceSink(exporter=exporter)
    for index in range(200):
        sink.write_trace(finished_trace(index))
    sink.close()
    assert len(exporter.get_finished_spans()) == 200
    assert sink.stats["exported"] == 200
    assert sink.stats["dropped"] == 0
    assert sink.closed


@pytest.mark.parametrize("queued", [3, 0])
def test_close_with_a_stuck_worker_returns_in_time_and_counts_the_queue_as_dropped(
    caplog: pytest.LogCaptureFixture, queued: int
) -> None:
    sink, gate, provider = held_sink()
    try:
        sink.write_trace(finished_trace(0))
        assert gate.entered.wait(10)
        for index in range(queued):
            sink.write_trace(finished_trace(index + 1))
        began = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="actiontrace"):
            sink.close(timeout=0.3)
        assert time.monotonic() - began < 5.0
        assert sink.stats["dropped"] == queued
        assert ("queued trace(s) were not written" in caplog.text) is bool(queued)
    finally:
        gate.release.set()
        provider.shutdown()


def test_close_leaves_a_given_provider_running() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider)
    sink.write_trace(finished_trace())
    sink.close()
    provider.get_tracer("game").start_span("after-close").end()
    assert [span.name for span in exporter.get_finished_spans()] == ["core:act0", "after-close"]
    provider.shutdown()


def test_flush_and_close_from_inside_the_worker_do_not_wait_for_themselves() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider)
    trace = finished_trace()
    seen: list[tuple[bool, float]] = []

    class Reentrant:
        def to_dict(self) -> Any:
            began = time.monotonic()
            flushed = sink.flush(timeout=5)
            sink.close(timeout=5)
            seen.append((flushed, time.monotonic() - began))
            return trace.to_dict()

    sink.write_trace(Reentrant())
    for worker in [t for t in threading.enumerate() if t.name == WORKER]:
        worker.join(10)
    ((flushed, took),) = seen
    assert flushed is True
    assert took < 4.0  # not the 5 s a self-wait would cost
    assert sink.closed
    provider.shutdown()


def test_a_raising_is_complete_lets_the_worker_decide() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace = finished_trace()

    class Odd:
        @property
        def is_complete(self) -> bool:
            raise RuntimeError("cannot tell")

        def to_dict(self) -> Any:
            return trace.to_dict()

    with OTelTraceSink(provider) as sink:
        sink.write_trace(Odd())
        sink.flush()
    assert len(exporter.get_finished_spans()) == 1
    provider.shutdown()


def test_a_logger_that_raises_stops_neither_the_worker_nor_the_caller() -> None:
    class Broken:
        def debug(self, *args: Any) -> None:
            raise RuntimeError("logger down")

        info = warning = error = debug

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider, logger=Broken(), max_queue_size=1)
    sink.close()
    sink.write_trace(finished_trace())  # dropped: closed; the debug log raises
    assert sink.stats["dropped"] == 1

    sink = OTelTraceSink(provider, logger=Broken())
    sink.write_trace(object())  # malformed: the worker's warning raises
    sink.write_trace(finished_trace())
    assert sink.flush() is True
    assert sink.stats["skipped"] == 1
    assert sink.stats["spans"] == 1
    sink.close()
    provider.shutdown()


CHILD = textwrap.dedent(
    """
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from actiontrace import ActionExecutionTraceFactory
    from actiontrace.otel import OTelTraceSink

    class Printing(SpanExporter):
        def export(self, spans):
            for span in spans:
                print("exported", span.name, flush=True)
            return SpanExportResult.SUCCESS

    sink = OTelTraceSink(exporter=Printing())
    for index in range(5):
        trace = ActionExecutionTraceFactory().create_trace(
            action_id=f"core:act{index}", actor_id="hero", turn_action={"actionDefinitionId": "x"}
        )
        trace.capture_dispatch_start()
        trace.capture_dispatch_result({"success": True})
        sink.write_trace(trace)
    # No close(): the atexit hook must convert and export what is queued.
    """
)


def test_a_sink_never_closed_exports_its_queue_at_interpreter_exit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    exported = sorted(line for line in done.stdout.splitlines() if line.startswith("exported"))
    assert exported == [f"exported core:act{index}" for index in range(5)]


def test_a_failed_trace_at_a_full_queue_evicts_a_queued_success() -> None:
    sink, gate, provider = held_sink(max_queue_size=2)
    try:
        sink.write_trace(finished_trace(0))
        assert gate.entered.wait(10)
        sink.write_trace(finished_trace(1))
        sink.write_trace(finished_trace(2))
        failed = ActionExecutionTraceFactory().create_trace(
            action_id="core:broken", actor_id="hero", turn_action={"actionDefinitionId": "x"}
        )
        failed.capture_dispatch_start()
        failed.capture_error(ValueError("boom"))
        sink.write_trace(failed)  # the queue is full: core:act1 makes room for it
        gate.release.set()
        assert sink.flush() is True
        assert gate.names == ["core:act0", "core:act2", "core:broken"]
        assert sink.stats["dropped"] == 1 and sink.stats["spans"] == 3
    finally:
        gate.release.set()
        sink.close()
        provider.shutdown()
