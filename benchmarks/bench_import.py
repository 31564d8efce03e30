"""Import cost (issue 13): what ``import actiontrace`` and ``actiontrace --help`` cost a process.

1. ``import actiontrace``: the package's own cumulative time from ``python -X importtime``, median
   over fresh interpreters. Target: <= 30 ms. ``import logging`` measured the same way is the
   ratio's base (the issue's yardstick: the first release cost seven times ``import logging``).
2. The first use of a core name (``ActionExecutionTrace``), of the output service and of the
   reader, timed after ``import actiontrace``: each loads its own modules only.
3. ``actiontrace --help`` wall time against a bare ``python -c pass``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import Row, header, pick, print_table

TARGET_MS = 30.0


def import_ms(code: str, module: str, runs: int) -> float:
    """Median cumulative import time in ms of ``module`` when a fresh interpreter runs ``code``."""
    samples: list[float] = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stderr.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) == 3 and parts[2] == module:
                samples.append(int(parts[1]) / 1000)
    return statistics.median(samples)


def timed_import_ms(statement: str, runs: int) -> float:
    """Median ms a fresh interpreter spends running ``statement`` (after ``import actiontrace``)."""
    code = (
        "import time, actiontrace\n"
        "began = time.perf_counter()\n"
        f"{statement}\n"
        "print((time.perf_counter() - began) * 1000)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def wall_ms(command: list[str], runs: int) -> float:
    """Median wall time in ms of running ``command`` to its end."""
    samples: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main() -> None:
    header("import cost: the package root, a few public names, the command line")
    runs = pick(15, 2)
    logging_ms = import_ms("import logging", "logging", runs)
    root_ms = import_ms("import actiontrace", "actiontrace", runs)
    core_ms = timed_import_ms("from actiontrace import ActionExecutionTrace", runs)
    service_ms = timed_import_ms("from actiontrace import ActionTraceOutputService", runs)
    reader_ms = timed_import_ms("from actiontrace import read_traces", runs)
    print_table(
        "import cost, ms (median of fresh interpreters; the first two by -X importtime, "
        "the rest: the first use of the name after import actiontrace)",
        [
            Row("import logging (the yardstick)", logging_ms, "ms", ratio=1.0),
            Row(
                "import actiontrace",
                root_ms,
                "ms",
                ratio=root_ms / logging_ms,
                target="<= 30 ms",
                ok=root_ms <= TARGET_MS,
            ),
            Row("+ ActionExecutionTrace (trace module)", core_ms, "ms", ratio=core_ms / logging_ms),
            Row(
                "+ ActionTraceOutputService (service)",
                service_ms,
                "ms",
                ratio=service_ms / logging_ms,
            ),
            Row("+ read_traces (reader)", reader_ms, "ms", ratio=reader_ms / logging_ms),
        ],
    )
    bare = wall_ms([sys.executable, "-c", "pass"], runs)
    help_ms = wall_ms([sys.executable, "-m", "actiontrace", "--help"], runs)
    print_table(
        "command line, wall time (median)",
        [
            Row("python -c pass", bare, "ms", ratio=1.0),
            Row("actiontrace --help", help_ms, "ms", ratio=help_ms / bare),
        ],
    )


if __name__ == "__main__":
    main()
