"""The demo session: real pipeline, some failures and errors, secrets redacted, replayable,
with linked reactions, structured step traces and custom metadata (reference §10)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import build_report
from actiontrace.demo import BUILD, DemoResult, run_demo

ROOMS = {"hall", "library", "garden", "tower", "cellar"}


def lines_of(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    traces = []
    for file in files:
        with file.open(encoding="utf-8") as handle:
            traces.extend(json.loads(line) for line in handle if line.strip())
    return traces


def executions(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    return [t for t in lines_of(files) if t["metadata"]["traceType"] == "execution"]


def structured(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    return [t for t in lines_of(files) if t["metadata"]["traceType"] == "action_aware_structured"]


def outcomes(result: DemoResult) -> list[tuple[str, str, str]]:
    return [
        (t["metadata"]["actionId"], t["metadata"]["actorId"], t["execution"]["status"])
        for t in executions(result.files)
    ]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), seed=11, turns=60)


def test_demo_report_counts_equal_the_lines_in_the_files(session: DemoResult) -> None:
    lines = lines_of(session.files)
    traces = executions(session.files)
    report = session.report
    assert sum(report["traceTypes"].values()) == len(lines)
    assert report["total"] == report["traceTypes"]["execution"]  # the headline counts actions
    # Every action, the 240 turn actions and their reactions, has an execution trace and a
    # structured trace of its steps.
    assert report["traceTypes"] == {
        "action_aware_structured": session.dispatched,
        "execution": session.dispatched,
    }
    assert len(traces) == session.dispatched == 240 + session.reactions
    assert session.reactions > 0
    assert report["files"] == len(session.files) >= 1
    assert report["corrupt"] == 0 and report["torn"] == 0
    assert sum(row["count"] for row in report["actions"].values()) == len(traces)
    for action, row in report["actions"].items():
        mine = [t for t in traces if t["metadata"]["actionId"] == action]
        assert row["count"] == len(mine)
        for status in ("success", "failed", "error"):
            assert row[status] == sum(t["execution"]["status"] == status for t in mine)  # type: ignore[literal-required]


def test_demo_has_successes_failures_and_errors_of_many_actions(session: DemoResult) -> None:
    report = session.report
    assert set(report["actions"]) == {
        "core:go",
        "core:take",
        "core:talk",
        "core:attack",
        "core:look",
        "magic:cast",
        "core:damage",
        "core:defeated",
    }
    assert sum(row["failed"] for row in report["actions"].values()) > 0
    assert sum(row["error"] for row in report["actions"].values()) > 0
    assert "RulesEngineError" in report["errorTypes"]
    assert session.succeeded == sum(row["success"] for row in report["actions"].values())
    assert session.output_stats["written"] == 2 * session.dispatched
    assert session.output_stats["dropped"] == 0
    # The pipeline logged each failure and error instead of printing it.
    assert session.errors_logged == sum(
        row["failed"] + row["error"] for row in report["actions"].values()
    )


def test_demo_error_traces_carry_the_cause_chain(session: DemoResult) -> None:
    errors = [t for t in executions(session.files) if t["execution"]["status"] == "error"]
    assert errors
    error = errors[0]["error"]
    assert error["type"] == "RulesEngineError"
    assert error["cause"]["type"] == "ZeroDivisionError"


def test_demo_secrets_never_reach_the_files(session: DemoResult) -> None:
    text = "".join(file.read_text(encoding="utf-8") for file in session.files)
    assert "open-sesame" not in text
    assert '"password":"[REDACTED]"' in text
    assert "Bearer [REDACTED]" in text
    talks = [t for t in executions(session.files) if "oracle" in str(t["turnAction"])]
    assert talks and all(
        t["turnAction"]["parameters"]["session"]["authToken"] == "[REDACTED]" for t in talks
    )


def test_reactions_are_linked_to_the_action_that_caused_them(session: DemoResult) -> None:
    traces = executions(session.files)
    by_span = {t["metadata"]["spanId"]: t for t in traces}
    assert len(by_span) == len(traces)
    causes = {"core:damage": "core:attack", "core:defeated": "core:damage"}
    reactions = [t for t in traces if t["metadata"]["actionId"] in causes]
    assert len(reactions) == session.reactions
    assert {t["metadata"]["actionId"] for t in reactions} == set(causes)
    for reaction in reactions:
        meta = reaction["metadata"]
        parent = by_span[meta["parentSpanId"]]
        assert parent["metadata"]["actionId"] == causes[meta["actionId"]]
        assert parent["metadata"]["traceId"] == meta["traceId"]
        assert parent["execution"]["status"] == "success"
        # The reaction ran inside its cause's handler: within its cause's time.
        assert parent["execution"]["startTime"] <= reaction["execution"]["startTime"]
        assert reaction["execution"]["endTime"] <= parent["execution"]["endTime"]
    turns = [t for t in traces if t["metadata"]["actionId"] not in causes]
    assert all(t["metadata"]["parentSpanId"] is None for t in turns)
    assert len({t["metadata"]["traceId"] for t in turns}) == len(turns) == 240


def test_each_action_has_a_structured_trace_with_handler_steps(session: DemoResult) -> None:
    by_span = {t["metadata"]["spanId"]: t for t in executions(session.files)}
    steps = structured(session.files)
    assert len(steps) == len(by_span)
    seen: set[str] = set()
    for trace in steps:
        meta = trace["metadata"]
        action = by_span[meta["parentSpanId"]]
        assert action["metadata"]["traceId"] == meta["traceId"]
        assert action["metadata"]["actionId"] == meta["actionId"]
        assert trace["actorId"] == action["metadata"]["actorId"]
        spans = {span["spanId"]: span for span in trace["spans"]}
        event = next(span for span in spans.values() if span["operation"] == "dispatch_event")
        root = spans[event["parentId"]]
        assert root["operation"] == "dispatch_action" and root["parentId"] is None
        handler = [span for span in spans.values() if span["parentId"] == event["spanId"]]
        seen.update(span["operation"] for span in handler)
        if action["execution"]["status"] == "error":  # the engine crashed before any handler
            assert event["status"] == "error" and not handler
        else:
            assert handler, meta["actionId"]
        if action["execution"]["status"] == "failed":
            assert event["status"] == "failure"
            assert any(
                span["status"] == "failure" and span["attributes"]["refused"] for span in handler
            )
    assert {"resolve_target", "apply_damage", "reduce_health", "respawn", "find_exit"} <= seen


def test_traces_carry_build_turn_and_scene_metadata(session: DemoResult) -> None:
    traces = executions(session.files)
    by_span = {t["metadata"]["spanId"]: t for t in traces}
    for trace in traces:
        custom = trace["customMetadata"]
        assert custom["build"] == BUILD
        assert 1 <= custom["turn"] <= 60 and custom["scene"] in ROOMS
        parent = by_span.get(trace["metadata"]["parentSpanId"])
        if parent is not None:  # a reaction happens in its cause's turn and room
            assert custom["turn"] == parent["customMetadata"]["turn"]
            assert custom["scene"] == parent["customMetadata"]["scene"]
    report = build_report(lines_of(session.files), group_by="scene")
    assert set(report["groups"]) <= ROOMS and len(report["groups"]) >= 2
    assert sum(
        row["count"] for table in report["groups"].values() for row in table.values()
    ) == len(traces)


def test_same_seed_replays_the_same_session(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", seed=5, actors=3, turns=10)
    second = run_demo(tmp_path / "b", seed=5, actors=3, turns=10)
    assert outcomes(first) == outcomes(second)
    assert len(outcomes(first)) == first.dispatched == 30 + first.reactions
    other = run_demo(tmp_path / "c", seed=6, actors=3, turns=10)
    assert outcomes(other) != outcomes(first)


def test_traces_already_in_the_folder_are_not_counted(tmp_path: Path) -> None:
    first = run_demo(tmp_path, seed=1, actors=2, turns=10)
    second = run_demo(tmp_path, seed=1, actors=2, turns=10)
    assert first.report["total"] == second.report["total"] == first.dispatched
    assert len(executions(first.files)) == first.dispatched >= 20
    assert not set(first.files) & set(second.files)


def test_without_a_seed_a_random_one_is_recorded_and_replays(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", actors=2, turns=10)
    again = run_demo(tmp_path / "b", actors=2, turns=10, seed=first.seed)
    assert outcomes(first) == outcomes(again)


def test_many_actors_get_distinct_names(tmp_path: Path) -> None:
    result = run_demo(tmp_path, seed=2, actors=10, turns=2)
    actors = {actor for _, actor, _ in outcomes(result)}
    assert len(actors) == 10


def test_progress_bar_is_drawn_on_the_given_stream(tmp_path: Path) -> None:
    stream = io.StringIO()
    run_demo(tmp_path, seed=3, actors=2, turns=20, progress=stream)
    text = stream.getvalue()
    assert text.startswith("\r[")
    assert text.endswith("[" + "#" * 30 + "] 40/40 actions\n")
    # Redrawn only when the bar grows (30 steps) and at the end, not once per action.
    assert text.count("\r") == 31


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"actors": 0}, "actors"), ({"turns": 0}, "turns"), ({"actors": True}, "actors")],
)
def test_invalid_sizes_name_the_argument(tmp_path: Path, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        run_demo(tmp_path, **kwargs)


@pytest.mark.parametrize("seed", range(8))
def test_every_session_shows_an_error_whatever_the_seed(tmp_path: Path, seed: int) -> None:
    # Short sessions rarely roll the chaos spell by chance: the last actor casts it when none did.
    result = run_demo(tmp_path / str(seed), actors=2, turns=3, seed=seed, progress=io.StringIO())
    statuses = [t["execution"]["status"] for t in executions(result.files)]
    assert len(statuses) >= 6 and statuses.count("error") >= 1
