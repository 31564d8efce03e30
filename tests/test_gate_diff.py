"""``actiontrace check`` and ``actiontrace diff`` end to end through the command line."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionTraceOutputService, TailSampler
from actiontrace.cli import main


def _trace(action: str, duration: float, status: str = "success", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"actionId": action, "actorId": "hero", "traceType": "execution"},
        "execution": {"duration": duration, "status": status},
        **extra,
    }


def _write(folder: Path, traces: Iterable[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "run.jsonl", "w", encoding="utf-8") as handle:
        for trace in traces:
            handle.write(json.dumps(trace) + "\n")
    return folder


def _run(
    folder: Path,
    seed: int,
    *,
    n: int = 400,
    slower: dict[str, float] | None = None,
    actions: Iterable[str] = ("core:go", "core:look", "core:take", "magic:cast", "core:talk"),
) -> Path:
    """A synthetic run: per action, log-normal durations around its own median."""
    rng = random.Random(seed)
    traces = []
    for index, action in enumerate(actions):
        factor = (slower or {}).get(action, 1.0)
        for _ in range(n):
            duration = factor * (index + 1) * rng.lognormvariate(0, 0.4)
            status = "error" if rng.random() < 0.01 else "success"
            traces.append(_trace(action, duration, status))
    return _write(folder, traces)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- check ---------------------------------------------------------------------------------------


def test_check_passes_when_every_action_is_within_its_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "run", 1)
    code, out, err = _cli(capsys, "check", str(run), "--max-p95", "100", "--max-error-rate", "0.1")
    assert code == 0, out + err
    assert "check: passed: 5 gated actions within limits" in out
    assert "FAIL" not in out


def test_check_fails_with_one_line_per_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = [_trace("core:go", float(ms)) for ms in range(1, 101)]  # p95 95, p99 99
    traces += [_trace("core:hit", 1.0, "error")] * 5 + [_trace("core:hit", 1.0)] * 15
    traces += [_trace("core:hit", 1.0, "failed")] * 80  # ordinary outcomes: no error rate
    run = _write(tmp_path / "run", traces)
    code, out, _ = _cli(
        capsys,
        "check",
        str(run),
        "--max-p95",
        "90",
        "--max-p99",
        "98.5",
        "--max-error-rate",
        "0.04",
    )
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == [
        "FAIL core:go: p95 95.000 ms exceeds the limit of 90.000 ms",
        "FAIL core:go: p99 99.000 ms exceeds the limit of 98.500 ms",
        "FAIL core:hit: error rate 0.0500 exceeds the limit of 0.0400",
    ]
    assert "check: FAILED: 3 violations in 2 actions" in out


def test_check_action_limits_apply_first_match_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = [_trace("core:slow", 300.0)] * 30 + [_trace("core:fast", 30.0)] * 30
    traces += [_trace("magic:cast", 60.0)] * 30
    run = _write(tmp_path / "run", traces)
    code, out, _ = _cli(
        capsys,
        "check",
        str(run),
        "--max-p95",
        "50",
        "--action",
        "core:slow=500",
        "--action",
        "core:*=10",
    )
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == [
        "FAIL core:fast: p95 30.000 ms exceeds the limit of 10.000 ms",
        "FAIL magic:cast: p95 60.000 ms exceeds the limit of 50.000 ms",
    ]


def test_check_reports_but_never_fails_actions_below_min_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = [_trace("core:rare", 9999.0, "error")] * 19 + [_trace("core:go", 1.0)] * 20
    run = _write(tmp_path / "run", traces)
    code, out, _ = _cli(capsys, "check", str(run), "--max-p95", "10", "--max-error-rate", "0")
    assert code == 0
    assert "NOTE core:rare: 19 traces, fewer than --min-count 20: reported, not gated" in out
    code, out, _ = _cli(capsys, "check", str(run), "--max-p95", "10", "--min-count", "19")
    assert code == 1 and "FAIL core:rare: p95" in out


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path / "run", [_trace("core:go", 5.0)] * 25)
    code, out, _ = _cli(capsys, "check", str(run), "--max-p95", "4", "--json")
    assert code == 1
    document = json.loads(out)
    assert document["passed"] is False and document["estimated"] is False
    assert document["violations"] == [
        {"action": "core:go", "figure": "p95", "value": 5.0, "limit": 4.0}
    ]
    row = document["actions"]["core:go"]
    assert row["count"] == 25 and row["gated"] is True and row["p95Limit"] == 4.0


def test_check_holds_a_sampled_run_to_its_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Kept at rate 0.1, 10 fast traces stand for 100; 10 slow errors were kept whole.
    fast = _trace("core:go", 1.0, sampling={"reason": "rate", "rate": 0.1})
    slow = _trace("core:go", 50.0, "error", sampling={"reason": "error", "rate": 0.1})
    run = _write(tmp_path / "run", [fast] * 10 + [slow] * 10)
    code, out, _ = _cli(
        capsys, "check", str(run), "--max-p95", "10", "--max-error-rate", "0.5", "--json"
    )
    document = json.loads(out)
    row = document["actions"]["core:go"]
    assert document["estimated"] is True
    assert row["estimatedCount"] == 110
    assert row["errorRate"] == pytest.approx(10 / 110)
    assert row["p95"] == 50.0  # 10 of 110 are slow: the top 5 % is slow
    assert code == 1  # p95 over the limit; the error rate (9 %) is within its limit
    assert [v["figure"] for v in document["violations"]] == ["p95"]


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "{missing}"],
        ["check", "{empty}"],
        ["check", "{run}", "--action", "no-equals-sign"],
        ["check", "{run}", "--action", "core:go=fast"],
        ["check", "{run}", "--max-error-rate", "2"],
        ["check", "{run}", "--max-p95", "-1"],
        ["check", "{run}", "--min-count", "many"],
        ["diff", "{run}", "{missing}"],
        ["diff", "{empty}", "{run}"],
        ["diff", "{run}", "{run}", "--json", "--markdown"],
        ["diff", "{run}", "{run}", "--fail-on", "lots"],
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    run = _write(tmp_path / "run", [_trace("core:go", 1.0)])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.jsonl").write_text("not json\n")
    paths = {"run": str(run), "empty": str(empty), "missing": str(tmp_path / "nope")}
    try:
        code = main([arg.format(**paths) for arg in argv])
    except SystemExit as exit:  # argparse's own usage errors
        code = int(exit.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(("actiontrace: error:", "actiontrace "))
    if "{empty}" in argv:
        assert "no execution traces found" in err and "1 damaged" in err


# -- diff ----------------------------------------------------------------------------------------


def test_diff_of_two_runs_of_one_distribution_reports_no_significant_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, new = _run(tmp_path / "base", 1), _run(tmp_path / "new", 2)
    code, out, _ = _cli(capsys, "diff", str(base), str(new), "--json", "--fail-on", "5")
    assert code == 0
    document = json.loads(out)
    assert len(document["actions"]) == 5
    for row in document["actions"].values():
        assert row["significant"] is False
        assert row["pValue"] is not None and row["adjustedP"] >= row["pValue"]
        assert row["base"]["count"] == row["new"]["count"] == 400
    assert document["regressions"] == [] and document["sampled"] is False


def test_diff_reports_a_clear_50_percent_slowdown_and_fails_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _run(tmp_path / "base", 1)
    new = _run(tmp_path / "new", 2, slower={"magic:cast": 1.5})
    code, out, err = _cli(capsys, "diff", str(base), str(new), "--fail-on", "20%")
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("magic:cast"))
    assert line.endswith("yes, slower")
    others = [line for line in out.splitlines() if line.startswith("core:")]
    assert len(others) == 4 and all(line.endswith(" no") for line in others)
    assert "significantly slower at p50 by more than 20%: magic:cast" in err
    document = json.loads(_cli(capsys, "diff", str(base), str(new), "--json")[1])
    row = document["actions"]["magic:cast"]
    assert row["significant"] and row["direction"] == "slower"
    assert 35 < row["p50Change"] < 65
    # A threshold above the slowdown: significant, but not failing the build.
    assert _cli(capsys, "diff", str(base), str(new), "--fail-on", "80")[0] == 0
    # The same slowdown the other way round is significant too, and faster.
    back = json.loads(_cli(capsys, "diff", str(new), str(base), "--json")[1])
    assert back["actions"]["magic:cast"]["direction"] == "faster"
    assert _cli(capsys, "diff", str(new), str(base), "--fail-on", "0")[0] == 0


def test_diff_markdown_is_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _run(tmp_path / "base", 1, n=50, actions=("core:go", "odd|name"))
    new = _run(tmp_path / "new", 2, n=50, actions=("core:go", "only:new"))
    code, out, _ = _cli(capsys, "diff", str(base), str(new), "--markdown")
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0] == (
        "| action | count | p50 (ms) | Δ p50 | p95 (ms) | Δ p95 | error rate | significant |"
    )
    assert table[1].replace(" ", "") == "|---|---:|---:|---:|---:|---:|---:|---|"
    assert len(table) == 2 + 3
    # Every row has the header's eight cells: the pipe in a name is escaped.
    for row in table:
        assert len(row.replace("\\|", "").strip("|").split("|")) == 8
    only_new = next(row for row in table if "only:new" in row)
    assert "0 → 50" in only_new and only_new.endswith("not compared |")
    assert any("odd\\|name" in row for row in table)


def test_diff_says_sampled_runs_are_compared_as_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _run(tmp_path / "base", 1, n=30)
    service = ActionTraceOutputService(tmp_path / "new")
    with TailSampler(service, rate=1.0) as sampler:

        class Kept:
            trace_id = "ab" * 16

            def to_dict(self) -> dict[str, Any]:
                return _trace("core:go", 1.0)

        sampler.write_trace(Kept())
    with open(base / "run.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{torn\n")
    code, out, _ = _cli(capsys, "diff", str(base), str(tmp_path / "new"))
    assert code == 0
    assert "Sampled traces are compared as kept" in out
    assert "Damaged lines skipped: 1 in the base run, 0 in the new." in out
    code, out, _ = _cli(capsys, "check", str(base))
    assert code == 0 and "1 damaged lines skipped" in out.splitlines()[0]


def test_load_run_bounds_the_durations_it_keeps(tmp_path: Path) -> None:
    from actiontrace.analysis.runs import load_run

    traces = [_trace("core:go", float(ms)) for ms in range(1, 1001)]
    traces.append({"metadata": {"actionId": "core:go", "traceType": "execution"}})  # no duration
    traces.append({"metadata": {"actionId": "core:go", "traceType": "structured"}, "spans": []})
    run = load_run(_write(tmp_path / "run", traces), max_samples=100)
    action = run.actions["core:go"]
    assert action.count == 1001 and run.traces == 1001
    assert len(action.durations) == 100 and action.seen == 1000
    assert set(action.durations) <= {float(ms) for ms in range(1, 1001)}
    assert 300 < (action.percentile(50) or 0) < 700


def test_an_unreadable_run_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from actiontrace.analysis import runs

    def refuse(path: str, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(runs, "load_run", refuse)
    run = _write(tmp_path / "run", [_trace("core:go", 1.0)])
    assert main(["check", str(run)]) == 2
    assert "cannot read" in capsys.readouterr().err
