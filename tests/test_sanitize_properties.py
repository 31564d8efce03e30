"""Reference §4 as properties (hypothesis): secrets under sensitive keys never reach the JSON, the
sanitiser never raises and always yields strict, size-capped JSON, and ``to_json`` is ``to_dict``.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actiontrace import MAX_PAYLOAD_SIZE, ActionExecutionTrace, sanitize_payload
from actiontrace.sanitize import sanitize_to_json

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SENSITIVE_KEYS = st.sampled_from(
    [
        "password",
        "userPassword",
        "PASSWORD",
        "x-api-key",
        "apiKey",
        "api_key",
        "refresh_token",
        "Authorization",
        "credentials",
        "client.secret",
        "authTokens",
        "Secret Key",
    ]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=10),
    st.uuids(),
    st.dates(),
    st.decimals(allow_nan=True),
)
keys = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.floats())


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=6),
        st.frozensets(st.integers(), max_size=5),
    )


payloads = st.recursive(scalars, containers, max_leaves=40)
json_payloads = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


flat_json = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2),
)


def _strict(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name}")


def _new_trace() -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id="core:go", actor_id="player-1", turn_action={"actionDefinitionId": "core:go"}
    )
    trace.capture_dispatch_start()
    return trace


@st.composite
def payload_with_secret(draw: st.DrawFn) -> tuple[Any, str]:
    """A random payload with a unique marker under a sensitive key at a random depth."""
    marker = f"SECRET{uuid.UUID(int=draw(st.integers(0, 2**64))).hex}"
    secret_value = draw(
        st.sampled_from(
            [
                marker,
                [marker, 1],
                {"inner": marker},
                {"deeper": [{"x": marker}]},
                (marker,),
            ]
        )
    )
    node: Any = {draw(SENSITIVE_KEYS): secret_value}
    for _ in range(draw(st.integers(0, 12))):
        wrap = draw(st.sampled_from(["dict", "list", "tuple"]))
        siblings = draw(st.lists(flat_json, max_size=3))
        if wrap == "dict":
            names = draw(st.lists(st.text(max_size=8), max_size=3, unique=True))
            node = {**dict(zip(names, siblings, strict=False)), "child": node}
        elif wrap == "list":
            node = [*siblings, node]
        else:
            node = (node, *siblings)
    return node, marker


@PROFILE
@given(payload_with_secret())
def test_marker_under_a_sensitive_key_never_reaches_to_json(case: tuple[Any, str]) -> None:
    payload, marker = case
    trace = _new_trace()
    trace.capture_event_payload(payload)
    trace.capture_dispatch_result({"success": True, "metadata": payload})
    assert marker not in trace.to_json()
    assert marker not in trace.to_json(indent=2)
    assert marker not in json.dumps(sanitize_payload(payload))


@PROFILE
@given(payloads)
def test_sanitiser_never_raises_and_yields_strict_json_within_the_cap(payload: Any) -> None:
    clean = sanitize_payload(payload)
    text = json.dumps(clean, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert len(text.encode("utf-8")) <= MAX_PAYLOAD_SIZE
    assert json.loads(text, parse_constant=_strict) == clean


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40_000), min_size=1, max_size=60))
def test_sanitiser_output_is_within_the_cap_for_large_text(payload: list[str]) -> None:
    clean, text, size, _ = sanitize_to_json(payload)
    assert size == len(text.encode("utf-8")) <= MAX_PAYLOAD_SIZE
    assert json.loads(text) == clean


@PROFILE
@given(json_payloads, json_payloads, st.sampled_from([None, 2]))
def test_to_json_equals_to_dict_for_random_payloads(
    payload: Any, metadata: Any, indent: int | None
) -> None:
    trace = _new_trace()
    trace.capture_event_payload(payload)
    trace.capture_dispatch_result({"success": True, "metadata": metadata, "timestamp": math.nan})
    trace.capture_error(ValueError(str(payload)[:100]))
    data = json.loads(trace.to_json(indent=indent), parse_constant=_strict)
    assert data == trace.to_dict()
