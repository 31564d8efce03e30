"""One run's traces, per action, for the CI gates (``check``) and run comparison (``diff``).

``load_run(path)`` is the only place these commands read traces: through the one read path
(``scan_traces``), execution traces only. Per action it keeps the counts by status and the
durations with their weights: a trace a ``TailSampler`` kept by rate ``r`` (its ``sampling``
record says ``"reason": "rate"``) weighs ``1 / r``, every other trace 1. Memory is bounded by the
number of actions: past ``max_samples`` durations per action the samples become a seeded uniform
reservoir (reproducible), and their percentiles estimates.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from .stats import nearest_rank, weighted_percentile

TYPE_CHECKING = False  # typing.TYPE_CHECKING (type checkers know it), without the import
if TYPE_CHECKING:
    from ..output.reader import ReadStats

__all__ = [
    "DEFAULT_MAX_SAMPLES",
    "ActionRun",
    "Run",
    "command_error",
    "load_for_command",
    "load_run",
    "number_argument",
]

DEFAULT_MAX_SAMPLES = 100_000
"""Durations kept per action before the samples become a uniform reservoir."""


class ActionRun:
    """One action's traces in a run: counts by status, and durations (ms) with their weights."""

    __slots__ = (
        "count",
        "durations",
        "errors",
        "failed",
        "limit",
        "rng",
        "seen",
        "weighted_count",
        "weighted_errors",
        "weights",
    )

    def __init__(self, limit: int = DEFAULT_MAX_SAMPLES) -> None:
        self.limit = limit
        self.count = 0
        self.errors = 0
        self.failed = 0
        self.weighted_count = 0.0
        self.weighted_errors = 0.0
        self.durations = array("d")
        self.weights = array("d")
        self.seen = 0
        self.rng: random.Random | None = None

    def add(self, status: str, duration: float | None, weight: float = 1.0) -> None:
        """Count one trace of this action."""
        self.count += 1
        self.weighted_count += weight
        if status == "error":
            self.errors += 1
            self.weighted_errors += weight
        elif status == "failed":
            self.failed += 1
        if duration is None:
            return
        self.seen += 1
        if len(self.durations) < self.limit:
            self.durations.append(duration)
            self.weights.append(weight)
            return
        if self.rng is None:
            self.rng = random.Random(0)
        slot = self.rng.randrange(self.seen)
        if slot < self.limit:
            self.durations[slot] = duration
            self.weights[slot] = weight

    def percentile(self, p: float, *, weighted: bool = False) -> float | None:
        """Nearest-rank ``p``-th percentile of the durations (weighted: each by its weight)."""
        if weighted:
            return weighted_percentile(list(zip(self.durations, self.weights, strict=True)), p)
        return nearest_rank(sorted(self.durations), p)

    def error_rate(self, *, weighted: bool = False) -> float | None:
        """Share of ``error`` traces (``failed`` ones are ordinary game outcomes)."""
        if weighted:
            total = self.weighted_count
            return self.weighted_errors / total if total > 0 else None
        return self.errors / self.count if self.count else None


def _new_stats() -> ReadStats:
    # The read path loads when a run is read: registering ``check`` and ``diff`` needs none of it.
    from ..output.reader import ReadStats  # noqa: PLC0415

    return ReadStats()


@dataclass(slots=True)
class Run:
    """What ``load_run`` read: ``actions`` by id, the read ``stats``, and sampling counts.

    ``sampled``: traces carrying a ``sampling`` record; ``weighted``: those kept by rate.
    """

    path: str
    actions: dict[str, ActionRun] = field(default_factory=dict)
    stats: ReadStats = field(default_factory=_new_stats)
    sampled: int = 0
    weighted: int = 0

    @property
    def traces(self) -> int:
        """Execution traces read."""
        return sum(action.count for action in self.actions.values())


def load_run(path: str | os.PathLike[str], *, max_samples: int = DEFAULT_MAX_SAMPLES) -> Run:
    """Read the execution traces under ``path`` (a file or folder) into a ``Run``.

    Raises ``FileNotFoundError`` when ``path`` does not exist; damaged lines and unreadable files
    are counted in ``run.stats``, never raised.
    """
    from ..output.reader import scan_traces  # noqa: PLC0415 - see _new_stats

    run = Run(os.fspath(path))
    actions = run.actions
    for record in scan_traces(path, run.stats, fast=True):
        if not record.is_execution:
            continue
        weight = 1.0
        if record.sampling_reason is not None:
            run.sampled += 1
            rate = record.sampling_rate
            if record.sampling_reason == "rate" and rate is not None:
                weight = 1.0 / rate
                run.weighted += 1
        action = actions.get(record.action_id)
        if action is None:
            action = actions[record.action_id] = ActionRun(max_samples)
        action.add(record.status, record.duration, weight)
    return run


def command_error(command: str, message: str) -> int:
    """Report a user error of ``command`` the way every command does: one line on stderr; 2."""
    print(f"actiontrace: error: {command}: {' '.join(message.split())}", file=sys.stderr)
    return 2


def load_for_command(command: str, path: str) -> Run | int:
    """``load_run(path)`` for a command: the ``Run``, or exit code 2 after a one-line message.

    A missing or unreadable path, or one holding no execution traces, is a usage error.
    """
    if not os.path.exists(path):
        return command_error(command, f"no such file or directory: {path}")
    try:
        run = load_run(path)
    except OSError as error:
        return command_error(command, f"cannot read {path}: {error.strerror or error}")
    if not run.actions:
        stats = run.stats
        skipped = stats.corrupt + stats.torn + stats.unreadable + stats.skipped
        detail = f" ({skipped} damaged lines or unreadable files skipped)" if skipped else ""
        return command_error(command, f"no execution traces found in {path}{detail}")
    return run


def number_argument(
    what: str, *, maximum: float | None = None, integer: bool = False, suffix: str = ""
) -> Callable[[str], float]:
    """Make an ``argparse`` type: a finite number >= 0 (at most ``maximum``) called ``what``.

    ``integer`` accepts whole numbers only; ``suffix`` (``%``) may follow the number.
    """
    allowed = f"between 0 and {maximum:g}" if maximum is not None else ">= 0"

    def parse(text: str) -> float:
        try:
            bare = text.removesuffix(suffix) if suffix else text
            value = int(bare) if integer else float(bare)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not math.isfinite(value) or value < 0 or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what} {allowed}, got {text!r}")
        return value

    return parse
