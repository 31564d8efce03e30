"""The ``actiontrace`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .factory import ActionExecutionTraceFactory

__all__ = ["main"]


def _demo() -> int:
    factory = ActionExecutionTraceFactory()
    last = None
    for turn, (action, command) in enumerate(
        [("core:go", "go north"), ("core:take", "take lamp"), ("core:attack", "attack troll")]
    ):
        trace = factory.create_trace(
            action_id=action,
            actor_id="player-1",
            turn_action={"actionDefinitionId": action, "commandString": command},
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload({"turn": turn, "password": "hunter2"})
        trace.capture_dispatch_result({"success": action != "core:attack"})
        print(trace.to_summary())
        last = trace
    assert last is not None
    print(last.to_json(indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="actiontrace")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a short scripted session")
    parser.parse_args(argv)
    return _demo()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
