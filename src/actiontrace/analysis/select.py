"""Choosing traces by action and status: ``--action`` and ``--status`` of ``tail`` and ``show``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..statuses import SPAN_STATUSES, STATUSES

TYPE_CHECKING = False  # typing.TYPE_CHECKING (type checkers know it), without the import
if TYPE_CHECKING:
    from ..output.records import TraceRecord

__all__ = [
    "STATUS_CHOICES",
    "add_selection_arguments",
    "parse_pattern",
    "parse_statuses",
    "selector",
]

STATUS_CHOICES = (*STATUSES, *(status for status in SPAN_STATUSES if status not in STATUSES))
"""Statuses ``--status`` accepts: an execution trace's, and a structured trace's root span's."""


def parse_statuses(text: str) -> frozenset[str]:
    """Parse ``--status``: comma-separated statuses, each one of ``STATUS_CHOICES``."""
    wanted = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(wanted.difference(STATUS_CHOICES))
    if not wanted or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown status {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(STATUS_CHOICES)}"
        )
    return wanted


def parse_pattern(text: str) -> str:
    """Parse ``--action``: a non-empty pattern (``*`` matches any run of characters)."""
    if not text:
        raise argparse.ArgumentTypeError("the pattern must not be empty")
    return text


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--action PATTERN`` and ``--status STATUS`` to a subcommand's parser."""
    parser.add_argument(
        "--action", type=parse_pattern, metavar="PATTERN", help="only actions matching (* wildcard)"
    )
    parser.add_argument(
        "--status",
        type=parse_statuses,
        metavar="STATUS",
        help=f"only these statuses, comma-separated ({', '.join(STATUS_CHOICES)})",
    )


def selector(pattern: str | None, statuses: frozenset[str] | None) -> Callable[[TraceRecord], bool]:
    """Return a filter of records: action (or root operation) matching, status among those."""
    from ..pipeline.filter import action_matches  # noqa: PLC0415 - the parser stays light

    def wanted(record: TraceRecord) -> bool:
        if statuses is not None and record.status not in statuses:
            return False
        if pattern is None:
            return True
        if action_matches(pattern, record.action_id):
            return True
        return record.operation is not None and action_matches(pattern, record.operation)

    return wanted
