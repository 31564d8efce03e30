"""``actiontrace tail``: a line (or JSON object) per trace, filters, -f, Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from actiontrace.analysis.watch import format_line
from actiontrace.cli import main

# Ctrl-C in a terminal: the child gets Python's own SIGINT handler even when started from a
# background job (where SIGINT is inherited as ignored).
CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from actiontrace.cli import main; sys.exit(main(sys.argv[1:]))"
)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def trace(n: int, action: str = "core:go", status: str = "success") -> dict[str, Any]:
    return {
        "metadata": {
            "actionId": action,
            "actorId": "aria",
            "traceId": TRACE_ID,
            "traceType": "execution",
        },
        "execution": {
            "status": status,
            "duration": 1.5 + n,
            "startEpochNs": 1_800_000_000_123_000_000 + n,
        },
        "eventPayload": {"n": n},
    }


def write(path: Path, traces: list[dict[str, Any]], mode: str = "w") -> None:
    with path.open(mode) as handle:
        handle.write("".join(json.dumps(t) + "\n" for t in traces))


def test_tail_prints_one_line_per_existing_trace_and_exits(tmp_path: Path, capsys: Any) -> None:
    write(tmp_path / "a.jsonl", [trace(0), trace(1, "core:take", "failed")])
    assert main(["tail", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    wall = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_800_000_000))
    assert lines[0].startswith(f"{wall}.123  success  core:go ")
    assert "aria" in lines[0] and "1.50 ms" in lines[0] and lines[0].endswith(TRACE_ID)
    assert "failed" in lines[1] and "core:take" in lines[1] and "2.50 ms" in lines[1]


def test_tail_filters_by_action_pattern_and_status(tmp_path: Path, capsys: Any) -> None:
    write(
        tmp_path / "a.jsonl",
        [
            trace(0, "core:go"),
            trace(1, "magic:cast", "error"),
            trace(2, "magic:cast"),
            trace(3, "core:take", "failed"),
        ],
    )
    assert main(["tail", str(tmp_path), "--action", "magic:*", "--json"]) == 0
    assert [json.loads(x)["eventPayload"]["n"] for x in capsys.readouterr().out.split()] == [1, 2]
    assert main(["tail", str(tmp_path), "--status", "failed, error", "--json"]) == 0
    assert [json.loads(x)["eventPayload"]["n"] for x in capsys.readouterr().out.split()] == [1, 3]
    assert main(["tail", str(tmp_path), "--action", "core:*", "--status", "success"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--status", "bogus"],
        ["--status", ","],
        ["--action", ""],
        ["--interval", "0"],
        ["--interval", "x"],
    ],
)
def test_tail_rejects_bad_options(tmp_path: Path, argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tail", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert "tail" in capsys.readouterr().err


def test_tail_of_a_missing_path_exits_2(tmp_path: Path, capsys: Any) -> None:
    assert main(["tail", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("actiontrace: error: no such file or directory")


def test_format_line_escapes_terminal_controls_and_tolerates_gaps() -> None:
    hostile = {
        "metadata": {"actionId": "go\x1b[2J\u202e", "actorId": 5, "traceType": "execution"},
        "execution": None,
    }
    line = format_line(hostile)
    assert "\x1b" not in line and "\u202e" not in line
    assert "go\\x1b[2J\\u202e" in line
    assert line.startswith("-" * 23) and "?" in line and line.rstrip().endswith("-")
    meta = {"traceType": "execution"}
    odd = {"metadata": meta, "execution": {"startEpochNs": 10**30, "duration": 10**400}}
    assert format_line(odd).startswith("-" * 23)
    assert "0.250 ms" in format_line({"metadata": meta, "execution": {"duration": 0.25}})
    assert format_line({"metadata": {}}) == "-" * 23 + "  not a trace"


def test_tail_json_feeds_another_program_through_a_pipe(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", [trace(n) for n in range(300)])
    reader = (
        "import json, sys; rows = [json.loads(line) for line in sys.stdin]; "
        "print(len(rows), sum(r['eventPayload']['n'] for r in rows))"
    )
    tail = subprocess.Popen(
        [sys.executable, "-c", CHILD, "tail", str(tmp_path), "--json"], stdout=subprocess.PIPE
    )
    result = subprocess.run(
        [sys.executable, "-c", reader],
        stdin=tail.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tail.stdout is not None
    tail.stdout.close()
    assert tail.wait(30) == 0
    assert result.stdout.split() == ["300", str(sum(range(300)))]


def test_tail_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", [trace(n) for n in range(20_000)])
    tail = subprocess.Popen(
        [sys.executable, "-c", CHILD, "tail", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tail.stdout is not None and tail.stderr is not None
    assert tail.stdout.readline()  # like `| head -1`
    tail.stdout.close()
    tail.wait(30)
    assert tail.stderr.read() == b""


def test_tail_follow_prints_new_traces_and_ctrl_c_exits_0(tmp_path: Path) -> None:
    active = tmp_path / "a.jsonl"
    write(active, [trace(0)])
    tail = subprocess.Popen(
        [sys.executable, "-c", CHILD, "tail", str(tmp_path), "-f", "--json", "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tail.stdout is not None and tail.stderr is not None
    try:
        assert json.loads(tail.stdout.readline())["eventPayload"]["n"] == 0
        write(active, [trace(1)], mode="a")
        (tmp_path / "b.jsonl").write_text(json.dumps(trace(2)) + "\n")
        assert json.loads(tail.stdout.readline())["eventPayload"]["n"] == 1
        assert json.loads(tail.stdout.readline())["eventPayload"]["n"] == 2
        os.kill(tail.pid, signal.SIGINT)
        assert tail.wait(30) == 0
    finally:
        if tail.poll() is None:  # pragma: no cover - only when the test already failed
            tail.kill()
            tail.wait()
    assert b"Traceback" not in tail.stderr.read()
    assert tail.stdout.read() == b""


def test_tail_writes_to_any_text_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.jsonl", [trace(0)])
    out = io.StringIO()  # no reconfigure(): printed as it is
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["tail", str(tmp_path), "--json"]) == 0
    assert json.loads(out.getvalue())["eventPayload"] == {"n": 0}
