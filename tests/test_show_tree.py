"""``show --tree``: trees of linked actions and waterfalls of structured traces."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import actiontrace
from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionAwareStructuredTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    ActionTraceOutputService,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    InvalidArgumentError,
    cli,
    read_traces,
)
from actiontrace.analysis.tree import (
    BAR_WIDTH,
    LINE_WIDTH,
    TraceForest,
    critical_path,
    render_forest,
    waterfall,
)
from actiontrace.cli import main

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TID = "0af7651916cd43dd8448eb211c80319c"


def sid(n: int) -> str:
    return f"{n:016x}"


def action(
    name: str,
    span: int,
    parent: int | None = None,
    *,
    start: int | None = None,
    trace_id: str | None = TID,
    actor: str = "hero",
    status: str = "success",
    duration: float | None = 1.0,
) -> dict[str, Any]:
    return {
        "metadata": {
            "actionId": name,
            "actorId": actor,
            "traceType": "execution",
            "traceId": trace_id,
            "spanId": sid(span),
            "parentSpanId": None if parent is None else sid(parent),
        },
        "execution": {
            "duration": duration,
            "status": status,
            "startEpochNs": start if start is not None else 1_000 * span,
        },
    }


def span_dict(  # noqa: PLR0917 - a row of a span table reads best positionally
    span: int,
    parent: int | None,
    operation: str,
    start: float | None,
    end: float | None,
    status: str = "success",
) -> dict[str, Any]:
    return {
        "spanId": sid(span),
        "parentId": None if parent is None else sid(parent),
        "operation": operation,
        "startTime": start,
        "endTime": end,
        "duration": None if start is None or end is None else end - start,
        "status": status,
    }


def steps(
    spans: list[dict[str, Any]],
    parent: int | None = None,
    *,
    trace_id: str | None = TID,
    start: int = 0,
    kind: str = "action_aware_structured",
    **extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "traceType": kind,
        "traceId": trace_id,
        "startEpochNs": start,
        "actionId": "core:attack",
        "actorId": "hero",
    }
    if parent is not None:
        meta["parentSpanId"] = sid(parent)
    return {"metadata": meta, "spans": spans, "droppedSpans": 0, **extra}


# A root 0..40 ms with children a (0..10) and b (10..40); b has c (20..30), which failed.
FOUR_SPANS = [
    span_dict(1, None, "dispatch_action", 100.0, 140.0),
    span_dict(2, 1, "a", 100.0, 110.0),
    span_dict(3, 1, "b", 110.0, 140.0),
    span_dict(4, 3, "c", 120.0, 130.0, "error"),
]


# -- trees of linked actions -----------------------------------------------------------------------


def test_children_nest_under_their_parent_ordered_by_start_time() -> None:
    traces = [
        action("core:damage", 2, 1, start=30),
        action("core:dodge", 3, 1, start=20),
        action("core:defeated", 4, 2, start=40, actor="orc"),
        action("core:attack", 1, start=10),
    ]
    assert render_forest(traces).splitlines() == [
        f"trace {TID} · 4 actions",
        "core:attack · hero · success · 1.00 ms",
        "├─ core:dodge · hero · success · 1.00 ms",
        "└─ core:damage · hero · success · 1.00 ms",
        "   └─ core:defeated · orc · success · 1.00 ms",
    ]


def test_deeper_siblings_keep_the_vertical_line_of_their_ancestors() -> None:
    traces = [
        action("root", 1),
        action("first", 2, 1),
        action("first.child", 3, 2),
        action("second", 4, 1),
    ]
    assert render_forest(traces).splitlines()[1:] == [
        "root · hero · success · 1.00 ms",
        "├─ first · hero · success · 1.00 ms",
        "│  └─ first.child · hero · success · 1.00 ms",
        "└─ second · hero · success · 1.00 ms",
    ]


def test_failed_and_error_actions_are_visibly_marked() -> None:
    text = render_forest(
        [
            action("core:go", 1, status="failed"),
            action("magic:cast", 2, 1, status="error", duration=None),
            action("core:look", 3, 1, status="in_progress", duration=None),
        ]
    )
    assert "core:go · hero · ✗ FAILED · 1.00 ms" in text
    assert "├─ magic:cast · hero · ✗ ERROR · incomplete" in text
    assert "└─ core:look · hero · in_progress · incomplete" in text


def test_an_orphan_is_shown_at_the_root_level_and_marked() -> None:
    lines = render_forest([action("core:root", 1), action("core:lost", 2, 99)]).splitlines()
    assert lines == [
        f"trace {TID} · 2 actions",
        "core:root · hero · success · 1.00 ms",
        f"core:lost · hero · success · 1.00 ms  (orphan: parent {sid(99)} not in these files)",
    ]


def test_trees_are_ordered_by_start_and_separated_by_a_blank_line() -> None:
    late = action("core:late", 1, start=500)
    early = action("core:early", 2, start=100, trace_id=OTHER_TID)
    undated = action("core:undated", 3, trace_id="c" * 32)
    undated["execution"]["startEpochNs"] = None
    assert render_forest([undated, late, early]).splitlines() == [
        f"trace {OTHER_TID} · 1 action",
        "core:early · hero · success · 1.00 ms",
        "",
        f"trace {TID} · 1 action",
        "core:late · hero · success · 1.00 ms",
        "",
        f"trace {'c' * 32} · 1 action",
        "core:undated · hero · success · 1.00 ms",
    ]


def test_traces_without_a_trace_id_each_make_a_tree_of_their_own() -> None:
    old = {
        "metadata": {"actionId": "core:go", "actorId": "a", "traceType": "execution"},
        "execution": {"status": "success"},
    }
    text = render_forest([old, dict(old)])
    assert text.count("trace (no trace id) · 1 action") == 2
    assert "core:go · a · success · incomplete" in text


def test_a_float_start_time_is_no_start_time_and_orders_last() -> None:
    first = action("core:first", 1, start=0)
    first["execution"]["startEpochNs"] = 5.0  # epoch nanoseconds are integers
    second = action("core:second", 2, start=9, trace_id=OTHER_TID)
    lines = render_forest([first, second]).splitlines()
    assert lines.index("core:first · hero · success · 1.00 ms") > lines.index(
        "core:second · hero · success · 1.00 ms"
    )


def test_parent_links_that_loop_are_drawn_at_the_root_level_and_said_so() -> None:
    traces = [action("core:a", 1, 2), action("core:b", 2, 1), action("core:self", 3, 3)]
    lines = render_forest(traces).splitlines()
    assert lines == [
        f"trace {TID} · 3 actions",
        f"core:a · hero · success · 1.00 ms  (parent links loop through {sid(2)})",
        "└─ core:b · hero · success · 1.00 ms",
        f"core:self · hero · success · 1.00 ms  (parent links loop through {sid(3)})",
    ]


def test_a_duplicated_trace_is_shown_twice_under_its_parent() -> None:
    child = action("core:child", 2, 1)
    text = render_forest([action("core:root", 1), child, json.loads(json.dumps(child))])
    assert text.count("─ core:child · hero") == 2


def test_other_trace_types_and_non_objects_are_counted_not_drawn() -> None:
    text = render_forest([action("core:go", 1), {"metadata": {"traceType": "chrome"}}, [1], 5])
    assert text.endswith("core:go · hero · success · 1.00 ms\n(3 traces of other types not shown)")


def test_malformed_fields_do_not_break_the_tree() -> None:
    odd = {
        "metadata": {"actionId": 7, "actorId": "", "traceId": TID, "spanId": 5},
        "execution": {"status": {"not": "hashable"}, "duration": -1},
    }
    odd["metadata"]["traceType"] = "execution"
    no_meta = {"metadata": [], "execution": "nope"}
    text = render_forest([odd, no_meta])
    assert "? · ? · unknown · incomplete" in text
    assert "(1 traces of other types not shown)" in text


def test_control_characters_are_escaped_and_long_names_clipped() -> None:
    evil = action("core:\x1b[2Jwipe", 1, actor="\u202eevil\x07" + "x" * 60)
    text = render_forest([evil])
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "core:\\x1b[2Jwipe" in text
    actor = text.splitlines()[1].split(" · ")[1]
    assert actor.startswith("\\u202eevil\\x07") and actor.endswith("…") and len(actor) == 40


def test_a_very_deep_chain_of_reactions_is_drawn_without_recursion() -> None:
    chain = [action("core:step", 1)] + [action("core:step", n, n - 1) for n in range(2, 1_500)]
    forest = TraceForest(max_tree_nodes=2_000)
    for trace in chain:
        forest.add(trace)
    lines = list(forest.lines())
    assert len(lines) == 1 + 1_499
    assert lines[-1].endswith("└─ core:step · hero · success · 1.00 ms")


# -- caps: memory stays bounded --------------------------------------------------------------------


def test_a_tree_keeps_at_most_max_tree_nodes_and_counts_the_rest() -> None:
    traces = [action("core:root", 1)] + [action(f"core:r{n}", n, 1) for n in range(2, 7)]
    traces.append(action("core:grandchild", 50, 6))  # its parent (span 6) was not kept
    text = render_forest(traces, max_tree_nodes=3)
    assert text.splitlines() == [
        f"trace {TID} · 3 actions",
        "core:root · hero · success · 1.00 ms",
        "├─ core:r2 · hero · success · 1.00 ms",
        "└─ core:r3 · hero · success · 1.00 ms",
        "… 4 more traces in this tree not shown (limit of 3 per tree)",
    ]
    kept = render_forest([traces[0], traces[-1]], max_tree_nodes=1)
    assert "among the traces not shown" not in kept  # the orphan itself was dropped
    late_orphan = render_forest([traces[0], traces[2], traces[-1]], max_tree_nodes=2)
    assert "… 1 more traces" in late_orphan
    first_orphan = render_forest([traces[-1], traces[0], traces[1]], max_tree_nodes=2)
    assert f"(orphan: parent {sid(6)} among the traces not shown)" in first_orphan


def test_trees_past_max_trees_are_counted_not_kept() -> None:
    traces = [action("core:go", n, trace_id=f"{n:032x}") for n in range(1, 6)]
    lines = render_forest(traces, max_trees=2).splitlines()
    assert sum(line.startswith("trace ") for line in lines) == 2
    assert lines[-1] == "… 3 more traces in further trees not shown (limit of 2 trees)"


def test_waterfalls_past_max_waterfalls_are_one_line_each() -> None:
    text = render_forest(
        [steps(FOUR_SPANS, trace_id=TID), steps(FOUR_SPANS, trace_id=OTHER_TID, start=5)],
        max_waterfalls=1,
    )
    assert text.count("|") == 8  # one waterfall of four bars
    assert "steps of core:attack · hero · 4 spans · 40.00 ms\n" in text
    assert text.rstrip().endswith("(waterfall not drawn: the limit of waterfalls was reached)")


@pytest.mark.parametrize("name", ["max_trees", "max_tree_nodes", "max_waterfalls", "max_spans"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_invalid_caps_name_the_argument(name: str, bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        TraceForest(**{name: bad})  # type: ignore[arg-type]


# -- waterfalls of structured traces ---------------------------------------------------------------


def test_waterfall_bars_are_proportional_on_a_shared_axis_with_the_critical_path_starred() -> None:
    lines = waterfall(steps(FOUR_SPANS))
    assert lines[0] == "steps of core:attack · hero · 4 spans · 40.00 ms · * critical path"
    name_width = LINE_WIDTH - 2 - (BAR_WIDTH + 2) - 11 - 10
    bars = {line[2 + name_width :].split("|")[1] for line in lines[1:]}
    assert len(bars) == 4 and all(len(bar) == BAR_WIDTH for bar in bars)
    assert lines[1] == f"* {'dispatch_action':<{name_width}}|{'#' * 40}|   40.00 ms"
    assert lines[2] == f"    {'a':<{name_width - 2}}|{'#' * 10}{'.' * 30}|   10.00 ms"
    assert lines[3] == f"*   {'b':<{name_width - 2}}|{'.' * 10}{'#' * 30}|   30.00 ms"
    assert lines[4] == (
        f"*     {'c':<{name_width - 4}}|{'.' * 20}{'X' * 10}{'.' * 10}|   10.00 ms ✗ error"
    )
    assert all(len(line) <= LINE_WIDTH for line in lines)


def test_every_span_gets_at_least_one_column() -> None:
    spans = [span_dict(1, None, "long", 0.0, 1_000.0), span_dict(2, 1, "blink", 500.0, 500.001)]
    bar = waterfall(steps(spans))[2].split("|")[1]
    assert bar == "." * 20 + "#" + "." * 19


def test_instant_spans_and_spans_without_times_still_draw() -> None:
    instant = waterfall(steps([span_dict(1, None, "now", 5.0, 5.0)]))
    assert instant[1].split("|")[1] == "#" + "." * 39
    timeless = waterfall(steps([span_dict(1, None, "lost", None, None, "active")]))
    assert timeless[1].split("|")[1] == "." * 40
    assert timeless[1].endswith("|" + " " * 12 + "… active")  # no duration
    assert waterfall(steps([]))[0] == "steps of core:attack · hero · 0 spans · 0.00 ms"


def test_an_unfinished_span_runs_to_the_end_of_the_axis() -> None:
    spans = [
        span_dict(1, None, "root", 0.0, 40.0),
        span_dict(2, 1, "hung", 20.0, None, "active"),
    ]
    line = waterfall(steps(spans))[2]
    assert line.split("|")[1] == "." * 20 + "~" * 20
    assert line.endswith("|" + " " * 12 + "… active")


def test_a_span_with_only_a_duration_is_placed_by_it() -> None:
    spans = [span_dict(1, None, "root", 0.0, 40.0), span_dict(2, 1, "half", 0.0, None)]
    spans[1]["duration"] = 20.0
    line = waterfall(steps(spans))[2]
    assert line.split("|")[1] == "#" * 20 + "." * 20 and line.endswith("20.00 ms")


def test_failure_spans_and_unknown_statuses_are_marked() -> None:
    spans = [
        span_dict(1, None, "root", 0.0, 4.0, "failure"),
        span_dict(2, 1, "odd", 1.0, 2.0, "weird\x1b-status-long"),
    ]
    lines = waterfall(steps(spans))
    assert lines[1].endswith("4.00 ms ✗ failure") and "X" * 40 in lines[1]
    assert lines[2].endswith("1.00 ms unknown")  # a status no tracer writes


def test_summary_total_duration_and_dropped_spans_are_shown() -> None:
    trace = steps(FOUR_SPANS, summary={"totalDuration": 41.5})
    trace["droppedSpans"] = 7
    assert waterfall(trace)[0].endswith(
        "41.50 ms · * critical path · 7 spans dropped by the tracer"
    )


def test_a_plain_structured_trace_without_action_is_titled_by_its_spans() -> None:
    trace = {"metadata": {"traceType": "structured", "traceId": TID}, "spans": FOUR_SPANS}
    assert waterfall(trace)[0] == "steps of 4 spans · 40.00 ms · * critical path"
    aware = {
        "metadata": {"actionId": "x", "traceType": "action_aware_structured"},
        "actorId": "top-level",
        "spans": [],
    }
    assert waterfall(aware)[0].startswith("steps of x · top-level · 0 spans")


def test_waterfall_rows_are_capped() -> None:
    spans = [span_dict(1, None, "root", 0.0, 100.0)] + [
        span_dict(n, 1, f"op{n}", float(n), float(n) + 1) for n in range(2, 12)
    ]
    lines = waterfall(steps(spans), max_spans=4)
    assert len(lines) == 1 + 4 + 1
    assert lines[-1] == "… 7 more spans"


def test_deep_span_names_are_clipped_to_keep_the_line_width() -> None:
    spans = [span_dict(1, None, "root", 0.0, 30.0)] + [
        span_dict(n, n - 1, f"level{n}", float(n), 30.0) for n in range(2, 30)
    ]
    lines = waterfall(steps(spans), max_spans=100)
    assert all(len(line) <= LINE_WIDTH for line in lines)
    assert any("…|" in line for line in lines)


def test_malformed_spans_are_skipped_or_shown_at_the_root() -> None:
    spans: list[Any] = [
        "not a span",
        span_dict(1, 2, "loop-a", 0.0, 1.0),
        span_dict(2, 1, "loop-b", 1.0, 2.0),
        span_dict(3, 77, "orphan", 0.5, 1.5),
        {"operation": "no-id", "startTime": 0.0, "endTime": 0.5, "status": "success"},
    ]
    lines = waterfall(steps(spans))
    names = [line[2:].split("|")[0].strip() for line in lines[1:]]
    assert sorted(names) == ["loop-a", "loop-b", "no-id", "orphan"]
    assert waterfall(steps("nope"))[0].startswith("steps of core:attack · hero · 0 spans")  # type: ignore[arg-type]


def test_critical_path_follows_the_children_that_ended_last() -> None:
    assert critical_path(steps(FOUR_SPANS)) == ["dispatch_action", "b", "c"]
    unfinished = [span_dict(1, None, "done", 0.0, 5.0), span_dict(2, None, "open", 1.0, None)]
    assert critical_path(steps(unfinished)) == ["done"]
    loop = [span_dict(1, 2, "x", 0.0, 1.0), span_dict(2, 1, "y", 0.0, 2.0)]
    assert critical_path(steps(loop)) == ["y", "x"]
    assert critical_path(steps([])) == []
    overrun = [span_dict(1, None, "root", 0.0, 10.0), span_dict(2, 1, "late child", 5.0, 20.0)]
    assert critical_path(steps(overrun)) == ["root", "late child"]


def test_critical_path_agrees_with_the_structured_trace() -> None:
    trace = actiontrace.StructuredTrace()
    with trace.span("turn"):
        with trace.span("fast"):
            pass
        with trace.span("slow"):
            with trace.span("inner"):
                pass
    assert critical_path(trace.to_dict()) == trace.get_critical_path()


def test_waterfall_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="trace"):
        waterfall([])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_spans"):
        waterfall(steps([]), max_spans=0)


# -- structured traces in the tree -----------------------------------------------------------------


def test_a_structured_trace_hangs_under_its_action_before_the_reactions() -> None:
    traces = [
        action("core:damage", 2, 1),
        steps(FOUR_SPANS[:2], 1, start=1_500),
        action("core:attack", 1),
    ]
    lines = render_forest(traces).splitlines()
    assert lines[0] == f"trace {TID} · 2 actions · 1 step trace"
    assert lines[1] == "core:attack · hero · success · 1.00 ms"
    assert lines[2] == "├─ steps · 2 spans · 40.00 ms · * critical path"
    assert lines[3].startswith("│  * dispatch_action ")
    assert lines[4].startswith("│  *   a ")
    assert lines[5] == "└─ core:damage · hero · success · 1.00 ms"
    assert all(len(line) <= LINE_WIDTH for line in lines)


def test_a_structured_trace_of_the_last_child_is_indented_without_a_line() -> None:
    traces = [action("core:attack", 1), action("core:damage", 2, 1), steps(FOUR_SPANS, 2)]
    lines = render_forest(traces).splitlines()
    assert lines[2] == "└─ core:damage · hero · success · 1.00 ms"
    assert lines[3] == "   └─ steps · 4 spans · 40.00 ms · * critical path"
    assert lines[4].startswith("      * dispatch_action")


def test_a_structured_trace_without_its_action_stands_on_its_own() -> None:
    alone = render_forest([steps(FOUR_SPANS, kind="structured")]).splitlines()
    assert alone[0] == f"trace {TID} · 0 actions · 1 step trace"
    assert alone[1] == "steps of core:attack · hero · 4 spans · 40.00 ms · * critical path"
    assert len(alone) == 6
    lost = render_forest([action("core:other", 1), steps(FOUR_SPANS, 9)]).splitlines()
    assert lost[1] == (
        "steps of core:attack · hero · 4 spans · 40.00 ms · * critical path"
        f"  (orphan: parent {sid(9)} not in these files)"
    )
    assert lost[2].startswith("* dispatch_action")
    assert lost[-1] == "core:other · hero · success · 1.00 ms"


# -- real traces: the processor, the output service and the reader ---------------------------------


class StepTraces:
    def create_trace(self, action_id: str, actor_id: str) -> ActionAwareStructuredTrace:
        return ActionAwareStructuredTrace(actor_id=actor_id)


async def _play(folder: Path) -> None:
    bus = EventBus()
    with ActionTraceOutputService(folder, format="jsonl") as output:
        processor = CommandProcessor(
            EventDispatchService(bus),
            trace_filter=ActionTraceFilter(),
            trace_factory=ActionExecutionTraceFactory(metadata={"build": "test"}),
            trace_output_service=output,
            structured_trace_factory=StepTraces(),
        )

        async def rules(payload: dict[str, Any]) -> None:
            follow = {"core:attack": "core:damage", "core:damage": "core:defeated"}
            with actiontrace.span("resolve_target"):
                await asyncio.sleep(0.001)
            nxt = follow.get(payload["actionId"])
            if nxt is not None:
                with actiontrace.span("apply_damage"):
                    await processor.dispatch_action({"id": "orc"}, {"actionDefinitionId": nxt})
            elif payload["actionId"] == "core:defeated":
                raise RuntimeError("the orc will not fall")

        bus.subscribe(ATTEMPT_ACTION_ID, rules)
        await processor.dispatch_action({"id": "hero"}, {"actionDefinitionId": "core:attack"})
        await processor.dispatch_action({"id": "hero"}, {"actionDefinitionId": "core:look"})


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("played")
    asyncio.run(_play(folder))
    return folder


def test_real_linked_traces_read_back_form_one_nested_tree(played: Path) -> None:
    traces = list(read_traces(played))
    assert len(traces) == 8  # four actions, each with its structured trace
    lines = render_forest(traces).splitlines()
    attack_tree = lines[: lines.index("")]
    assert attack_tree[0].endswith(" · 3 actions · 3 step traces")
    structure = [line for line in attack_tree if "core:" in line or "steps ·" in line]
    assert [line.split(" · ")[0] for line in structure] == [
        "core:attack",
        "├─ steps",
        "└─ core:damage",
        "   ├─ steps",
        "   └─ core:defeated",
        "      └─ steps",
    ]
    assert "core:defeated · orc · ✗ FAILED" in structure[4]
    # The handler's spans nest under dispatch_event, two levels below the root span.
    first_waterfall = attack_tree[3:8]
    assert [line[3:].split("|")[0].rstrip() for line in first_waterfall] == [
        "* dispatch_action",
        "    create_payload",
        "*   dispatch_event",
        "      resolve_target",
        "*     apply_damage",
    ]
    assert all(len(line) <= LINE_WIDTH for line in lines)
    assert lines[lines.index("") + 1].endswith(" · 1 action · 1 step trace")


def test_real_trace_ids_group_the_tree(played: Path) -> None:
    traces = list(read_traces(played))
    trace_ids = {t["metadata"]["traceId"] for t in traces}
    assert len(trace_ids) == 2
    text = render_forest(traces)
    for trace_id in trace_ids:
        assert f"trace {trace_id} · " in text


def test_cli_show_tree_prints_the_forest(played: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(played), "--tree"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == render_forest(read_traces(played)) + "\n"


def test_cli_show_tree_without_traces_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.jsonl").write_text("garbage\n", encoding="utf-8")
    assert main(["show", str(tmp_path), "--tree"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "no traces found" in err and "(1 damaged lines or unreadable files skipped)" in err


def test_cli_show_tree_read_fault_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "scan_traces", denied)
    assert main(["show", str(tmp_path), "--tree"]) == 2
    assert capsys.readouterr().err == (
        f"actiontrace: error: cannot read {tmp_path}: Permission denied\n"
    )
