"""``actiontrace export PATH --to {otlp,chrome,parquet}``: send trace files on to other tools.

* ``--to otlp`` replays every trace under PATH into an OTLP/HTTP endpoint through
  ``actiontrace.otel.OTelTraceSink`` (``--endpoint`` is the full traces URL; without it the
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables decide, else
  ``http://localhost:4318/v1/traces``). Spans go out in batches: the command waits for each batch
  to be delivered before reading more (so nothing overflows the exporter's queue), draws a progress
  bar on stderr when stderr is a terminal, and prints how many traces were sent and how many
  failed. When a whole batch fails (the endpoint is down), the rest is counted as failed without
  trying again, so a dead endpoint costs one exporter timeout, not one per batch.
* ``--to chrome --out FILE`` writes the Chrome Trace Event format (``analysis.chrome``).
* ``--to parquet --out FOLDER`` writes ``traces.parquet`` and ``spans.parquet`` (extra ``scale``,
  ``analysis.parquet_export``).

All read PATH through the read path (``scan_traces``), like ``report``: the same traces, and the
same damaged lines and skipped files, which are counted on stderr.

Exit codes: 0 all exported, 1 some traces failed to export, 2 a bad path, no traces, a missing
``--out``, an unwritable output file, or the ``otel`` extra not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

TYPE_CHECKING = False  # typing.TYPE_CHECKING (type checkers know it), without the import
if TYPE_CHECKING:
    from ..output.records import TraceRecord

# The read path and the exporters load when the command runs: the parser registers this command
# without them (``actiontrace --help`` stays fast).

__all__ = ["BATCH_SIZE", "register", "run"]

BATCH_SIZE = 512
"""Traces sent between two waits for delivery (the SDK batch processor's default batch size)."""

_BAR_WIDTH = 30
_DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "export",
        help="send traces to an OTLP/HTTP endpoint or write a Chrome trace file",
        description=(
            "Replay the traces of a file or folder into an OpenTelemetry (OTLP/HTTP) endpoint, "
            "or write them in the Chrome Trace Event format for Perfetto UI / chrome://tracing."
        ),
    )
    parser.add_argument("path", help="a trace file or a folder of trace files")
    parser.add_argument(
        "--to", required=True, choices=("otlp", "chrome", "parquet"), help="target format"
    )
    parser.add_argument(
        "--endpoint",
        help="OTLP/HTTP traces URL (default: from OTEL_EXPORTER_OTLP_* variables, "
        f"else {_DEFAULT_ENDPOINT})",
    )
    parser.add_argument("--out", help="output file for --to chrome; output folder for --to parquet")
    parser.add_argument(
        "--service-name",
        help="resource service.name for --to otlp (default: OTEL_SERVICE_NAME, else actiontrace)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``export`` with parsed arguments; return the exit code."""
    if args.to == "chrome" and not args.out:
        return _fail("--to chrome needs --out FILE")
    if args.to == "parquet" and not args.out:
        return _fail("--to parquet needs --out FOLDER")
    if not os.path.exists(args.path):
        return _fail(f"no such file or directory: {args.path}")
    if args.to == "parquet":
        return _to_parquet(args.path, args.out)
    from ..output.reader import ReadStats, scan_traces  # noqa: PLC0415 - see the imports

    stats = ReadStats()
    seen = _Counted(scan_traces(args.path, stats))
    try:
        if args.to == "chrome":
            code = _to_chrome(seen, args.out, args.path)
        else:
            code = _to_otlp(seen, args)
    except OSError as error:
        return _fail(f"{error}")
    if stats.damaged_lines or stats.skipped_files:
        print(
            f"actiontrace: export: skipped {stats.damaged_lines} damaged lines and "
            f"{stats.skipped_files} files not read",
            file=sys.stderr,
        )
    return code


def _fail(message: str) -> int:
    """Report a user error the way the other commands do (``cli.fail``): one line, exit 2."""
    print(f"actiontrace: error: export: {' '.join(message.split())}", file=sys.stderr)
    return 2


class _Counted:
    """Iterates the traces and counts them (so "no traces" is known after one pass)."""

    __slots__ = ("count", "items")

    def __init__(self, items: Iterable[TraceRecord]) -> None:
        self.items = items
        self.count = 0

    def __iter__(self) -> Iterator[TraceRecord]:
        for item in self.items:
            self.count += 1
            yield item


def _to_chrome(traces: _Counted, out: str, path: str) -> int:
    from .chrome import write_chrome_trace  # noqa: PLC0415 - see the imports

    written = write_chrome_trace(traces, out)
    if traces.count == 0:
        return _fail(f"no traces in {path}")
    print(f"wrote {written} trace(s) to {out}" + _skipped(traces.count - written))
    return 0


def _to_parquet(path: str, out: str) -> int:
    """Write OUT/traces.parquet and OUT/spans.parquet (extra ``scale``)."""
    try:
        from .parquet_export import export_parquet  # noqa: PLC0415 - needs the optional extra

        result = export_parquet(path, out)
    except (ImportError, OSError, RuntimeError) as error:  # RuntimeError: DuckDB gave up
        return _fail(f"{error}")
    if result.traces == 0 and result.structured == 0:
        return _fail(f"no traces in {path}")
    read = result.read
    damaged = read.corrupt + read.torn + read.unreadable
    print(
        f"wrote {result.traces} execution trace(s) and {result.spans} span(s) of "
        f"{result.structured} structured trace(s) to {out}"
        + (f" ({damaged} damaged lines or unreadable files skipped)" if damaged else "")
    )
    return 0


def _skipped(count: int) -> str:
    return f" ({count} incomplete or malformed skipped)" if count else ""


def _endpoint(explicit: str | None) -> str:
    """Return the URL the OTLP exporter will use, resolved as it resolves it."""
    if explicit:
        return explicit
    if traces := os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return traces
    if base := os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return base.removesuffix("/") + "/v1/traces"
    return _DEFAULT_ENDPOINT


def _to_otlp(traces: _Counted, args: argparse.Namespace) -> int:
    try:
        from ..otel import OTelTraceSink  # noqa: PLC0415 - the optional extra
    except ImportError as error:
        return _fail(f"{error}")

    total = _count(args.path) if sys.stderr.isatty() else None
    endpoint = _endpoint(args.endpoint)
    sink = OTelTraceSink(endpoint=args.endpoint, service_name=args.service_name)
    giving_up = False
    unsent = pending = 0
    try:
        for record in traces:
            if giving_up:  # the endpoint failed a whole batch: count the rest, send nothing more
                unsent += 1
                continue
            sink.write_trace(record.trace)
            pending += 1
            if pending == BATCH_SIZE:
                pending = 0
                giving_up = not _deliver(sink)
                _progress(traces.count, total)
    finally:
        sink.close()
    if total is not None:
        _progress(traces.count, total)
        print(file=sys.stderr)
    if traces.count == 0:
        return _fail(f"no traces in {args.path}")
    stats = sink.stats
    sent = stats["exported"]
    failed = stats["failed"] + stats["dropped"] + unsent
    print(f"exported to {endpoint}: {sent} sent, {failed} failed" + _skipped(stats["skipped"]))
    return 1 if failed else 0


def _deliver(sink: Any) -> bool:
    """Wait for the batch just written; ``False`` when all of it failed."""
    before = sink.stats
    sink.flush()
    after = sink.stats
    lost = after["failed"] > before["failed"] and after["exported"] == before["exported"]
    if lost:
        print(
            "actiontrace: export: the endpoint failed a whole batch; not sending the rest",
            file=sys.stderr,
        )
    return not lost


def _count(path: str) -> int:
    from ..output.reader import scan_traces  # noqa: PLC0415 - see the imports

    return sum(1 for _ in scan_traces(path))


def _progress(done: int, total: int | None) -> None:
    if total is None:
        return
    stream = sys.stderr
    filled = _BAR_WIDTH * min(done, total) // total if total else _BAR_WIDTH
    bar = "#" * filled + "." * (_BAR_WIDTH - filled)
    stream.write(f"\rexport [{bar}] {done}/{total}")
    stream.flush()
