"""``actiontrace export PATH --to {otlp,chrome}`` through the real command line."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTraceFactory
from actiontrace.analysis import export
from actiontrace.cli import main
from test_otel_otlp_receiver import OTLPReceiver, attributes, closed_port


def trace_dict(index: int, outcome: str = "success") -> dict[str, Any]:
    action = f"core:act{index % 3}"
    trace = ActionExecutionTraceFactory().create_trace(
        action_id=action, actor_id=f"actor-{index % 2}", turn_action={"actionDefinitionId": action}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"turn": index})
    if outcome != "in_progress":
        trace.capture_dispatch_result({"success": outcome == "success"})
    return dict(trace.to_dict())


def write_jsonl(folder: Path, records: list[dict[str, Any]], name: str = "traces.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record) + "\n")
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    records = [trace_dict(i, "failed" if i == 2 else "success") for i in range(5)]
    records.append(trace_dict(9, "in_progress"))
    return write_jsonl(tmp_path / "traces", records)


@pytest.fixture
def receiver() -> Any:
    with OTLPReceiver() as running:
        yield running


# -- chrome ----------------------------------------------------------------------------------------


def test_export_chrome_writes_the_file_and_prints_the_count(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "timeline.json"
    assert main(["export", str(folder), "--to", "chrome", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote 5 trace(s) to {out}" in printed
    assert "(1 incomplete or malformed skipped)" in printed
    document = json.loads(out.read_text(encoding="utf-8"))
    assert len([e for e in document["traceEvents"] if e["ph"] == "X"]) == 5


def test_export_chrome_needs_out(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(folder), "--to", "chrome"]) == 2
    assert "--out" in capsys.readouterr().err


def test_export_chrome_to_an_unwritable_file_exits_2(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(folder), "--to", "chrome", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("actiontrace: error: export:")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["chrome", "otlp"])
def test_a_missing_path_exits_2_with_one_line(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    args = ["export", str(missing), "--to", target, "--out", str(tmp_path / "o.json")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no such file or directory" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["chrome", "otlp"])
def test_a_folder_without_traces_exits_2(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{closed_port()}/")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not traces")
    args = ["export", str(empty), "--to", target, "--out", str(tmp_path / "o.json")]
    assert main(args) == 2
    assert "no traces" in capsys.readouterr().err


# -- otlp ------------------------------------------------------------------------------------------


def test_export_otlp_replays_every_trace_into_the_receiver(
    folder: Path, receiver: OTLPReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "export",
            str(folder),
            "--to",
            "otlp",
            "--endpoint",
            receiver.endpoint,
            "--service-name",
            "replay",
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert f"exported to {receiver.endpoint}: 5 sent, 0 failed" in printed.out
    assert "1 incomplete or malformed skipped" in printed.out
    assert printed.err == ""  # not a terminal: no progress bar
    spans = receiver.spans()
    assert len(spans) == 5
    assert {resource["service.name"] for resource, _ in spans} == {"replay"}
    turns = sorted(attributes(span.attributes)["actiontrace.payload.turn"] for _, span in spans)
    assert turns == [0, 1, 2, 3, 4]


def test_export_otlp_sends_in_batches_with_a_progress_bar_on_a_terminal(
    tmp_path: Path,
    receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = export.BATCH_SIZE * 2 + 10
    folder = write_jsonl(tmp_path / "many", [trace_dict(i) for i in range(total)])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["export", str(folder), "--to", "otlp"]) == 0
    assert f"{total} sent, 0 failed" in capsys.readouterr().out
    bar = terminal.getvalue()
    assert f"{export.BATCH_SIZE}/{total}" in bar
    assert f"[{'#' * 30}] {total}/{total}" in bar
    assert len(receiver.spans()) == total
    assert len(receiver.requests) >= 3  # one request per batch at least


def test_export_otlp_to_a_dead_endpoint_counts_failures_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    total = export.BATCH_SIZE + 40
    folder = write_jsonl(tmp_path / "dead", [trace_dict(i) for i in range(total)])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    assert main(["export", str(folder), "--to", "otlp", "--endpoint", endpoint]) == 1
    printed = capsys.readouterr()
    assert f"0 sent, {total} failed" in printed.out
    assert "not sending the rest" in printed.err


def test_export_otlp_without_the_extra_says_how_to_install_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "actiontrace.otel", None)  # makes the import fail
    assert main(["export", str(folder), "--to", "otlp"]) == 2
    assert "actiontrace: error: export:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://a:1/t"}, "http://a:1/t"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2/"}, "http://b:2/v1/traces"),
        ({}, "http://localhost:4318/v1/traces"),
    ],
)
def test_the_endpoint_shown_is_resolved_like_the_exporter_does(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert export._endpoint(None) == expected
    assert export._endpoint("http://explicit/v1/traces") == "http://explicit/v1/traces"


def test_register_adds_the_export_subcommand_to_any_parser() -> None:
    parser = argparse.ArgumentParser(prog="x")
    export.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", "p", "--to", "chrome", "--out", "f.json"])
    assert args.func is export.run
    assert (args.path, args.to, args.out, args.endpoint, args.service_name) == (
        "p",
        "chrome",
        "f.json",
        None,
        None,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "p", "--to", "zipkin"])
