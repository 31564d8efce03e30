"""The report of a sampled run estimates the whole run, and says so."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionTraceOutputService, TailSampler
from actiontrace.analysis.report import build_report, render_report, report_path
from actiontrace.analysis.stats import nearest_rank
from actiontrace.cli import main

ACTIONS = {"core:go": 1.0, "core:look": 0.5, "core:attack": 3.0, "magic:cast": 12.0}


class Synthetic:
    """A finished trace with a chosen duration and status, as the sampler and writer see one."""

    __slots__ = ("action_id", "duration", "has_error", "status", "trace_id")

    def __init__(self, rng: random.Random, action: str, duration: float, status: str) -> None:
        self.trace_id = f"{rng.getrandbits(128) or 1:032x}"
        self.action_id = action
        self.duration = duration
        self.status = status
        self.has_error = status == "error"

    def to_dict(self) -> dict[str, Any]:
        error = {"type": "SpellFizzled", "message": "no mana"} if self.has_error else None
        return {
            "metadata": {
                "actionId": self.action_id,
                "actorId": "hero",
                "traceType": "execution",
                "traceId": self.trace_id,
            },
            "execution": {"duration": self.duration, "status": self.status},
            "error": error,
        }


def _synthetic_run(n: int, seed: int = 1) -> list[Synthetic]:
    rng = random.Random(seed)
    names = list(ACTIONS)
    traces = []
    for _ in range(n):
        action = rng.choice(names)
        duration = ACTIONS[action] * rng.lognormvariate(0, 0.6)
        roll = rng.random()
        status = "error" if roll < 0.02 else "failed" if roll < 0.12 else "success"
        traces.append(Synthetic(rng, action, duration, status))
    return traces


def _truth(traces: list[Synthetic]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for action in ACTIONS:
        mine = [t for t in traces if t.action_id == action]
        ordered = sorted(t.duration for t in mine)
        rows[action] = {
            "count": len(mine),
            "success": sum(t.status == "success" for t in mine),
            "failed": sum(t.status == "failed" for t in mine),
            "error": sum(t.status == "error" for t in mine),
            "p50": nearest_rank(ordered, 50),
            "p95": nearest_rank(ordered, 95),
            "p99": nearest_rank(ordered, 99),
            "max": ordered[-1],
        }
    return rows


def test_a_run_of_100000_sampled_at_10_percent_is_estimated_within_5_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = _synthetic_run(100_000)
    service = ActionTraceOutputService(tmp_path, max_queue_size=200_000)
    # Slow traces are kept whole (weight 1), the rest at 10 % (weight 10): both kinds mix here.
    with TailSampler(service, rate=0.1, slow_ms={"magic:*": 40, "*": 4}) as sampler:
        for trace in traces:
            sampler.write_trace(trace)
    stats = sampler.stats
    assert stats["written"] == stats["kept"] < 30_000
    assert stats["keptRate"] > 5_000 and stats["keptSlow"] > 1_000

    report = report_path(tmp_path)
    assert report["estimated"] is True and report["kept"] == stats["kept"]
    assert report["total"] == pytest.approx(100_000, rel=0.05)
    truth = _truth(traces)
    for action, expected in truth.items():
        row = report["actions"][action]
        for key in ("count", "success", "p50", "p95", "p99"):
            assert row[key] == pytest.approx(expected[key], rel=0.05), (action, key)
        # Errors and failures are always kept, so they are counted exactly.
        assert row["error"] == expected["error"] and row["failed"] == expected["failed"]
        assert row["max"] == expected["max"]  # the slowest is slow, so it was kept
        assert row["kept"] < row["count"]
    assert report["errorTypes"]["SpellFizzled"]["count"] == sum(t["error"] for t in truth.values())

    assert main(["report", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["estimated"] is True and printed["actions"] == json.loads(
        json.dumps(report["actions"])
    )
    assert main(["report", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"estimated from {stats['kept']} sampled traces" in text
    assert "estimated from a sample" in text
    page = tmp_path.parent / f"{tmp_path.name}-report.html"
    assert main(["report", str(tmp_path), "--html", str(page)]) == 0
    capsys.readouterr()
    html = page.read_text(encoding="utf-8")
    assert '"estimated":true' in html and "Execution traces (estimated)" in html


def test_weighted_percentiles_and_counts_follow_the_documented_definition() -> None:
    fast = {
        "metadata": {"actionId": "core:go", "traceType": "execution"},
        "execution": {"duration": 1.0, "status": "success"},
        "sampling": {"reason": "rate", "rate": 0.25},
    }
    slow = {
        "metadata": {"actionId": "core:go", "traceType": "execution"},
        "execution": {"duration": 9.0, "status": "error"},
        "sampling": {"reason": "error", "rate": 0.25},
    }
    # 3 fast traces kept by rate stand for 12; 4 slow errors stand for themselves: 16 in all.
    report = build_report([fast] * 3 + [slow] * 4)
    row = report["actions"]["core:go"]
    assert (row["count"], row["success"], row["error"], row["kept"]) == (16, 12, 4, 7)
    assert row["p50"] == 1.0  # cumulative weight 12 >= 8
    assert row["p95"] == 9.0  # 12 < 15.2
    assert report["total"] == 16 and report["kept"] == 7
    text = render_report(report)
    assert "~16 execution traces, estimated from 7 sampled traces" in text


def test_an_unsampled_run_is_reported_exactly_and_unlabelled() -> None:
    trace = {
        "metadata": {"actionId": "core:go", "traceType": "execution"},
        "execution": {"duration": 2.0, "status": "success"},
        "sampling": {"reason": "linked", "rate": 0.1},  # kept whole: weighs 1
    }
    report = build_report([trace] * 5)
    assert "estimated" not in report and "kept" not in report["actions"]["core:go"]
    assert report["total"] == 5 and report["actions"]["core:go"]["count"] == 5
    assert "estimated" not in render_report(report)


def test_past_max_samples_the_weighted_reservoir_still_estimates() -> None:
    rng = random.Random(4)
    traces = []
    for _ in range(4000):
        duration = rng.uniform(0, 100)
        kept_by_rate = rng.random() < 0.5
        traces.append(
            {
                "metadata": {"actionId": "core:go", "traceType": "execution"},
                "execution": {"duration": duration, "status": "success"},
                "sampling": {"reason": "rate" if kept_by_rate else "slow", "rate": 0.5},
            }
        )
    report = build_report(traces, max_samples=500)
    row = report["actions"]["core:go"]
    weights = sum(2 if t["sampling"]["reason"] == "rate" else 1 for t in traces)
    assert row["count"] == weights and row["kept"] == 4000  # counts stay exact
    assert row["p50"] == pytest.approx(50, abs=8)  # percentiles from the 500-sample reservoir
    assert row["max"] == max(t["execution"]["duration"] for t in traces)
