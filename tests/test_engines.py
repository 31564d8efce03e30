"""A synchronous engine and an asynchronous engine, each traced end to end to real files."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    ActionTraceOutputService,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    Tracer,
    read_traces,
)

SESSION = [
    "look",
    "take lamp",
    "go north",
    "login admin hunter2-pw",
    "open chest",  # the handler raises
    "dance",  # unknown verb: the handler refuses
    "go south",
    "quit",
    "look",  # never runs
]


class SyncEngine:
    """A synchronous engine: parse a line, dispatch it through the processor, print the outcome."""

    def __init__(self, processor_options: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.place = "hall"
        bus = EventBus()
        bus.subscribe(ATTEMPT_ACTION_ID, self.handle)
        self.processor = CommandProcessor(EventDispatchService(bus), **processor_options)

    def handle(self, payload: dict[str, Any]) -> None:
        verb, parameters = payload["actionId"], payload.get("parameters", {})
        if verb == "quit":
            self.lines.append("Bye.")
            raise SystemExit(0)
        if verb == "look":
            self.lines.append(f"You are in the {self.place}.")
        elif verb == "go":
            self.place = "garden" if parameters["rest"] == "north" else "hall"
            self.lines.append(f"You walk {parameters['rest']}.")
        elif verb == "take":
            self.lines.append(f"Taken: {parameters['rest']}.")
        elif verb == "login":
            self.lines.append("Logged in." if parameters["password"] else "No.")
        elif verb == "open":
            raise KeyError(parameters["rest"])
        else:
            raise ValueError(f"unknown verb {verb}")

    def play(self, commands: list[str]) -> None:
        for command in commands:
            verb, _, rest = command.partition(" ")
            parameters: dict[str, Any] = {"rest": rest}
            if verb == "login":
                user, _, password = rest.partition(" ")
                parameters = {"user": user, "password": password}
            turn = {"actionDefinitionId": verb, "commandString": command, "parameters": parameters}
            result = self.processor.dispatch_action_sync({"id": "hero"}, turn)
            if not result["success"]:
                self.lines.append("That did not work.")


def play_sync(options: dict[str, Any]) -> tuple[list[str], int | str | None]:
    engine = SyncEngine(options)
    with pytest.raises(SystemExit) as raised:
        engine.play(SESSION)
    return engine.lines, raised.value.code


def test_a_sync_engine_traced_end_to_end(tmp_path: Path) -> None:
    plain_lines, plain_code = play_sync({})
    with ActionTraceOutputService(tmp_path) as output:
        traced_lines, traced_code = play_sync(
            {
                "trace_filter": ActionTraceFilter(),
                "trace_factory": ActionExecutionTraceFactory(),
                "trace_output_service": output,
            }
        )
    assert traced_lines == plain_lines and traced_code == plain_code == 0
    assert plain_lines[-1] == "Bye."
    traces = sorted(read_traces(tmp_path), key=lambda t: t["execution"]["startTime"])
    # One trace, one secret: the password under parameters.password is redacted in the command too.
    expected = [command.replace("hunter2-pw", "[REDACTED]") for command in SESSION[:-1]]
    assert [t["turnAction"]["commandString"] for t in traces] == expected
    written = "".join(path.read_text() for path in tmp_path.glob("*.jsonl"))
    assert "hunter2-pw" not in written
    statuses = {t["metadata"]["actionId"]: t["execution"]["status"] for t in traces}
    assert statuses["open"] == statuses["dance"] == "error"
    assert statuses["quit"] == "success" and traces[-1]["result"]["metadata"] == {"exit": True}
    chest = next(t for t in traces if t["metadata"]["actionId"] == "open")
    assert chest["error"]["type"] == "KeyError" and "in handle" in chest["error"]["stack"]
    login = next(t for t in traces if t["metadata"]["actionId"] == "login")
    assert login["eventPayload"]["parameters"]["password"] == "[REDACTED]"


class AsyncEngine:
    """An asyncio engine with its own dispatcher, traced with ``async with tracer.action``."""

    def __init__(self, tracer: Tracer | None, processor: CommandProcessor) -> None:
        self.lines: list[str] = []
        self.tracer = tracer
        self.bus = EventBus()
        self.service = EventDispatchService(self.bus)
        self.processor = processor
        self.bus.subscribe("verb", self.on_verb)

    async def on_verb(self, payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        verb = payload["verb"]
        if verb == "go":
            # A consequence, dispatched through the processor: linked to this action's trace.
            await self.processor.dispatch_action({"id": "world"}, {"actionDefinitionId": "tick"})
            self.lines.append("You walk.")
        elif verb == "open":
            raise KeyError("chest")
        elif verb == "quit":
            self.lines.append("Bye.")
            raise SystemExit
        else:
            self.lines.append(f"You {verb}.")

    async def run_one(self, command: str) -> None:
        verb = command.split(maxsplit=1)[0]
        ok = await self.service.dispatch_with_error_handling("verb", {"verb": verb}, command)
        if not ok:
            self.lines.append("That did not work.")

    async def play(self, commands: list[str]) -> None:
        for command in commands:
            if self.tracer is None:
                await self.run_one(command)
                continue
            verb = command.split()[0]
            async with self.tracer.action(verb, actor_id="hero", command=command):
                await self.run_one(command)


def test_an_async_engine_traced_end_to_end(tmp_path: Path) -> None:
    commands = ["look", "go north", "open chest", "sing", "go south", "quit"]
    untraced_processor = CommandProcessor(EventDispatchService(EventBus()))
    plain = AsyncEngine(None, untraced_processor)
    with pytest.raises(SystemExit) as plain_exit:
        asyncio.run(plain.play([*commands, "look"]))
    with ActionTraceOutputService(tmp_path) as output:
        processor = CommandProcessor(
            EventDispatchService(EventBus()),
            trace_filter=ActionTraceFilter(),
            trace_factory=ActionExecutionTraceFactory(),
            trace_output_service=output,
        )
        traced = AsyncEngine(Tracer(output=output), processor)
        with pytest.raises(SystemExit) as traced_exit:
            asyncio.run(traced.play([*commands, "look"]))
    assert traced.lines == plain.lines and plain.lines[-1] == "Bye."
    assert traced_exit.value.code is plain_exit.value.code is None
    traces = list(read_traces(tmp_path))
    verbs = [t for t in traces if t["metadata"]["actionId"] != "tick"]
    ticks = [t for t in traces if t["metadata"]["actionId"] == "tick"]
    assert sorted(t["turnAction"]["commandString"] for t in verbs) == sorted(commands)
    by_span = {t["metadata"]["spanId"]: t for t in verbs}
    assert len(ticks) == 2
    assert all(
        by_span[t["metadata"]["parentSpanId"]]["metadata"]["actionId"] == "go" for t in ticks
    )
    quit_trace = next(t for t in verbs if t["metadata"]["actionId"] == "quit")
    assert quit_trace["result"]["metadata"] == {"exit": True}
    chest = next(t for t in verbs if t["metadata"]["actionId"] == "open")
    assert chest["execution"]["status"] == "error" and chest["error"]["type"] == "KeyError"
    assert "in on_verb" in chest["error"]["stack"]


QUIET = textwrap.dedent(
    """
    import logging, sys, tempfile
    if sys.argv[1] == "configured":
        logging.basicConfig(level=logging.DEBUG)
    from actiontrace import *

    class Broken:
        def write_trace(self, trace):
            raise OSError("disk on fire")

    bus = EventBus()
    def handler(payload):
        raise RuntimeError("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123")
    bus.subscribe(ATTEMPT_ACTION_ID, handler)
    out = tempfile.mkdtemp()
    with ActionTraceOutputService(out) as service:
        processor = CommandProcessor(
            EventDispatchService(bus),
            trace_filter=ActionTraceFilter(),
            trace_factory=ActionExecutionTraceFactory(),
            trace_output_service=[service, Broken()],
        )
        processor.dispatch_action_sync({"id": "p"}, {"actionDefinitionId": "core:go"})
        processor.dispatch_action_sync({"id": ""}, {"actionDefinitionId": "core:go"})
        with Tracer(output=Broken()).action("core:look", actor_id="p"):
            EventDispatchService(bus).dispatch_with_error_handling_sync(ATTEMPT_ACTION_ID, {}, "x")
    print("played")
    """
)


@pytest.mark.parametrize("mode", ["quiet", "configured"])
def test_nothing_reaches_stderr_unless_the_application_configures_logging(mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUIET, mode], capture_output=True, text=True, check=True
    )
    assert done.stdout == "played\n"
    if mode == "quiet":
        assert done.stderr == ""
    else:  # the same run does log, once the application asks for it — secrets redacted
        assert "Error dispatching event" in done.stderr and "Traceback" in done.stderr
        assert "tracing failed in trace_output_service[1].write_trace" in done.stderr
        assert "abcdefghijklmnopqrstuvwxyz0123" not in done.stderr
