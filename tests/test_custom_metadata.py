"""Custom metadata on execution traces: four sources, precedence, sanitising, cap (ref. §10)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from actiontrace import (
    ActionExecutionTraceFactory,
    InvalidArgumentError,
    TraceStateError,
)
from actiontrace.sanitize import compact_json

TURN = {"actionDefinitionId": "core:go", "commandString": "go north"}
CUSTOM_METADATA_CAP = 64 * 1024


def _create(factory: ActionExecutionTraceFactory, **kwargs: Any):
    return factory.create_trace(action_id="core:go", actor_id="hero", turn_action=TURN, **kwargs)


def test_trace_without_custom_metadata_writes_an_empty_object() -> None:
    trace = _create(ActionExecutionTraceFactory())
    assert trace.metadata == {}
    assert trace.to_dict()["customMetadata"] == {}
    assert json.loads(trace.to_json())["customMetadata"] == {}


def test_later_sources_win_factory_then_providers_then_create_trace_then_set_metadata(
    assert_valid_trace: Any,
) -> None:
    factory = ActionExecutionTraceFactory(
        metadata={"build": "1.0", "scene": "factory", "platform": "pc", "a": 1},
        metadata_providers=[lambda: {"scene": "provider", "platform": "provider", "b": 2}],
    )
    trace = _create(factory, metadata={"platform": "create", "c": 3})
    trace.set_metadata("d", 4)
    trace.set_metadata("a", "set")
    assert trace.metadata == {
        "build": "1.0",
        "scene": "provider",
        "platform": "create",
        "a": "set",
        "b": 2,
        "c": 3,
        "d": 4,
    }
    assert_valid_trace(trace)


def test_each_provider_is_called_once_per_created_trace() -> None:
    calls: list[int] = []

    def provider() -> dict[str, int]:
        calls.append(1)
        return {"turn": len(calls)}

    factory = ActionExecutionTraceFactory(metadata_providers=[provider])
    first, second = _create(factory), _create(factory)
    assert len(calls) == 2
    assert first.metadata == {"turn": 1} and second.metadata == {"turn": 2}


def test_a_provider_that_raises_or_returns_a_non_mapping_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("provider bug")

    factory = ActionExecutionTraceFactory(
        metadata_providers=[broken, lambda: ["not", "a", "mapping"], lambda: {"ok": True}]
    )
    with caplog.at_level(logging.WARNING, logger="actiontrace"):
        trace = _create(factory)
    assert trace.metadata == {"ok": True}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2


def test_custom_metadata_is_sanitised_like_a_payload() -> None:
    factory = ActionExecutionTraceFactory(metadata={"apiKey": "k-123"})
    trace = _create(factory, metadata={"session": {"token": "t-456", "user": "ann"}})
    trace.set_metadata("note", "Bearer abcdefghijklmnopqrstuvwxyz")
    text = trace.to_json()
    assert "k-123" not in text and "t-456" not in text and "abcdefghijklmnop" not in text
    assert trace.metadata["session"]["user"] == "ann"


def test_custom_metadata_is_capped_at_64_kib_of_compact_json() -> None:
    trace = _create(ActionExecutionTraceFactory())
    for i in range(10):
        trace.set_metadata(f"blob{i}", "x" * 20_000)
    size = len(compact_json(trace.metadata).encode("utf-8"))
    assert size <= CUSTOM_METADATA_CAP
    assert "Truncated" in trace.to_json()


def test_set_metadata_after_completion_raises_trace_state_error() -> None:
    trace = _create(ActionExecutionTraceFactory())
    trace.capture_dispatch_start()
    trace.set_metadata("during", True)
    trace.capture_dispatch_result({"success": True})
    with pytest.raises(TraceStateError, match="Cannot set metadata on a completed trace"):
        trace.set_metadata("after", True)
    assert trace.metadata == {"during": True}


@pytest.mark.parametrize("key", ["", None, 3])
def test_set_metadata_key_must_be_a_non_empty_str(key: Any) -> None:
    trace = _create(ActionExecutionTraceFactory())
    with pytest.raises(InvalidArgumentError, match="key"):
        trace.set_metadata(key, 1)


def test_metadata_property_returns_a_fresh_dict() -> None:
    trace = _create(ActionExecutionTraceFactory(), metadata={"scene": "cave"})
    copy = trace.metadata
    copy["scene"] = "changed"
    assert trace.metadata == {"scene": "cave"}


def test_factory_rejects_invalid_metadata_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="metadata"):
        ActionExecutionTraceFactory(metadata=["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="metadata_providers"):
        ActionExecutionTraceFactory(metadata_providers=[42])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="metadata"):
        _create(ActionExecutionTraceFactory(), metadata="scene=cave")
