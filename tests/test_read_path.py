"""The read path's parts: discovery, bounded line splitting and the record model."""

from __future__ import annotations

import gzip
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, StructuredTrace
from actiontrace.output.discovery import discover_trace_files, display_path, trace_kind
from actiontrace.output.lines import LineSplitter, open_regular
from actiontrace.output.reader import ReadStats, scan_traces
from actiontrace.output.records import (
    BLANK,
    MAX_DEPTH,
    TraceRecord,
    as_record,
    is_trace_value,
    make_record,
    parse_line,
)


def execution(n: int = 0, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"actionId": f"core:a{n}", "traceType": "execution", **meta}}


# -- discovery -------------------------------------------------------------------------------------


def test_discovery_lists_trace_files_in_name_order_skipping_hidden_folders(tmp_path: Path) -> None:
    for name in ("b/2.jsonl", "a.json", "b/1.jsonl.gz", "c.txt", ".venv/x.json", "d/.git/y.jsonl"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    found = discover_trace_files(tmp_path)
    assert [f.relative for f in found.files] == ["a.json", "b/1.jsonl.gz", "b/2.jsonl"]
    assert [f.kind for f in found.files] == ["json", "gz", "jsonl"]
    assert found.skipped == []


def test_discovery_reads_a_hidden_folder_given_as_the_path(tmp_path: Path) -> None:
    hidden = tmp_path / ".traces"
    hidden.mkdir()
    (hidden / "a.jsonl").write_text("")
    assert [f.relative for f in discover_trace_files(hidden).files] == ["a.jsonl"]


def test_discovery_leaves_out_a_jsonl_whose_gz_twin_is_there(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text("")
    (tmp_path / "r.jsonl.gz").write_bytes(gzip.compress(b""))
    assert [f.relative for f in discover_trace_files(tmp_path).files] == ["r.jsonl.gz"]


def test_discovery_follows_links_only_inside_the_folder(tmp_path: Path) -> None:
    inside = tmp_path / "in"
    inside.mkdir()
    (inside / "real.jsonl").write_text("")
    (tmp_path / "secret.jsonl").write_text("")
    (inside / "near.jsonl").symlink_to(inside / "real.jsonl")
    (inside / "far.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (inside / "zero.json").symlink_to("/dev/zero")
    found = discover_trace_files(inside)
    assert [f.relative for f in found.files] == ["near.jsonl", "real.jsonl"]
    assert sorted(Path(name).name for name in found.skipped) == ["far.jsonl", "zero.json"]


def test_discovery_skips_fifos_and_sockets_without_opening_them(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.jsonl"))
    try:
        found = discover_trace_files(tmp_path)
    finally:
        server.close()
    assert found.files == []
    assert len(found.skipped) == 2
    assert open_regular(str(tmp_path / "pipe.jsonl")) is None  # non-blocking: returns at once


def test_a_path_that_is_not_a_regular_file_is_skipped_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    assert discover_trace_files(tmp_path / "pipe.jsonl").files == []
    stats = ReadStats()
    assert list(scan_traces(tmp_path / "pipe.jsonl", stats)) == []
    assert stats.skipped == 1 and stats.skipped_files == 1


def test_non_utf8_file_names_are_found_and_shown_escaped(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad-\xff.jsonl"
    with open(raw, "wb") as handle:
        handle.write(json.dumps(execution()).encode() + b"\n")
    (found,) = discover_trace_files(tmp_path).files
    assert found.name.endswith("bad-\\xff.jsonl")
    found.name.encode("utf-8")  # always encodable
    (record,) = scan_traces(tmp_path)
    assert record.file == found.name
    assert display_path("plain") == "plain"


def test_trace_kind_names_the_three_suffixes_case_insensitively() -> None:
    assert [trace_kind(n) for n in ("a.JSONL", "a.jsonl.GZ", "a.Json", "a.gz", "a")] == [
        "jsonl",
        "gz",
        "json",
        None,
        None,
    ]


# -- bounded lines ---------------------------------------------------------------------------------


def test_the_splitter_joins_a_line_fed_in_pieces_once() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"cd\nef\ng") == [b"abcd", b"ef"]
    assert (splitter.lines, splitter.offset, splitter.position) == (2, 8, 9)
    assert splitter.pending
    assert splitter.finish() == b"g"
    assert splitter.finish() == b""


def test_the_splitter_drops_a_line_past_its_limit_and_holds_nothing_of_it() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"x" * 8) == []  # now past the limit: the pieces are dropped
    assert splitter._parts == []
    assert splitter.feed(b"xx\nok\n") == [None, b"ok"]
    assert splitter.feed(b"y" * 11) == []
    assert splitter.finish() is None


def test_a_line_exactly_at_the_limit_is_kept() -> None:
    splitter = LineSplitter(limit=4)
    assert splitter.feed(b"abcd\nabcde\n") == [b"abcd", None]


# -- the record model ------------------------------------------------------------------------------


def test_a_real_execution_trace_reads_back_with_its_fields() -> None:
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id="p1", turn_action={"actionDefinitionId": "core:go"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"x": 1})
    try:
        raise KeyError("k")
    except KeyError as inner:
        try:
            raise ValueError("outer") from inner
        except ValueError as outer:
            trace.capture_error(outer)
    record = parse_line(trace.to_json().encode(), "f.jsonl", 3)
    assert isinstance(record, TraceRecord)
    assert (record.file, record.line, record.where) == ("f.jsonl", 3, "f.jsonl:3")
    assert record.is_execution and not record.is_structured
    assert (record.action_id, record.actor_id, record.status) == ("core:go", "p1", "error")
    assert record.duration == trace.duration
    assert record.start_epoch_ns == trace.to_dict()["execution"]["startEpochNs"]
    assert (record.trace_id, record.span_id) == (trace.trace_id, trace.span_id)
    assert record.parent_span_id is None
    assert (record.error_type, record.error_message) == ("ValueError", "outer")
    assert [e.type for e in record.errors()] == ["ValueError", "KeyError"]
    assert record.errors()[0].stack is not None
    assert [p.phase for p in record.phases()][:2] == ["dispatch_start", "payload_captured"]
    assert record.payload == {"x": 1}
    assert record.sampling_reason is None and record.sampling_rate is None


def test_a_structured_trace_reads_back_with_its_root_operation_and_spans() -> None:
    trace = StructuredTrace()
    with trace.span("turn"):
        with trace.span("move"):
            pass
    record = make_record(trace.to_dict(), "s.jsonl", 1)
    assert record is not None and record.is_structured
    assert (record.operation, record.span_count, record.status) == ("turn", 2, "success")
    assert [s.operation for s in record.spans()] == ["turn", "move"]
    assert record.spans()[1].parent_id == record.spans()[0].span_id
    assert record.duration is not None and record.duration >= 0


@pytest.mark.parametrize(
    ("written", "status"),
    [
        ({"execution": {"status": "failed"}}, "failed"),
        ({"execution": {"status": "bogus"}, "error": {"type": "E"}}, "error"),
        ({"result": {"success": True}}, "success"),
        ({"result": {"success": 0}}, "failed"),
        ({"execution": {"status": ["x"]}}, "unknown"),
        ({"execution": 5}, "unknown"),
    ],
)
def test_status_is_normalised(written: dict[str, Any], status: str) -> None:
    record = make_record(execution() | written, "f", 1)
    assert record is not None and record.status == status


@pytest.mark.parametrize("value", [1e308, -1.0, True, "5", 10**400, None])
def test_an_impossible_duration_reads_as_none(value: object) -> None:
    record = make_record(execution() | {"execution": {"duration": value}}, "f", 1)
    assert record is not None and record.duration is None


def test_wrong_shaped_fields_read_as_defaults() -> None:
    record = make_record(
        {
            "metadata": {"traceType": "execution", "actionId": 5, "traceId": ["x"]},
            "execution": {"startEpochNs": -4, "startTime": "now", "phases": [1, {"phase": 2}]},
            "error": "text",
            "turnAction": [],
            "customMetadata": 3,
        },
        "f",
        1,
    )
    assert record is not None
    assert (record.action_id, record.actor_id, record.trace_id) == ("?", "?", None)
    assert (record.start_epoch_ns, record.start_ms, record.error_type) == (None, None, None)
    assert record.phases()[0].phase == "?" and record.command is None
    assert record.custom_metadata == {} and record.errors() == ()


def test_sampling_reason_and_rate_are_read_when_valid() -> None:
    kept = make_record(execution() | {"sampling": {"reason": "rate", "rate": 0.25}}, "f", 1)
    odd = make_record(execution() | {"sampling": {"reason": "whim", "rate": 2}}, "f", 1)
    assert kept is not None and (kept.sampling_reason, kept.sampling_rate) == ("rate", 0.25)
    assert odd is not None and (odd.sampling_reason, odd.sampling_rate) == (None, None)


@pytest.mark.parametrize(
    "line",
    [
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b'{"metadata": {"traceType": "execution"}, "x": NaN}',
        b'{"metadata": {"traceType": "execution"}, "x": -Infinity}',
        b'{"metadata": {"traceType": "execution"}, "x": 1e400}',
        b'{"metadata": {"traceType": "execution"}, "x": "\\ud800"}',
        b'{"metadata": {"traceType": "execution"}, "\\udc00": 1}',
        b'{"metadata": {"traceType": "execution", "actionId": "\xff"}}',
        b'{"metadata": {"traceType": null}}',
        b'{"metadata": {"actionId": "no type"}}',
        b'{"metadata": []}',
        b"[1, 2]",
        b"{not json",
    ],
)
def test_damaged_lines_parse_to_none(line: bytes) -> None:
    assert parse_line(line, "f", 1) is None
    assert parse_line(line, "f", 1, fast=True) is None


@pytest.mark.parametrize(
    "value",
    [
        execution(),
        {"metadata": {"traceType": "structured"}, "spans": []},
        {"metadata": {"traceType": "replay"}},
        {"metadata": {"traceType": ""}},
        {"metadata": {"traceType": 5}},
        {"metadata": {"traceType": None}},
        {"metadata": {"traceType": ["execution"]}},
        {"metadata": {"actionId": "core:go"}},
        {"metadata": "execution"},
        {"metadata": None},
        {"traceType": "execution"},
        {},
        [execution()],
        "execution",
        None,
        1.5,
    ],
)
def test_is_trace_value_is_whether_a_record_is_made(value: Any) -> None:
    assert is_trace_value(value) is (make_record(value, "f", 1) is not None)


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH - 2):
        deep = [deep]
    line = json.dumps(execution() | {"eventPayload": deep, "s": "[" * 2000}).encode()
    record = parse_line(line, "f", 1)
    assert isinstance(record, TraceRecord)
    assert parse_line(line, "f", 1, fast=True) is not None


def test_valid_surrogate_pairs_and_big_numbers_that_fit_are_kept() -> None:
    line = b'{"metadata": {"traceType": "execution", "actionId": "\\ud83d\\ude00"}, "x": 1e300}'
    record = parse_line(line, "f", 1)
    assert isinstance(record, TraceRecord) and record.action_id == "\U0001f600"


def test_blank_lines_and_a_bom_are_not_damage() -> None:
    assert parse_line(b"  \t\r", "f", 1) is BLANK
    record = parse_line(b"\xef\xbb\xbf" + json.dumps(execution()).encode(), "f", 1, first=True)
    assert isinstance(record, TraceRecord)


def test_as_record_takes_records_and_trace_mappings_only() -> None:
    record = make_record(execution(), "f", 1)
    assert as_record(record) is record
    made = as_record(execution(7))
    assert made is not None and made.action_id == "core:a7"
    assert as_record(execution() | {"x": float("nan")}) is None
    assert as_record([1]) is None
