"""The Chrome Trace Event writer, checked against the format's documented required fields.

Trace Event Format (Google): every event has ``name``, ``ph``, ``ts`` (µs), ``pid``, ``tid``;
complete events (``ph: "X"``) add ``dur`` (µs); instant events (``ph: "i"``) add a scope
``s`` (``g``, ``p`` or ``t``); metadata events (``ph: "M"``) named ``process_name`` /
``thread_name`` carry ``args.name``. The JSON Object form holds them in ``traceEvents``.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTraceFactory, StructuredTrace, TraceContext
from actiontrace.analysis.chrome import write_chrome_trace


def traced(action: str, actor: str, outcome: str, payload: Any = None) -> dict[str, Any]:
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=action,
        actor_id=actor,
        turn_action={"actionDefinitionId": action, "commandString": f"{action} now"},
    )
    if outcome == "pending":
        return dict(trace.to_dict())
    trace.capture_dispatch_start()
    trace.capture_event_payload(payload if payload is not None else {"actor": actor})
    if outcome == "error":
        try:
            raise LookupError("no such door")
        except LookupError as error:
            trace.capture_error(error)
    elif outcome != "in_progress":
        trace.capture_dispatch_result({"success": outcome == "success"})
    return dict(trace.to_dict())


def session() -> list[dict[str, Any]]:
    return [
        traced("core:go", "zed", "success", {"dir": "north"}),
        traced("core:take", "amy", "failed"),
        traced("core:attack", "bob", "error", {"target": "troll", "password": "hunter2"}),
        traced("core:wait", "amy", "in_progress"),
        traced("core:look", "amy", "pending"),
        traced("core:go", "amy", "success"),
    ]


def load(path: Path) -> dict[str, Any]:
    def reject(constant: str) -> Any:
        raise ValueError(f"not valid JSON: {constant}")

    document = json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)
    assert isinstance(document, dict)
    return document


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture
def written(tmp_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    traces = session()
    out = tmp_path / "session.json"
    count = write_chrome_trace(traces, out)
    return traces, load(out), count


def test_document_is_a_json_object_with_trace_events_and_display_unit(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    traces, document, count = written
    assert count == 4  # the in-progress and pending traces are skipped
    assert set(document) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert document["displayTimeUnit"] == "ms"
    assert isinstance(document["traceEvents"], list)
    finished = [t for t in traces if t["execution"]["duration"] is not None]
    origin = min(t["execution"]["startEpochNs"] for t in finished)
    assert document["otherData"]["epochOriginNs"] == origin
    assert document["otherData"]["traces"] == 4
    assert document["otherData"]["epochOrigin"].endswith("Z")


def test_every_event_has_the_documented_required_fields(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    _, document, _ = written
    for event in document["traceEvents"]:
        assert isinstance(event["name"], str) and event["name"]
        assert event["ph"] in {"X", "i", "M"}
        assert is_number(event["ts"])
        assert isinstance(event["pid"], int)
        assert isinstance(event["tid"], int)
        if event["ph"] == "X":
            assert is_number(event["dur"]) and event["dur"] > 0
        if event["ph"] == "i":
            assert event["s"] == "t"


def test_one_complete_event_per_finished_trace_with_times_in_microseconds(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    traces, document, _ = written
    origin = document["otherData"]["epochOriginNs"]
    complete = [e for e in document["traceEvents"] if e["ph"] == "X"]
    finished = [t for t in traces if t["execution"]["status"] in ("success", "failed", "error")]
    assert len(complete) == len(finished) == 4
    for event, trace in zip(complete, finished, strict=True):
        execution = trace["execution"]
        assert event["name"] == trace["metadata"]["actionId"]
        assert event["cat"] == "action"
        assert event["ts"] == pytest.approx((execution["startEpochNs"] - origin) / 1000, abs=1e-3)
        assert event["dur"] == pytest.approx(execution["duration"] * 1000, rel=1e-12)
        assert event["args"]["status"] == execution["status"]
        assert event["args"]["actorId"] == trace["metadata"]["actorId"]
        assert event["args"]["command"] == trace["turnAction"]["commandString"]
        assert event["args"]["payload"] == trace["eventPayload"]
    assert min(event["ts"] for event in complete) == 0
    colours = {event["args"]["status"]: event["cname"] for event in complete}
    assert colours == {"success": "good", "failed": "bad", "error": "terrible"}


def test_error_type_and_message_are_in_args_and_the_payload_is_the_sanitised_one(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    _, document, _ = written
    (attack,) = [e for e in document["traceEvents"] if e["name"] == "core:attack"]
    assert attack["args"]["errorType"] == "LookupError"
    assert attack["args"]["errorMessage"] == "no such door"
    assert attack["args"]["payload"] == {"target": "troll", "password": "[REDACTED]"}
    assert "hunter2" not in json.dumps(document)


def test_one_track_per_actor_named_after_it_and_stable(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    traces, document, _ = written
    events = document["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {1: "amy", 2: "bob", 3: "zed"}  # sorted actor ids, 1-based
    for event in events:
        if event["ph"] in ("X", "i"):
            assert names[event["tid"]] == event["args"].get("actorId", names[event["tid"]])
    for event in (e for e in events if e["ph"] == "X"):
        assert names[event["tid"]] == event["args"]["actorId"]
    (process,) = [e for e in events if e["name"] == "process_name"]
    assert process["args"]["name"] == "actiontrace"
    assert all(e["pid"] == 1 for e in events)
    # The same traces in another order give the same numbers.
    again = io.StringIO()
    write_chrome_trace(list(reversed(traces)), again)
    reversed_names = {
        e["tid"]: e["args"]["name"]
        for e in json.loads(again.getvalue())["traceEvents"]
        if e["name"] == "thread_name"
    }
    assert reversed_names == names


def test_each_phase_is_an_instant_event_at_its_own_time_on_its_actor_track(
    written: tuple[list[dict[str, Any]], dict[str, Any], int],
) -> None:
    traces, document, _ = written
    events = document["traceEvents"]
    origin = document["otherData"]["epochOriginNs"]
    tids = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    instants = [e for e in events if e["ph"] == "i"]
    expected = []
    for trace in traces:
        execution = trace["execution"]
        if execution["status"] not in ("success", "failed", "error"):
            continue
        for phase in execution["phases"]:
            start_us = (execution["startEpochNs"] - origin) / 1000  # ints first: no float rounding
            offset_us = (phase["timestamp"] - execution["startTime"]) * 1000
            expected.append((phase["phase"], start_us + offset_us, trace))
    assert len(instants) == len(expected)
    for event, (name, ts, trace) in zip(instants, expected, strict=True):
        assert event["name"] == name
        assert event["cat"] == "phase"
        assert event["ts"] == pytest.approx(ts, abs=1e-3)
        assert event["tid"] == tids[trace["metadata"]["actorId"]]
        assert event["args"]["description"]
    completed = [e for e in instants if e["name"] == "dispatch_completed"]
    assert {e["args"]["success"] for e in completed} == {True, False}


def test_writes_to_an_open_text_stream_and_returns_the_count() -> None:
    stream = io.StringIO()
    assert write_chrome_trace(session()[:2], stream) == 2
    document = json.loads(stream.getvalue())
    assert len([e for e in document["traceEvents"] if e["ph"] == "X"]) == 2


def test_no_traces_gives_a_valid_empty_timeline(tmp_path: Path) -> None:
    out = tmp_path / "empty.json"
    assert write_chrome_trace([], out) == 0
    document = load(out)
    assert [e["name"] for e in document["traceEvents"]] == ["process_name"]
    assert document["otherData"]["epochOriginNs"] == 0


def test_malformed_records_are_skipped() -> None:
    good = traced("core:go", "amy", "success")
    bad_time = traced("core:go", "amy", "success")
    bad_time["execution"]["startEpochNs"] = True
    no_actor = traced("core:go", "amy", "success")
    no_actor["metadata"] = {**no_actor["metadata"], "actorId": None}
    broken_phases = traced("core:go", "bob", "success")
    broken_phases["execution"]["phases"] = [
        "not a phase",
        {"phase": "dispatch_start", "timestamp": "soon"},
        {"phase": "dispatch_start", "timestamp": broken_phases["execution"]["startTime"]},
    ]
    no_phase_list = traced("core:go", "cat", "success")
    no_phase_list["execution"]["phases"] = None
    records: list[Any] = [
        "text",
        {"metadata": "x", "execution": {}},
        good,
        bad_time,
        no_actor,
        broken_phases,
        no_phase_list,
    ]
    stream = io.StringIO()
    assert write_chrome_trace(records, stream) == 4  # a missing actor reads as "?", as in report
    events = json.loads(stream.getvalue())["traceEvents"]
    bob = {e["tid"] for e in events if e.get("args", {}).get("name") == "bob"}
    assert len([e for e in events if e["ph"] == "i" and e["tid"] in bob]) == 1


def test_linked_trace_ids_are_kept_in_args_for_flow_arrows() -> None:
    record = traced("core:go", "amy", "success")
    record["metadata"] = {
        **record["metadata"],
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "b7ad6b7169203331",
        "parentSpanId": "00f067aa0ba902b7",
    }
    stream = io.StringIO()
    write_chrome_trace([record], stream)
    (event,) = [e for e in json.loads(stream.getvalue())["traceEvents"] if e["ph"] == "X"]
    assert event["args"]["spanId"] == "b7ad6b7169203331"
    assert event["args"]["parentSpanId"] == "00f067aa0ba902b7"


def test_a_dict_holding_non_finite_numbers_is_not_a_trace(tmp_path: Path) -> None:
    record = traced("core:go", "amy", "success")
    record["eventPayload"] = {"hp": float("nan"), "list": [float("inf"), 1]}
    out = tmp_path / "nan.json"
    assert write_chrome_trace([record, traced("core:go", "bob", "success")], out) == 1
    document = load(out)  # strict: NaN/Infinity would be rejected
    (event,) = [e for e in document["traceEvents"] if e["ph"] == "X"]
    assert event["args"]["actorId"] == "bob"


# -- linked traces: flow arrows and structured spans (issue 6) -------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def linked(action: str, actor: str, span_id: str, parent: str | None) -> dict[str, Any]:
    record = traced(action, actor, "success")
    record["metadata"] = {
        **record["metadata"],
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": parent,
    }
    return record


def document_of(records: list[Any]) -> tuple[int, list[dict[str, Any]]]:
    stream = io.StringIO()
    count = write_chrome_trace(records, stream)
    return count, json.loads(stream.getvalue())["traceEvents"]


def test_flow_arrows_go_from_each_parent_action_to_each_child() -> None:
    ids = {name: f"{index + 1:016x}" for index, name in enumerate("rabgo")}
    records = [
        linked("core:attack", "amy", ids["r"], None),
        linked("core:react", "bob", ids["a"], ids["r"]),
        linked("core:fall", "amy", ids["b"], ids["r"]),
        linked("core:die", "bob", ids["g"], ids["a"]),
        linked("core:orphan", "amy", ids["o"], "ffffffffffffffff"),  # parent not in the file
    ]
    count, events = document_of(records)
    assert count == 5
    slices = {e["args"]["spanId"]: e for e in events if e["ph"] == "X"}
    starts = [e for e in events if e["ph"] == "s"]
    ends = [e for e in events if e["ph"] == "f"]
    assert len(starts) == len(ends) == 3
    assert len({e["id"] for e in starts}) == 3
    pairs = {}
    for start in starts:
        (end,) = [e for e in ends if e["id"] == start["id"]]
        for event in (start, end):
            assert {"name", "cat", "ph", "id", "ts", "pid", "tid"} <= set(event)
            assert (
                (event["cat"], event["name"]) == (start["cat"], start["name"]) == ("link", "caused")
            )
        assert "bp" not in start  # a start binds to its enclosing slice by default
        assert end["bp"] == "e"  # an end would bind to the next slice without it
        parent = next(
            e for e in slices.values() if (e["ts"], e["tid"]) == (start["ts"], start["tid"])
        )
        child = next(e for e in slices.values() if (e["ts"], e["tid"]) == (end["ts"], end["tid"]))
        pairs[parent["args"]["spanId"]] = pairs.get(parent["args"]["spanId"], set()) | {
            child["args"]["spanId"]
        }
        # Each flow event sits right after its own slice, so a viewer opens the slice first.
        for slice_event, flow in ((parent, start), (child, end)):
            between = events[events.index(slice_event) + 1 : events.index(flow)]
            assert all(e["ph"] in ("s", "f") for e in between)
        assert parent["ts"] <= start["ts"] <= parent["ts"] + parent["dur"]
    assert pairs == {ids["r"]: {ids["a"], ids["b"]}, ids["a"]: {ids["g"]}}


def structured_steps(parent_span: str | None, **kwargs: Any) -> dict[str, Any]:
    parent = None if parent_span is None else TraceContext(TRACE_ID, parent_span)
    trace = StructuredTrace(parent=parent)
    with trace.span("dispatch_action"):
        with trace.span("create_payload"):
            pass
        with trace.span("dispatch_event"):
            with pytest.raises(ValueError), trace.span("resolve_target"):
                raise ValueError("no target")
    record = trace.to_dict()
    record.update(kwargs)
    return record


def test_structured_spans_are_nested_slices_on_a_steps_track_under_the_actor() -> None:
    action_id = "00000000000000aa"
    steps = structured_steps(action_id)
    parent_record = linked("core:attack", "amy", action_id, None)
    count, events = document_of([parent_record, steps])
    assert count == 2
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    order = {e["tid"]: e["args"]["sort_index"] for e in events if e["name"] == "thread_sort_index"}
    assert sorted(names.values()) == ["amy", "amy steps"]
    by_name = {name: tid for tid, name in names.items()}
    assert order[by_name["amy"]] < order[by_name["amy steps"]]
    spans = [e for e in events if e["ph"] == "X" and e["cat"] == "span"]
    assert [e["name"] for e in spans] == [s["operation"] for s in steps["spans"]]
    (action,) = [e for e in events if e["ph"] == "X" and e["cat"] == "action"]
    action_epoch = parent_record["execution"]["startEpochNs"]
    anchor = steps["metadata"]
    for event, stored in zip(spans, steps["spans"], strict=True):
        assert event["tid"] == by_name["amy steps"]
        start_ns = anchor["startEpochNs"] + round((stored["startTime"] - anchor["startTime"]) * 1e6)
        # Both clocks meet on the wall clock: offsets between slices are the ns offsets.
        assert event["ts"] - action["ts"] == pytest.approx(
            (start_ns - action_epoch) / 1000, abs=1e-3
        )
        assert event["dur"] == pytest.approx(stored["duration"] * 1000, abs=1e-3)
        assert event["args"]["spanId"] == stored["spanId"]
        assert event["args"]["status"] == stored["status"]
    failed = spans[-1]
    assert (failed["cname"], failed["args"]["errorType"]) == ("terrible", "ValueError")
    # One lane: every two slices on it nest or do not overlap.
    for a in spans:
        for b in spans:
            a_end, b_end = a["ts"] + a["dur"], b["ts"] + b["dur"]
            disjoint = a_end <= b["ts"] or b_end <= a["ts"]
            nested = (a["ts"] <= b["ts"] and b_end <= a_end) or (
                b["ts"] <= a["ts"] and a_end <= b_end
            )
            assert disjoint or nested
    # The action points at the root span of its steps.
    (start,) = [e for e in events if e["ph"] == "s"]
    (end,) = [e for e in events if e["ph"] == "f"]
    assert (start["tid"], start["ts"]) == (action["tid"], action["ts"])
    assert (end["tid"], end["ts"]) == (spans[0]["tid"], spans[0]["ts"])


def test_spans_that_overlap_without_nesting_go_to_another_lane() -> None:
    anchor = {"startEpochNs": 1_000_000_000, "startTime": 500.0}

    def span(op: str, start: float, end: float, parent: str | None = None) -> dict[str, Any]:
        return {
            "spanId": f"{op:0>16}",
            "parentId": parent,
            "operation": op,
            "startTime": start,
            "endTime": end,
            "duration": end - start,
            "status": "success",
            "attributes": {},
            "events": [],
            "error": None,
        }

    record = {
        "metadata": {"traceType": "action_aware_structured", "traceId": TRACE_ID, **anchor},
        "actorId": "bob",
        "spans": [
            span("a", 500.0, 510.0),
            span("c", 501.0, 502.0, f"{'a':0>16}"),
            span("b", 505.0, 515.0),
            {**span("d", 503.0, 504.0), "status": "active"},  # not ended: not drawn
            "junk",
        ],
    }
    count, events = document_of([record])
    assert count == 1
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    lanes = {e["name"]: names[e["tid"]] for e in events if e["ph"] == "X"}
    assert lanes == {"a": "bob steps", "c": "bob steps", "b": "bob steps 2"}
    slices = {e["name"]: e for e in events if e["ph"] == "X"}
    assert slices["a"]["ts"] == 0
    assert slices["b"]["ts"] == pytest.approx(5000.0)
    assert slices["b"]["dur"] == pytest.approx(10000.0)


def test_structured_traces_without_anchor_or_actor_are_skipped() -> None:
    no_anchor = structured_steps(None, actorId="amy")
    del no_anchor["metadata"]["startEpochNs"]
    bad_anchor = structured_steps(None, actorId="amy")
    bad_anchor["metadata"]["startTime"] = "soon"
    no_actor = structured_steps(None)
    unknown_parent = structured_steps("00000000000000bb")
    not_a_list = structured_steps(None, actorId="amy", spans=None)
    count, events = document_of(
        [no_anchor, bad_anchor, no_actor, unknown_parent, not_a_list, {"metadata": None}]
    )
    assert count == 1  # only the one with an actor and no spans to draw
    assert [e for e in events if e["ph"] == "X"] == []
    names = [e["args"]["name"] for e in events if e["name"] == "thread_name"]
    assert names == ["amy"]
