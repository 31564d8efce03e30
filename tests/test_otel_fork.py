"""The OpenTelemetry sink survives fork: the child's spans arrive, and all of the parent's too.

A real OTLP/HTTP exporter sends to a receiver on 127.0.0.1 (``OTLPReceiver``). At the fork the
parent's worker is held inside a trace's ``to_dict()``, so traces sit in its queue: the child must
not send them again, and the parent must send every one once released.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import Counter
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace
from actiontrace.otel import OTelTraceSink
from test_otel_otlp_receiver import OTLPReceiver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def make_trace(action_id: str) -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id=action_id, actor_id="hero", turn_action={"actionDefinitionId": action_id}
    )
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True})
    return trace


class Gate:
    """Holds the parent's worker inside to_dict() until released; then a finished trace."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.trace = make_trace("gate")

    def to_dict(self) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(20)
        return self.trace.to_dict()


def child_work(sink: OTelTraceSink, count: int) -> int:
    for n in range(count):
        sink.write_trace(make_trace(f"child:{n}"))
    if not sink.flush(10):
        return 2
    stats = sink.stats  # fresh counts: the parent's are not the child's
    if stats["spans"] != count or stats["exported"] != count or stats["dropped"] != 0:
        return 3
    sink.close()
    return 0


def mp_child(sink: OTelTraceSink, count: int) -> None:
    code = child_work(sink, count)
    if code:
        raise SystemExit(code)


@pytest.mark.parametrize("how", ["os.fork", "multiprocessing"])
def test_a_forked_child_exports_its_spans_and_the_parent_loses_none(how: str) -> None:
    with OTLPReceiver() as receiver:
        sink = OTelTraceSink(service_name="forking-game", endpoint=receiver.endpoint)
        gate = Gate()
        sink.write_trace(gate)
        assert gate.entered.wait(10)
        for n in range(10):
            sink.write_trace(make_trace(f"parent:{n}"))
        if how == "os.fork":
            pid = os.fork()
            if pid == 0:  # pragma: no cover - measured in the child (coverage saves on _exit)
                code = 1
                try:
                    code = child_work(sink, 15)
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        else:
            process = multiprocessing.get_context("fork").Process(target=mp_child, args=(sink, 15))
            process.start()
            process.join(30)
            assert process.exitcode == 0
        gate.release.set()
        for n in range(10, 20):
            sink.write_trace(make_trace(f"parent:{n}"))
        assert sink.flush() is True
        sink.close()
        names = Counter(span.name for _, span in receiver.spans())
    expected = ["gate", *(f"parent:{n}" for n in range(20)), *(f"child:{n}" for n in range(15))]
    assert names == Counter(expected)  # each exactly once: nothing lost, nothing sent twice
    assert sink.stats == {"spans": 21, "exported": 21, "failed": 0, "dropped": 0, "skipped": 0}


def test_a_forked_child_never_writes_into_the_parents_open_otlp_connection() -> None:
    """The exporter keeps its HTTP connection open; a child must open its own.

    Two processes writing requests into one connection corrupt each other's (seen as protobuf
    decode errors at the receiver before the exporter was renewed in the child).
    """
    with OTLPReceiver(keep_alive=True) as receiver:
        sink = OTelTraceSink(endpoint=receiver.endpoint)
        for n in range(5):
            sink.write_trace(make_trace(f"parent:{n}"))
        assert sink.flush() is True  # the parent now holds an open connection, idle in its pool
        pid = os.fork()
        if pid == 0:  # pragma: no cover - measured in the child
            code = 1
            try:
                for n in range(5):
                    sink.write_trace(make_trace(f"child:{n}"))
                code = 0 if sink.flush(10) and sink.stats["exported"] == 5 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for n in range(5, 10):
            sink.write_trace(make_trace(f"parent:{n}"))
        assert sink.flush() is True
        sink.close()
        by_port: dict[int, set[str]] = {}
        for port, request in zip(receiver.ports, receiver.requests, strict=True):
            names = {
                span.name
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            }
            by_port.setdefault(port, set()).update(names)
        names = Counter(span.name for _, span in receiver.spans())
    assert names == Counter(
        [*(f"parent:{n}" for n in range(10)), *(f"child:{n}" for n in range(5))]
    )
    child_ports = {
        port for port, seen in by_port.items() if any(n.startswith("child") for n in seen)
    }
    parent_ports = {
        port for port, seen in by_port.items() if any(n.startswith("parent") for n in seen)
    }
    assert child_ports and parent_ports and not child_ports & parent_ports
