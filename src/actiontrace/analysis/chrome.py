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
* linked traces (SPEC §9.1): a flow arrow from each parent action to each child, drawn by a pair
  of flow events with the same ``id``, ``cat`` (``link``) and ``name``: ``"ph": "s"`` at the
  parent's start on the parent's track (bound to the enclosing slice, the parent's bar) and
  ``"ph": "f"`` with ``"bp": "e"`` at the child's start on the child's track (bound to the
  enclosing slice, the child's bar, rather than to the next slice). Each sits right after its
  slice in the list, so a viewer meeting both at one time opens the slice first;
* structured traces (SPEC §9.3): their ended spans as nested ``X`` events (``cat`` ``span``) on
  a ``"<actor> steps"`` track below the actor's own; spans that overlap without nesting (two
  concurrent tasks) go to further tracks (``"<actor> steps 2"``...), since slices on one track
  must nest. The actor is the trace's ``actorId``, else its parent action's; a root span whose
  trace names a parent action gets a flow arrow from that action. Span times are placed on the
  wall clock by the trace's ``metadata.startEpochNs`` / ``startTime`` anchor.

``ts`` is relative to the earliest event's wall-clock time (so the timeline starts at 0 and the
microsecond floats keep nanosecond precision); ``otherData.epochOriginNs`` and ``epochOrigin``
give that origin as wall-clock time. Incomplete and malformed traces are skipped, as are
structured traces without their anchor or an actor.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import IO, Any, TypeGuard

from ..trace import format_created_at

__all__ = ["write_chrome_trace"]

_PID = 1
_DONE = {"success": "good", "failed": "bad", "error": "terrible"}
_PHASE_ARGS = ("description", "payloadSize", "truncated", "success", "errorType")


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_Finished = tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], int]


def _finished(trace: Any) -> _Finished | None:
    """Return ``(trace, metadata, execution, startEpochNs)`` of a finished trace, else None."""
    if not isinstance(trace, Mapping):
        return None
    metadata, execution = trace.get("metadata"), trace.get("execution")
    if not isinstance(metadata, Mapping) or not isinstance(execution, Mapping):
        return None
    epoch = execution.get("startEpochNs")
    if (
        execution.get("status") not in _DONE
        or not isinstance(metadata.get("actionId"), str)
        or not isinstance(metadata.get("actorId"), str)
        or not (isinstance(epoch, int) and not isinstance(epoch, bool))
        or not _number(execution.get("startTime"))
        or not _number(execution.get("duration"))
    ):
        return None
    return trace, metadata, execution, epoch


def _args(trace: Mapping[str, Any], metadata: Mapping[str, Any], status: str) -> dict[str, Any]:
    args: dict[str, Any] = {"status": status, "actorId": metadata["actorId"]}
    turn = trace.get("turnAction")
    if isinstance(turn, Mapping) and isinstance(turn.get("commandString"), str):
        args["command"] = turn["commandString"]
    args["payload"] = trace.get("eventPayload")
    error = trace.get("error")
    if isinstance(error, Mapping):
        args["errorType"] = error.get("type")
        args["errorMessage"] = error.get("message")
    for key in ("traceId", "spanId", "parentSpanId"):
        if isinstance(metadata.get(key), str):
            args[key] = metadata[key]
    return args


def _trace_events(finished: _Finished, tid: int, origin: int) -> list[dict[str, Any]]:
    """Build the ``X`` event of one finished trace, then an instant event per phase."""
    trace, metadata, execution, epoch = finished
    status = execution["status"]
    start_ms = float(execution["startTime"])
    ts = (epoch - origin) / 1000
    events: list[dict[str, Any]] = [
        {
            "name": metadata["actionId"],
            "cat": "action",
            "ph": "X",
            "ts": ts,
            "dur": float(execution["duration"]) * 1000,
            "pid": _PID,
            "tid": tid,
            "cname": _DONE[status],
            "args": _args(trace, metadata, status),
        }
    ]
    phases = execution.get("phases")
    for phase in phases if isinstance(phases, list) else ():
        if not isinstance(phase, Mapping) or not _number(phase.get("timestamp")):
            continue
        events.append(
            {
                "name": str(phase.get("phase")),
                "cat": "phase",
                "ph": "i",
                "s": "t",
                "ts": ts + (float(phase["timestamp"]) - start_ms) * 1000,
                "pid": _PID,
                "tid": tid,
                "args": {key: phase[key] for key in _PHASE_ARGS if key in phase},
            }
        )
    return events


_STRUCTURED = frozenset(("structured", "action_aware_structured"))
_SPAN_COLOURS = {"success": "good", "failure": "bad", "error": "terrible"}
_LANE_SORT = 1000  # an actor's tracks sort together: its own, then its steps lanes


class _Span:
    """One ended structured span, placed on the wall clock (ns), and later on a lane."""

    __slots__ = ("end", "item", "lane", "start")

    def __init__(self, item: Mapping[str, Any], start: int, end: int) -> None:
        self.item = item
        self.start = start
        self.end = end
        self.lane = 0


_Structured = tuple[Mapping[str, Any], list[_Span]]


def _structured(trace: Any) -> _Structured | None:
    """Return ``(metadata, ended spans)`` of a structured trace with its clock anchor, else None."""
    if not isinstance(trace, Mapping):
        return None
    metadata, spans = trace.get("metadata"), trace.get("spans")
    if not isinstance(metadata, Mapping) or metadata.get("traceType") not in _STRUCTURED:
        return None
    anchor_ns, anchor_ms = metadata.get("startEpochNs"), metadata.get("startTime")
    if not (isinstance(anchor_ns, int) and not isinstance(anchor_ns, bool)) or not _number(
        anchor_ms
    ):
        return None
    placed = []
    for item in spans if isinstance(spans, list) else ():
        if (
            isinstance(item, Mapping)
            and item.get("status") in _SPAN_COLOURS
            and _number(item.get("startTime"))
            and _number(item.get("duration"))
        ):
            start = anchor_ns + round((float(item["startTime"]) - float(anchor_ms)) * 1e6)
            placed.append(_Span(item, start, start + round(float(item["duration"]) * 1e6)))
    return metadata, placed


def _structured_actor(
    trace: Mapping[str, Any], metadata: Mapping[str, Any], actor_of: Mapping[str, str]
) -> str | None:
    for actor in (trace.get("actorId"), metadata.get("actorId")):
        if isinstance(actor, str):
            return actor
    parent_id = metadata.get("parentSpanId")
    return actor_of.get(parent_id) if isinstance(parent_id, str) else None


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
    status = item["status"]
    args: dict[str, Any] = {"status": status, "attributes": item.get("attributes")}
    error = item.get("error")
    if isinstance(error, Mapping):
        args["errorType"] = error.get("type")
        args["errorMessage"] = error.get("message")
    for key in ("spanId", "parentId"):
        if isinstance(item.get(key), str):
            args[key] = item[key]
    return {
        "name": str(item.get("operation")),
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
    traces: Iterable[Mapping[str, Any]], out_file: str | os.PathLike[str] | IO[str]
) -> int:
    """Write ``traces`` (trace dicts) as a Chrome Trace Event JSON object; return how many.

    ``out_file`` is a path (written as UTF-8) or an open text stream. The count is of the traces
    written: finished execution traces (one ``X`` event each) and structured traces placed on a
    track (one ``X`` event per ended span).
    """
    finished: list[_Finished] = []
    structured: list[tuple[Mapping[str, Any], Mapping[str, Any], list[_Span]]] = []
    for trace in traces:
        item = _finished(trace)
        if item is not None:
            finished.append(item)
        elif (steps := _structured(trace)) is not None:
            structured.append((trace, *steps))
    actor_of = {
        metadata["spanId"]: metadata["actorId"]
        for _, metadata, _, _ in finished
        if isinstance(metadata.get("spanId"), str)
    }
    spans_of: dict[str, list[_Span]] = {}  # actor -> the structured spans on their steps tracks
    roots: list[tuple[str, _Span]] = []  # (parent action's spanId, a root span under it)
    written = len(finished)
    for trace, metadata, spans in structured:
        actor = _structured_actor(trace, metadata, actor_of)
        if actor is None:
            continue
        written += 1
        spans_of.setdefault(actor, []).extend(spans)
        parent_id = metadata.get("parentSpanId")
        if isinstance(parent_id, str):
            roots.extend((parent_id, span) for span in spans if span.item.get("parentId") is None)

    actors = sorted({metadata["actorId"] for _, metadata, _, _ in finished} | set(spans_of))
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
        [epoch for *_, epoch in finished] + [s.start for v in spans_of.values() for s in v],
        default=0,
    )

    # Each slice's group of events; a flow event joins the group right after its slice.
    groups: list[list[dict[str, Any]]] = []
    by_span: dict[str, list[dict[str, Any]]] = {}  # an action's spanId -> its group
    links: list[tuple[str, list[dict[str, Any]]]] = []  # (parent spanId, the child's group)
    for item in finished:
        group = _trace_events(item, tids[item[1]["actorId"]], origin)
        groups.append(group)
        metadata = item[1]
        if isinstance(metadata.get("spanId"), str):
            by_span[metadata["spanId"]] = group
        if isinstance(metadata.get("parentSpanId"), str):
            links.append((metadata["parentSpanId"], group))
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
    # Payloads come from files that may hold anything JSON allows; NaN never does in valid traces,
    # but a hand-edited file could carry one, and the viewers reject it: write null instead.
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_no_nan(document), ensure_ascii=False, allow_nan=False)
    stream.write(text)
    stream.write("\n")


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _no_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_nan(item) for item in value]
    return value
