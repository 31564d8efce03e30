"""End to end: the real OTLP/HTTP exporter sends to a receiver on 127.0.0.1 that decodes protobuf.

``OTLPReceiver`` is also used by ``test_export_cli.py``.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from actiontrace import ActionExecutionTraceFactory, StructuredTrace, TraceContext
from actiontrace.otel import OTelTraceSink

SECRET = "hunter2VerySecretToken0123456789"


# -- the receiver ----------------------------------------------------------------------------------


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(any_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


class OTLPReceiver:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces, protobuf, optional gzip/deflate."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.ports: list[int] = []  # the client's port of each request: which connection it used
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps a connection open between requests, as a real Collector does.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                receiver.requests.append(request)
                receiver.ports.append(self.client_address[1])
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def spans(self) -> list[tuple[dict[str, Any], trace_pb2.Span]]:
        """Every received span with its resource attributes."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found

    def __enter__(self) -> OTLPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- traces ----------------------------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
CHILD_ID = "b7ad6b7169203331"


def make_trace(action: str, outcome: str, payload: Any) -> Any:
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=action,
        actor_id="hero",
        turn_action={"actionDefinitionId": action, "commandString": f"do {action}"},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload(payload)
    if outcome == "error":
        try:
            raise RuntimeError(f"kaboom Bearer {SECRET}")
        except RuntimeError as error:
            trace.capture_error(error)
    else:
        trace.capture_dispatch_result({"success": outcome == "success"})
    return trace


def sample_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        dict(make_trace("core:go", "success", {"dir": "north", "path": [1, 2]}).to_dict()),
        dict(make_trace("core:take", "failed", {"item": "lamp", "password": SECRET}).to_dict()),
        dict(make_trace("core:attack", "error", {"target": {"id": "troll", "hp": 3.5}}).to_dict()),
    ]
    records[0]["metadata"] = {**records[0]["metadata"], "traceId": TRACE_ID, "spanId": PARENT_ID}
    records[1]["metadata"] = {
        **records[1]["metadata"],
        "traceId": TRACE_ID,
        "spanId": CHILD_ID,
        "parentSpanId": PARENT_ID,
    }
    return records


def check_span_matches(span: trace_pb2.Span, record: dict[str, Any]) -> None:
    """What arrived equals what was traced."""
    execution = record["execution"]
    start = execution["startEpochNs"]
    assert span.name == record["metadata"]["actionId"]
    assert span.start_time_unix_nano == start
    assert span.end_time_unix_nano - start == round(execution["duration"] * 1e6)
    got = attributes(span.attributes)
    assert got["actiontrace.action_id"] == record["metadata"]["actionId"]
    assert got["actiontrace.actor_id"] == "hero"
    assert got["actiontrace.command"] == record["turnAction"]["commandString"]
    assert got["actiontrace.status"] == execution["status"]
    assert got["actiontrace.payload_size"] == execution["phases"][1]["payloadSize"]
    assert got["actiontrace.truncated"] is False
    for key, value in record["eventPayload"].items():
        if isinstance(value, dict):
            for inner, leaf in value.items():
                assert got[f"actiontrace.payload.{key}.{inner}"] == leaf
        elif isinstance(value, list):
            assert got[f"actiontrace.payload.{key}"] == tuple(value)
        else:
            assert got[f"actiontrace.payload.{key}"] == value
    phases = execution["phases"]
    events = list(span.events)
    assert [e.name for e in events[: len(phases)]] == [p["phase"] for p in phases]
    for event, phase in zip(events, phases, strict=False):
        assert event.time_unix_nano == start + round(
            (phase["timestamp"] - execution["startTime"]) * 1e6
        )
        assert attributes(event.attributes)["actiontrace.description"] == phase["description"]
    if execution["status"] == "success":
        assert span.status.code == trace_pb2.Status.STATUS_CODE_OK
    else:
        assert span.status.code == trace_pb2.Status.STATUS_CODE_ERROR
        assert span.status.message
    if record["error"] is not None:
        exception = events[-1]
        assert exception.name == "exception"
        got_error = attributes(exception.attributes)
        assert got_error["exception.type"] == record["error"]["type"]
        assert got_error["exception.message"] == record["error"]["message"]
        assert got_error["exception.stacktrace"] == record["error"]["stack"]


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_spans_sent_through_the_real_otlp_exporter_arrive_as_traced(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", compression)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team-key=abc123")
    records = sample_records()
    sink = OTelTraceSink(service_name="e2e-game")
    for record in records:
        sink.write_trace(record)
    sink.close()

    assert sink.stats == {"spans": 3, "exported": 3, "failed": 0, "dropped": 0, "skipped": 0}
    assert receiver.headers[0]["x-team-key"] == "abc123"
    assert receiver.headers[0].get("content-encoding", "none") == compression
    received = receiver.spans()
    assert len(received) == 3
    by_name = {span.name: (resource, span) for resource, span in received}
    for record in records:
        resource, span = by_name[record["metadata"]["actionId"]]
        assert resource["service.name"] == "e2e-game"
        check_span_matches(span, record)
    root = by_name["core:go"][1]
    child = by_name["core:take"][1]
    assert root.trace_id.hex() == child.trace_id.hex() == TRACE_ID
    assert root.span_id.hex() == PARENT_ID
    assert root.parent_span_id == b""
    assert child.span_id.hex() == CHILD_ID
    assert child.parent_span_id.hex() == PARENT_ID
    for _, span in received:
        assert SECRET not in str(span)


def test_endpoint_argument_overrides_the_environment(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{closed_port()}/x")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    with OTelTraceSink(endpoint=receiver.endpoint) as sink:
        sink.write_trace(sample_records()[0])
    assert sink.stats["exported"] == 1
    ((resource, span),) = receiver.spans()
    assert resource["service.name"] == "from-env"
    assert span.name == "core:go"


def test_base_endpoint_variable_gets_the_traces_path(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.removesuffix("/v1/traces"))
    with OTelTraceSink() as sink:
        sink.write_trace(sample_records()[2])
    assert sink.stats["exported"] == 1
    assert len(receiver.spans()) == 1


def test_an_unreachable_endpoint_is_logged_and_counted_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{closed_port()}/v1/traces"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        sink = OTelTraceSink()
        for record in sample_records():
            sink.write_trace(record)
        flushed = sink.flush(timeout=2)
        sink.close(timeout=2)
    took = time.monotonic() - began
    assert flushed is True  # the provider finished: by failing, within its timeout
    assert sink.stats["failed"] == 3
    assert sink.stats["exported"] == 0
    assert "export of 3 span(s) failed" in caplog.text
    assert took < 20  # generous: one 1 s request timeout plus its retry


def test_a_receiver_that_rejects_the_request_counts_as_failed(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 400  # not retryable
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    with OTelTraceSink() as sink:
        sink.write_trace(sample_records()[0])
        sink.write_trace(sample_records()[1])
    assert sink.stats["failed"] == 2
    assert sink.stats["exported"] == 0
    assert len(receiver.requests) == 1


def test_any_value_decodes_every_kind() -> None:
    pair = KeyValue(key="k", value=AnyValue(array_value={"values": [AnyValue(int_value=3)]}))
    assert attributes([pair]) == {"k": (3,)}
    assert any_value(AnyValue()) is None


def test_linked_actions_and_their_structured_spans_arrive_with_ids_and_parents_equal(
    receiver: OTLPReceiver,
) -> None:
    records = sample_records()[:2]  # core:go (root, PARENT_ID) and core:take (CHILD_ID under it)
    steps = StructuredTrace(parent=TraceContext(TRACE_ID, CHILD_ID))
    with steps.span("dispatch_action"):
        with steps.span("dispatch_event", target="lamp"):
            pass
    structured = steps.to_dict()
    with OTelTraceSink(endpoint=receiver.endpoint) as sink:
        for record in [*records, structured]:
            sink.write_trace(record)
    assert sink.stats == {"spans": 4, "exported": 4, "failed": 0, "dropped": 0, "skipped": 0}
    got = {
        span.name: (span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex() or None)
        for _, span in receiver.spans()
    }
    outer, inner = structured["spans"]
    assert got == {
        "core:go": (TRACE_ID, PARENT_ID, None),
        "core:take": (TRACE_ID, CHILD_ID, PARENT_ID),
        "dispatch_action": (TRACE_ID, outer["spanId"], CHILD_ID),
        "dispatch_event": (TRACE_ID, inner["spanId"], outer["spanId"]),
    }
    by_name = {span.name: span for _, span in receiver.spans()}
    event_span = by_name["dispatch_event"]
    anchor = structured["metadata"]
    assert event_span.start_time_unix_nano == anchor["startEpochNs"] + round(
        (inner["startTime"] - anchor["startTime"]) * 1e6
    )
    assert attributes(event_span.attributes)["actiontrace.attr.target"] == "lamp"
