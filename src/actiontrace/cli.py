"""The ``actiontrace`` command line: ``demo``, ``report`` and ``show``, plus registered extensions.

``main(argv=None) -> int`` parses the arguments and runs the chosen command; argument errors exit
with code 2 (argparse), and so do ``report``/``show`` when PATH does not exist or holds no traces
(one line on stderr, no traceback).

Extension contract: after building its own subcommands, ``build_parser`` imports each module named
in ``_EXTENSIONS`` that exists (a module that is not installed is skipped; any other import error
propagates) and calls its ``register(subparsers)``, where ``subparsers`` is the object
``ArgumentParser.add_subparsers`` returned. ``register`` adds its subcommands with
``subparsers.add_parser(...)`` and gives each ``set_defaults(func=run)``, where ``run(args) -> int``
receives the parsed ``argparse.Namespace`` and returns the exit code. The built-in commands use the
same contract. A command reports a user error by printing ``actiontrace: error: ...`` on stderr
(``fail()`` below) and returning 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .analysis.select import add_selection_arguments

if TYPE_CHECKING:
    from .output.reader import ReadStats, TraceRecord

# Each command imports what it needs when it runs (``actiontrace --help`` stays fast); the demo's
# defaults are resolved then too, and the help texts name them.

__all__ = ["build_parser", "fail", "main"]

_EXTENSIONS = (
    "actiontrace.analysis.export",
    "actiontrace.analysis.watch",
    "actiontrace.analysis.gate",
    "actiontrace.analysis.diff",
)
_HTML_MODULE = "actiontrace.analysis.html"

Command = Callable[[argparse.Namespace], int]
_AT_LINE = re.compile(r"^(?P<file>.+):(?P<line>[0-9]+)$")


def fail(message: str, code: int = 2) -> int:
    """Print ``actiontrace: error: <message>`` (one line) on stderr; return ``code``."""
    print(f"actiontrace: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _missing_module(error: ImportError, name: str) -> bool:
    """Whether ``error`` says that module ``name`` itself is not there (not a broken import)."""
    return isinstance(error, ModuleNotFoundError) and error.name == name


def _no_traces(path: str, skipped: int) -> int:
    detail = f" ({skipped} damaged lines or unreadable files skipped)" if skipped else ""
    return fail(f"no traces found in {path}{detail}")


def _run_demo(args: argparse.Namespace) -> int:
    from .analysis.report import render_report  # noqa: PLC0415 - see the imports above
    from .demo import DEFAULT_ACTORS, DEFAULT_OUT, DEFAULT_TURNS, run_demo  # noqa: PLC0415

    args.out = DEFAULT_OUT if args.out is None else args.out
    args.actors = DEFAULT_ACTORS if args.actors is None else args.actors
    args.turns = DEFAULT_TURNS if args.turns is None else args.turns
    progress = sys.stderr if sys.stderr.isatty() else None
    result = run_demo(
        args.out, actors=args.actors, turns=args.turns, seed=args.seed, progress=progress
    )
    report = result.report
    print(
        f"Demo session: {args.actors} actors x {args.turns} turns (seed {result.seed}): "
        f"{result.dispatched} actions dispatched, {result.succeeded} succeeded"
    )
    stats = result.output_stats
    print(
        f"Traces: {stats.get('written', 0)} written, {stats.get('dropped', 0)} dropped, "
        f"{stats.get('failed', 0)} failed, in {len(result.files)} file(s) under {args.out}"
    )
    for file in result.files:
        print(f"  {file}")
    print()
    print(render_report(report, ", ".join(str(file) for file in result.files) or str(args.out)))
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from .analysis.report import render_report, report_path  # noqa: PLC0415 - see the imports
    from .analysis.text import json_text  # noqa: PLC0415
    from .errors import InvalidArgumentError  # noqa: PLC0415
    from .output.discovery import display_path  # noqa: PLC0415

    path: str = args.path
    if not Path(path).exists():
        return fail(f"no such file or directory: {path}")
    engine = getattr(args, "engine", "python")
    if engine == "duckdb" and args.by is not None:
        return fail("--by is only available with --engine python")
    if engine == "duckdb" and args.html is not None and (Path(path) / "traces.parquet").is_file():
        # The page shows every trace (timeline, histograms): it is drawn from the trace files.
        return fail("--html needs the trace files, not their Parquet export")
    try:
        if engine == "duckdb":
            report = _duckdb_report(path, args)
        else:
            report = report_path(path, group_by=args.by)
    except ImportError as error:  # the scale extra is missing: one line naming it
        return fail(str(error))
    except (InvalidArgumentError, RuntimeError) as error:  # RuntimeError: DuckDB gave up
        return fail(str(error))
    except OSError as error:
        return fail(f"cannot read {path}: {error.strerror or error}")
    if not report.get("traceTypes"):
        skipped = report.get("damagedLines", 0) + report.get("skippedFiles", 0)
        return _no_traces(path, skipped)
    if args.html is not None:
        try:
            html = importlib.import_module(_HTML_MODULE)
        except ImportError as error:
            if not _missing_module(error, _HTML_MODULE):
                raise
            return fail("--html is not available in this version of actiontrace")
        try:
            html.write_html_report(path, args.html)
        except OSError as error:
            return fail(f"cannot write {args.html}: {error.strerror or error}", 1)
        print(f"actiontrace: HTML report written to {args.html}", file=sys.stderr)
    if args.json:
        print(json_text(report, indent=2))
    else:
        print(render_report(report, display_path(path)))
        if engine == "duckdb" and report.get("corrupt", 0):
            print("(damaged lines counted by DuckDB: torn last lines are counted as corrupt)")
    return 0


def _duckdb_report(path: str, args: argparse.Namespace) -> Any:
    """Return the report computed by DuckDB (extra ``scale``)."""
    from .analysis.duckdb_engine import report_duckdb  # noqa: PLC0415 - optional extra

    return report_duckdb(path, memory_limit=args.memory_limit)


def _at_line(path: str) -> tuple[str, int | None]:
    """Split ``FILE:LINE`` (the form the report prints) when FILE exists and PATH does not."""
    match = _AT_LINE.match(path)
    if match is None or os.path.exists(path) or not os.path.isfile(match["file"]):
        return path, None
    return match["file"], int(match["line"])


def _run_show(args: argparse.Namespace) -> int:
    from .analysis.select import selector  # noqa: PLC0415 - see the imports above
    from .analysis.show import render_record  # noqa: PLC0415
    from .output.reader import ReadStats, scan_traces  # noqa: PLC0415

    path, at = _at_line(args.path)
    if not Path(path).exists():
        return fail(f"no such file or directory: {path}")
    wanted = selector(args.action, args.status)
    stats = ReadStats()
    try:
        records = scan_traces(path, stats)
    except OSError as error:
        return fail(f"cannot read {path}: {error.strerror or error}")
    picked = (record for record in records if (at is None or record.line == at) and wanted(record))
    if args.tree:
        return _show_tree(args.path, picked, stats)
    shown = 0
    try:
        for record in picked:
            if shown:
                print()
            print(render_record(record))
            shown += 1
    except BrokenPipeError:
        raise  # the reader of our output went away: main() ends quietly
    except OSError as error:
        return fail(f"cannot read {path}: {error.strerror or error}")
    if not shown:
        return _nothing_shown(args.path, stats, at is not None or _filtered(args))
    return 0


def _filtered(args: argparse.Namespace) -> bool:
    return args.action is not None or args.status is not None


def _nothing_shown(path: str, stats: ReadStats, chosen: bool) -> int:
    if chosen and stats.traces:
        return fail(f"no trace in {path} matches")
    return _no_traces(path, stats.damaged_lines + stats.skipped_files)


def _show_tree(path: str, records: Iterator[TraceRecord], stats: ReadStats) -> int:
    from .analysis.tree import TraceForest  # noqa: PLC0415 - see the imports above

    forest = TraceForest()
    shown = 0
    try:
        for record in records:
            forest.add(record)
            shown += 1
    except OSError as error:
        return fail(f"cannot read {path}: {error.strerror or error}")
    if not shown:
        return _nothing_shown(path, stats, True)
    for line in forest.lines():
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the parser: the built-in commands, then those the installed extensions register."""
    parser = argparse.ArgumentParser(
        prog="actiontrace",
        description="Action execution tracing: run the demo, report on traces, show traces.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = subparsers.add_parser(
        "demo",
        help="play a simulated game session with tracing on, then report on its traces",
        description="Play a simulated text-adventure session through the real pipeline with "
        "tracing on, write the traces as JSON Lines, then print the report read back from them.",
    )
    demo.add_argument("--out", default=None, metavar="DIR", help="trace folder (./traces)")
    demo.add_argument("--actors", type=_positive, default=None, metavar="N", help="actors (4)")
    demo.add_argument("--turns", type=_positive, default=None, metavar="N", help="turns (25)")
    demo.add_argument("--seed", type=int, default=None, metavar="S", help="replay a session")
    demo.set_defaults(func=_run_demo)

    report = subparsers.add_parser(
        "report",
        help="per-action counts, latencies (ms), error types and slowest traces",
        description="Report on the traces in a file or folder (.jsonl, .jsonl.gz, .json).",
    )
    report.add_argument("path", metavar="PATH", help="a trace file or a folder of them")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument(
        "--by", metavar="KEY", default=None, help="also split the table by customMetadata KEY"
    )
    report.add_argument("--html", metavar="FILE", default=None, help="also write an HTML report")
    report.add_argument(
        "--engine",
        choices=("python", "duckdb"),
        default="python",
        help="who computes the report: python (default) or duckdb (extra actiontrace[scale]; "
        "reads trace files or a folder written by export --to parquet)",
    )
    report.add_argument(
        "--memory-limit",
        metavar="SIZE",
        default="1GB",
        help="DuckDB's memory limit with --engine duckdb; past it DuckDB spills to disk (1GB)",
    )
    report.set_defaults(func=_run_report)

    show = subparsers.add_parser(
        "show",
        help="print traces human-readably",
        description="Print each trace of a file or folder: summary, phases, payload, error. "
        "With --tree: the trees of linked actions, and each structured trace's steps as a "
        "waterfall with its critical path marked.",
    )
    show.add_argument(
        "path",
        metavar="PATH",
        help="a trace file or a folder of them, or FILE:LINE for the one trace at that line",
    )
    add_selection_arguments(show)
    show.add_argument(
        "--tree",
        action="store_true",
        help="draw linked actions as trees (by trace id) and structured traces as waterfalls",
    )
    show.set_defaults(func=_run_show)

    for name in _EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            if not _missing_module(error, name):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    func: Any = args.func
    try:
        return int(func(args))
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly. Point stdout at devnull so the
        # interpreter's final flush does not raise again (the recipe of Python's signal docs).
        real = sys.__stdout__
        if real is not None and sys.stdout is real:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, real.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
