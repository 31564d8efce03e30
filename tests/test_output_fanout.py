"""Disk and OpenTelemetry together: each output has its own worker, so one failing output never
holds back or loses the other's traces.

The failures are real: an OTLP endpoint where nothing listens (the export fails), and an output
folder that cannot exist because a regular file stands in its path (``NotADirectoryError``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from actiontrace import (
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    ActionTraceOutputService,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    InvalidArgumentError,
    read_traces,
)
from actiontrace.otel import OTelTraceSink
from test_otel_otlp_receiver import OTLPReceiver, closed_port


def make_trace(n: int) -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id=f"core:a{n}", actor_id="p1", turn_action={"actionDefinitionId": "core:a"}
    )
    trace.capture_dispatch_start()
    if n % 5 == 0:
        trace.capture_error(ValueError("boom"))
    else:
        trace.capture_dispatch_result({"success": True})
    return trace


def fan_out(outputs: list[Any], count: int) -> None:
    """What a game does with several outputs: every trace to each, in order."""
    for n in range(count):
        trace = make_trace(n)
        for output in outputs:
            output.write_trace(trace)


@pytest.fixture(autouse=True)
def quick_export_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The exporter retries a refused connection until its own timeout: keep that short here.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")


def test_disk_gets_every_trace_while_the_otlp_export_fails(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)
    sink = OTelTraceSink(endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces")
    fan_out([svc, sink], 50)
    assert svc.flush() is True
    assert [t["metadata"]["actionId"] for t in read_traces(tmp_path)] == [
        f"core:a{n}" for n in range(50)
    ]
    sink.close(timeout=5)
    svc.close()
    assert sink.stats["exported"] == 0 and sink.stats["failed"] == 50
    assert svc.stats["written"] == 50 and svc.stats["failed"] == 0


def test_opentelemetry_gets_every_trace_while_the_disk_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the trace folder should be")
    svc = ActionTraceOutputService(blocker / "traces")
    with OTLPReceiver() as receiver:
        sink = OTelTraceSink(endpoint=receiver.endpoint)
        began = time.monotonic()
        fan_out([svc, sink], 50)
        assert time.monotonic() - began < 2  # the failing disk never holds the game up
        assert sink.flush() is True
        names = sorted(span.name for _, span in receiver.spans())
        sink.close()
    assert names == sorted(f"core:a{n}" for n in range(50))
    svc.close(timeout=1)
    assert svc.stats["written"] == 0 and svc.stats["failed"] == 50
    assert svc.stats["faults"] >= 1


async def test_the_processor_fans_out_to_disk_and_opentelemetry_with_one_failing(
    tmp_path: Path,
) -> None:
    svc = ActionTraceOutputService(tmp_path)
    sink = OTelTraceSink(endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces")
    try:
        processor = CommandProcessor(
            EventDispatchService(EventBus()),
            trace_filter=ActionTraceFilter(),
            trace_factory=ActionExecutionTraceFactory(),
            trace_output_service=[sink, svc],
        )
    except InvalidArgumentError:
        sink.close(timeout=1)
        svc.close()
        pytest.skip("the processor takes a sequence of outputs once issue 11 is merged")
    for n in range(10):
        await processor.dispatch_action({"id": "p1"}, {"actionDefinitionId": f"core:a{n}"})
    assert svc.flush() is True
    sink.close(timeout=5)
    svc.close()
    assert [t["metadata"]["actionId"] for t in read_traces(tmp_path)] == [
        f"core:a{n}" for n in range(10)
    ]
    assert sink.stats["failed"] == 10
