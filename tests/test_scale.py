"""Analysis at scale: ``report --engine duckdb`` and ``export --to parquet`` agree with the Python
engine on the same traces, damaged lines included; the Parquet tables keep every trace intact."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actiontrace import ActionExecutionTrace, InvalidArgumentError, StructuredTrace
from actiontrace.analysis import duckdb_engine
from actiontrace.analysis.duckdb_engine import (
    EXTRA_MESSAGE,
    MissingExtraError,
    connect,
    report_duckdb,
)
from actiontrace.analysis.parquet_export import export_parquet
from actiontrace.analysis.report import report_path
from actiontrace.analysis.scale_sql import REPORT_QUERIES, SPAN_COLUMNS, TRACE_COLUMNS
from actiontrace.cli import main
from actiontrace.output.lines import MAX_LINE_BYTES
from actiontrace.output.records import MAX_DEPTH, parse_value

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ("core:go", "core:take", "magic:cast")
# Figures that depend on which lines an engine can tell apart (a torn last line is corrupt to
# DuckDB); their sum, damagedLines, must still agree.
DAMAGE_SPLIT = ("corrupt", "torn")


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def json_report(path: Path, engine: str) -> dict[str, Any]:
    code, out, err = run_cli("report", str(path), "--json", "--engine", engine)
    assert code == 0, err
    return dict(json.loads(out))


def three_reports(folder: Path, parquet: Path) -> tuple[dict[str, Any], ...]:
    """The --json report of the Python engine, DuckDB over the files, DuckDB over the export."""
    python = json_report(folder, "python")
    files = json_report(folder, "duckdb")
    code, _, err = run_cli("export", str(folder), "--to", "parquet", "--out", str(parquet))
    assert code == 0, err
    exported = json_report(parquet, "duckdb")
    return python, files, exported


def without(report: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in keys}


class _Recording(dict[str, str]):
    """The report's queries, noting which ones the engine asks for."""

    def __init__(self, queries: dict[str, str]) -> None:
        super().__init__(queries)
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.used.add(key)
        return super().__getitem__(key)


class Ranking:
    """How DuckDB ranks durations in a test: in memory, or by sorting (as under a memory limit
    too small to hold them), and which queries it ran."""

    def __init__(self, mode: str, used: set[str]) -> None:
        self.mode = mode
        self.used = used

    def check(self, report: dict[str, Any]) -> None:
        """The engine ranked the reports since the last check as asked (the in-memory
        operations query is the one for runs without a timed span)."""
        if self.mode == "by sorting":
            assert "weightedPercentiles" in self.used
            assert not self.used & {"percentiles", "wholeWeightPercentiles"}
            timed = any(op["p95"] is not None for op in report["operations"].values())
            assert "operations" not in self.used or not timed
        else:
            assert "rankedOperations" not in self.used
        self.used.clear()  # the next report (or generated run) starts afresh


@pytest.fixture(params=["in memory", "by sorting"])
def ranking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Ranking:
    queries = _Recording(REPORT_QUERIES)
    monkeypatch.setattr(duckdb_engine, "REPORT_QUERIES", queries)
    if request.param == "by sorting":
        monkeypatch.setattr(duckdb_engine, "_HELD_VALUE_BYTES", 1 << 62)  # no value fits
    return Ranking(request.param, queries.used)


# -- building runs -----------------------------------------------------------------------------


def execution_trace(spec: dict[str, Any], parent: ActionExecutionTrace | None) -> Any:
    action = spec["action"]
    trace = ActionExecutionTrace(
        action_id=action,
        actor_id=spec["actor"],
        turn_action={"actionDefinitionId": action, "commandString": f"{action} now"},
        parent=parent,
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"room": "hall", "n": spec["duration"], "tags": ["a", "é"]})
    outcome = spec["outcome"]
    if outcome == "error":
        try:
            try:
                raise KeyError("missing key")
            except KeyError as inner:
                raise ValueError(spec["message"]) from inner
        except ValueError as error:
            trace.capture_error(error)
    elif outcome != "in_progress":
        trace.capture_dispatch_result({"success": outcome == "success"})
    data = trace.to_dict()
    if spec["duration"] is not None and outcome != "in_progress":
        data["execution"]["duration"] = spec["duration"]
    if spec["sampling"] is not None:
        reason, rate = spec["sampling"]
        data["sampling"] = {"reason": reason, "rate": rate}
    if spec["custom"]:
        data["customMetadata"] = {"build": "1.2", "scene": {"id": 3}}
    return trace, data


def structured_trace(operations: list[tuple[str, bool]]) -> dict[str, Any]:
    trace = StructuredTrace()
    for operation, fails in operations:
        with trace.span(operation) as span:
            if fails:
                span.record_error(RuntimeError("step failed"))
    return trace.to_dict()


DAMAGED_LINES = {
    "invalid": b'{"metadata": {"traceType": "execution"',
    "nan": b'{"metadata":{"traceType":"execution","actionId":"core:go"},'
    b'"execution":{"duration":NaN}}',
    "infinity": b'{"metadata":{"traceType":"execution","actorId":"affinity"},'
    b'"execution":{"duration":-Infinity}}',
    "deep": b'{"metadata":{"traceType":"execution"},"eventPayload":'
    + b"[" * 600
    + b"]" * 600
    + b"}",
    # The fewest bytes that nest 513 deep take objects ({"": each) or arrays and objects in turn.
    "deep-objects": b'{"metadata":{"traceType":"execution"},"eventPayload":'
    + b'{"":' * 511
    + b"{}"
    + b"}" * 512,
    "deep-mixed": b'{"metadata":{"traceType":"execution"},"eventPayload":'
    + b'[{"":' * 255
    + b"[{}]"
    + b"}]" * 255
    + b"}",
    "not-object": b"[1, 2, 3]",
    # DuckDB's parser allows a comma before a closing bracket; JSON does not.
    "trailing-comma": b'{"metadata":{"traceType":"execution","actionId":"core:go"},'
    b'"execution":{"duration":4.5},}',
    "trailing-comma-spaced": b'{"metadata":{"traceType":"execution"},"eventPayload":[1, 2 ,\t]}',
    "no-type": b'{"metadata":{"actionId":"core:go"}}',
    "nul": b'{"metadata":{"traceType":"execution"},"x":"a\x00b"}',
    "latin1": b'{"metadata":{"traceType":"execution","actorId":"Zo\xeb"}}',
    "surrogate": b'{"metadata":{"traceType":"execution","actorId":"\\ud800"}}',
    "blank": b"   ",
    "empty": b"",
}

spec_strategy = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTIONS),
        "actor": st.sampled_from(("hero", "mage")),
        "outcome": st.sampled_from(("success", "success", "failed", "error", "in_progress")),
        "duration": st.one_of(
            st.none(),
            st.sampled_from((0.5, 1.0, 2.25)),  # ties
            st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False),
        ),
        "sampling": st.sampled_from((None, None, ("rate", 0.25), ("rate", 0.5), ("error", 0.25))),
        "message": st.text(min_size=0, max_size=260),
        "custom": st.booleans(),
        "linked": st.booleans(),
    }
)

run_strategy = st.fixed_dictionaries(
    {
        "traces": st.lists(spec_strategy, min_size=1, max_size=25),
        "structured": st.lists(
            st.lists(
                st.tuples(st.sampled_from(("load", "save", "roll")), st.booleans()), max_size=3
            ),
            max_size=3,
        ),
        "files": st.integers(min_value=1, max_value=4),
        "kinds": st.lists(st.sampled_from(("jsonl", "gz", "json")), min_size=4, max_size=4),
        "damage": st.lists(st.sampled_from(sorted(DAMAGED_LINES)), max_size=5),
        "torn": st.booleans(),
    }
)


def write_run(folder: Path, run: dict[str, Any]) -> None:
    """Write a generated run as several files of several kinds, damaged lines mixed in."""
    records: list[dict[str, Any]] = []
    parent = None
    for spec in run["traces"]:
        trace, data = execution_trace(spec, parent if spec["linked"] else None)
        parent = trace
        records.append(data)
    records += [structured_trace(operations) for operations in run["structured"]]
    shares: list[list[bytes]] = [[] for _ in range(run["files"])]
    for index, record in enumerate(records):
        text = json.dumps(record, ensure_ascii=index % 2 == 0).encode()
        shares[index % run["files"]].append(text)
    for index, name in enumerate(run["damage"]):
        shares[index % run["files"]].insert(index, DAMAGED_LINES[name])
    folder.mkdir(parents=True, exist_ok=True)
    for index, lines in enumerate(shares):
        kind = run["kinds"][index]
        if kind == "json":
            # A .json file holds one trace or a list of them: valid JSON only.
            # (A value breaking a reading rule damages the whole file: none in a .json file here.)
            items = [json.loads(line) for line in lines if _valid_json(line)]
            (folder / f"m{index}" / "t.json").parent.mkdir(exist_ok=True)
            (folder / f"m{index}" / "t.json").write_text(json.dumps(items), encoding="utf-8")
            continue
        data = b"\n".join(lines) + b"\n"
        if run["torn"] and index == 0:
            data += b'{"metadata": {"traceType": "exec'  # a last line cut short
        path = folder / f"m{index}" / ("t.jsonl.gz" if kind == "gz" else "t.jsonl")
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(gzip.compress(data) if kind == "gz" else data)


def _valid_json(line: bytes) -> bool:
    try:
        parse_value(line)
    except (ValueError, RecursionError):
        return False
    return True


# -- the engines agree ------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(run=run_strategy)
def test_engines_agree_on_generated_runs(
    tmp_path_factory: pytest.TempPathFactory, ranking: Ranking, run: Any
) -> None:
    base = tmp_path_factory.mktemp("run")
    write_run(base / "traces", run)
    python, files, exported = three_reports(base / "traces", base / "parquet")
    ranking.check(files)
    # Every trace figure equal; of the damage, only the corrupt/torn split may differ.
    assert without(files, DAMAGE_SPLIT) == without(python, DAMAGE_SPLIT)
    assert files["damagedLines"] == python["damagedLines"]
    # The export read the traces through the Python read path: its report equals whole.
    assert exported == python


def test_engines_agree_on_the_demo(demo_traces: Path, tmp_path: Path, ranking: Ranking) -> None:
    python, files, exported = three_reports(demo_traces, tmp_path / "parquet")
    ranking.check(files)
    assert python["operations"] and python["errorTypes"] and python["slowest"]
    assert files == python
    assert exported == python


@pytest.mark.parametrize(("rate", "total"), [(0.1, 20 * 10 + 40), (0.3, 67 + 40)])
def test_sampled_run_estimates_agree(
    tmp_path: Path, ranking: Ranking, rate: float, total: int
) -> None:
    """Whole weights (1/0.1) take the expanded query, fractional ones (1/0.3) the window one."""
    folder = tmp_path / "traces"
    run = {
        "traces": [
            {
                "action": ACTIONS[n % 3],
                "actor": "hero",
                "outcome": ("success", "failed", "error")[n % 3],
                "duration": float(n % 17),
                "sampling": ("rate", rate) if n % 3 == 0 else ("failed", rate),
                "message": "boom",
                "custom": False,
                "linked": False,
            }
            for n in range(60)
        ],
        "structured": [],
        "files": 2,
        "kinds": ["jsonl", "gz", "jsonl", "jsonl"],
        "damage": [],
        "torn": False,
    }
    write_run(folder, run)
    python, files, exported = three_reports(folder, tmp_path / "parquet")
    assert python["estimated"] is True and python["kept"] == 60
    assert python["total"] == total
    ranking.check(files)
    assert files == python
    assert exported == python


def test_every_damaged_line_kind_counts_and_no_trace_figure_moves(
    tmp_path: Path, ranking: Ranking
) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    good = [execution_trace(_spec(n), None)[1] for n in range(6)]
    lines = [json.dumps(good[0]).encode(), *DAMAGED_LINES.values()]
    lines += [b"x" * (MAX_LINE_BYTES + 10)]  # longer than a line may be
    lines += [json.dumps(trace).encode() for trace in good[1:]]
    # Not damage: a trace without ids (the slowest), one of another type, odd spans.
    lines += [
        b'{"metadata":{"traceType":"execution","actionId":"core:go"},"execution":{"duration":99}}',
        b'{"metadata":{"traceType":"replay"},"spans":[{"operation":"x","duration":1}]}',
        b'{"metadata":{"traceType":"structured"},"spans":[1,{"operation":"load","duration":2,'
        b'"status":"error"},{"duration":-1,"status":"odd"}]}',
        b'{"metadata":{"traceType":"structured"},"spans":{"not":"a list"}}',
    ]
    # Not damage either: what looks like a trailing comma or NaN inside a string.
    lines += [b'{"metadata":{"traceType":"execution","actorId":"NaN ,] b"},"result":{}}']
    # The Python reader reads such lines for DuckDB: their spans, and the slowest trace's line.
    lines += [
        b'{"metadata":{"traceType":"structured"},"spans":[{"operation":"NaN check","duration":3}]}',
        b'{"metadata":{"traceType":"execution","actionId":"core:go","traceId":"t-nan",'
        b'"actorId":"Infinity"},"execution":{"duration":150}}',
    ]
    (folder / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    python, files, exported = three_reports(folder, tmp_path / "parquet")
    ranking.check(files)
    assert exported == python
    assert python["total"] == 9
    assert python["traceTypes"] == {"execution": 9, "replay": 1, "structured": 3}
    assert python["operations"]["NaN check"]["count"] == 1
    assert python["operations"]["load"]["errors"] == 1 and "?" in python["operations"]
    assert "traceId" not in python["slowest"][1]  # the trace without ids
    # Blank lines are no damage; the overlong line is.
    assert python["damagedLines"] == len(DAMAGED_LINES) - 2 + 1
    assert files == python
    # The slowest traces point at their real lines, after the overlong one DuckDB skipped.
    where = {entry["line"] for entry in files["slowest"]}
    assert where == {1, *range(len(lines) - 11, len(lines) - 6), len(lines) - 6, len(lines)}
    assert files["slowest"][0] == {
        "actionId": "core:go",
        "actorId": "Infinity",
        "duration": 150.0,
        "status": "unknown",
        "file": str(folder / "t.jsonl"),
        "line": len(lines),
        "traceId": "t-nan",
    }


def _spec(n: int) -> dict[str, Any]:
    return {
        "action": ACTIONS[n % 3],
        "actor": "hero",
        "outcome": "success",
        "duration": 1.0 + n,
        "sampling": None,
        "message": "",
        "custom": False,
        "linked": False,
    }


def test_files_duckdb_cannot_read_go_to_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_engine, "_BATCH", 2)  # rows cross over in several batches
    folder = tmp_path / "traces"
    folder.mkdir()
    lines = [json.dumps(execution_trace(_spec(n), None)[1]) for n in range(5)]
    # A glob-like name, and a gzip stream cut short (what came before it still counts).
    (folder / "a[1]*.jsonl").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    packed = gzip.compress(("\n".join(lines[2:]) + "\n").encode())
    (folder / "b.jsonl.gz").write_bytes(packed[: len(packed) - 12])
    # Beside them, files DuckDB reads whole (plain and gzip), and a link leading out.
    nan = '{"metadata":{"traceType":"execution"},"execution":{"duration":NaN}}'
    named = '{"metadata":{"traceType":"execution","actorId":"NaN"},"execution":{"duration":3}}'
    (folder / "c.jsonl").write_text("\n".join([lines[0], nan, named, nan, named]) + "\n")
    (folder / "d.jsonl.gz").write_bytes(gzip.compress((lines[1] + "\n").encode()))
    outside = tmp_path / "outside.jsonl"
    outside.write_text(lines[2] + "\n", encoding="utf-8")
    (folder / "e.jsonl").symlink_to(outside)
    python = json_report(folder, "python")
    files = json_report(folder, "duckdb")
    assert python["torn"] == 1 and python["total"] >= 4 and python["skipped"] == 1
    assert files == python
    with pytest.raises(InvalidArgumentError):
        report_duckdb(folder, slowest=-1)


# -- Parquet ----------------------------------------------------------------------------------


def test_parquet_columns_and_types_are_the_documented_ones(
    demo_traces: Path, tmp_path: Path
) -> None:
    export_parquet(demo_traces, tmp_path)
    with contextlib.closing(duckdb.connect()) as db:
        for table, columns in (("traces", TRACE_COLUMNS), ("spans", SPAN_COLUMNS)):
            described = db.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / table}.parquet')"
            ).fetchall()
            assert [(row[0], row[1]) for row in described] == [
                (name, kind) for name, kind, _ in columns
            ]
    documented = (ROOT / "docs" / "scaling-out.md").read_text(encoding="utf-8")
    for name, kind, _ in (*TRACE_COLUMNS, *SPAN_COLUMNS):
        assert f"| `{name}` | `{kind}` |" in documented


def test_round_trip_keeps_every_trace_span_id_and_json_column(
    demo_traces: Path, tmp_path: Path
) -> None:
    result = export_parquet(demo_traces, tmp_path)
    originals = [
        json.loads(line)
        for file in sorted(demo_traces.glob("*.jsonl"))
        for line in file.read_text(encoding="utf-8").splitlines()
    ]
    executions = [t for t in originals if t["metadata"]["traceType"] == "execution"]
    structured = [t for t in originals if t["metadata"]["traceType"] != "execution"]
    assert result.traces == len(executions) and result.structured == len(structured)
    with contextlib.closing(duckdb.connect()) as db:
        rows = db.execute(
            "SELECT traceId, spanId, parentSpanId, actionId, payload, customMetadata, error, "
            f"startTime, startEpochNs FROM read_parquet('{tmp_path}/traces.parquet') ORDER BY seq"
        ).fetchall()
        spans = db.execute(
            "SELECT traceId, spanId, parentId, operation "
            f"FROM read_parquet('{tmp_path}/spans.parquet') ORDER BY seq, spanIndex"
        ).fetchall()
    assert len(rows) == len(executions)
    for row, trace in zip(rows, executions, strict=True):
        meta = trace["metadata"]
        assert row[:4] == (meta["traceId"], meta["spanId"], meta["parentSpanId"], meta["actionId"])
        assert json.loads(row[4]) == trace["eventPayload"]
        assert (row[5] and json.loads(row[5])) == trace.get("customMetadata")
        assert (row[6] and json.loads(row[6])) == trace["error"]
        epoch = trace["execution"]["startEpochNs"]
        assert row[8] == epoch
        assert int(row[7].timestamp() * 1_000_000) == epoch // 1000
    expected = [
        (t["metadata"]["traceId"], span["spanId"], span["parentId"], span["operation"])
        for t in structured
        for span in t["spans"]
    ]
    assert spans == expected and result.spans == len(expected)


# -- the command line -------------------------------------------------------------------------


def test_duckdb_text_report_and_usage_errors(demo_traces: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli("report", str(demo_traces), "--engine", "duckdb")
    assert code == 0 and "Actions (execution traces)" in out and "p95 (ms)" in out
    code, _, err = run_cli("report", str(demo_traces), "--engine", "duckdb", "--by", "build")
    assert code == 2 and "--engine python" in err
    code, _, err = run_cli(
        "report", str(demo_traces), "--engine", "duckdb", "--memory-limit", "lots"
    )
    assert code == 2 and "memory_limit" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli("report", str(empty), "--engine", "duckdb")
    assert code == 2 and "no traces" in err
    code, _, err = run_cli("export", str(demo_traces), "--to", "parquet")
    assert code == 2 and "--out" in err
    export_parquet(demo_traces, tmp_path / "parquet")
    page = tmp_path / "page.html"
    code, _, err = run_cli(
        "report", str(tmp_path / "parquet"), "--engine", "duckdb", "--html", str(page)
    )
    assert code == 2 and "trace files" in err and not page.exists()
    code, out, _ = run_cli("report", str(demo_traces), "--engine", "duckdb", "--html", str(page))
    assert code == 0 and page.stat().st_size > 0 and "Actions (execution traces)" in out
    code, _, err = run_cli("export", str(empty), "--to", "parquet", "--out", str(tmp_path / "o"))
    assert code == 2 and "no traces" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    code, _, err = run_cli("export", str(demo_traces), "--to", "parquet", "--out", str(blocker))
    assert code == 2 and "a-file" in err


def test_duckdb_giving_up_is_one_line_not_a_traceback(demo_traces: Path, tmp_path: Path) -> None:
    # Far too little memory for DuckDB's own buffers: it gives up, and says so in one line.
    code, _, err = run_cli(
        "report", str(demo_traces), "--engine", "duckdb", "--memory-limit", "1MB"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "DuckDB could not finish" in err
    with pytest.raises(duckdb_engine.EngineError, match="Error"), duckdb_engine.engine_errors():
        raise duckdb.Error("")  # no message: the error's type names it


def test_damage_is_labelled_with_the_engine_that_counted_it(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    trace = json.dumps(execution_trace(_spec(1), None)[1])
    (folder / "t.jsonl").write_text(trace + "\nnot json\n", encoding="utf-8")
    code, out, _ = run_cli("report", str(folder), "--engine", "duckdb")
    assert code == 0 and "counted by DuckDB" in out


def test_memory_is_bounded_by_the_limit_and_spills_to_a_temporary_folder(tmp_path: Path) -> None:
    with contextlib.closing(connect("256MB", tmp_path)) as db:
        limit = db.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        spill = db.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert limit.replace(" ", "") in ("244.1MiB", "256.0MB", "256MB")
    assert spill == str(tmp_path)


# Six million traces and as many spans, each relation's durations a few distinct cycles.
_MANY = 6_000_000
_MANY_TRACES = f"""
CREATE TEMP TABLE traces AS SELECT range AS seq, 'f.jsonl' AS file, range + 1 AS line,
    NULL::VARCHAR AS traceId, 'a' || (range % 5) AS actionId, 'hero' AS actorId,
    'success' AS status, (range * 7919 % 100003) / 1000.0 AS duration,
    NULL::VARCHAR AS errorType, NULL::VARCHAR AS errorMessage,
    NULL::VARCHAR AS samplingReason, NULL::DOUBLE AS samplingRate
FROM range({_MANY})
"""
_MANY_SPANS = f"""
CREATE TEMP TABLE spans AS SELECT range // 4 AS seq, 's.jsonl' AS file, range // 4 + 1 AS line,
    'structured' AS traceType, NULL::VARCHAR AS traceId, range % 4 AS spanIndex,
    'op' || (range % 3) AS operation,
    CASE WHEN range % 10 <> 0 THEN (range * 104729 % 10007) / 100.0 END AS duration,
    'success' AS status
FROM range({_MANY})
"""


def test_more_durations_than_the_memory_limit_holds_are_ranked_by_sorting(tmp_path: Path) -> None:
    """DuckDB's PERCENTILE_DISC holds every duration in memory: under a limit too small for them
    it fails, and the report sorts instead (spilling to disk), with the same figures."""
    with contextlib.closing(connect("64MB", tmp_path / "small")) as small:
        small.execute("SET threads = 2")  # as measured: each thread holds memory of its own
        small.execute(_MANY_TRACES)
        small.execute(_MANY_SPANS)
        failed = []
        for name in ("percentiles", "operations"):
            try:
                small.execute(REPORT_QUERIES[name]).fetchall()
            except duckdb.OutOfMemoryException:
                failed.append(name)
        assert failed, "ranking in memory fits: this test no longer shows what it is for"
        report = duckdb_engine._report(small, 10)
    with contextlib.closing(connect("4GB", tmp_path / "large")) as large:
        large.execute(_MANY_TRACES)
        large.execute(_MANY_SPANS)
        expected = {
            action: (p50, p95, p99)
            for action, (p50, p95, p99) in large.execute(REPORT_QUERIES["percentiles"]).fetchall()
        }
        operations = large.execute(REPORT_QUERIES["operations"]).fetchall()
    assert report["total"] == _MANY and len(report["actions"]) == 5
    for action, stats in report["actions"].items():
        assert (stats["p50"], stats["p95"], stats["p99"]) == expected[action]
    assert {name: stats["p95"] for name, stats in report["operations"].items()} == {
        name: p95 for name, _, _, p95, _, _ in operations
    }
    assert {name: stats["count"] for name, stats in report["operations"].items()} == {
        name: count for name, count, _, _, _, _ in operations
    }


@pytest.mark.parametrize(
    "case",
    [
        (False, False, 1_000, 1_000, 10_000, "percentiles"),
        (False, False, 20_000, 20_000, 10_000, "weightedPercentiles"),  # more than memory holds
        (True, False, 1_000, 4_000, 10_000, "wholeWeightPercentiles"),
        (True, False, 1_000, 8_000, 10_000, "wholeWeightPercentiles"),
        (True, False, 1_000, 9_000, 100_000, "weightedPercentiles"),  # 9 copies a trace
        (True, False, 1_000, 1_000_000, 10**9, "weightedPercentiles"),  # rate 0.001
        (True, False, 5_000, 20_000, 10_000, "weightedPercentiles"),  # copies past memory
        (True, True, 1_000, 3_333, 10_000, "weightedPercentiles"),  # 1/0.3 is not whole
    ],
)
def test_the_percentile_query_is_the_fastest_the_memory_holds(
    case: tuple[bool, bool, int, int, int, str],
) -> None:
    """(sampled, fractional weights, traces kept, their total weight, values memory holds)."""
    sampled, fractional, kept, total, capacity, query = case
    assert duckdb_engine._percentiles_query(sampled, fractional, kept, total, capacity) == query


def test_the_values_ranked_in_memory_follow_the_memory_limit(tmp_path: Path) -> None:
    with contextlib.closing(connect("256MB", tmp_path)) as db:
        assert duckdb_engine._held_values(db) == int(244.1 * (1 << 20)) // 32

    class Odd:  # a memory limit spelled in a way the engine does not know: it sorts
        def execute(self, sql: str) -> Any:
            return self

        def fetchone(self) -> tuple[str]:
            return ("a lot",)

    assert duckdb_engine._held_values(Odd()) == 0


@pytest.mark.parametrize(
    ("limit", "threads"), [("64MB", 1), ("100MB", 1), ("128MB", 2), ("1GB", 16), ("4GB", 66)]
)
def test_a_small_memory_limit_runs_fewer_threads(tmp_path: Path, limit: str, threads: int) -> None:
    """Each thread needs its share of the limit (60 MB): under a small one, fewer threads."""
    with contextlib.closing(duckdb.connect()) as plain:
        default = int(plain.execute("SELECT current_setting('threads')").fetchone()[0])
    with contextlib.closing(connect(limit, tmp_path)) as db:
        used = int(db.execute("SELECT current_setting('threads')").fetchone()[0])
    assert used == min(default, threads)


def test_an_export_larger_than_a_small_memory_limit_reports(tmp_path: Path) -> None:
    """Four million exported traces and spans under 64 MB: with the threads DuckDB would run
    (two, here) the sorting ran out of memory; with the one thread the limit allows it finishes."""
    count = 4_000_000
    values = {"seq": "range", "file": "'f.jsonl'", "line": "range + 1"}
    values |= {"actionId": "'a' || (range % 20)", "status": "'success'"}
    values["duration"] = "(range * 7919 % 100003) / 1000.0"
    columns = ", ".join(
        f"CAST({values.get(name, 'NULL')} AS {kind}) AS {name}" for name, kind, _ in TRACE_COLUMNS
    )
    span_values = {"seq": "range // 4", "file": "'s.jsonl'", "line": "range // 4 + 1"}
    span_values |= {"traceType": "'structured'", "spanIndex": "range % 4"}
    span_values |= {"operation": "'op' || (range % 9)", "status": "'success'"}
    span_values["duration"] = "(range * 104729 % 10007) / 100.0"
    span_columns = ", ".join(
        f"CAST({span_values.get(name, 'NULL')} AS {kind}) AS {name}"
        for name, kind, _ in SPAN_COLUMNS
    )
    with contextlib.closing(duckdb.connect()) as db:
        for name, select in (("traces", columns), ("spans", span_columns)):
            target = str(tmp_path / f"{name}.parquet")
            db.execute(f"COPY (SELECT {select} FROM range({count})) TO '{target}' (FORMAT parquet)")
    report = report_duckdb(tmp_path, memory_limit="64MB")
    assert report["total"] == count and len(report["actions"]) == 20
    assert report["actions"]["a0"]["p95"] == pytest.approx(95.0, abs=0.1)
    assert report["operations"]["op0"]["count"] == count // 9 + 1


BLOCKED = (
    "import sys; sys.modules['duckdb'] = None; "
    "from actiontrace.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize(
    "argv",
    [
        ("report", "{path}", "--engine", "duckdb"),
        ("export", "{path}", "--to", "parquet", "--out", "{out}"),
    ],
)
def test_without_the_extra_one_line_names_it(
    demo_traces: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    args = [part.format(path=demo_traces, out=tmp_path / "out") for part in argv]
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "actiontrace[scale]" in lines[0], done.stderr
    assert "actiontrace[scale]" in EXTRA_MESSAGE and issubclass(MissingExtraError, ImportError)


def test_the_docs_quote_the_sql_the_engine_runs() -> None:
    documented = " ".join((ROOT / "docs" / "scaling-out.md").read_text(encoding="utf-8").split())
    for name, sql in REPORT_QUERIES.items():
        text = sql.format(limit=10) if name == "slowest" else sql
        assert " ".join(text.split()) in documented, name


def test_python_engine_report_path_is_what_the_cli_prints(demo_traces: Path) -> None:
    assert json_report(demo_traces, "python") == json.loads(json.dumps(report_path(demo_traces)))
    assert re.fullmatch(r"\d+", str(report_duckdb(demo_traces)["total"]))


def test_line_numbers_hold_when_duckdb_reads_files_in_parallel(tmp_path: Path) -> None:
    """DuckDB reads the files on several threads; every slowest trace keeps its file and line."""
    folder = tmp_path / "traces"
    folder.mkdir()
    _, base = execution_trace(_spec(0), None)
    for file in range(3):
        lines = []
        for n in range(4000):
            base["metadata"]["traceId"] = f"{file:04x}{n:028x}"
            base["execution"]["duration"] = ((n * 7919 + file * 104729) % 100_003) / 7.0
            lines.append(json.dumps(base))
            if n % 997 == 0:
                lines.append("")  # blank lines count as lines too
        (folder / f"part-{file}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = report_path(folder, slowest=300)
    files = report_duckdb(folder, slowest=300)
    assert files["slowest"] == python["slowest"]
    assert {entry["file"] for entry in files["slowest"]} == {
        str(folder / f"part-{file}.jsonl") for file in range(3)
    }


def test_small_files_are_read_together_and_keep_their_own_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files are read in one scan (planning a scan a file cost 3 ms each); each keeps its
    own line numbers, past lines DuckDB refuses, blank lines and lines the Python reader reads."""
    folder = tmp_path / "traces"
    folder.mkdir()
    _, base = execution_trace(_spec(0), None)
    for file in range(30):
        lines = []
        for n in range(40):
            base["metadata"]["traceId"] = f"{file:04x}{n:028x}"
            base["execution"]["duration"] = ((n * 7919 + file * 104729) % 100_003) / 7.0
            lines.append(json.dumps(base).encode())
            if (n + file) % 13 == 0:
                lines.append(b"\xff not UTF-8")  # DuckDB refuses the line: it gives no row
            if (n + file) % 11 == 0:
                lines.append(b"")
        # among the slowest, a line DuckDB hands to the Python reader (NaN in a string)
        slow = json.loads(json.dumps(base))
        slow["metadata"].update(actorId="NaN ,] the tester", traceId=f"{file:04x}{'f' * 28}")
        slow["execution"]["duration"] = 20_000.0 + file
        lines.insert(25, json.dumps(slow).encode())
        (folder / f"part-{file:02d}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    planned: list[list[list[tuple[int, str]]]] = []
    sources = duckdb_engine._sources
    monkeypatch.setattr(
        duckdb_engine, "_sources", lambda files: planned.append(sources(files)) or planned[-1]
    )
    python = json.loads(json.dumps(report_path(folder, slowest=120)))
    files = json.loads(json.dumps(report_duckdb(folder, slowest=120)))
    assert [len(source) for source in planned[0]] == [30]  # one scan
    assert files["slowest"] == python["slowest"]
    assert {entry["actorId"] for entry in files["slowest"][:30]} == {"NaN ,] the tester"}
    assert without(files, DAMAGE_SPLIT) == without(python, DAMAGE_SPLIT)


def test_small_files_go_together_and_large_ones_alone_in_reading_order(tmp_path: Path) -> None:
    # sizes on disk; a gzip file counts for what it holds, about 8 times as much
    sizes = [(10, ""), (5 << 20, ""), (20, ""), (30, ".gz"), (5 << 20, ""), (1 << 20, ".gz")]
    files = []
    for index, (size, suffix) in enumerate(sizes):
        path = tmp_path / f"{index}.jsonl{suffix}"
        with path.open("wb") as out:
            out.truncate(size)
        files.append((index, str(path)))
    files.append((6, str(tmp_path / "gone.jsonl")))  # DuckDB says what is wrong with it
    files.append((7, str(tmp_path / "0.jsonl")))
    grouped = duckdb_engine._sources(files)
    assert [[index for index, _ in source] for source in grouped] == [
        [0, 2, 3, 7],
        [1],
        [4],
        [5],
        [6],
    ]


def test_lines_of_the_longest_allowed_length_read_whole(tmp_path: Path) -> None:
    """DuckDB's read buffer holds one line of the longest length: such lines, wherever they fall
    across buffers, are traces like any other; one byte longer is damage."""
    folder = tmp_path / "traces"
    folder.mkdir()

    def line(n: int, extra: int | None = None) -> str:
        """Trace n as one line; with ``extra``, padded to MAX_LINE_BYTES + extra bytes."""
        _, data = execution_trace(_spec(n), None)
        data["metadata"]["traceId"] = f"{n:032x}"
        data["execution"]["duration"] = float(n)
        data["eventPayload"] = {"pad": ""}
        if extra is not None:
            data["eventPayload"]["pad"] = "x" * (MAX_LINE_BYTES + extra - len(json.dumps(data)))
        return json.dumps(data)

    lines = [line(n) for n in range(5)] + [line(100, 0)] + [line(n) for n in range(5, 9)]
    lines += [line(101, 0), line(102, 1)] + [line(n) for n in range(9, 12)]
    assert [len(text) for text in lines[5::5]] == [MAX_LINE_BYTES] * 2
    (folder / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = report_path(folder)
    files = report_duckdb(folder, memory_limit="256MB")
    assert python["total"] == 14 and python["damagedLines"] == 1
    assert files == python
    assert [(entry["line"], entry["duration"]) for entry in files["slowest"][:2]] == [
        (11, 101.0),
        (6, 100.0),
    ]


def _ids_run(folder: Path) -> None:
    """Traces with distinct ids over a plain and a gzip file; blank and overlong lines before
    the slow ones shift the line numbers DuckDB counts."""
    folder.mkdir()
    _, base = execution_trace(_spec(0), None)
    for file, suffix in enumerate((".jsonl", ".jsonl.gz")):
        lines = [b"", b"x" * (MAX_LINE_BYTES + 1)]
        for n in range(300):
            base["metadata"]["traceId"] = f"{file:04x}{n:028x}"
            base["metadata"]["actorId"] = f"actor-{file}-{n}"
            base["execution"]["duration"] = float((n * 37 + file * 11) % 301)
            lines.append(json.dumps(base).encode())
        # The slowest of all: an actor id that is no string, and no trace id.
        odd = {**base, "metadata": {**base["metadata"], "actorId": 7}}
        del odd["metadata"]["traceId"]
        odd["execution"] = {**base["execution"], "duration": 900.0 + file}
        lines.append(json.dumps(odd).encode())
        data = b"\n".join(lines) + b"\n"
        (folder / f"part-{file}{suffix}").write_bytes(
            gzip.compress(data) if suffix.endswith("gz") else data
        )


def test_the_scan_keeps_the_ids_of_every_slowest_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are read only on lines at or above a bar drawn from a sample, and that bar never
    leaves out a trace the report lists: no line is read a second time for its ids."""
    _ids_run(tmp_path / "traces")

    def no_second_read(*args: Any) -> Any:
        raise AssertionError("the scan should have kept these ids")

    monkeypatch.setattr(duckdb_engine, "_ids", no_second_read)
    for slowest in (1, 10, 400):
        python = report_path(tmp_path / "traces", slowest=slowest)
        files = report_duckdb(tmp_path / "traces", slowest=slowest)
        assert without(files, DAMAGE_SPLIT) == without(python, DAMAGE_SPLIT)
        assert files["slowest"][0]["actorId"] == "?" and "traceId" not in files["slowest"][0]
        assert all(entry["traceId"] and entry["actorId"] != "?" for entry in files["slowest"][2:])


def test_ids_the_scan_left_out_are_read_again_from_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ids_run(tmp_path / "traces")
    python = report_path(tmp_path / "traces", slowest=25)
    # A bar above every duration: the scan keeps no ids, each listed trace's line is read again.
    monkeypatch.setattr(duckdb_engine, "_ids_from", lambda *args: float("inf"))
    files = report_duckdb(tmp_path / "traces", slowest=25)
    assert without(files, DAMAGE_SPLIT) == without(python, DAMAGE_SPLIT)
    # Each listed line comes after the blank and the overlong line DuckDB skipped.
    assert all(entry["line"] > 2 for entry in files["slowest"])
    assert [entry["actorId"] for entry in files["slowest"][:2]] == ["?", "?"]
    assert all(entry["traceId"] for entry in files["slowest"][2:])


def test_the_ids_bar_is_the_sample_s_slowest_duration(tmp_path: Path) -> None:
    file = tmp_path / "t.jsonl"
    durations = [5.0, "7", 1.0, None, 9.0, 3.0]  # a text is no duration
    lines = [json.dumps({"execution": {"duration": value}}) for value in durations]
    file.write_text("\n".join([*lines, "not json"]) + "\n", encoding="utf-8")
    connection = connect()
    try:
        assert duckdb_engine._ids_from(connection, [str(file)], 1) == 9.0
        assert duckdb_engine._ids_from(connection, [str(file)], 3) == 3.0
        assert duckdb_engine._ids_from(connection, [str(file)], 5) == -1.0  # fewer: every line
        assert duckdb_engine._ids_from(connection, [str(file)], 0) == float("inf")  # none listed
        # small files: the sample reads on into the next ones
        more = tmp_path / "u.jsonl"
        more.write_text(json.dumps({"execution": {"duration": 8.0}}) + "\n", encoding="utf-8")
        assert duckdb_engine._ids_from(connection, [str(file), str(more)], 2) == 8.0
        assert duckdb_engine._ids_from(connection, [str(file), str(more)], 5) == 1.0
    finally:
        connection.close()


def _nested(shape: bytes, depth: int) -> bytes:
    """The shortest value nesting ``depth`` deep, taking its levels from ``shape`` in turn."""
    opening = {ord("["): b"[", ord("{"): b'{"":'}
    levels = [shape[level % len(shape)] for level in range(depth)]
    inner = b"[]" if levels[-1] == ord("[") else b"{}"
    closing = b"".join(b"]" if level == ord("[") else b"}" for level in reversed(levels[:-1]))
    return b"".join(opening[level] for level in levels[:-1]) + inner + closing


@pytest.mark.parametrize("shape", [b"[", b"{", b"[{", b"{[", b"[[{"])
def test_nesting_as_deep_as_allowed_is_a_trace_and_one_deeper_is_damage(
    tmp_path: Path, shape: bytes
) -> None:
    """DuckDB counts brackets only on lines long enough to nest too deep: the shortest lines that
    nest one level too deep, of every shape, are caught, and those just deep enough are not."""
    folder = tmp_path / "traces"
    folder.mkdir()
    lines = []
    for depth in (MAX_DEPTH - 1, MAX_DEPTH):  # the line's own object is one level more
        payload = _nested(shape, depth)
        assert parse_value(payload) is not None
        lines.append(b'{"metadata":{"traceType":"execution"},"eventPayload":' + payload + b"}")
    (folder / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    python = report_path(folder)
    assert python["total"] == 1 and python["damagedLines"] == 1
    assert json.loads(json.dumps(report_duckdb(folder))) == json.loads(json.dumps(python))


def test_values_spelled_with_escapes_read_as_the_python_reader_reads_them(tmp_path: Path) -> None:
    """A status, sampling reason or trace type written with escapes is the same value: DuckDB's
    quick comparison of the plain spelling must not miss it."""
    folder = tmp_path / "traces"
    folder.mkdir()
    lines = [
        r'{"metadata":{"traceType":"exec\u0075tion","actionId":"core:\u0067o","actorId":"a"},'
        r'"execution":{"status":"succ\u0065ss","duration":2.5},'
        r'"sampling":{"reason":"r\u0061te","rate":0.5}}',
        r'{"metadata":{"traceType":"execution","actionId":"core:go"},'
        r'"execution":{"status":"f\u0061iled","duration":1.5},"sampling":{"reason":"rate","rate":1}}',
        r'{"metadata":{"traceType":"execution","actionId":"core:go"},'
        r'"execution":{"status":"\u0075nknown","duration":0.5},"result":{"success":0}}',
        r'{"metadata":{"traceType":"str\u0075ctured"},"spans":[{"operation":"a\u0062","duration":1}]}',
    ]
    (folder / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = report_path(folder)
    assert python["actions"]["core:go"]["success"] == 2  # weighted: 1 / 0.5
    assert python["actions"]["core:go"]["failed"] == 2
    assert python["operations"]["ab"]["count"] == 1
    assert json.loads(json.dumps(report_duckdb(folder))) == json.loads(json.dumps(python))


@pytest.mark.parametrize("cut", [b"", b"not json\n" * 400])
def test_a_file_changed_before_its_ids_are_read_again_costs_the_ids_not_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: bytes
) -> None:
    """A running game may rotate or rewrite a file between the scan and the second read."""
    _ids_run(tmp_path / "traces")
    monkeypatch.setattr(duckdb_engine, "_ids_from", lambda *args: float("inf"))
    second_read = duckdb_engine._ids

    def change_then_read(connection: Any, wanted: list[tuple[str, int]]) -> Any:
        for file, _ in wanted:
            Path(file).write_bytes(cut)
        return second_read(connection, wanted)

    monkeypatch.setattr(duckdb_engine, "_ids", change_then_read)
    files = report_duckdb(tmp_path / "traces", slowest=3)
    assert [entry["duration"] for entry in files["slowest"]] == [901.0, 900.0, 300.0]
    assert [entry["actorId"] for entry in files["slowest"]] == ["?"] * 3
    assert all("traceId" not in entry for entry in files["slowest"])
