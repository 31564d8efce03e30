"""The command line: report (text, --json, --by, --html), show, demo, errors and extensions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from actiontrace import ActionExecutionTrace, cli
from actiontrace.cli import main

# Reference §13's object for machines (more keys allowed).
REPORT_SCHEMA = {
    "type": "object",
    "required": ["total", "actions", "errorTypes", "slowest"],
    "properties": {
        "total": {"type": "integer"},
        "actions": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["count", "success", "failed", "error", "p50", "p95", "p99", "max"],
                "properties": {
                    **{k: {"type": "integer"} for k in ("count", "success", "failed", "error")},
                    **{k: {"type": ["number", "null"]} for k in ("p50", "p95", "p99", "max")},
                },
            },
        },
        "errorTypes": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["count", "example"],
                "properties": {"count": {"type": "integer"}, "example": {"type": "string"}},
            },
        },
        "slowest": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["actionId", "actorId", "duration", "file"],
                "properties": {
                    "actionId": {"type": "string"},
                    "actorId": {"type": "string"},
                    "duration": {"type": "number"},
                    "file": {"type": "string"},
                },
            },
        },
    },
}


def trace_dict(
    action: str, duration: float, status: str = "success", **extra: Any
) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "metadata": {"actionId": action, "actorId": "hero", "traceType": "execution"},
        "execution": {"duration": duration, "status": status, "phases": []},
        "eventPayload": None,
        "result": None,
        "error": None,
    }
    trace.update(extra)
    return trace


def write_jsonl(path: Path, traces: list[dict[str, Any]], junk: tuple[int, ...] = ()) -> Path:
    lines = [json.dumps(t) for t in traces]
    for at in junk:
        lines.insert(at, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def known(tmp_path: Path) -> Path:
    """A folder whose traces have known durations: go 1..20 ms, one cast error, a corrupt line."""
    folder = tmp_path / "traces"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [trace_dict("core:go", float(d)) for d in range(1, 11)], (3,))
    error = {"type": "RulesEngineError", "message": "engine crashed", "stack": None, "cause": None}
    write_jsonl(
        folder / "b.jsonl",
        [trace_dict("core:go", float(d), customMetadata={"zone": "north"}) for d in range(11, 21)]
        + [trace_dict("magic:cast", 50.0, "error", error=error)],
    )
    (folder / "notes.txt").write_text("not a trace file", encoding="utf-8")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- report ----------------------------------------------------------------------------------------


def test_report_json_is_specs_object_with_known_figures(
    known: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "report", str(known), "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["total"] == 21
    go = report["actions"]["core:go"]
    assert go["count"] == 20 and go["success"] == 20
    assert (go["p50"], go["p95"], go["p99"], go["max"]) == (10.0, 19.0, 20.0, 20.0)
    assert report["actions"]["magic:cast"]["error"] == 1
    assert report["errorTypes"] == {"RulesEngineError": {"count": 1, "example": "engine crashed"}}
    assert report["slowest"][0]["file"] == str(known / "b.jsonl")
    assert report["slowest"][0]["line"] == 11
    assert [s["duration"] for s in report["slowest"][:3]] == [50.0, 20.0, 19.0]
    assert report["files"] == 2 and report["corrupt"] == 1


def test_report_text_labels_latencies_and_counts_skipped_lines(
    known: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", str(known))
    assert code == 0
    assert "p50 (ms)" in out and "max (ms)" in out
    assert "21 execution traces in 2 files" in out
    assert "Skipped: 1 damaged lines (1 corrupt, 0 torn), 0 files not read" in out
    assert "RulesEngineError" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_report_by_groups_on_custom_metadata(
    known: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", str(known), "--json", "--by", "zone")
    report = json.loads(out)
    assert code == 0 and report["groupBy"] == "zone"
    assert report["groups"]["north"]["core:go"]["count"] == 10
    assert report["groups"]["(none)"]["core:go"]["count"] == 10
    code, out, _ = run(capsys, "report", str(known), "--by", "zone")
    assert "zone = north" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import actiontrace

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"actiontrace {actiontrace.__version__}"


def test_report_of_a_single_file(known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", str(known / "a.jsonl"), "--json")
    assert code == 0 and json.loads(out)["total"] == 10


@pytest.mark.parametrize("command", ["report", "show"])
def test_missing_path_exits_2_with_one_line(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, command, str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err == f"actiontrace: error: no such file or directory: {tmp_path / 'nope'}\n"


@pytest.mark.parametrize("command", ["report", "show"])
def test_folder_without_traces_exits_2(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, command, str(tmp_path))
    assert code == 2 and out == ""
    assert err == f"actiontrace: error: no traces found in {tmp_path}\n"


@pytest.mark.parametrize("command", ["report", "show"])
def test_only_damaged_lines_exit_2_and_say_so(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.jsonl").write_text("garbage\n[1]\n", encoding="utf-8")
    code, _, err = run(capsys, command, str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1
    assert "no traces found" in err and "(2 damaged lines or unreadable files skipped)" in err


@pytest.mark.parametrize("command", ["report", "show"])
def test_unreadable_file_exits_2_without_traceback(
    tmp_path: Path,
    command: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # We run as root: the permission fault is injected.
    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    # The commands import these when they run: patch them where they live.
    monkeypatch.setattr("actiontrace.analysis.report.report_path", denied)
    monkeypatch.setattr("actiontrace.output.reader.scan_traces", denied)
    code, _, err = run(capsys, command, str(tmp_path))
    assert code == 2
    assert err == f"actiontrace: error: cannot read {tmp_path}: Permission denied\n"


def test_report_html_when_the_module_is_missing_says_not_available(
    known: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "actiontrace.analysis.html", None)
    code, out, err = run(capsys, "report", str(known), "--html", str(known / "r.html"))
    assert code == 2 and out == ""
    assert err == "actiontrace: error: --html is not available in this version of actiontrace\n"


def test_report_html_calls_the_writer_and_still_prints_the_report(
    known: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    fake = types.ModuleType("actiontrace.analysis.html")
    fake.write_html_report = lambda path, html_file: calls.append((path, html_file))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "actiontrace.analysis.html", fake)
    target = str(known / "r.html")
    code, out, err = run(capsys, "report", str(known), "--html", target, "--json")
    assert code == 0
    assert calls == [(str(known), target)]
    assert json.loads(out)["total"] == 21
    assert err == f"actiontrace: HTML report written to {target}\n"


def test_report_html_write_fault_exits_1(
    known: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: str, html_file: str) -> None:
        raise OSError(28, "No space left on device")

    fake = types.ModuleType("actiontrace.analysis.html")
    fake.write_html_report = full  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "actiontrace.analysis.html", fake)
    code, out, err = run(capsys, "report", str(known), "--html", "/x/r.html")
    assert code == 1 and out == ""
    assert err == "actiontrace: error: cannot write /x/r.html: No space left on device\n"


def test_report_html_import_error_inside_the_module_is_not_hidden(
    known: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'jinja9'", name="jinja9")

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    monkeypatch.setattr(cli, "_EXTENSIONS", ())
    with pytest.raises(ModuleNotFoundError, match="jinja9"):
        main(["report", str(known), "--html", "r.html"])


# -- show ------------------------------------------------------------------------------------------


def real_traces() -> list[dict[str, Any]]:
    ok = ActionExecutionTrace(
        action_id="core:go", actor_id="hero", turn_action={"actionDefinitionId": "core:go"}
    )
    ok.capture_dispatch_start()
    ok.capture_event_payload({"room": "hall", "password": "pw"})
    ok.capture_dispatch_result({"success": True})
    bad = ActionExecutionTrace(
        action_id="magic:cast", actor_id="mage", turn_action={"actionDefinitionId": "magic:cast"}
    )
    bad.capture_dispatch_start()
    try:
        raise RuntimeError("the rules engine crashed")
    except RuntimeError as error:
        bad.capture_error(error)
    return [ok.to_dict(), bad.to_dict()]  # type: ignore[list-item]


def test_show_prints_each_trace_of_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok, bad = real_traces()
    file = write_jsonl(tmp_path / "t.jsonl", [ok, bad], (1,))
    code, out, err = run(capsys, "show", str(file))
    assert code == 0 and err == ""
    assert f"── {file}:1\nAction: core:go | Actor: hero | Status: success | Duration: " in out
    assert f"── {file}:3\nAction: magic:cast | Actor: mage | Status: error" in out
    assert "dispatch_start" in out and "payload_captured" in out
    assert '"password": "[REDACTED]"' in out
    assert "RuntimeError: the rules engine crashed" in out and "Traceback" in out


def test_show_prints_the_one_trace_of_a_json_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok, _ = real_traces()
    file = tmp_path / "one.json"
    file.write_text(json.dumps(ok, indent=2), encoding="utf-8")
    code, out, _ = run(capsys, "show", str(file))
    assert code == 0
    assert out.count("── ") == 1
    assert "Action: core:go | Actor: hero | Status: success" in out


# -- demo ------------------------------------------------------------------------------------------


def test_demo_prints_a_report_matching_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys, "demo", "--out", str(out_dir), "--actors", "3", "--turns", "8", "--seed", "4"
    )
    assert code == 0
    assert err == ""  # not a terminal: no progress bar, and the pipeline's logs stay quiet
    lines = sum(len(f.read_text().splitlines()) for f in out_dir.glob("*.jsonl"))
    actions = lines // 2  # each action: an execution trace and a structured trace of its steps
    assert lines == 2 * actions and actions >= 24  # 24 turn actions, plus their reactions
    assert f"3 actors x 8 turns (seed 4): {actions} actions dispatched" in out
    assert f"{actions} execution traces (and {actions} action_aware_structured)" in out
    total_row = next(line for line in out.splitlines() if line.startswith("all actions"))
    assert total_row.split()[2] == str(actions)


def test_demo_draws_progress_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "demo", "--out", str(tmp_path), "--turns", "2", "--seed", "1")
    assert code == 0
    assert err.endswith("] 8/8 actions\n")


def test_python_dash_m_runs_the_demo_in_a_real_process(tmp_path: Path) -> None:
    out_dir = tmp_path / "traces"
    done = subprocess.run(
        [sys.executable, "-m", "actiontrace", "demo", "--out", str(out_dir), "--seed", "9"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    files = list(out_dir.glob("*.jsonl"))
    lines = sum(len(f.read_text().splitlines()) for f in files)
    actions = lines // 2  # each action: an execution trace and a structured trace of its steps
    assert lines == 2 * actions and actions >= 100  # 100 turn actions, plus their reactions
    assert f"{actions} execution traces (and {actions} action_aware_structured)" in done.stdout


# -- arguments and the extension seam -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["demo", "--actors", "0"], ["demo", "--turns", "x"], ["report"], ["show"]],
)
def test_argument_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: actiontrace" in capsys.readouterr().err


def install_extension(monkeypatch: pytest.MonkeyPatch, run_command: Any) -> None:
    module = types.ModuleType("fake_extension")

    def register(subparsers: Any) -> None:
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(func=run_command)

    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_extension", module)
    monkeypatch.setattr(cli, "_EXTENSIONS", ("fake_extension", "actiontrace.no_such_module"))


def test_extensions_register_commands_that_return_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def hello(args: Any) -> int:
        print(f"hello {args.name}")
        return 3

    install_extension(monkeypatch, hello)
    assert main(["hello", "--name", "bob"]) == 3
    assert capsys.readouterr().out == "hello bob\n"


def test_an_extension_with_a_broken_import_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli.importlib.import_module

    def importer(name: str) -> Any:
        if name == "fake_broken":
            raise ModuleNotFoundError("No module named 'missing_dep'", name="missing_dep")
        return real(name)

    monkeypatch.setattr(cli.importlib, "import_module", importer)
    monkeypatch.setattr(cli, "_EXTENSIONS", ("fake_broken",))
    with pytest.raises(ModuleNotFoundError, match="missing_dep"):
        cli.build_parser()


def test_broken_pipe_and_interrupt_end_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def pipe(args: Any) -> int:
        raise BrokenPipeError

    install_extension(monkeypatch, pipe)
    assert main(["hello"]) == 1

    def interrupt(args: Any) -> int:
        raise KeyboardInterrupt

    install_extension(monkeypatch, interrupt)
    assert main(["hello"]) == 130


def test_show_piped_into_a_reader_that_stops_ends_quietly(tmp_path: Path) -> None:
    traces = [trace_dict("core:go", float(d), eventPayload={"pad": "x" * 2000}) for d in range(200)]
    file = write_jsonl(tmp_path / "many.jsonl", traces)
    child = subprocess.Popen(
        [sys.executable, "-m", "actiontrace", "show", str(file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()  # like `| head -1`: the reader goes away
    err = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 1
    assert first.startswith(b"\xe2\x94\x80\xe2\x94\x80 ")  # the "── file:line" header
    assert err == b""


# -- the usage guide -------------------------------------------------------------------------------


def test_usage_guide_python_blocks_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    for name in ("ACTIONTRACE_ENABLED", "ACTIONTRACE_ACTIONS", "ACTIONTRACE_DIR"):
        monkeypatch.delenv(name, raising=False)
    namespace: dict[str, Any] = {"__name__": "usage_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"usage.md block {index}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "'written': 2" in out
    assert "p50 (ms)" in out


def test_security_guide_examples_hold() -> None:
    guide = Path(__file__).resolve().parents[1] / "docs" / "security.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    namespace: dict[str, Any] = {"__name__": "security_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"security.md block {index}", "exec"), namespace)


def test_report_html_with_the_real_writer_writes_the_page(
    known: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = known.parent / "report.html"
    code, out, _ = run(capsys, "report", str(known), "--html", str(target))
    assert code == 0 and "p50 (ms)" in out
    assert target.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
