"""Chrome Trace Event format: a whole session as a timeline for Perfetto UI and chrome://tracing.

The output is the format's JSON Object form::

    {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}

* one process (``pid`` 1, named ``actiontrace``) and one thread track per actor: ``tid`` is the
  actor's 1-based rank among the session's actor ids sorted, so the same traces always give the
  same numbers, and a ``thread_name`` metadata (``"M"``) event names each track after its actor;
* one complete (``"X"``) event per finished execution trace: ``name`` = action id, ``cat`` =
  ``action``, ``ts``/``dur`` in microseconds, ``cname`` colouring it by status (good / bad /
  terrible), and ``args`` holding status, actor, command, the sanitised payload, the error's type
  and message and the trace's W3C ids;
* one thread-scoped instant (``"i"``, ``"s": "t"``) event per phase, at its own time;
* linked traces: a flow arrow from each parent action to each child, drawn by a pair
  of flow events with the same ``id``, ``cat`` (``link``) and ``name``: ``"ph": "s"`` at the
  parent's start on the parent's track (bound to the enclosing slice, the parent's bar) and
  ``"ph": "f"`` with ``"bp": "e"`` at the child's start on the child's track (bound to the
  enclosing slice, the child's bar, rather than to the next slice). Each sits right after its
  slice in the list, so a viewer meeting both at one time opens the slice first;
* structured traces: their ended spans as nested ``X`` events (``cat`` ``span``) on
  a ``"<actor> steps"`` track below the actor's own; spans that overlap without nesting (two
  concurrent tasks) go to further tracks (``"<actor> steps 2"``...), since slices on one track
  must nest. The actor is the trace's ``actorId``, else its parent action's; a root span whose
  trace names a parent action gets a flow arrow from that action. Span times are placed on the
  wall clock by the trace's ``metadata.startEpochNs`` / ``startTime`` anchor.

``ts`` is relative to the earliest event's wall-clock time (so the timeline starts at 0 and the
microsecond floats keep nanosecond precision); ``otherData.epochOriginNs`` and ``epochOrigin``
give that origin as wall-clock time. Incomplete and malformed traces are skipped, as are
structured traces without their anchor or an actor. Traces are read as the read path's
``TraceRecord`` (bare trace dicts are made into records first).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import IO, Any

from ..output.records import SpanView, TraceRecord, as_record
from ..trace import format_created_at
from .text import json_text

__all__ = ["write_chrome_trace"]

_PID = 1
_DONE = {"success": "good", "failed": "bad", "error": "terrible"}
_PHASE_ARGS = ("description", "payloadSize", "truncated", "success", "errorType")


_Finished = tuple[TraceRecord, int]


def _finished(record: TraceRecord) -> _Finished | None:
    """Return ``(record, startEpochNs)`` of a finished execution trace, else None."""
    epoch = record.start_epoch_ns
    if (
        not record.is_execution
        or record.status not in _DONE
        or epoch is None
        or record.start_ms is None
        or record.duration is None
    ):
        return None
    return record, epoch


def _args(record: TraceRecord) -> dict[str, Any]:
    args: dict[str, Any] = {"status": record.status, "actorId": record.actor_id}
    if record.command is not None:
        args["command"] = record.command
    args["payload"] = record.payload
    if record.error_type is not None:
        args["errorType"] = record.error_type
        args["errorMessage"] = record.error_message
    for key, value in (
        ("traceId", record.trace_id),
        ("spanId", record.span_id),
        ("parentSpanId", record.parent_span_id),
    ):
        if value is not None:
            args[key] = value
    return args


def _phase_args(phase: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"description": phase.description}
    if phase.payload_size is not None:
        args["payloadSize"] = phase.payload_size
        args["truncated"] = phase.truncated
    if phase.success is not None:
        args["success"] = phase.success
    if phase.error_type is not None:
        args["errorType"] = phase.error_type
    return args


def _trace_events(finished: _Finished, tid: int, origin: int) -> list[dict[str, Any]]:
    """Build the ``X`` event of one finished trace, then an instant event per phase."""
    record, epoch = finished
    start_ms = record.start_ms or 0.0
    ts = (epoch - origin) / 1000
    events: list[dict[str, Any]] = [
        {
            "name": record.action_id,
            "cat": "action",
            "ph": "X",
            "ts": ts,
            "dur": (record.duration or 0.0) * 1000,
            "pid": _PID,
            "tid": tid,
            "cname": _DONE[record.status],
            "args": _args(record),
        }
    ]
    for phase in record.phases():
        if phase.timestamp is None:
            continue
        events.append(
            {
                "name": phase.phase,
                "cat": "phase",
                "ph": "i",
                "s": "t",
                "ts": ts + (phase.timestamp - start_ms) * 1000,
                "pid": _PID,
                "tid": tid,
                "args": _phase_args(phase),
            }
        )
    return events


_SPAN_COLOURS = {"success": "good", "failure": "bad", "error": "terrible"}
_LANE_SORT = 1000  # an actor's tracks sort together: its own, then its steps lanes


class _Span:
    """One ended structured span, placed on the wall clock (ns), and later on a lane."""

    __slots__ = ("end", "item", "lane", "start")

    def __init__(self, item: SpanView, start: int, end: int) -> None:
        self.item = item
        self.start = start
        self.end = end
        self.lane = 0


def _structured(record: TraceRecord) -> list[_Span] | None:
    """Return the ended spans of a structured trace with its clock anchor, else None."""
    anchor_ns, anchor_ms = record.start_epoch_ns, record.start_ms
    if not record.is_structured or anchor_ns is None or anchor_ms is None:
        return None
    placed = []
    for item in record.spans():
        if item.status in _SPAN_COLOURS and item.start_ms is not None and item.duration is not None:
            start = anchor_ns + round((item.start_ms - anchor_ms) * 1e6)
            placed.append(_Span(item, start, start + round(item.duration * 1e6)))
    return placed


def _structured_actor(record: TraceRecord, actor_of: Mapping[str, str]) -> str | None:
    if record.actor_id != "?":
        return record.actor_id
    parent_id = record.parent_span_id
    return actor_of.get(parent_id) if parent_id is not None else None


def _fits(stack: list[_Span], span: _Span) -> bool:
    """Whether ``span`` nests in a lane whose open spans are ``stack`` (closing those ended)."""
    while stack and stack[-1].end <= span.start:
        stack.pop()
    return not stack or span.end <= stack[-1].end


def _assign_lanes(spans: list[_Span]) -> int:
    """Give each span a lane in which any two spans nest or do not overlap; return lane count."""
    stacks: list[list[_Span]] = []  # per lane, the spans still open at the current start
    for span in sorted(spans, key=lambda item: (item.start, -item.end)):
        lane = next((i for i, stack in enumerate(stacks) if _fits(stack, span)), len(stacks))
        if lane == len(stacks):
            stacks.append([])
        span.lane = lane
        stacks[lane].append(span)
    return len(stacks)


def _span_event(span: _Span, tid: int, origin: int) -> dict[str, Any]:
    item = span.item
    status = item.status
    args: dict[str, Any] = {"status": status, "attributes": item.attributes}
    if item.error is not None:
        args["errorType"] = item.error.type
        args["errorMessage"] = item.error.message
    if item.span_id is not None:
        args["spanId"] = item.span_id
    if item.parent_id is not None:
        args["parentId"] = item.parent_id
    return {
        "name": item.operation,
        "cat": "span",
        "ph": "X",
        "ts": (span.start - origin) / 1000,
        "dur": (span.end - span.start) / 1000,
        "pid": _PID,
        "tid": tid,
        "cname": _SPAN_COLOURS[status],
        "args": args,
    }


def _flow(phase: str, flow_id: int, slice_event: Mapping[str, Any]) -> dict[str, Any]:
    """Build a flow event bound to ``slice_event`` (the format's flow events, v1)."""
    event = {
        "name": "caused",
        "cat": "link",
        "ph": phase,
        "id": flow_id,
        "ts": slice_event["ts"],
        "pid": _PID,
        "tid": slice_event["tid"],
    }
    if phase == "f":
        event["bp"] = "e"  # bind to the enclosing slice (the child's bar), not the next one
    return event


def _metadata_events(tracks: Mapping[int, tuple[str, int]]) -> list[dict[str, Any]]:
    # Metadata events need no time; ts 0 keeps every event carrying the documented core fields.
    events = [_meta("process_name", 0, {"name": "actiontrace"})]
    for tid, (name, sort_index) in tracks.items():
        events.append(_meta("thread_name", tid, {"name": name}))
        events.append(_meta("thread_sort_index", tid, {"sort_index": sort_index}))
    return events


def _meta(name: str, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "ts": 0, "pid": _PID, "tid": tid, "args": args}


def write_chrome_trace(
    traces: Iterable[TraceRecord | Mapping[str, Any]], out_file: str | os.PathLike[str] | IO[str]
) -> int:
    """Write ``traces`` (records or trace dicts) as a Chrome Trace Event object; return how many.

    ``out_file`` is a path (written as UTF-8) or an open text stream. The count is of the traces
    written: finished execution traces (one ``X`` event each) and structured traces placed on a
    track (one ``X`` event per ended span).
    """
    finished: list[_Finished] = []
    structured: list[tuple[TraceRecord, list[_Span]]] = []
    for trace in traces:
        record = trace if type(trace) is TraceRecord else as_record(trace)
        if record is None:
            continue
        item = _finished(record)
        if item is not None:
            finished.append(item)
        elif (steps := _structured(record)) is not None:
            structured.append((record, steps))
    actor_of = {
        record.span_id: record.actor_id for record, _ in finished if record.span_id is not None
    }
    spans_of: dict[str, list[_Span]] = {}  # actor -> the structured spans on their steps tracks
    roots: list[tuple[str, _Span]] = []  # (parent action's spanId, a root span under it)
    written = len(finished)
    for record, spans in structured:
        actor = _structured_actor(record, actor_of)
        if actor is None:
            continue
        written += 1
        spans_of.setdefault(actor, []).extend(spans)
        parent_id = record.parent_span_id
        if parent_id is not None:
            roots.extend((parent_id, span) for span in spans if span.item.parent_id is None)

    actors = sorted({record.actor_id for record, _ in finished} | set(spans_of))
    tids = {actor: index for index, actor in enumerate(actors, start=1)}
    tracks = {tid: (actor, tid * _LANE_SORT) for actor, tid in tids.items()}
    lane_tids: dict[str, list[int]] = {}
    for actor in sorted(spans_of):
        lane_tids[actor] = []
        for lane in range(_assign_lanes(spans_of[actor])):
            tid = len(tracks) + 1
            lane_tids[actor].append(tid)
            name = f"{actor} steps" if lane == 0 else f"{actor} steps {lane + 1}"
            tracks[tid] = (name, tids[actor] * _LANE_SORT + lane + 1)
    origin = min(
        [epoch for _, epoch in finished] + [s.start for v in spans_of.values() for s in v],
        default=0,
    )

    # Each slice's group of events; a flow event joins the group right after its slice.
    groups: list[list[dict[str, Any]]] = []
    by_span: dict[str, list[dict[str, Any]]] = {}  # an action's spanId -> its group
    links: list[tuple[str, list[dict[str, Any]]]] = []  # (parent spanId, the child's group)
    for item in finished:
        record = item[0]
        group = _trace_events(item, tids[record.actor_id], origin)
        groups.append(group)
        if record.span_id is not None:
            by_span[record.span_id] = group
        if record.parent_span_id is not None:
            links.append((record.parent_span_id, group))
    root_ids = {id(span) for _, span in roots}
    root_groups: dict[int, list[dict[str, Any]]] = {}
    for actor, spans in spans_of.items():
        for span in spans:
            group = [_span_event(span, lane_tids[actor][span.lane], origin)]
            groups.append(group)
            if id(span) in root_ids:
                root_groups[id(span)] = group
    links.extend((parent_id, root_groups[id(span)]) for parent_id, span in roots)
    flow_id = 0
    for parent_id, child in links:
        parent = by_span.get(parent_id)
        if parent is None:
            continue  # the parent action is not in this session
        flow_id += 1
        parent.insert(1, _flow("s", flow_id, parent[0]))
        child.insert(1, _flow("f", flow_id, child[0]))

    events = _metadata_events(tracks)
    for group in groups:
        events.extend(group)
    document = {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "actiontrace",
            "traces": written,
            "epochOriginNs": origin,
            "epochOrigin": format_created_at(origin),
        },
    }
    if isinstance(out_file, str | os.PathLike):
        with open(out_file, "w", encoding="utf-8") as stream:
            _dump(document, stream)
    else:
        _dump(document, out_file)
    return written


def _dump(document: Mapping[str, Any], stream: IO[str]) -> None:
    # Records never hold NaN (the read path rejects it): strict JSON, unsafe characters escaped.
    stream.write(json_text(dict(document)))
    stream.write("\n")
