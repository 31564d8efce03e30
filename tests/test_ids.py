"""Trace and span ids and W3C traceparent handling (reference §10)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.ids import (
    TraceContext,
    format_span_id,
    format_trace_id,
    new_span_id,
    new_trace_id,
    parse_span_id,
    parse_trace_id,
)

# Examples from the W3C Trace Context specification (section "traceparent Header").
W3C_VALID = [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
]
W3C_INVALID = [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace-id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent-id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is forbidden
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper-case hex
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace-id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  # short parent-id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # short flags
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  # non-hex flags
    "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # short version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # v00 with more fields
    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  # wrong delimiter
    "",
]


@pytest.mark.parametrize("header", W3C_VALID)
def test_traceparent_w3c_examples_parse_and_round_trip(header: str) -> None:
    context = TraceContext.from_traceparent(header)
    assert context.trace_id == header[3:35]
    assert context.span_id == header[36:52]
    assert context.trace_flags == int(header[53:55], 16)
    assert context.to_traceparent() == header


@pytest.mark.parametrize("header", W3C_INVALID)
def test_traceparent_malformed_headers_raise_invalid_argument(header: str) -> None:
    with pytest.raises(InvalidArgumentError, match="traceparent"):
        TraceContext.from_traceparent(header)


def test_traceparent_of_a_future_version_is_parsed_for_its_known_fields() -> None:
    header = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like"
    context = TraceContext.from_traceparent(header)
    assert context.span_id == "00f067aa0ba902b7"
    assert context.to_traceparent().startswith("00-")
    with pytest.raises(InvalidArgumentError):
        TraceContext.from_traceparent(header.replace("-what", "xwhat"))


def test_traceparent_that_is_not_a_string_raises() -> None:
    with pytest.raises(InvalidArgumentError, match="traceparent must be a str"):
        TraceContext.from_traceparent(b"00-...")  # type: ignore[arg-type]


def test_trace_context_validates_ids_and_flags() -> None:
    with pytest.raises(InvalidArgumentError, match="trace_id"):
        TraceContext("xyz", "00f067aa0ba902b7")
    with pytest.raises(InvalidArgumentError, match="span_id"):
        TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "0000000000000000")
    with pytest.raises(InvalidArgumentError, match="trace_flags"):
        TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 256)


def test_trace_context_is_frozen() -> None:
    context = TraceContext.from_traceparent(W3C_VALID[0])
    with pytest.raises(AttributeError):
        context.trace_id = "0" * 32  # type: ignore[misc]


def test_generated_ids_are_nonzero_hex_of_the_right_width_and_unique() -> None:
    traces = {format_trace_id(new_trace_id()) for _ in range(2000)}
    spans = {format_span_id(new_span_id()) for _ in range(2000)}
    assert len(traces) == 2000 and len(spans) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) and int(t, 16) for t in traces)
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) and int(s, 16) for s in spans)


def test_parse_ids_accept_what_format_writes() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    assert parse_trace_id(format_trace_id(trace_id)) == trace_id
    assert parse_span_id(format_span_id(span_id)) == span_id
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        parse_trace_id("0" * 32)
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        parse_span_id("0" * 16)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    code = (
        "import os, sys\n"
        "from actiontrace.ids import new_trace_id\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.write(w, str(new_trace_id()).encode()); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "child = int(os.read(r, 100))\n"
        "print(child != new_trace_id())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
