"""The ``tail`` and ``serve`` subcommands, registered into the ``actiontrace`` CLI.

``register(subparsers)`` follows the CLI's extension contract (see ``actiontrace.cli``). Both
commands end cleanly on Ctrl-C with exit code 0; a closed output pipe is left to the CLI (quiet).
``tail`` without ``-f`` on a path that holds no traces exits 2 with a one-line message, like
``report``. What it prints is safe: control and bidi characters escaped, ``--json`` strict JSON.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .select import add_selection_arguments
from .text import printable

if TYPE_CHECKING:
    from ..output.records import TraceRecord

# The read path, the follower and the live server load when their command runs, so that
# registering these commands keeps `actiontrace --help` fast.

__all__ = ["format_line", "register"]


def _error(message: str, code: int = 2) -> int:
    print(f"actiontrace: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 60, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add ``tail`` and ``serve`` to the ``actiontrace`` command line."""
    tail = subparsers.add_parser(
        "tail",
        help="print traces as they are written (one line each, or JSON Lines)",
        description="Print the traces in a file or folder, one line each: time, status, action, "
        "actor, duration (ms) and trace id; with -f keep printing new ones as they are written "
        "(rotations included) until Ctrl-C.",
    )
    tail.add_argument("path", metavar="PATH", help="a trace file or a folder of them")
    tail.add_argument("-f", "--follow", action="store_true", help="wait for new traces")
    add_selection_arguments(tail)
    tail.add_argument("--json", action="store_true", help="print each trace as one JSON line")
    tail.add_argument(
        "--interval", type=_interval, default=0.2, metavar="SECONDS", help="poll interval (0.2)"
    )
    tail.set_defaults(func=run_tail)

    serve = subparsers.add_parser(
        "serve",
        help="serve the HTML report live in the browser",
        description="Serve the HTML report of a trace file or folder, updated live (new traces "
        "appear within 2 seconds). Read-only; binds to 127.0.0.1 unless told otherwise.",
    )
    serve.add_argument("path", metavar="PATH", help="a trace file or a folder of them")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8765, help="port (8765; 0 picks a free one)")
    serve.set_defaults(func=run_serve)


# -- tail ------------------------------------------------------------------------------------------


def _wall_time(epoch_ns: int | None) -> str:
    if epoch_ns is None:
        return "-" * 23
    seconds, rest = divmod(epoch_ns, 1_000_000_000)  # a record's epoch is below 2**63
    shown = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return f"{shown}.{rest // 1_000_000:03d}"


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms"


def format_line(trace: TraceRecord | Mapping[str, Any]) -> str:
    """One ``tail`` line (a record, or a trace dict).

    An execution trace: local wall time, status, action, actor, duration in ms, trace id. A
    structured trace: wall time, its root status, root operation, span count, duration, trace
    id. Anything else: its type and file position.
    """
    from ..output.records import TraceRecord, as_record  # noqa: PLC0415 - see the imports

    record = trace if type(trace) is TraceRecord else as_record(trace)
    if record is None:
        return "-" * 23 + "  not a trace"
    if record.is_execution:
        middle = [
            printable(record.status).ljust(7),
            printable(record.action_id).ljust(18),
            printable(record.actor_id).ljust(10),
        ]
    elif record.is_structured:
        spans = f"{record.span_count} span{'' if record.span_count == 1 else 's'}"
        middle = [
            printable(record.status).ljust(7),
            printable(record.operation or "(no spans)").ljust(18),
            spans.ljust(10),
        ]
    else:
        middle = [printable(record.kind).ljust(7), printable(record.action_id).ljust(18)]
    parts = [_wall_time(record.start_epoch_ns), *middle, _duration(record.duration).rjust(11)]
    if record.trace_id is not None:
        parts.append(printable(record.trace_id))
    return "  ".join(parts).rstrip()


def run_tail(args: argparse.Namespace) -> int:
    """``actiontrace tail``: print what is there, and with ``-f`` what comes; Ctrl-C exits 0."""
    path: str = args.path
    if not os.path.exists(path):
        return _error(f"no such file or directory: {path}")
    from ..output.reader import ReadStats  # noqa: PLC0415 - see the imports
    from .follow import follow_records  # noqa: PLC0415
    from .select import selector  # noqa: PLC0415
    from .text import json_text  # noqa: PLC0415

    wanted = selector(args.action, args.status)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")  # an id the terminal cannot encode still prints
    stats = ReadStats()
    records = follow_records(path, poll_interval=args.interval, stats=stats)
    try:
        while True:
            record = next(records)  # never exhausted: it follows until closed
            if record is None:
                if not args.follow:
                    break
                continue
            if not wanted(record):
                continue
            print(json_text(record.trace) if args.json else format_line(record), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        records.close()
    if not stats.traces:
        skipped = stats.damaged_lines + stats.skipped_files
        detail = f" ({skipped} damaged lines or skipped files)" if skipped else ""
        return _error(f"no traces found in {path}{detail}")
    return 0


# -- serve -----------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    """``actiontrace serve``: serve the live page until Ctrl-C (or SIGTERM); exit 0."""
    path: str = args.path
    if not os.path.exists(path):
        return _error(f"no such file or directory: {path}")
    from .serve import LiveServer  # noqa: PLC0415 - see the imports

    server = LiveServer(path, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as error:
        return _error(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}", 1)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        from ..output.discovery import display_path  # noqa: PLC0415 - see the imports

        shown = printable(display_path(path))
        print(f"actiontrace: serving {shown} at {server.url} (Ctrl-C to stop)", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                "actiontrace: warning: not bound to 127.0.0.1: anyone who can reach this address "
                "can read these traces",
                file=sys.stderr,
            )
        stop.wait()  # until SIGTERM sets it, or Ctrl-C interrupts the wait
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
    return 0
