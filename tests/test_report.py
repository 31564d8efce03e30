"""The report: per-action counts, nearest-rank latency percentiles, error types, slowest traces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import build_report, percentile, render_report
from actiontrace.analysis.report import WIDTH


@dataclass
class Record:
    trace: Any
    file: str
    line: int | None = None


def make_trace(
    action: str = "core:go",
    actor: str = "hero",
    status: str | None = "success",
    duration: float | None = 1.0,
    *,
    error: dict[str, Any] | None = None,
    trace_type: str | None = "execution",
    custom: dict[str, Any] | None = None,
    trace_id: str | None = None,
    result: Any = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"actionId": action, "actorId": actor}
    if trace_type is not None:
        meta["traceType"] = trace_type
    if trace_id is not None:
        meta["traceId"] = trace_id
    execution: dict[str, Any] = {"duration": duration, "phases": []}
    if status is not None:
        execution["status"] = status
    trace: dict[str, Any] = {
        "metadata": meta,
        "execution": execution,
        "eventPayload": None,
        "result": result,
        "error": error,
    }
    if custom is not None:
        trace["customMetadata"] = custom
    return trace


def records(traces: list[dict[str, Any]], file: str = "t.jsonl") -> list[Record]:
    return [Record(trace, file, n) for n, trace in enumerate(traces, 1)]


# -- percentiles -----------------------------------------------------------------------------------


def test_percentile_is_nearest_rank_on_one_to_a_hundred() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0


def test_percentile_of_few_samples_is_a_real_sample() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([7.5], 99) == 7.5
    assert percentile([], 50) is None


def test_report_latencies_per_action_match_known_durations() -> None:
    traces = [make_trace("core:go", duration=float(d)) for d in range(100, 0, -1)]
    traces += [make_trace("core:look", duration=d) for d in (3.0, 1.0, 2.0)]
    report = build_report(records(traces))
    go = report["actions"]["core:go"]
    assert (go["p50"], go["p95"], go["p99"], go["max"]) == (50.0, 95.0, 99.0, 100.0)
    look = report["actions"]["core:look"]
    assert (look["p50"], look["p95"], look["p99"], look["max"]) == (2.0, 3.0, 3.0, 3.0)


# -- counts ----------------------------------------------------------------------------------------


def test_status_counts_and_total_add_up() -> None:
    statuses = ["success"] * 5 + ["failed"] * 3 + ["error"] * 2 + ["pending", "in_progress"]
    traces = [
        make_trace(status=s, duration=None if s in ("pending", "in_progress") else 1.0)
        for s in statuses
    ]
    report = build_report(records(traces))
    row = report["actions"]["core:go"]
    assert report["total"] == 12
    assert (row["count"], row["success"], row["failed"], row["error"]) == (12, 5, 3, 2)
    assert (row["pending"], row["inProgress"], row["unknown"]) == (1, 1, 0)


def test_incomplete_traces_do_not_enter_latencies() -> None:
    report = build_report(records([make_trace(status="pending", duration=None)]))
    row = report["actions"]["core:go"]
    assert row["count"] == 1
    assert (row["p50"], row["p95"], row["p99"], row["max"]) == (None, None, None, None)
    assert report["slowest"] == []


def test_status_is_derived_when_a_writer_left_it_out() -> None:
    traces = [
        make_trace(status=None, error={"type": "ValueError", "message": "bad"}),
        make_trace(status=None, result={"success": True}),
        make_trace(status=None, result={"success": False}),
        make_trace(status=None),
        make_trace(status="exploded"),
        make_trace(status=7),  # type: ignore[arg-type]
    ]
    row = build_report(records(traces))["actions"]["core:go"]
    assert (row["error"], row["success"], row["failed"], row["unknown"]) == (1, 1, 1, 3)


def test_bad_durations_are_ignored_for_latency() -> None:
    traces = [
        make_trace(duration=True),  # type: ignore[arg-type]
        make_trace(duration=float("nan")),
        make_trace(duration=-1.0),
        make_trace(duration="3"),  # type: ignore[arg-type]
        make_trace(duration=2),
    ]
    row = build_report(records(traces))["actions"]["core:go"]
    assert row["count"] == 4  # the NaN one is not a trace: JSON cannot hold it
    assert row["max"] == 2.0 and row["p50"] == 2.0


def test_missing_ids_are_reported_under_a_question_mark() -> None:
    trace = make_trace()
    trace["metadata"] = {"traceType": "execution"}
    report = build_report([Record(trace, "f")])
    assert list(report["actions"]) == ["?"]
    assert report["slowest"][0]["actorId"] == "?"


# -- errors ----------------------------------------------------------------------------------------


def test_error_types_count_and_keep_the_first_example() -> None:
    traces = [
        make_trace(status="error", error={"type": "RulesEngineError", "message": "crash 1"}),
        make_trace(status="error", error={"type": "RulesEngineError", "message": "crash 2"}),
        make_trace(status="error", error={"type": "KeyError", "message": "'k'"}),
        make_trace(status="error", error={"message": "typeless"}),
    ]
    types = build_report(records(traces))["errorTypes"]
    assert list(types) == ["RulesEngineError", "KeyError", "UnknownError"]
    assert types["RulesEngineError"] == {"count": 2, "example": "crash 1"}
    assert types["KeyError"] == {"count": 1, "example": "'k'"}


def test_error_example_is_clipped() -> None:
    trace = make_trace(status="error", error={"type": "E", "message": "x" * 1000})
    example = build_report([trace])["errorTypes"]["E"]["example"]
    assert len(example) == 200


# -- slowest ---------------------------------------------------------------------------------------


def test_slowest_lists_the_n_slowest_with_their_files_lines_and_trace_ids() -> None:
    traces = [
        make_trace(actor=f"a{d}", duration=float(d), trace_id=f"{d:032x}") for d in range(1, 31)
    ]
    report = build_report(records(traces, "traces/x.jsonl"), slowest=3)
    assert [e["duration"] for e in report["slowest"]] == [30.0, 29.0, 28.0]
    first = report["slowest"][0]
    assert first == {
        "actionId": "core:go",
        "actorId": "a30",
        "duration": 30.0,
        "status": "success",
        "file": "traces/x.jsonl",
        "line": 30,
        "traceId": f"{30:032x}",
    }


def test_slowest_ties_keep_the_earlier_trace() -> None:
    traces = [make_trace(actor=name, duration=5.0) for name in ("first", "second", "third")]
    report = build_report(records(traces), slowest=2)
    assert [e["actorId"] for e in report["slowest"]] == ["first", "second"]


def test_slowest_zero_lists_nothing() -> None:
    assert build_report(records([make_trace()]), slowest=0)["slowest"] == []


def test_slowest_skips_failed_or_error_only_when_they_are_not_slow() -> None:
    traces = [make_trace(status="error", duration=9.0), make_trace(duration=1.0)]
    report = build_report(records(traces), slowest=1)
    assert report["slowest"][0]["status"] == "error"


# -- inputs ----------------------------------------------------------------------------------------


def test_bare_trace_dicts_are_accepted_with_an_empty_file() -> None:
    report = build_report([make_trace()])
    assert report["total"] == 1
    assert report["slowest"][0]["file"] == ""
    assert "line" not in report["slowest"][0]


def test_records_without_a_trace_dict_are_skipped() -> None:
    report = build_report([Record("not a dict", "f"), Record(None, "f"), object()])
    assert report["total"] == 0
    assert report["actions"] == {}


def test_a_dict_without_trace_type_is_not_a_trace() -> None:
    report = build_report([make_trace(trace_type=None), make_trace(trace_type="")])
    assert report["traceTypes"] == {}
    assert report["total"] == 0 and report["actions"] == {}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"slowest": -1}, "slowest"),
        ({"slowest": True}, "slowest"),
        ({"max_samples": 0}, "max_samples"),
        ({"max_samples": 1.5}, "max_samples"),
        ({"group_by": ""}, "group_by"),
        ({"group_by": 3}, "group_by"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        build_report([], **kwargs)


# -- memory bound ----------------------------------------------------------------------------------


def test_past_max_samples_latencies_are_a_bounded_reservoir_with_an_exact_max() -> None:
    traces = [make_trace(duration=float(d)) for d in range(1, 10_001)]
    first = build_report(traces, max_samples=500)
    second = build_report(traces, max_samples=500)
    row = first["actions"]["core:go"]
    assert row["count"] == 10_000
    assert row["max"] == 10_000.0
    # A uniform sample of 1..10000: the median estimate lands near 5000.
    assert row["p50"] is not None and 4000 <= row["p50"] <= 6000
    assert row["p99"] is not None and row["p99"] >= 9000
    assert first == second  # seeded: the same input reports the same figures


# -- structured traces and groups ------------------------------------------------------------------


def test_structured_traces_feed_operations_not_actions() -> None:
    structured = {
        "metadata": {"traceType": "structured", "traceId": "ab" * 16},
        "spans": [
            {"operation": "dispatch_action", "duration": 4.0, "status": "success"},
            {"operation": "dispatch_event", "duration": 3.0, "status": "error"},
            {"operation": "dispatch_event", "duration": 1.0, "status": "success"},
            {"operation": "dispatch_event", "duration": None, "status": "active"},
            {"operation": 5},
            "junk",
        ],
    }
    other = {"metadata": {"traceType": "action_aware_structured"}, "spans": "not a list"}
    report = build_report([structured, other, make_trace()])
    assert report["total"] == 1  # execution traces; the others are counted apart
    assert report["traceTypes"] == {"action_aware_structured": 1, "execution": 1, "structured": 1}
    assert list(report["actions"]) == ["core:go"]
    assert report["operations"]["dispatch_event"] == {
        "count": 3,
        "mean": 2.0,  # over the spans that have a duration
        "p95": 3.0,
        "max": 3.0,
        "errors": 1,
    }
    assert report["operations"]["dispatch_action"]["errors"] == 0


def test_operation_without_any_duration_has_no_mean() -> None:
    trace = {"metadata": {"traceType": "structured"}, "spans": [{"operation": "x"}]}
    assert build_report([trace])["operations"]["x"] == {
        "count": 1,
        "mean": None,
        "p95": None,
        "max": None,
        "errors": 0,
    }


def test_group_by_splits_the_action_table_by_custom_metadata() -> None:
    traces = [
        make_trace(custom={"zone": "north"}, duration=1.0),
        make_trace(custom={"zone": "north"}, duration=3.0),
        make_trace(custom={"zone": "south"}, status="failed"),
        make_trace(custom={"zone": 3}),
        make_trace(custom={"other": 1}),
        make_trace(),
    ]
    report = build_report(traces, group_by="zone")
    assert report["groupBy"] == "zone"
    groups = report["groups"]
    assert list(groups) == ["(none)", "3", "north", "south"]
    assert groups["north"]["core:go"]["count"] == 2
    assert groups["north"]["core:go"]["max"] == 3.0
    assert groups["south"]["core:go"]["failed"] == 1
    assert groups["(none)"]["core:go"]["count"] == 2
    assert report["actions"]["core:go"]["count"] == 6


def test_without_group_by_there_are_no_groups() -> None:
    assert "groups" not in build_report([make_trace()])


# -- text ------------------------------------------------------------------------------------------


def _sample_report() -> dict[str, Any]:
    traces = [make_trace("core:go", f"actor-{i % 3}", duration=float(i)) for i in range(1, 21)]
    traces.append(
        make_trace(
            "magic:cast",
            status="error",
            duration=30.0,
            error={"type": "RulesEngineError", "message": "engine crashed"},
        )
    )
    traces.append(make_trace("a:" + "very-long-action-name-" * 5, status="failed", duration=2.0))
    return dict(build_report(records(traces, "traces/" + "deep/" * 30 + "x.jsonl")))


def test_text_report_fits_a_hundred_columns_and_labels_latencies_in_ms() -> None:
    text = render_report(_sample_report(), "traces")  # type: ignore[arg-type]
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    for label in ("p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)"):
        assert label in text
    assert "Trace report for traces" in text
    assert "22 execution traces" in text


def test_text_report_shows_totals_errors_and_slowest_files() -> None:
    text = render_report(_sample_report())  # type: ignore[arg-type]
    total = next(line for line in text.splitlines() if line.startswith("all actions"))
    assert total.split()[2:7] == ["22", "20", "1", "1", "30.000"]
    assert "RulesEngineError" in text and "engine crashed" in text
    slowest = text.split("Slowest traces")[1].splitlines()
    assert "30.000" in slowest[2] and "magic:cast" in slowest[2]
    assert slowest[2].endswith("x.jsonl:21")
    assert "…" in slowest[2]  # the long path is clipped at its start


def test_text_report_shows_an_other_column_only_for_incomplete_traces() -> None:
    plain = render_report(build_report([make_trace()]))
    assert "other" not in plain
    mixed = render_report(build_report([make_trace(), make_trace(status="pending", duration=None)]))
    assert "other" in mixed
    total = next(line for line in mixed.splitlines() if line.startswith("all actions"))
    assert total.split()[2:8] == ["2", "1", "0", "0", "1", "1.000"]


def test_text_report_neutralises_terminal_escapes_from_trace_data() -> None:
    trace = make_trace(
        "\x1b[2Jcore:go",
        status="error",
        error={"type": "E\x1b]0;x\x07", "message": "bad \u202e text"},
    )
    text = render_report(build_report([trace]))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b[2Jcore:go" in text and "\\u202e" in text


def test_text_report_of_headers_files_corrupt_groups_and_operations() -> None:
    report = build_report(
        [
            make_trace(custom={"zone": "north"}),
            {
                "metadata": {"traceType": "structured"},
                "spans": [{"operation": "load", "duration": 2}],
            },
        ],
        group_by="zone",
    )
    report["files"] = 2
    report["corrupt"] = 1
    report["torn"] = 2
    report["unreadable"] = 3
    text = render_report(report)
    assert "1 execution traces (and 1 structured) in 2 files\n" in text
    assert "Skipped: 3 damaged lines (1 corrupt, 2 torn), 3 files not read (3 unreadable" in text
    assert "zone = north" in text
    assert "Operations (structured traces)" in text and "load" in text
    assert "Error types: none" in text


def test_text_report_without_execution_traces_says_so() -> None:
    text = render_report(build_report([]))
    assert "Actions: no execution traces" in text
    assert "Slowest traces: none" in text
    assert "0 execution traces" in text


def test_text_report_shows_huge_latencies_without_decimals() -> None:
    text = render_report(build_report([make_trace(duration=1_234_567.891)]))
    assert "1234568" in text and "1234567.891" not in text


def test_text_report_shows_a_dash_for_latencies_of_incomplete_actions() -> None:
    text = render_report(build_report([make_trace(status="in_progress", duration=None)]))
    row = next(line for line in text.splitlines() if line.startswith("core:go"))
    assert row.split()[-4:] == ["-", "-", "-", "-"]


def test_text_report_columns_line_up_for_short_action_names() -> None:
    text = render_report(build_report([make_trace("a:b")]))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("action"))
    total = next(line for line in lines if line.startswith("all actions"))
    assert len(header) == len(total)
    assert header.index("count") + len("count") == total.index(" 1 ") + 2
