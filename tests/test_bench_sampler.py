"""bench_sampler.py, as `make bench` runs it: in quick mode its figures print with verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_sampler_prints_its_figures_with_targets() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "bench_sampler"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for label in (
        "sampler decision per trace (median)",
        "sampler memory after 300 children",
        "sampler memory after 1,000 children",
    ):
        line = next(row for row in lines if label in row)
        assert line.rstrip().endswith(("PASS", "MISS")), line
    assert any("held per pending trace" in row for row in lines)
