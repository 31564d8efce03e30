"""Shared helpers for the ``benchmarks/bench_*.py`` scripts that ``make bench`` runs.

How to write a bench file
-------------------------
``benchmarks/run_all.py`` runs every ``benchmarks/bench_*.py`` in sorted name order, each in its own
subprocess (so one benchmark's memory and caches cannot disturb another), and fails if one exits
non-zero. A bench file is a plain script::

    from _common import Row, header, median_ns, pick, print_table

    def main() -> None:
        header("pipeline")
        per_call = median_ns(work, number=pick(1000, 20), repeats=pick(15, 3))
        print_table("Enqueue", [Row("enqueue one trace", per_call / 1000, "µs", target="< 5 µs",
                                    ok=per_call < 5000)])

    if __name__ == "__main__":
        main()

Rules of thumb:

* Use ``pick(full, quick)`` for every repeat count. ``run_all.py --quick`` (the smoke test's mode)
  sets ``ACTIONTRACE_BENCH_QUICK=1`` for its children, and a bench run directly also honours
  ``--quick``; quick mode only proves the script runs, its figures mean nothing.
* Report medians of repeated runs (``median_ns``), and when comparing two things, measure them
  interleaved in the same run (``interleaved_ns``) so machine noise hits both alike.
* Print figures with ``print_table``: a fixed label per figure (the smoke test looks for labels),
  the target it is held to, and PASS/MISS. A MISS is a finding, not a crash: exit non-zero only
  when the benchmark itself breaks.
* Keep the whole file well under a minute in full mode.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "QUICK_ENV",
    "Row",
    "fmt",
    "header",
    "interleaved_ns",
    "is_quick",
    "median_ns",
    "percentile",
    "pick",
    "print_table",
    "retained_bytes",
    "verdict",
]

QUICK_ENV = "ACTIONTRACE_BENCH_QUICK"
"""Environment variable ``run_all.py --quick`` sets for its children."""

_clock = time.perf_counter_ns


def is_quick() -> bool:
    """Whether this run is a smoke check (``--quick`` on the command line or ``QUICK_ENV=1``)."""
    return "--quick" in sys.argv[1:] or os.environ.get(QUICK_ENV) == "1"


def pick(full: int, quick: int) -> int:
    """``full`` in a real run, ``quick`` in a smoke check."""
    return quick if is_quick() else full


def header(title: str) -> None:
    """Print a benchmark's title with the interpreter, platform and CPU count it ran on."""
    mode = "  [QUICK: smoke check, figures meaningless]" if is_quick() else ""
    print(f"== {title}{mode}")
    print(
        f"   {platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def median_ns(
    fn: Callable[[], Any], *, number: int, repeats: int, warmup: int | None = None
) -> float:
    """Median over ``repeats`` runs of the mean ns per call of ``number`` back-to-back calls."""
    for _ in range(number if warmup is None else warmup):
        fn()
    gc.collect()
    runs: list[float] = []
    for _ in range(repeats):
        start = _clock()
        for _ in range(number):
            fn()
        runs.append((_clock() - start) / number)
    return statistics.median(runs)


def interleaved_ns(
    fns: Sequence[Callable[[], Any]], *, rounds: int, batch: int, warmup: int = 0
) -> list[list[int]]:
    """Time every call of each function, alternating batches (A,B,A,B...); ns samples per function.

    Alternating batches in one process lets noise (frequency scaling, other load) hit all functions
    alike, so the ratio of their medians is stable even when the absolute figures drift.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    gc.collect()
    samples: list[list[int]] = [[] for _ in fns]
    clock = _clock
    for _ in range(rounds):
        for fn, out in zip(fns, samples, strict=True):
            append = out.append
            for _ in range(batch):
                start = clock()
                fn()
                append(clock() - start)
    return samples


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) quantile of ``samples``, nearest rank."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def retained_bytes(make: Callable[[], object], count: int) -> float:
    """Bytes per object still allocated while ``count`` objects from ``make()`` are kept alive.

    Measured with ``tracemalloc`` around building them; the list holding them is allocated
    beforehand so it is not counted. Call ``make`` a few times first to warm any caches.
    """
    keep: list[object] = [None] * count
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(count):
            keep[index] = make()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    del keep
    return (after - before) / count


def verdict(ok: bool | None) -> str:
    """``PASS``/``MISS`` for a target, blank when there is none."""
    if ok is None:
        return ""
    return "PASS" if ok else "MISS"


def fmt(value: float) -> str:
    """A figure with about three significant digits, no exponent."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Row:
    """One printed figure: a fixed label, its value and unit, an optional ratio and target."""

    label: str
    value: float
    unit: str
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None


def print_table(title: str, rows: Sequence[Row]) -> None:
    """Print ``rows`` as an aligned table: figure, value, unit, ratio, target, result."""
    cells = [
        (
            row.label,
            fmt(row.value),
            row.unit,
            "" if row.ratio is None else f"{fmt(row.ratio)}x",
            row.target,
            verdict(row.ok),
        )
        for row in rows
    ]
    heads = ("figure", "value", "unit", "ratio", "target", "result")
    widths = [max([len(head), *(len(cell[i]) for cell in cells)]) for i, head in enumerate(heads)]
    right = {1, 3}  # numbers align right

    def line(parts: Sequence[str]) -> str:
        return "  ".join(
            part.rjust(width) if i in right else part.ljust(width)
            for i, (part, width) in enumerate(zip(parts, widths, strict=True))
        ).rstrip()

    print(f"\n-- {title}")
    print("   " + line(heads))
    for cell in cells:
        print("   " + line(cell))
    sys.stdout.flush()
