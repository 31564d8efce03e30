"""The ``tail`` and ``serve`` subcommands, registered into the ``actiontrace`` CLI.

``register(subparsers)`` follows the CLI's extension contract (see ``actiontrace.cli``). Both
commands end cleanly on Ctrl-C with exit code 0; a closed output pipe is left to the CLI (quiet).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..types import ExecutionStatus
from .show import printable

# The follower, the live server and the pattern matcher load when their command runs, so that
# registering these commands keeps `actiontrace --help` fast.

__all__ = ["format_line", "register"]

_STATUSES = tuple(status.value for status in ExecutionStatus)


def _error(message: str, code: int = 2) -> int:
    print(f"actiontrace: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _statuses(text: str) -> frozenset[str]:
    wanted = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(wanted.difference(_STATUSES))
    if not wanted or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown status {', '.join(unknown) or repr(text)}; choose from {', '.join(_STATUSES)}"
        )
    return wanted


def _pattern(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("the pattern must not be empty")
    return text


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
    tail.add_argument(
        "--action", type=_pattern, metavar="PATTERN", help="only actions matching (* wildcard)"
    )
    tail.add_argument(
        "--status",
        type=_statuses,
        metavar="STATUS",
        help=f"only these statuses, comma-separated ({', '.join(_STATUSES)})",
    )
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


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _wall_time(epoch_ns: object) -> str:
    if isinstance(epoch_ns, bool) or not isinstance(epoch_ns, int):
        return "-" * 23
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    try:
        shown = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "-" * 23
    return f"{shown}.{rest // 1_000_000:03d}"


def _duration(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms"


def _text(value: object) -> str:
    return printable(value) if isinstance(value, str) else "?"


def format_line(trace: Mapping[str, Any]) -> str:
    """One ``tail`` line: local wall time, status, action, actor, duration in ms, trace id."""
    meta = trace.get("metadata")
    execution = trace.get("execution")
    parts = [
        _wall_time(_get(execution, "startEpochNs")),
        _text(_get(execution, "status")).ljust(7),
        _text(_get(meta, "actionId")).ljust(18),
        _text(_get(meta, "actorId")).ljust(10),
        _duration(_get(execution, "duration")).rjust(11),
    ]
    trace_id = _get(meta, "traceId")
    if isinstance(trace_id, str):
        parts.append(printable(trace_id))
    return "  ".join(parts).rstrip()


def _selector(args: argparse.Namespace) -> Callable[[Mapping[str, Any]], bool]:
    pattern: str | None = args.action
    statuses: frozenset[str] | None = args.status
    matches: Callable[[str, str], bool] | None = None
    if pattern is not None:
        from ..pipeline.filter import action_matches  # noqa: PLC0415 - see the imports

        matches = action_matches

    def wanted(trace: Mapping[str, Any]) -> bool:
        if statuses is not None and _get(trace.get("execution"), "status") not in statuses:
            return False
        if pattern is not None and matches is not None:
            action = _get(trace.get("metadata"), "actionId")
            return isinstance(action, str) and matches(pattern, action)
        return True

    return wanted


def run_tail(args: argparse.Namespace) -> int:
    """``actiontrace tail``: print what is there, and with ``-f`` what comes; Ctrl-C exits 0."""
    path: str = args.path
    if not os.path.exists(path):
        return _error(f"no such file or directory: {path}")
    wanted = _selector(args)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")  # an id the terminal cannot encode still prints
    from .follow import follow_records  # noqa: PLC0415 - see the imports

    records = follow_records(path, poll_interval=args.interval)
    try:
        while True:
            record = next(records)  # never exhausted: it follows until closed
            if record is None:
                if not args.follow:
                    break
                continue
            if not wanted(record.trace):
                continue
            if args.json:
                text = json.dumps(record.trace, separators=(",", ":"), allow_nan=True)
            else:
                text = format_line(record.trace)
            print(text, flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        records.close()
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
        print(f"actiontrace: serving {path} at {server.url} (Ctrl-C to stop)", flush=True)
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
