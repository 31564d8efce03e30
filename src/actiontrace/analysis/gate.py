"""``actiontrace check PATH``: a latency and error gate for CI.

Limits: ``--max-p95 MS`` and ``--max-p99 MS`` for every action, ``--action PATTERN=MS`` an action's
own p95 limit (patterns as the filter's: ``*`` matches any run of characters; the first matching
``--action`` applies, else ``--max-p95``), ``--max-error-rate FRACTION`` the share of ``error``
traces (a ``failed`` action is an ordinary game outcome). Actions with fewer than ``--min-count``
traces read (default 20; the traces in the files, not an estimate) are reported but never fail
the gate. Figures of sampled runs are the
report's estimates (a trace kept by rate ``r`` weighs ``1 / r``).

Exit codes: 0 every action within its limits; 1 one line per violation (action, figure, limit);
2 a usage error or no traces.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from typing import Any

from ..pipeline.filter import action_matches
from .runs import ActionRun, Run, load_for_command, number_argument
from .text import printable

__all__ = ["DEFAULT_MIN_COUNT", "Limits", "Violation", "check_run", "register", "run"]

DEFAULT_MIN_COUNT = 20
"""Traces an action needs before its limits can fail the gate."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits ``check`` holds actions to (``None``: no limit)."""

    max_p95: float | None = None
    max_p99: float | None = None
    max_error_rate: float | None = None
    actions: tuple[tuple[str, float], ...] = ()
    min_count: int = DEFAULT_MIN_COUNT

    def p95_limit(self, action_id: str) -> float | None:
        """Return one action's p95 limit: the first matching ``--action``, else ``max_p95``."""
        for pattern, limit in self.actions:
            if action_matches(pattern, action_id):
                return limit
        return self.max_p95


@dataclass(frozen=True, slots=True)
class Violation:
    """One limit exceeded: the action, the figure (``p95``, ``p99``, ``errorRate``), both values."""

    action: str
    figure: str
    value: float
    limit: float


def _figures(action: ActionRun, weighted: bool) -> dict[str, Any]:
    return {
        "count": action.count,
        "estimatedCount": math.floor(action.weighted_count + 0.5) if weighted else action.count,
        "p95": action.percentile(95, weighted=weighted),
        "p99": action.percentile(99, weighted=weighted),
        "errorRate": action.error_rate(weighted=weighted),
    }


def check_run(run: Run, limits: Limits) -> tuple[list[Violation], dict[str, dict[str, Any]]]:
    """Hold every action of ``run`` to ``limits``: the violations, and each action's figures."""
    violations: list[Violation] = []
    table: dict[str, dict[str, Any]] = {}
    weighted = run.weighted > 0
    for name in sorted(run.actions):
        figures = _figures(run.actions[name], weighted)
        p95_limit = limits.p95_limit(name)
        gated = figures["count"] >= limits.min_count
        figures["gated"] = gated
        figures["p95Limit"] = p95_limit
        table[name] = figures
        if not gated:
            continue
        for figure, limit in (
            ("p95", p95_limit),
            ("p99", limits.max_p99),
            ("errorRate", limits.max_error_rate),
        ):
            value = figures[figure]
            if limit is not None and value is not None and value > limit:
                violations.append(Violation(name, figure, value, limit))
    return violations, table


def _value(figure: str, value: float) -> str:
    return f"{value:.4f}" if figure == "errorRate" else f"{value:.3f} ms"


_LABELS = {"p95": "p95", "p99": "p99", "errorRate": "error rate"}


def _text(run: Run, limits: Limits, violations: list[Violation], table: dict[str, Any]) -> str:
    estimated = " (estimated from sampled traces)" if run.weighted else ""
    damaged = run.stats.corrupt + run.stats.torn
    skipped = f", {damaged} damaged lines skipped" if damaged else ""
    lines = [
        f"check {printable(run.path)}: {run.traces} traces, {len(table)} actions"
        f"{estimated}{skipped}"
    ]
    for violation in violations:
        lines.append(
            f"FAIL {printable(violation.action)}: {_LABELS[violation.figure]} "
            f"{_value(violation.figure, violation.value)} exceeds the limit of "
            f"{_value(violation.figure, violation.limit)}"
        )
    for name, figures in table.items():
        if not figures["gated"]:
            lines.append(
                f"NOTE {printable(name)}: {figures['count']} traces, fewer than "
                f"--min-count {limits.min_count}: reported, not gated"
            )
    if violations:
        actions = len({violation.action for violation in violations})
        lines.append(
            f"check: FAILED: {len(violations)} violation{'s' * (len(violations) != 1)} "
            f"in {actions} action{'s' * (actions != 1)}"
        )
    else:
        gated = sum(1 for figures in table.values() if figures["gated"])
        lines.append(f"check: passed: {gated} gated action{'s' * (gated != 1)} within limits")
    return "\n".join(lines)


def _json(run: Run, limits: Limits, violations: list[Violation], table: dict[str, Any]) -> str:
    document = {
        "path": run.path,
        "passed": not violations,
        "estimated": run.weighted > 0,
        "traces": run.traces,
        "limits": {
            "maxP95": limits.max_p95,
            "maxP99": limits.max_p99,
            "maxErrorRate": limits.max_error_rate,
            "actions": [{"pattern": pattern, "p95": ms} for pattern, ms in limits.actions],
            "minCount": limits.min_count,
        },
        "violations": [
            {"action": v.action, "figure": v.figure, "value": v.value, "limit": v.limit}
            for v in violations
        ],
        "actions": table,
        "damaged": run.stats.corrupt + run.stats.torn,
    }
    return json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False)


def run(args: argparse.Namespace) -> int:
    """Run ``check`` with parsed arguments; return the exit code."""
    loaded = load_for_command("check", args.path)
    if isinstance(loaded, int):
        return loaded
    limits = Limits(
        max_p95=args.max_p95,
        max_p99=args.max_p99,
        max_error_rate=args.max_error_rate,
        actions=tuple(args.action or ()),
        min_count=args.min_count,
    )
    violations, table = check_run(loaded, limits)
    render = _json if args.json else _text
    print(render(loaded, limits, violations, table))
    return 1 if violations else 0


_ms = number_argument("a number of ms")
_fraction = number_argument("a fraction", maximum=1)
_count = number_argument("an integer", integer=True)


def _action_limit(text: str) -> tuple[str, float]:
    pattern, sep, ms = text.rpartition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(f"expected PATTERN=MS, got {text!r}")
    return pattern, _ms(ms)


def register(subparsers: Any) -> None:
    """Add ``check`` to the ``actiontrace`` command line."""
    parser = subparsers.add_parser(
        "check",
        help="fail (exit 1) when an action is slower or errs more than its limits (CI gate)",
        description="Hold every action of a run to latency and error limits: exit 0 when all "
        "are within them, 1 with one line per violation, 2 for usage errors or no traces.",
    )
    parser.add_argument("path", metavar="PATH", help="a trace file or a folder of them")
    parser.add_argument("--max-p95", type=_ms, metavar="MS", help="p95 limit of every action")
    parser.add_argument("--max-p99", type=_ms, metavar="MS", help="p99 limit of every action")
    parser.add_argument(
        "--max-error-rate",
        type=_fraction,
        metavar="FRACTION",
        help="largest share of error traces per action (failed ones do not count)",
    )
    parser.add_argument(
        "--action",
        type=_action_limit,
        action="append",
        metavar="PATTERN=MS",
        help="an action's own p95 limit (* wildcard; the first matching one applies)",
    )
    parser.add_argument(
        "--min-count",
        type=_count,
        default=DEFAULT_MIN_COUNT,
        metavar="N",
        help=f"actions with fewer traces are reported, never failed ({DEFAULT_MIN_COUNT})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)
