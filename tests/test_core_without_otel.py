"""The core never needs OpenTelemetry: importing it loads none, and it works with none installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# A child process where every ``opentelemetry`` import fails, as if the extra were not installed.
BLOCK_OTEL = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class NoOpenTelemetry(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"No module named {name!r} (blocked for the test)")
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())
    """
)

USE_THE_CORE = textwrap.dedent(
    """
    import asyncio
    import json
    import sys

    import actiontrace
    import actiontrace.analysis
    import actiontrace.cli
    from actiontrace import ActionExecutionTraceFactory
    from actiontrace.pipeline import (
        ActionTraceFilter,
        CommandProcessor,
        EventBus,
        EventDispatchService,
    )

    factory = ActionExecutionTraceFactory()
    trace = factory.create_trace(
        action_id="core:go", actor_id="hero", turn_action={"actionDefinitionId": "core:go"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"dir": "north", "password": "hunter2"})
    trace.capture_dispatch_result({"success": True})
    record = trace.to_dict()
    assert record["eventPayload"]["password"] == "[REDACTED]"
    assert trace.status == "success"

    class Keep:
        def __init__(self):
            self.traces = []

        def write_trace(self, trace):
            self.traces.append(trace)

    bus = EventBus()
    bus.subscribe("core:attempt_action", lambda payload: None)
    keep = Keep()
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(),
        trace_factory=factory,
        trace_output_service=keep,
    )
    result = asyncio.run(
        processor.dispatch_action({"id": "hero"}, {"actionDefinitionId": "core:take"})
    )
    assert result["success"] is True and len(keep.traces) == 1

    # The CLI registers `export` without loading OpenTelemetry.
    assert "export" in actiontrace.cli.build_parser().format_help()
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
    print(json.dumps(loaded))
    """
)


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_and_using_the_core_never_imports_opentelemetry() -> None:
    child = run_child(USE_THE_CORE)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "[]"


def test_the_core_works_when_opentelemetry_cannot_be_imported() -> None:
    child = run_child(BLOCK_OTEL + USE_THE_CORE)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "[]"


def test_importing_actiontrace_otel_without_the_extra_says_how_to_install_it() -> None:
    code = BLOCK_OTEL + textwrap.dedent(
        """
        try:
            import actiontrace.otel
        except ImportError as error:
            print(error)
        else:
            raise SystemExit("actiontrace.otel imported without opentelemetry")
        """
    )
    child = run_child(code)
    assert child.returncode == 0, child.stderr
    assert "pip install 'actiontrace[otel]'" in child.stdout


def test_the_export_command_without_the_extra(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    out = tmp_path / "timeline.json"
    code = BLOCK_OTEL + textwrap.dedent(
        """
        import json
        import sys

        from actiontrace import ActionExecutionTraceFactory
        from actiontrace.cli import main

        folder, out = sys.argv[1], sys.argv[2]
        import os
        os.makedirs(folder)
        trace = ActionExecutionTraceFactory().create_trace(
            action_id="core:go", actor_id="hero", turn_action={"actionDefinitionId": "core:go"}
        )
        trace.capture_dispatch_start()
        trace.capture_dispatch_result({"success": True})
        with open(os.path.join(folder, "t.jsonl"), "w") as stream:
            stream.write(trace.to_json() + "\\n")
        chrome = main(["export", folder, "--to", "chrome", "--out", out])
        otlp = main(["export", folder, "--to", "otlp"])
        print(json.dumps([chrome, otlp]))
        """
    )
    child = run_child(code, str(folder), str(out))
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "[0, 2]"
    assert "pip install 'actiontrace[otel]'" in child.stderr
    assert out.exists()
