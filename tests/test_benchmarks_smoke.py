"""Smoke checks for ``make bench``: the runner and every benchmark run, in quick mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_ALL = ROOT / "benchmarks" / "run_all.py"

CORE_LABELS = (
    "1000 trace constructions",
    "to_dict() of a completed trace",
    "retained memory per completed trace",
    "lifecycle, actiontrace (median)",
    "lifecycle, actiontrace (p95)",
    "lifecycle, actiontrace (p10)",
    "same span, OpenTelemetry SDK (median)",
    "same span, OpenTelemetry SDK (p95)",
    "same span, OpenTelemetry SDK (p10)",
    "sanitize_payload() of the lifecycle payload",
    "to_json() of the completed lifecycle trace",
    "to_json() bytes per trace",
    "sanitize_payload(), plain strings seen before",
    "sanitize_payload(), plain strings never seen",
    "sanitize_payload(), secret strings seen before",
    "sanitize_payload(), secret strings never seen",
)


def run_all(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN_ALL), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_quick_run_of_every_benchmark_exits_zero_and_prints_the_core_figures() -> None:
    done = run_all("--quick")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "##### bench_core.py done" in out
    assert "QUICK" in out
    assert "CPUs" in out  # the machine header
    for label in CORE_LABELS:
        assert label in out, f"missing figure {label!r}"
    # Every figure held to a target says whether it met it.
    for label in (*CORE_LABELS[:3], "same span, OpenTelemetry SDK (median)"):
        line = next(row for row in out.splitlines() if label in row)
        assert line.rstrip().endswith(("PASS", "MISS")), line


def test_runner_runs_every_bench_in_name_order_and_fails_when_one_fails(tmp_path: Path) -> None:
    (tmp_path / "bench_b_fails.py").write_text("print('b ran')\nraise SystemExit(3)\n")
    (tmp_path / "bench_a_ok.py").write_text(
        "import os\nprint('a ran quick=' + os.environ['ACTIONTRACE_BENCH_QUICK'])\n"
    )
    (tmp_path / "bench_c_ok.py").write_text("print('c ran')\n")
    (tmp_path / "helper_not_a_bench.py").write_text("raise SystemExit('must not run')\n")
    done = run_all("--quick", "--dir", str(tmp_path))
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert out.index("a ran quick=1") < out.index("b ran") < out.index("c ran")
    assert "bench_b_fails.py FAILED (exit 3)" in out
    assert "1 of 3 failed: bench_b_fails.py" in out
    assert "must not run" not in out + done.stderr


def test_runner_selects_bench_files_by_name_and_runs_full_mode_without_quick(
    tmp_path: Path,
) -> None:
    (tmp_path / "bench_one.py").write_text(
        "import os\nprint('one quick=' + os.environ['ACTIONTRACE_BENCH_QUICK'])\n"
    )
    (tmp_path / "bench_two.py").write_text("raise SystemExit(1)\n")
    done = run_all("--dir", str(tmp_path), "one")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "one quick=0" in done.stdout
    assert "bench_two.py" not in done.stdout


def test_runner_fails_when_no_bench_file_matches(tmp_path: Path) -> None:
    done = run_all("--dir", str(tmp_path))
    assert done.returncode == 1
    assert "no benchmark selected" in done.stderr
