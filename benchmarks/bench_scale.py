"""Analysis at scale: ``report --engine duckdb`` over JSON Lines and over Parquet, and the Python
engine for comparison, on one generated set of traces (issue 15).

The set (1,000,000 execution traces by default; ``--traces N`` or ``ACTIONTRACE_SCALE_TRACES``)
is generated once into the system's temporary folder and reused by later runs: real traces
(successes, failures, errors with causes, linked children, sampling marks) in eight JSON Lines
files in four machine folders. Its Parquet export is made once too. Each measurement runs in a
child process of its own, which reports the seconds spent in the report call and its peak memory
(``VmHWM``); rates are net of the engine's start-up (the same call on a one-trace folder).

The rates are the command's as a user runs it, under its default memory limit (1 GB); the JSON
Lines run is repeated under a 256 MB limit, where DuckDB works within a quarter of the memory
(and spills what does not fit), to show what the limit costs and that the memory stays bounded.
Two more folders show what a line or a file costs apart from the parse: 30,000 lines that
DuckDB's checks hand to the Python reader, and 2,000 small files of 50 traces (a fleet's hourly
files), each beside the Python engine over the same.

Targets: DuckDB over JSON Lines >= 600,000 traces/s, over Parquet >= 5,000,000 traces/s, DuckDB's
peak memory under its memory limit plus the interpreter's own.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, header, is_quick, pick, print_table
from _scale_data import generate

TARGET_JSONL = 600_000
TARGET_PARQUET = 5_000_000
DEFAULT_LIMIT = "1GB"  # the command's own default (duckdb_engine.DEFAULT_MEMORY_LIMIT)
SMALL_LIMIT = "256MB"
LIMIT_BYTES = {DEFAULT_LIMIT: 1000 * 1000 * 1000, SMALL_LIMIT: 256 * 1000 * 1000}
INTERPRETER = 200e6  # the interpreter, DuckDB's own code and what it reads outside its pool

CHILD = """
import json, os, resource, sys, time
engine, path, tiny, limit = sys.argv[1:5]
if engine == "python":
    from actiontrace.analysis.report import report_path as run
    call = lambda where: run(where)
else:
    from actiontrace.analysis.duckdb_engine import report_duckdb as run
    call = lambda where: run(where, memory_limit=limit)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
call(tiny)  # imports and first-use costs, paid once by any command
began = time.perf_counter(); call(tiny); startup = time.perf_counter() - began
began, used = time.perf_counter(), cpu()
report = call(path)
seconds, cpu_seconds = time.perf_counter() - began, cpu() - used
# VmHWM: this process's own peak resident memory (ru_maxrss would carry the parent's over exec).
with open("/proc/self/status") as status:
    hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
peak = int(hwm[0]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "startup": startup, "peak": peak, "cpu": cpu_seconds,
                  "kept": report.get("kept", report["total"])}))
"""


def traces_wanted() -> int:
    for index, arg in enumerate(sys.argv[1:], 1):
        if arg == "--traces" and index + 1 < len(sys.argv):
            return int(sys.argv[index + 1])
    env = os.environ.get("ACTIONTRACE_SCALE_TRACES")
    return int(env) if env else pick(1_000_000, 2_000)


SUSPECT_LINES = 30_000


def suspect_set() -> Path:
    """A file whose every line DuckDB hands to the Python reader: strings holding ``,]`` and
    ``NaN`` look like a trailing comma and a NaN literal to DuckDB's line checks."""
    folder = Path(tempfile.gettempdir()) / f"actiontrace-scale-suspect-{SUSPECT_LINES}"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "suspect.jsonl").open("w", encoding="utf-8") as out:
            for n in range(SUSPECT_LINES):
                trace = {
                    "metadata": {
                        "traceType": "execution",
                        "actionId": f"core:act{n % 5}",
                        "actorId": "NaN ,] the tester",
                        "traceId": f"{n:032x}",
                    },
                    "execution": {"status": "success", "duration": (n * 7919 % 1000) / 7},
                }
                out.write(json.dumps(trace) + "\n")
        (folder / ".complete").write_text("done", encoding="utf-8")
    return folder


SMALL_FILES = 2_000
TRACES_PER_SMALL_FILE = 50


def small_files_set(traces: Path) -> tuple[Path, int]:
    """A folder of many small files (a fleet's hourly files): 2,000 files of 50 traces each,
    taken from the generated set, so that what is measured is the cost of a file; and how many
    traces it holds (fewer when the set is a quick one)."""
    folder = traces.parent / f"small-files-{SMALL_FILES}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with sorted(traces.rglob("*.jsonl"))[0].open("rb") as source:
            for number in range(SMALL_FILES):
                lines = [source.readline() for _ in range(TRACES_PER_SMALL_FILE)]
                (folder / f"hour-{number:05d}.jsonl").write_bytes(b"".join(lines))
        (folder / ".complete").write_text("done", encoding="utf-8")
    return folder, sum(1 for path in folder.glob("*.jsonl") for _ in path.open("rb"))


def data_set(count: int) -> tuple[Path, Path, Path]:
    """The generated folder, its Parquet export and a one-trace folder (made when missing)."""
    base = Path(tempfile.gettempdir()) / f"actiontrace-scale-{count}-jsonl"
    traces, parquet, tiny = base / "traces", base / "parquet", base / "tiny"
    if not (base / ".complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        began = time.perf_counter()
        paths = generate(traces, count, gzip_every=0)
        tiny.mkdir(parents=True)
        with paths[0].open(encoding="utf-8") as source:
            (tiny / "one.jsonl").write_text(source.readline(), encoding="utf-8")
        print(f"   generated {count:,} traces in {time.perf_counter() - began:.0f} s into {base}")
        from actiontrace.analysis.parquet_export import export_parquet

        began = time.perf_counter()
        export_parquet(traces, parquet)
        print(f"   exported them to Parquet in {time.perf_counter() - began:.0f} s (once)")
        (base / ".complete").write_text(str(count), encoding="utf-8")
    size = sum(path.stat().st_size for path in traces.rglob("*.jsonl"))
    parquet_size = sum(path.stat().st_size for path in parquet.glob("*.parquet"))
    print(
        f"   {count:,} traces: {size / 1e6:,.0f} MB of JSON Lines, {parquet_size / 1e6:,.0f} MB "
        f"of Parquet ({base})"
    )
    return traces, parquet, tiny


def measure(
    engine: str, path: Path, tiny: Path, repeats: int, limit: str = DEFAULT_LIMIT
) -> dict[str, float]:
    """Median seconds (net of start-up) and the largest peak memory over ``repeats`` children."""
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, engine, str(path), str(tiny), limit],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    return {
        "net": statistics.median(max(run["seconds"] - run["startup"], 1e-9) for run in runs),
        "startup": statistics.median(run["startup"] for run in runs),
        "peak": max(run["peak"] for run in runs),
        "cpu": statistics.median(run["cpu"] for run in runs),
        "kept": runs[0]["kept"],
    }


def peak_row(name: str, run: dict[str, float], limit: str) -> Row:
    """The peak memory of a DuckDB run against its limit plus the interpreter's own."""
    return Row(
        f"{name}, {limit} limit, peak",
        run["peak"] / 1e6,
        "MB",
        target=f"limit {limit} + interpreter",
        ok=run["peak"] < LIMIT_BYTES[limit] + INTERPRETER,
    )


def main() -> None:
    header("analysis at scale: DuckDB over JSON Lines and Parquet, Python for comparison")
    count = traces_wanted()
    traces, parquet, tiny = data_set(count)
    repeats = pick(3, 1)
    jsonl = measure("duckdb", traces, tiny, repeats)
    small = measure("duckdb", traces, tiny, repeats, SMALL_LIMIT)
    over_parquet = measure("duckdb", parquet, tiny, repeats)
    # The Python engine on one machine folder of the set (a quarter), to keep the run short.
    part = traces / "server-0"
    part_count = sum(1 for path in part.glob("*.jsonl") for _ in path.open("rb"))
    python = measure("python", part, tiny, 1)
    # Lines DuckDB's checks flag go to the Python reader, a batch of rows at a time.
    suspects = suspect_set()
    suspect_duckdb = measure("duckdb", suspects, tiny, repeats)
    suspect_python = measure("python", suspects, tiny, 1)
    # Many small files: a scan reads them together (planning a scan costs milliseconds).
    many, many_traces = small_files_set(traces)
    many_duckdb = measure("duckdb", many, tiny, repeats)
    many_python = measure("python", many, tiny, 1)
    assert jsonl["kept"] == small["kept"] == over_parquet["kept"] == count, (jsonl, over_parquet)
    jsonl_rate = count / jsonl["net"]
    small_rate = count / small["net"]
    parquet_rate = count / over_parquet["net"]
    python_rate = part_count / python["net"]
    rows = [
        Row(
            f"DuckDB over JSON Lines ({DEFAULT_LIMIT} limit, the default)",
            jsonl_rate,
            "traces/s",
            ratio=jsonl_rate / python_rate,
            target=f">= {TARGET_JSONL:,}/s",
            ok=jsonl_rate >= TARGET_JSONL,
        ),
        Row(
            f"DuckDB over JSON Lines ({SMALL_LIMIT} limit)",
            small_rate,
            "traces/s",
            ratio=small_rate / python_rate,
        ),
        Row(
            f"DuckDB over Parquet ({DEFAULT_LIMIT} limit)",
            parquet_rate,
            "traces/s",
            ratio=parquet_rate / python_rate,
            target=f">= {TARGET_PARQUET:,}/s",
            ok=parquet_rate >= TARGET_PARQUET,
        ),
        Row(f"Python engine ({part_count:,} traces)", python_rate, "traces/s", ratio=1.0),
        Row(
            f"DuckDB over {SUSPECT_LINES:,} lines it hands to the Python reader",
            SUSPECT_LINES / suspect_duckdb["net"],
            "traces/s",
            ratio=suspect_python["net"] / suspect_duckdb["net"],
        ),
        Row(
            f"Python engine over the same {SUSPECT_LINES:,} lines",
            SUSPECT_LINES / suspect_python["net"],
            "traces/s",
            ratio=1.0,
        ),
        Row(
            f"DuckDB over {SMALL_FILES:,} files of {TRACES_PER_SMALL_FILE} traces",
            many_traces / many_duckdb["net"],
            "traces/s",
            ratio=many_python["net"] / many_duckdb["net"],
        ),
        Row(
            "Python engine over the same files",
            many_traces / many_python["net"],
            "traces/s",
            ratio=1.0,
        ),
        Row("DuckDB start-up (one-trace folder)", jsonl["startup"] * 1000, "ms"),
        # CPU time (all threads) per million traces: what the wall figures are on a busy machine.
        Row("DuckDB over JSON Lines, CPU per 1M traces", jsonl["cpu"] * 1e6 / count, "s"),
        Row(f"  the same at {SMALL_LIMIT}", small["cpu"] * 1e6 / count, "s"),
        Row("DuckDB over Parquet, CPU per 1M traces", over_parquet["cpu"] * 1e6 / count, "s"),
        Row("Python engine, CPU per 1M traces", python["cpu"] * 1e6 / part_count, "s"),
    ]
    print_table(f"Report on {count:,} traces (median of {repeats}, net of start-up)", rows)
    memory = [
        peak_row("DuckDB over JSON Lines", jsonl, DEFAULT_LIMIT),
        peak_row("DuckDB over JSON Lines", small, SMALL_LIMIT),
        peak_row("DuckDB over Parquet", over_parquet, DEFAULT_LIMIT),
        Row(f"Python engine ({part_count:,} traces), peak", python["peak"] / 1e6, "MB"),
    ]
    print_table("Peak memory of each child process (VmHWM)", memory)
    if is_quick():
        print("   quick mode: figures are meaningless")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
