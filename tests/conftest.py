"""Shared test helpers: the packaged JSON Schema, and checks every produced trace must pass."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from actiontrace import ActionExecutionTrace, read_traces

_validator: Draft202012Validator | None = None


def _schema_validator() -> Draft202012Validator:
    global _validator
    if _validator is None:
        text = resources.files("actiontrace").joinpath("trace.schema.json").read_text("utf-8")
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        _validator = Draft202012Validator(schema)
    return _validator


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"trace JSON holds the non-standard constant {name}")


def check_trace(trace_or_dict: ActionExecutionTrace | dict[str, Any]) -> None:
    """Assert a trace (or trace dict) validates against the packaged schema.

    For a trace object, also assert that ``to_json()`` is strict JSON equal to ``to_dict()``.
    """
    if isinstance(trace_or_dict, ActionExecutionTrace):
        data: Any = trace_or_dict.to_dict()
        for indent in (None, 2):
            text = trace_or_dict.to_json(indent=indent)
            assert json.loads(text, parse_constant=_reject_constant) == data
    else:
        data = trace_or_dict
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "trace does not match the schema:\n" + "\n".join(
        f"  {list(e.absolute_path)}: {e.message}" for e in errors
    )


@pytest.fixture(scope="session")
def trace_schema_validator() -> Draft202012Validator:
    """The packaged schema (checked against the draft 2020-12 meta-schema first)."""
    return _schema_validator()


@pytest.fixture(scope="session")
def assert_valid_trace() -> Callable[[ActionExecutionTrace | dict[str, Any]], None]:
    """``assert_valid_trace(trace_or_dict)``: schema check (and JSON round trip for a trace)."""
    return check_trace


@pytest.fixture
def validate_all_traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ActionExecutionTrace]]:
    """Collect every trace constructed during the test; validate each, as it ends, at teardown."""
    made: list[ActionExecutionTrace] = []
    original = ActionExecutionTrace.__init__

    def recording_init(self: ActionExecutionTrace, **kwargs: Any) -> None:
        original(self, **kwargs)
        made.append(self)

    monkeypatch.setattr(ActionExecutionTrace, "__init__", recording_init)
    yield made
    monkeypatch.undo()
    for trace in made:
        check_trace(trace)


@pytest.fixture(scope="session")
def demo_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of traces from one real demo run (seed 7), shared by the HTML and browser tests."""
    out = tmp_path_factory.mktemp("demo") / "traces"
    subprocess.run(
        [sys.executable, "-m", "actiontrace", "demo", "--out", str(out), "--seed", "7"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    written = sum(1 for _ in read_traces(out))
    assert written >= 20, f"the demo wrote {written} traces: these tests need its traces"
    return out


@pytest.fixture
def memory() -> Iterator[tuple[Any, Any]]:
    """An ``OTelTraceSink`` on a provider with the SDK's in-memory exporter: (sink, exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from actiontrace.otel import OTelTraceSink

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider)
    yield sink, exporter
    sink.close()
    provider.shutdown()
