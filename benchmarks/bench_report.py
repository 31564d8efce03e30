"""Reading and aggregating traces for the report and the HTML page (issue 7), and the page's size.

100,000 real traces (``ActionExecutionTrace.to_json()``: 8 actors, 6 actions, ~10 % failed, ~3 %
errors, every 4th one a child of the one before) in one JSON Lines file, then, median of repeats:

1. read only (``scan_traces``), for scale;
2. read + report aggregation (``report_path``): the target, >= 50,000 traces/s;
3. report aggregation alone over traces already parsed (``build_report``): its share of (2);
4. read + report + page aggregation (``page_data``): what ``report --html`` does;
5. the HTML page for those traces: its size (target < 5 MB) and, when the system Chromium is
   there, the time to open and draw it (target < 3 s).

6. hostile input: following one unfinished 192 MiB line written in 1 MiB appends (``tail -f``
   and ``serve`` poll after each): the time it takes, linear in the size (no line rebuilt by
   copying, nothing read twice).

``--baseline REV`` (or ``ACTIONTRACE_BENCH_BASELINE=REV``) also measures (2) and (4) with the
package as it was at git revision REV, in a child process over the same file in the same run, and
prints the ratio: reading through the hardened read path must keep report aggregation at least as
fast as before it (ratio >= 1.0 within noise).
"""

from __future__ import annotations

import inspect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Row, header, is_quick, pick, print_table
from actiontrace import ActionExecutionTrace
from actiontrace.analysis.follow import follow_records
from actiontrace.analysis.html import page_data, render_page
from actiontrace.analysis.report import build_report, report_path
from actiontrace.output import records as _records
from actiontrace.output.reader import scan_traces

FAST = _records._fast_loads is not None

ACTIONS = ("core:go", "core:take", "core:look", "core:talk", "core:attack", "magic:cast")
TARGET_RATE = 50_000
TARGET_BYTES = 5 * 1024 * 1024
TARGET_OPEN_S = 3.0


def write_traces(path: Path, count: int) -> None:
    rng = random.Random(7)
    # Linked traces where this version has them.
    linking = "parent" in inspect.signature(ActionExecutionTrace).parameters
    with path.open("w", encoding="utf-8") as handle:
        parent: ActionExecutionTrace | None = None
        for n in range(count):
            action = ACTIONS[n % len(ACTIONS)]
            kwargs: dict[str, Any] = {}
            if linking and n % 4 and parent is not None:
                kwargs["parent"] = parent
            trace = ActionExecutionTrace(
                action_id=action,
                actor_id=f"actor-{n % 8}",
                turn_action={"actionDefinitionId": action, "commandString": f"{action} {n}"},
                **kwargs,
            )
            trace.capture_dispatch_start()
            trace.capture_event_payload({"turn": n, "room": f"room-{n % 50}", "items": [1, 2, 3]})
            roll = rng.random()
            if roll < 0.03:
                trace.capture_error(ValueError(f"bad move {n}"))
            else:
                trace.capture_dispatch_result({"success": roll > 0.13})
            handle.write(trace.to_json() + "\n")
            if n % 4 == 0:
                parent = trace


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def aggregate_only(folder: Path, repeats: int) -> float:
    """Median seconds of ``build_report`` over records read beforehand."""
    parsed = list(scan_traces(folder, fast=True))
    return best_of(lambda: build_report(parsed), repeats)


_BASELINE_CODE = """
import json, statistics, sys, time
from actiontrace.analysis.html import page_data
from actiontrace.analysis.report import report_path
folder, repeats = sys.argv[1], int(sys.argv[2])
def best(fn):
    runs = []
    for _ in range(repeats):
        start = time.perf_counter(); fn(); runs.append(time.perf_counter() - start)
    return statistics.median(runs)
print(json.dumps([best(lambda: report_path(folder)), best(lambda: page_data(folder))]))
"""


def baseline_revision() -> str | None:
    """The git revision to compare with (``--baseline REV`` or the environment), if any."""
    argv = sys.argv[1:]
    if "--baseline" in argv:
        index = argv.index("--baseline")
        if index + 1 < len(argv):
            return argv[index + 1]
    return os.environ.get("ACTIONTRACE_BENCH_BASELINE") or None


def baseline_seconds(revision: str, folder: Path, repeats: int) -> tuple[float, float] | None:
    """Median seconds of ``report_path`` and ``page_data`` with the package at ``revision``."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as temp:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", revision, "src"], capture_output=True, check=False
        )
        if archive.returncode != 0:
            print(f"   (baseline {revision}: {archive.stderr.decode(errors='replace').strip()})")
            return None
        subprocess.run(["tar", "-x", "-C", temp], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": str(Path(temp) / "src")}
        done = subprocess.run(
            [sys.executable, "-c", _BASELINE_CODE, str(folder), str(repeats)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        print(f"   (baseline {revision} failed: {done.stderr.strip()[-300:]})")
        return None
    report_s, page_s = json.loads(done.stdout)
    return float(report_s), float(page_s)


def follow_long_line_seconds(folder: Path, mib: int) -> float:
    """Seconds to follow one unfinished line growing by 1 MiB ``mib`` times, polling each time."""
    path = folder / "growing.jsonl"
    path.write_bytes(b"")
    records = follow_records(path, poll_interval=0.001)
    block = b"x" * (1 << 20)
    start = time.perf_counter()
    try:
        next(records)
        with path.open("ab") as out:
            for _ in range(mib):
                out.write(block)
                out.flush()
                next(records)  # one poll: reads the new MiB only
        return time.perf_counter() - start
    finally:
        records.close()


def open_seconds(page: Path) -> float | None:
    browser_path = os.environ.get("ACTIONTRACE_CHROMIUM") or shutil.which("chromium")
    if browser_path is None or is_quick():
        return None
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=args)
        try:
            runs = []
            for _ in range(pick(3, 1)):
                tab = browser.new_page(viewport={"width": 1366, "height": 900})
                start = time.perf_counter()
                tab.goto(page.as_uri())
                tab.wait_for_selector("body[data-rendered]", timeout=60_000)
                runs.append(time.perf_counter() - start)
                tab.close()
            return statistics.median(runs)
        finally:
            browser.close()


def main() -> None:
    header("report and HTML page: read + aggregate")
    count = pick(100_000, 2_000)
    repeats = pick(3, 1)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "traces"
        folder.mkdir()
        source = folder / "traces.jsonl"
        began = time.perf_counter()
        write_traces(source, count)
        print(
            f"   {count:,} traces, {source.stat().st_size / 1e6:.1f} MB of JSON Lines "
            f"(written in {time.perf_counter() - began:.1f} s)"
        )

        read_s = best_of(lambda: sum(1 for _ in scan_traces(folder)), repeats)
        fast_s = best_of(lambda: sum(1 for _ in scan_traces(folder, fast=True)), repeats)
        report_s = best_of(lambda: report_path(folder), repeats)
        aggregate_s = aggregate_only(folder, repeats)
        page_s = best_of(lambda: page_data(folder), repeats)
        revision = baseline_revision()
        before = baseline_seconds(revision, folder, repeats) if revision else None
        html = render_page(page_data(folder))
        page_file = Path(temp) / "report.html"
        page_file.write_text(html, encoding="utf-8")
        size = len(html.encode("utf-8"))
        opened = open_seconds(page_file)
        long_mib = pick(192, 16)
        long_s = follow_long_line_seconds(Path(temp), long_mib)

    report_rate = count / report_s
    rows = [
        Row("read only (scan_traces, json)", count / read_s, "traces/s"),
        Row(
            "read only (scan_traces fast=True, orjson)" if FAST else "read only (no orjson)",
            count / fast_s,
            "traces/s",
            ratio=read_s / fast_s,
        ),
        Row(
            "read + report aggregation (report_path)",
            report_rate,
            "traces/s",
            target=f">= {TARGET_RATE:,}/s",
            ok=report_rate >= TARGET_RATE,
        ),
        Row(
            "report aggregation alone (build_report)",
            count / aggregate_s,
            "traces/s",
            ratio=aggregate_s / report_s,
        ),
        Row("read + report + page aggregation (page_data)", count / page_s, "traces/s"),
    ]
    if before is not None:
        rows += [
            Row(
                f"read + report aggregation, at {revision[:12]}",
                count / before[0],
                "traces/s",
                ratio=before[0] / report_s,
                target="ratio >= 1.0",
                ok=before[0] / report_s >= 0.95,  # within noise of the shared machine
            ),
            Row(
                f"read + report + page aggregation, at {revision[:12]}",
                count / before[1],
                "traces/s",
                ratio=before[1] / page_s,
            ),
        ]
    print_table(f"Reading and aggregating {count:,} traces (median of {repeats})", rows)
    page_rows = [
        Row(
            f"HTML report size, {count:,} traces",
            size / 1024 / 1024,
            "MB",
            target="< 5 MB",
            ok=size < TARGET_BYTES,
        )
    ]
    if opened is None:
        print("   (no system Chromium, or quick mode: page open time not measured)")
    else:
        page_rows.append(
            Row(
                "HTML report open + draw in Chromium",
                opened,
                "s",
                target="< 3 s",
                ok=opened < TARGET_OPEN_S,
            )
        )
    print_table("The HTML page", page_rows)
    print_table(
        "Hostile input",
        [
            Row(
                f"follow an unfinished {long_mib} MiB line, 1 MiB a poll",
                long_s,
                "s",
                target="< 5 s",
                ok=long_s < 5.0,
            )
        ],
    )
    if is_quick():
        print("   quick mode: figures are meaningless")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
