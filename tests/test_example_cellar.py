"""The adventurelib example, played from a script with tracing off and on, in real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from actiontrace import read_traces

GAME = Path(__file__).resolve().parents[1] / "examples" / "cellar.py"
PASSWORD = "s3cr3t-cellar"

TOUR = [
    "look",
    "take lamp",
    "down",
    "take scroll",
    "read scroll",  # the game's bug: raises KeyError
    "xyzzy",  # not understood
    "north",
    "login admin wrong-guess",
    f"login admin {PASSWORD}",
    "east",
    "take coin",
    "i",
    "score",
    "west",
    "south",
    "drop scroll",
    "up",
    "east",
    "take bread",
    "read bread",
    "drop bread",
    "west",
    "dance wildly",  # not understood
    "go sideways",
    "down",
    "take scroll",
    "up",
    "inventory",
    "help",
    "drop coin",
    "take coin",
    "go north",
]
UNKNOWN = {"xyzzy", "dance wildly"}
REPEATS = 10
SCRIPT = [*(TOUR * REPEATS), "score", "quit"]
AFTER_QUIT = ["score", "look"]  # never run: quit ends the game


def play(tmp_path: Path, *, trace_dir: Path | None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(GAME)]
    if trace_dir is not None:
        args += ["--trace", str(trace_dir)]
    env = {**os.environ, "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        args,
        input="\n".join([*SCRIPT, *AFTER_QUIT]) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("cellar")
    trace_dir = base / "traces"
    plain = play(base, trace_dir=None)
    traced = play(base, trace_dir=trace_dir)
    traces = sorted(read_traces(trace_dir), key=lambda t: t["execution"]["startTime"])
    return {"plain": plain, "traced": traced, "traces": traces, "dir": trace_dir}


def test_the_script_is_a_real_session() -> None:
    assert len(SCRIPT) >= 300
    assert sum(command in UNKNOWN for command in SCRIPT) == 2 * REPEATS


def test_tracing_changes_nothing_the_player_sees(session: dict[str, Any]) -> None:
    plain, traced = session["plain"], session["traced"]
    # quit exits cleanly, as untraced, and the commands after it never run.
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert plain.stdout.count(" moves, ") == SCRIPT.count("score")
    assert "Something went wrong (KeyError); the game goes on." in plain.stdout
    # Nothing reaches the player's terminal from the library, with a handler raising.
    assert traced.stderr == plain.stderr == ""


def test_one_trace_per_command(session: dict[str, Any]) -> None:
    traces = session["traces"]
    assert len(traces) == len(SCRIPT)
    actions = [t["metadata"]["actionId"] for t in traces]
    assert actions.count("unknown") == 2 * REPEATS
    assert actions.count("take ITEM") == sum(c.startswith("take ") for c in SCRIPT)
    assert actions[-1] == "quit"
    assert {t["metadata"]["actorId"] for t in traces} == {"player"}
    unknown = [t for t in traces if t["metadata"]["actionId"] == "unknown"]
    assert {t["execution"]["status"] for t in unknown} == {"failed"}
    assert unknown[0]["result"]["metadata"] == {"understood": False}


def test_the_raising_command_is_an_error_with_its_stack(session: dict[str, Any]) -> None:
    reads = [
        t
        for t in session["traces"]
        if t["metadata"]["actionId"] == "read ITEM"
        and t["turnAction"]["parameters"]["item"] == "scroll"
    ]
    assert len(reads) == REPEATS
    for trace in reads:
        assert trace["execution"]["status"] == "error"
        error = trace["error"]
        assert error["type"] == "KeyError"
        assert error["message"] == "'zh'"
        assert 'cellar.py", line' in error["stack"] and "in read" in error["stack"]


def test_quit_is_a_successful_exit(session: dict[str, Any]) -> None:
    quit_trace = session["traces"][-1]
    assert quit_trace["execution"]["status"] == "success"
    assert quit_trace["result"]["metadata"] == {"exit": True}


def test_the_password_is_redacted_as_a_parameter(session: dict[str, Any]) -> None:
    logins = [t for t in session["traces"] if t["metadata"]["actionId"] == "login USER PASSWORD"]
    assert len(logins) == 2 * REPEATS
    for trace in logins:
        assert trace["turnAction"]["parameters"]["password"] == "[REDACTED]"
        assert trace["eventPayload"]["parameters"]["password"] == "[REDACTED]"
        assert trace["turnAction"]["parameters"]["user"] == "admin"
    # Whatever else holds it, no trace holds it outside the typed command line.
    for trace in session["traces"]:
        text = json.dumps(
            {k: v for k, v in trace.items() if k not in ("turnAction", "eventPayload")}
        )
        assert PASSWORD not in text


def test_the_password_is_nowhere_in_the_files(session: dict[str, Any]) -> None:
    files = [p for p in session["dir"].rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path
