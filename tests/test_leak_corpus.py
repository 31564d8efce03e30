"""No secret of the corpus gets out, and no game word of it is hidden, by any of four routes.

The routes: ``to_json()`` of execution and structured traces; the files the output service writes
(read back as raw text); OpenTelemetry spans (SDK in-memory exporter, ``span.to_json()``); and the
library's log records (``SafeLog`` and the factory, through a real ``logging.Logger``). Every
corpus string is placed everywhere a trace takes text: ids, command string, original input,
parameters, payload values and keys, result and custom metadata, the error, span and event names.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actiontrace import (
    REDACTED,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    ActionTraceOutputService,
    StructuredTrace,
)
from actiontrace.logs import SafeLog
from actiontrace.otel import OTelTraceSink
from leak_corpus import (
    BENIGN,
    KEYED_BENIGN,
    KEYED_LEAKS,
    LEAKS,
    Benign,
    KeyedBenign,
    KeyedLeak,
    Leak,
)

# -- the corpus is what the issue asks for ---------------------------------------------------------


def test_the_corpus_is_large_and_covers_every_class() -> None:
    assert len(LEAKS) + len(KEYED_LEAKS) >= 200
    assert len(BENIGN) + len(KEYED_BENIGN) >= 50
    kinds = {leak.kind for leak in LEAKS}
    assert kinds >= {
        "bearer",
        "basic",
        "token",
        "jwt",
        "pem",
        "url",
        "query",
        "cookie",
        "key-value",
        "is",
        "aws",
        "github",
        "gitlab",
        "slack",
        "stripe",
        "google",
        "openai",
        "npm",
        "discord",
        "card",
    }
    texts = [leak.text for leak in LEAKS]
    assert len(set(texts)) == len(texts)


# -- helpers -----------------------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    """The secret as it may be written: raw, JSON-escaped, repr-escaped."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }


def leaked(output: str, secret: str) -> bool:
    """Whether ``secret`` shows in ``output``; a short number only as a number of its own."""
    if secret.isdigit() and len(secret) < 8:
        return re.search(rf"(?<![0-9A-Za-z.]){secret}(?![0-9A-Za-z])", output) is not None
    return any(form in output for form in _forms(secret))


def _secrets(item: Leak | KeyedLeak) -> tuple[str, ...]:
    return item.secrets if isinstance(item, Leak) else (item.value,)


def _label(item: Leak | KeyedLeak | Benign) -> str:
    if isinstance(item, Leak):
        return f"{item.kind}: {item.text[:60]!r}"
    if isinstance(item, KeyedLeak):
        return f"key {item.key!r}"
    return repr(item.text[:60])


def text_traces(text: str, case: str) -> list[Any]:
    """Traces carrying ``text`` in every place a trace takes text."""
    main = ActionExecutionTrace(
        action_id=text,
        actor_id=text,
        turn_action={
            "actionDefinitionId": text,
            "commandString": text,
            "originalInput": text,
            "parameters": {"text": text},
        },
        metadata={"note": text, "case": case},
    )
    main.capture_dispatch_start()
    main.capture_event_payload({"note": text, "nested": {"items": [text]}, text: 1})
    main.capture_dispatch_result({"success": False, "metadata": {"detail": text}})
    main.capture_error(ValueError(text))
    raw = ActionExecutionTrace(
        action_id="chat:say", actor_id="p", turn_action={"actionDefinitionId": "chat:say"}
    )
    raw.capture_dispatch_start()
    raw.capture_error(text)  # a value that is not an exception
    data = ActionExecutionTrace(
        action_id="chat:say", actor_id="p", turn_action={"actionDefinitionId": "chat:say"}
    )
    data.capture_dispatch_start()
    data.capture_error({"detail": text, "items": [text]})
    structured = StructuredTrace()
    structured.annotate(actionId=text, case=case)
    with structured.span(text, note=text) as span:
        span.add_event(text, note=text)
    with pytest.raises(ValueError), structured.span("step"):
        raise ValueError(text)
    return [main, raw, data, structured]


def keyed_traces(key: str, value: str, case: str) -> list[Any]:
    """Traces carrying ``value`` under ``key`` everywhere, and typed into the command too."""
    trace = ActionExecutionTrace(
        action_id="core:login",
        actor_id="player-1",
        turn_action={
            "actionDefinitionId": "core:login",
            "commandString": f"login admin {value}",
            "originalInput": f"LOGIN admin {value}",
            "parameters": {key: value},
        },
        metadata={key: value, "case": case},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload(
        {
            key: value,
            "outer": {key: value, "list": [{key: value}]},
            "action": {"commandString": f"login admin {value}"},
        }
    )
    trace.capture_dispatch_result({"success": False, "metadata": {key: [value]}})
    trace.capture_error(ValueError(f"login as admin with {value} failed"))
    structured = StructuredTrace()
    with structured.span("login", **{key: value}) as span:
        span.add_event("attempt", **{key: value})
    return [trace, structured]


def keyed_benign_traces(key: str, value: object, case: str) -> list[Any]:
    """A trace carrying an ordinary game key and its value, which must come out unchanged."""
    trace = ActionExecutionTrace(
        action_id="core:look",
        actor_id="player-1",
        turn_action={"actionDefinitionId": "core:look", "parameters": {key: value}},
        metadata={"case": case},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({key: value})
    trace.capture_dispatch_result({"success": True})
    return [trace]


Item = Leak | KeyedLeak | Benign | KeyedBenign


def all_traces() -> Iterator[tuple[Item, list[Any]]]:
    for index, item in enumerate(LEAKS):
        yield item, text_traces(item.text, f"leak-{index}")
    for index, keyed in enumerate(KEYED_LEAKS):
        yield keyed, keyed_traces(keyed.key, keyed.value, f"keyed-{index}")
    for index, benign in enumerate(BENIGN):
        yield benign, text_traces(benign.text, f"benign-{index}")
    for index, pair in enumerate(KEYED_BENIGN):
        yield pair, keyed_benign_traces(pair.key, pair.value, f"keyed-benign-{index}")


def _structured_parts(trace: Any) -> list[dict[str, Any]]:
    return trace.to_dict()["spans"]  # type: ignore[no-any-return]


# -- route 1: to_json() ------------------------------------------------------------------------


def test_no_secret_of_the_corpus_reaches_to_json() -> None:
    failures = []
    for item, traces in all_traces():
        if isinstance(item, (Benign, KeyedBenign)):
            continue
        for trace in traces:
            for output in (trace.to_json(), trace.to_json(indent=2)):
                failures += [(_label(item), s) for s in _secrets(item) if leaked(output, s)]
    assert failures == []


def test_keyed_secrets_are_redacted_where_they_stand_and_in_the_typed_command() -> None:
    for keyed in KEYED_LEAKS:
        trace = keyed_traces(keyed.key, keyed.value, "k")[0]
        data = trace.to_dict()
        assert data["turnAction"]["parameters"] == {keyed.key: REDACTED}, keyed.key
        assert data["turnAction"]["commandString"] == f"login admin {REDACTED}"
        assert data["turnAction"]["originalInput"] == f"LOGIN admin {REDACTED}"
        assert data["eventPayload"]["action"] == {"commandString": f"login admin {REDACTED}"}
        assert data["error"]["message"] == f"login as admin with {REDACTED} failed"


def test_every_benign_look_alike_comes_out_of_to_json_unchanged() -> None:
    failures = []
    for index, benign in enumerate(BENIGN):
        text = benign.text
        main, raw, data, structured = text_traces(text, f"b{index}")
        record = json.loads(main.to_json())
        seen = [
            record["metadata"]["actionId"],
            record["metadata"]["actorId"],
            record["turnAction"]["actionDefinitionId"],
            record["turnAction"]["commandString"],
            record["turnAction"]["originalInput"],
            record["turnAction"]["parameters"]["text"],
            record["eventPayload"]["note"],
            record["eventPayload"]["nested"]["items"][0],
            record["result"]["metadata"]["detail"],
            record["customMetadata"]["note"],
            record["error"]["message"],
            json.loads(raw.to_json())["error"]["message"],
        ]
        assert text in record["eventPayload"]
        assert record["error"]["stack"].rstrip("\n").endswith(f"ValueError: {text}")
        spans = json.loads(structured.to_json())["spans"]
        seen += [spans[0]["operation"], spans[0]["events"][0]["name"], spans[1]["error"]["message"]]
        seen += [
            spans[0]["attributes"]["note"],
            json.loads(structured.to_json())["metadata"]["actionId"],
        ]
        failures += [(text, value) for value in seen if value != text]
        assert json.loads(data.to_json())["error"]["message"] == json.dumps(
            {"detail": text, "items": [text]}, separators=(",", ":"), ensure_ascii=False
        )
    assert failures == []


def test_every_benign_key_and_its_value_come_out_unchanged() -> None:
    for benign in KEYED_BENIGN:
        trace = ActionExecutionTrace(
            action_id="a", actor_id="p", turn_action={"parameters": {benign.key: benign.value}}
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload(
            {benign.key: benign.value, "outer": [{benign.key: benign.value}]}
        )
        record = json.loads(trace.to_json())
        assert record["turnAction"]["parameters"] == {benign.key: benign.value}, benign.key
        assert record["eventPayload"][benign.key] == benign.value, benign.key
        assert record["eventPayload"]["outer"] == [{benign.key: benign.value}], benign.key


# -- route 2: the output service's files ---------------------------------------------------------


@pytest.fixture(scope="module")
def written_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Any]]:
    folder = tmp_path_factory.mktemp("leaks")
    kept: list[Any] = []
    with ActionTraceOutputService(folder) as service:
        for item, traces in all_traces():
            for trace in traces:
                assert service.write_trace(trace)
            kept.append(item)
        assert service.flush()
    text = "".join(
        path.read_text("utf-8") for path in sorted(Path(folder).rglob("*")) if path.is_file()
    )
    return text, kept


def test_no_secret_of_the_corpus_reaches_the_output_files(
    written_files: tuple[str, list[Any]],
) -> None:
    text, items = written_files
    assert len(items) == len(LEAKS) + len(KEYED_LEAKS) + len(BENIGN) + len(KEYED_BENIGN)
    failures = [
        (_label(item), secret)
        for item in items
        if isinstance(item, (Leak, KeyedLeak))
        for secret in _secrets(item)
        if leaked(text, secret)
    ]
    assert failures == []


def test_every_benign_look_alike_reaches_the_output_files_unchanged(
    written_files: tuple[str, list[Any]],
) -> None:
    text, _ = written_files
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    by_case = {
        record["customMetadata"]["case"]: record
        for record in records
        if record["metadata"].get("traceType") == "execution"
        and "case" in record.get("customMetadata", {})
    }
    for index, benign in enumerate(BENIGN):
        record = by_case[f"benign-{index}"]
        assert record["turnAction"]["commandString"] == benign.text
        assert record["eventPayload"]["note"] == benign.text
        assert record["error"]["message"] == benign.text
    for index, pair in enumerate(KEYED_BENIGN):
        record = by_case[f"keyed-benign-{index}"]
        assert record["eventPayload"] == {pair.key: pair.value}, pair.key
        assert record["turnAction"]["parameters"] == {pair.key: pair.value}, pair.key


# -- route 3: OpenTelemetry spans ------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported_spans() -> list[tuple[Item, str, list[Any]]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OTelTraceSink(provider)
    out = []
    try:
        for item, traces in all_traces():
            exporter.clear()
            for trace in traces:
                sink.write_trace(trace)
            assert sink.flush()
            spans = list(exporter.get_finished_spans())
            assert len(spans) >= len(traces)
            out.append((item, "\n".join(span.to_json() for span in spans), spans))
    finally:
        sink.close()
        provider.shutdown()
    return out


def test_no_secret_of_the_corpus_reaches_an_otel_span(
    exported_spans: list[tuple[Item, str, list[Any]]],
) -> None:
    failures = [
        (_label(item), secret)
        for item, text, _ in exported_spans
        if isinstance(item, (Leak, KeyedLeak))
        for secret in _secrets(item)
        if leaked(text, secret)
    ]
    assert failures == []


def test_every_benign_look_alike_reaches_otel_unchanged(
    exported_spans: list[tuple[Item, str, list[Any]]],
) -> None:
    for item, _, spans in exported_spans:
        if isinstance(item, KeyedBenign):
            (span,) = spans
            attribute = span.attributes.get(f"actiontrace.payload.{item.key}")
            assert attribute == item.value, item.key  # None: a null is left out
            continue
        if not isinstance(item, Benign):
            continue
        text = item.text
        action = next(
            span for span in spans if span.attributes.get("actiontrace.command") is not None
        )
        assert action.name == text
        assert action.attributes["actiontrace.command"] == text
        assert action.attributes["actiontrace.payload.note"] == text
        assert action.attributes["actiontrace.actor_id"] == text
        exception = next(event for event in action.events if event.name == "exception")
        assert exception.attributes["exception.message"] == text
        names = {span.name for span in spans}
        assert text in names  # the structured span named after it
        events = {event.name for span in spans for event in span.events}
        assert text in events


# -- route 4: log records --------------------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, Capture]]:
    logger = logging.getLogger("actiontrace.test.leaks")
    handler = Capture()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def _log_everything(logger: logging.Logger, text: str) -> None:
    say = SafeLog(logger)
    say("warning", "player said %s", text, exc=ValueError(text))
    say.limited(f"k{id(text)}", "%s", text, level="error")

    def provider() -> dict[str, Any]:
        raise ValueError(text)

    factory = ActionExecutionTraceFactory(logger, metadata_providers=[provider])
    factory.create_trace(action_id=text, actor_id=text, turn_action={"actionDefinitionId": text})


def test_no_secret_of_the_corpus_reaches_a_log_record(
    capture: tuple[logging.Logger, Capture],
) -> None:
    logger, handler = capture
    failures = []
    for item in [*LEAKS, *KEYED_LEAKS]:
        handler.lines.clear()
        if isinstance(item, Leak):
            _log_everything(logger, item.text)
        else:
            SafeLog(logger)("info", "%s=%s and %s", item.key, item.value, {item.key: item.value})
            SafeLog(logger)("info", '"%s": "%s"', item.key, item.value)
        output = "\n".join(handler.lines)
        assert handler.lines
        failures += [(_label(item), s) for s in _secrets(item) if leaked(output, s)]
    assert failures == []


def test_every_benign_look_alike_reaches_the_log_unchanged(
    capture: tuple[logging.Logger, Capture],
) -> None:
    logger, handler = capture
    for benign in BENIGN:
        handler.lines.clear()
        _log_everything(logger, benign.text)
        output = "\n".join(handler.lines)
        assert f"player said {benign.text}" in output
        assert f"ValueError: {benign.text}" in output
        assert (
            f"Created execution trace for action '{benign.text}' by actor '{benign.text}'" in output
        )
    for keyed in KEYED_BENIGN:
        handler.lines.clear()
        SafeLog(logger)("info", "%s=%s", keyed.key, keyed.value)
        assert handler.lines == [f"INFO actiontrace.test.leaks {keyed.key}={keyed.value}"]


# -- exception class names -------------------------------------------------------------------------

# Tokens recognisable alone (an AWS secret key or a Slack webhook path needs its context).
VENDOR = [
    leak
    for leak in LEAKS
    if leak.kind
    in {"aws", "github", "gitlab", "slack", "stripe", "google", "openai", "npm", "discord"}
    and not (leak.kind == "aws" and "secret" in leak.text.lower())
    and "hooks.slack.com" not in leak.text
]


@pytest.mark.parametrize("leak", VENDOR, ids=lambda leak: leak.kind)
def test_an_exception_class_named_after_a_token_is_never_written(
    leak: Leak,
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
    capture: tuple[logging.Logger, Capture],
) -> None:
    secret = leak.secrets[0]
    error_type = type(secret, (Exception,), {})
    trace = ActionExecutionTrace(action_id="a", actor_id="p", turn_action={})
    trace.capture_dispatch_start()
    trace.capture_error(error_type("boom"))
    record = trace.to_dict()
    assert record["error"]["type"] == REDACTED
    assert record["execution"]["phases"][-1]["errorType"] == REDACTED
    assert not leaked(trace.to_json(), secret)
    sink, exporter = memory
    sink.write_trace(trace)
    assert sink.flush()
    assert not any(leaked(span.to_json(), secret) for span in exporter.get_finished_spans())
    logger, handler = capture
    SafeLog(logger)("error", "dispatch failed", exc=error_type("boom"))
    assert handler.lines and not leaked("\n".join(handler.lines), secret)


# -- the contract's own examples, exactly, by every route ----------------------------------------

RULE_EXAMPLES = [
    ("password: hunter2", f"password: {REDACTED}"),
    ("pwd=x", f"pwd={REDACTED}"),
    ('"token": "abc"', f'"token": "{REDACTED}"'),
    ("my password is hunter2", f"my password is {REDACTED}"),
    ("the secret is hidden behind the falls", "the secret is hidden behind the falls"),
    ("the bearer of bad news", "the bearer of bad news"),
    ("Basic training", "Basic training"),
    ("Token of Power", "Token of Power"),
    ("Bearer abcdefghijklmnop", f"Bearer {REDACTED}"),
    ("https://bob:hunter2@example.com/x", f"https://bob:{REDACTED}@example.com/x"),
    ("/save?token=abc123&slot=2", f"/save?token={REDACTED}&slot=2"),
    ("/save?slot=2&api_key=abc123", f"/save?slot=2&api_key={REDACTED}"),
    ("Cookie: sid=abc123; theme=dark", f"Cookie: {REDACTED}"),
    ("Set-Cookie: session=abc123; Path=/", f"Set-Cookie: {REDACTED}"),
    ("steam 76561198000000000", "steam 76561198000000000"),
    ("card 4111111111111111", f"card {REDACTED}"),
]


@pytest.mark.parametrize(("text", "expected"), RULE_EXAMPLES)
def test_the_contracts_examples_read_exactly_as_promised_by_every_route(
    text: str,
    expected: str,
    tmp_path: Path,
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
    capture: tuple[logging.Logger, Capture],
) -> None:
    trace = ActionExecutionTrace(
        action_id="chat:say",
        actor_id="p",
        turn_action={"actionDefinitionId": "chat:say", "commandString": text},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"note": text})
    trace.capture_error(ValueError(text))
    record = json.loads(trace.to_json())
    assert record["turnAction"]["commandString"] == expected
    assert record["eventPayload"]["note"] == expected
    assert record["error"]["message"] == expected
    with ActionTraceOutputService(tmp_path) as service:
        assert service.write_trace(trace)
    (written,) = [json.loads(p.read_text("utf-8")) for p in tmp_path.rglob("*.jsonl")]
    assert written["eventPayload"]["note"] == expected
    sink, exporter = memory
    sink.write_trace(trace)
    assert sink.flush()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["actiontrace.command"] == expected
    assert span.attributes["actiontrace.payload.note"] == expected
    logger, handler = capture
    SafeLog(logger)("info", "%s", text)
    assert handler.lines == [f"INFO actiontrace.test.leaks {expected}"]


@pytest.mark.parametrize("shift", [-30, -10, -3, 0, 5])
def test_a_token_in_a_key_cut_by_the_clip_never_shows_half_of_itself(
    shift: int,
    tmp_path: Path,
    memory: tuple[OTelTraceSink, InMemorySpanExporter],
    capture: tuple[logging.Logger, Capture],
) -> None:
    token = "ghp_" + "Q7" * 18
    key = "k" * (1024 + shift) + token + "k" * 50
    trace = ActionExecutionTrace(action_id="a", actor_id="p", turn_action={})
    trace.capture_dispatch_start()
    trace.capture_event_payload({key: 1})
    trace.capture_dispatch_result({"success": True})
    parts = (token[:10], token[-10:])
    assert not any(part in trace.to_json() for part in parts)
    with ActionTraceOutputService(tmp_path) as service:
        assert service.write_trace(trace)
    written = "".join(p.read_text("utf-8") for p in tmp_path.rglob("*.jsonl"))
    assert written and not any(part in written for part in parts)
    sink, exporter = memory
    sink.write_trace(trace)
    assert sink.flush()
    (span,) = exporter.get_finished_spans()
    assert not any(part in span.to_json() for part in parts)
    logger, handler = capture
    SafeLog(logger)("warning", "bad key %s", key)
    assert handler.lines and not any(token in line for line in handler.lines)
