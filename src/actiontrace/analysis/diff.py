"""``actiontrace diff BASE NEW``: compare two runs action by action, and say what really changed.

For each action present in either run: the count, p50 and p95 (ms) before and after with their
change in percent, the error rate before and after, and whether the latency changed
significantly: a two-sided Mann–Whitney U test of the two runs' durations, significant at a
family-wise error rate of 0.01 after the Holm–Bonferroni correction across all the actions
compared. Sampled traces are compared as kept (not weighted), and the output says so.

``--markdown`` prints a table for a pull-request comment; ``--json`` one object. With
``--fail-on PERCENT`` the exit code is 1 when an action got significantly slower at p50 by more
than PERCENT; otherwise 0 (2 for usage errors or a run without traces).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .runs import ActionRun, Run, load_for_command, number_argument
from .stats import holm_bonferroni, mann_whitney_u
from .text import printable

__all__ = [
    "ALPHA",
    "compare_runs",
    "register",
    "regressions",
    "render_markdown",
    "render_text",
    "run",
]

ALPHA = 0.01
"""Family-wise error rate of the significance verdicts."""


def _change(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return (after - before) / before * 100


def _side(action: ActionRun | None) -> dict[str, Any]:
    if action is None:
        return {"count": 0, "p50": None, "p95": None, "errorRate": None}
    return {
        "count": action.count,
        "p50": action.percentile(50),
        "p95": action.percentile(95),
        "errorRate": action.error_rate(),
    }


def compare_runs(base: Run, new: Run, *, alpha: float = ALPHA) -> dict[str, Any]:
    """Compare two runs: the document ``diff --json`` prints (see the module documentation)."""
    names = sorted(set(base.actions) | set(new.actions))
    rows: dict[str, dict[str, Any]] = {}
    tested: list[str] = []
    p_values: list[float] = []
    for name in names:
        before, after = base.actions.get(name), new.actions.get(name)
        b, a = _side(before), _side(after)
        row: dict[str, Any] = {
            "base": b,
            "new": a,
            "p50Change": _change(b["p50"], a["p50"]),
            "p95Change": _change(b["p95"], a["p95"]),
            "pValue": None,
            "adjustedP": None,
            "significant": False,
            "direction": None,
        }
        if before is not None and after is not None and before.durations and after.durations:
            result = mann_whitney_u(after.durations, before.durations)
            half = len(after.durations) * len(before.durations) / 2
            row["pValue"] = result.p
            row["direction"] = (
                "slower" if result.u > half else "faster" if result.u < half else "same"
            )
            tested.append(name)
            p_values.append(result.p)
        rows[name] = row
    for name, (adjusted, significant) in zip(tested, holm_bonferroni(p_values, alpha), strict=True):
        rows[name]["adjustedP"] = adjusted
        rows[name]["significant"] = significant
    return {
        "base": base.path,
        "new": new.path,
        "alpha": alpha,
        "test": "two-sided Mann-Whitney U, Holm-Bonferroni across actions",
        "sampled": bool(base.sampled or new.sampled),
        "damaged": {
            "base": base.stats.corrupt + base.stats.torn,
            "new": new.stats.corrupt + new.stats.torn,
        },
        "actions": rows,
    }


def regressions(document: dict[str, Any], percent: float) -> list[str]:
    """Actions significantly slower at p50 by more than ``percent``."""
    return [
        name
        for name, row in document["actions"].items()
        if row["significant"]
        and row["direction"] == "slower"
        and row["p50Change"] is not None
        and row["p50Change"] > percent
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _verdict(row: dict[str, Any]) -> str:
    if row["pValue"] is None:
        return "not compared"
    if row["significant"]:
        return f"yes, {row['direction']}"
    return "no"


def _cells(row: dict[str, Any]) -> list[str]:
    b, a = row["base"], row["new"]
    return [
        f"{b['count']} → {a['count']}",
        f"{_ms(b['p50'])} → {_ms(a['p50'])}",
        _pct(row["p50Change"]),
        f"{_ms(b['p95'])} → {_ms(a['p95'])}",
        _pct(row["p95Change"]),
        f"{_rate(b['errorRate'])} → {_rate(a['errorRate'])}",
        _verdict(row),
    ]


_HEAD = ["action", "count", "p50 (ms)", "Δ p50", "p95 (ms)", "Δ p95", "error rate", "significant"]


def _notes(document: dict[str, Any]) -> list[str]:
    notes = [
        f"Significant: {document['test']}, family-wise error rate {document['alpha']:g}.",
    ]
    if document["sampled"]:
        notes.append("Sampled traces are compared as kept (not weighted by their sampling rate).")
    damaged = document["damaged"]
    if damaged["base"] or damaged["new"]:
        notes.append(
            f"Damaged lines skipped: {damaged['base']} in the base run, "
            f"{damaged['new']} in the new."
        )
    return notes


def render_text(document: dict[str, Any]) -> str:
    """Render the comparison as an aligned text table."""
    rows = [[printable(name), *_cells(row)] for name, row in document["actions"].items()]
    table = [_HEAD, *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEAD))]
    lines = [f"diff {printable(document['base'])} -> {printable(document['new'])}"]
    for line in table:
        lines.append(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    lines += _notes(document)
    return "\n".join(lines)


def _markdown_cell(text: str) -> str:
    # Pipes would split the cell; backslashes and backticks would start Markdown syntax.
    clean = printable(text)
    for char in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        clean = clean.replace(char, "\\" + char)
    return clean


def render_markdown(document: dict[str, Any]) -> str:
    """Render the comparison as a Markdown table, for a pull-request comment."""
    base = printable(document["base"]).replace("`", "'")
    new = printable(document["new"]).replace("`", "'")
    lines = [
        f"### actiontrace diff: `{base}` → `{new}`",
        "",
        "| " + " | ".join(_HEAD) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(_HEAD) - 2) + [" --- "]) + "|",
    ]
    for name, row in document["actions"].items():
        cells = _cells(row)
        if row["significant"]:
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join([_markdown_cell(name), *cells]) + " |")
    lines.append("")
    lines += [f"_{note}_" for note in _notes(document)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``diff`` with parsed arguments; return the exit code."""
    base = load_for_command("diff", args.base)
    if isinstance(base, int):
        return base
    new = load_for_command("diff", args.new)
    if isinstance(new, int):
        return new
    document = compare_runs(base, new)
    failing = regressions(document, args.fail_on) if args.fail_on is not None else []
    if args.fail_on is not None:
        document["failOn"] = args.fail_on
        document["regressions"] = failing
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False))
    elif args.markdown:
        print(render_markdown(document))
    else:
        print(render_text(document))
    if failing:
        names = ", ".join(printable(name) for name in failing)
        print(
            f"diff: FAILED: significantly slower at p50 by more than {args.fail_on:g}%: {names}",
            file=sys.stderr,
        )
        return 1
    return 0


_percent = number_argument("a percentage", suffix="%")


def register(subparsers: Any) -> None:
    """Add ``diff`` to the ``actiontrace`` command line."""
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs per action: counts, p50/p95, error rates, significant changes",
        description="Compare two runs action by action. A latency change is significant when a "
        "two-sided Mann-Whitney U test says so at a family-wise 0.01 (Holm-Bonferroni across "
        "the actions compared).",
    )
    parser.add_argument("base", metavar="BASE", help="the reference run (a file or folder)")
    parser.add_argument("new", metavar="NEW", help="the run to compare with it")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--fail-on",
        type=_percent,
        metavar="PERCENT",
        help="exit 1 when an action got significantly slower at p50 by more than PERCENT",
    )
    parser.set_defaults(func=run)
