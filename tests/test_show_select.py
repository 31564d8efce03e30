"""Read-side polish on the command line: ``show FILE:LINE``, ``--action``, ``--status``, tail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actiontrace import ActionExecutionTrace, StructuredTrace
from actiontrace.analysis.watch import format_line
from actiontrace.cli import main
from actiontrace.output.records import make_record


def line(action: str, status: str = "success") -> str:
    trace = ActionExecutionTrace(
        action_id=action, actor_id="hero", turn_action={"actionDefinitionId": action}
    )
    trace.capture_dispatch_start()
    if status == "error":
        trace.capture_error(ValueError("broken"))
    else:
        trace.capture_dispatch_result({"success": status == "success"})
    return trace.to_json()


def structured() -> str:
    steps = StructuredTrace()
    with steps.span("dispatch_action"):
        with steps.span("create_payload"):
            pass
        with steps.span("dispatch_event"):
            pass
    return steps.to_json()


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    rows = [
        line("core:go"),
        "",
        line("magic:cast", "error"),
        "{damaged",
        line("core:take", "failed"),
        structured(),
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_file_colon_line_shows_the_one_trace_there(
    traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", f"{traces}:3")
    assert code == 0
    assert out.startswith(f"── {traces}:3\nAction: magic:cast | Actor: hero | Status: error")
    assert out.count("── ") == 1


def test_show_file_colon_line_takes_the_form_the_report_prints(
    traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", str(traces), "--json")
    where = next(e for e in json.loads(out)["slowest"] if e["actionId"] == "core:take")
    code, out, _ = run(capsys, "show", f"{where['file']}:{where['line']}")
    assert code == 0 and "Action: core:take" in out and out.count("── ") == 1


@pytest.mark.parametrize(("at", "why"), [(2, "blank"), (4, "damaged"), (99, "past the end")])
def test_show_file_colon_line_without_a_trace_there_exits_2(
    traces: Path, capsys: pytest.CaptureFixture[str], at: int, why: str
) -> None:
    code, out, err = run(capsys, "show", f"{traces}:{at}")
    assert (code, out) == (2, ""), why
    assert err == f"actiontrace: error: no trace in {traces}:{at} matches\n"


def test_a_file_whose_name_ends_in_colon_digits_is_read_as_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "run:2"
    odd.write_text(line("core:a") + "\n" + line("core:b") + "\n")
    code, out, _ = run(capsys, "show", str(odd))
    assert code == 0 and out.count("── ") == 2


def test_show_filters_by_action_and_status(
    traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", str(traces), "--action", "core:*")
    assert code == 0 and out.count("── ") == 2 and "magic:cast" not in out
    code, out, _ = run(capsys, "show", str(traces), "--status", "error,failed")
    assert code == 0
    assert [row.split(" | ")[0] for row in out.splitlines() if row.startswith("Action:")] == [
        "Action: magic:cast",
        "Action: core:take",
    ]
    code, out, _ = run(capsys, "show", str(traces), "--action", "dispatch_*")
    assert code == 0 and "Trace type: structured" in out  # a root operation matches too
    code, out, err = run(capsys, "show", str(traces), "--action", "none:*")
    assert (code, out) == (2, "") and "matches" in err


def test_show_tree_takes_the_filters_too(traces: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", str(traces), "--tree", "--status", "failed")
    assert code == 0 and "core:take" in out and "core:go" not in out


def test_a_bad_status_is_a_usage_error(traces: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["show", str(traces), "--status", "great"])
    assert caught.value.code == 2
    assert "unknown status great" in capsys.readouterr().err


def test_tail_prints_a_structured_trace_as_its_own_line(
    traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "tail", str(traces))
    assert code == 0
    last = out.splitlines()[-1]
    assert "success" in last and "dispatch_action" in last and "3 spans" in last
    assert " ms" in last and "?" not in last


def test_format_line_of_other_trace_types_names_the_type() -> None:
    record = make_record({"metadata": {"traceType": "custom", "actionId": "x"}}, "f", 1)
    assert record is not None
    assert format_line(record).split()[1:] == ["custom", "x", "-"]
    empty = make_record({"metadata": {"traceType": "structured"}}, "f", 1)
    assert empty is not None and "(no spans)" in format_line(empty)
