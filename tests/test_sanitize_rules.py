"""The rule modules' edges: key words, Basic credentials, name/value scanning, one trace one secret
across captures, long names, and the error record of odd classes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actiontrace import (
    REDACTED,
    SENSITIVE_FIELDS,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    StructuredTrace,
    is_sensitive_key,
)
from actiontrace.key_rules import key_words
from actiontrace.reused_secrets import merge_secrets, scrub_error, scrub_json, scrub_text
from actiontrace.sanitize import redact_secrets
from actiontrace.value_rules import is_card_number, redact_values


def _never(name: str) -> bool:
    return False


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("userPassword", ["user", "password"]),
        ("OAuthToken", ["o", "auth", "token"]),
        ("PHPSESSID", ["phpsessid"]),
        ("password2", ["password2"]),
        ("passwordB64", ["password", "b64"]),
        ("x-api.key name", ["x", "api", "key", "name"]),
        ("clé_secrète", ["clé", "secrète"]),
    ],
)
def test_keys_split_into_words_as_documented(key: str, words: list[str]) -> None:
    assert key_words(key) == words


def test_sensitive_fields_holds_the_built_in_names_in_snake_case() -> None:
    assert {"password", "api_key", "apiKey", "session_id", "card_number", "pin"} <= SENSITIVE_FIELDS
    assert all(is_sensitive_key(name) for name in SENSITIVE_FIELDS)


@pytest.mark.parametrize(
    "key", ["password_hash2", "api_key_b64", "tokenBase64", "pin_code_again", "DBPASSWORD_HASH"]
)
def test_trailing_qualifiers_with_digits_are_dropped(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["b64", "hash", "code", "2", "_", "value_data"])
def test_qualifiers_alone_name_nothing(key: str) -> None:
    assert not is_sensitive_key(key)


# -- value rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Basic 1234567890123", "Basic 1234567890123"),  # a number
        ("Basic abcdefghi", "Basic abcdefghi"),  # not valid base64 at all
        ("Basic training", "Basic training"),  # decodes to bytes that are no text
        ("Basic Ym9iOnNlY3JldA==", f"Basic {REDACTED}"),  # bob:secret
        ("Basic Ym9iOnNlY3JldA", f"Basic {REDACTED}"),  # the same without its padding
        ("Basic dXNlcjpwYXNz", f"Basic {REDACTED}"),  # user:pass, letters only
        ("Basic Cookbook", "Basic Cookbook"),  # letters only, no user:password inside
        ("Basic YWJjYWJj", "Basic YWJjYWJj"),  # decodes to "abcabc": text, but no user:password
    ],
)
def test_basic_credentials_are_recognised_by_what_they_decode_to(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_name_value_scanning_edges() -> None:
    assert redact_values("abc", _never) == "abc"
    assert redact_secrets("password:") == "password:"  # no value
    assert redact_secrets("password: a:b token=c") == f"password: {REDACTED} token={REDACTED}"
    assert redact_secrets("x" * 200 + "password: v") == "x" * 200 + "password: v"  # no field name
    assert redact_secrets("2fa_password: v") == "2fa_password: v"  # a name starts with a letter
    assert redact_secrets("_password = 'v w'") == f"_password = '{REDACTED}'"
    assert redact_secrets('"secret" : \t"v"') == f'"secret" : \t"{REDACTED}"'
    assert redact_secrets("password: [REDACTED]") == "password: [REDACTED]"
    assert redact_secrets("password: ''") == "password: ''"


def test_user_fields_apply_in_free_text_too() -> None:
    factory = ActionExecutionTraceFactory(sensitive_fields=["vault"])
    trace = factory.create_trace(
        action_id="bank:open",
        actor_id="p",
        turn_action={"actionDefinitionId": "bank:open", "commandString": "open vault=7731"},
    )
    assert trace.to_dict()["turnAction"]["commandString"] == f"open vault={REDACTED}"


@pytest.mark.parametrize(
    ("digits", "card"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),  # Luhn fails
        ("1234567812345670", False),  # no network starts with 1
        ("411111111111111", False),  # Visa has no 15-digit numbers
        ("41111111111111a1", False),
        ("411111111111", False),  # too short
    ],
)
def test_card_numbers_need_a_network_length_and_luhn(digits: str, card: bool) -> None:
    assert is_card_number(digits) is card


def test_card_groups_inside_other_numbers() -> None:
    text = "ref 12 4111 1111 1111 1111 99"
    assert redact_secrets(text) == f"ref 12 {REDACTED} 99"
    assert redact_secrets("41111111111111119") == "41111111111111119"  # a longer run of digits


def test_a_discord_like_shape_needs_its_exact_parts() -> None:
    sentence = "The knights rode. They met at noon. " * 3
    assert redact_secrets(sentence) == sentence


# -- one trace, one secret -----------------------------------------------------------------------


def test_reused_secret_helpers() -> None:
    assert merge_secrets(None, []) is None
    assert merge_secrets(("abcd",), ["abcdef", "abcd"]) == ("abcdef", "abcd")
    assert scrub_text("abc", None) == "abc"
    assert scrub_json(None, ("abcd",)) is None
    assert scrub_json('{"n":1}', None) == '{"n":1}'
    quoted = 'say "hi"'
    text = json.dumps({"commandString": f"x {quoted}", "n": 1.5, "list": [1, None]})
    assert json.loads(scrub_json(text, (quoted,)) or "") == {
        "commandString": f"x {REDACTED}",
        "n": 1.5,
        "list": [1, None],
    }
    info: Any = {"message": "m abcd", "stack": None, "cause": None}
    assert scrub_error(info, ("abcd",))["message"] == f"m {REDACTED}"
    assert scrub_error(info, None) is info


def test_a_secret_found_later_is_redacted_in_what_was_captured_before() -> None:
    trace = ActionExecutionTrace(
        action_id="core:login",
        actor_id="p",
        turn_action={"actionDefinitionId": "core:login", "commandString": "login bob hunter22"},
        metadata={"build": "b1"},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"action": {"originalInput": "LOGIN bob hunter22"}})
    trace.capture_dispatch_result(
        {"success": False, "metadata": {"pwd": "hunter22", "echo": {"commandString": "hunter22"}}}
    )
    data = trace.to_dict()
    assert data["turnAction"]["commandString"] == f"login bob {REDACTED}"
    assert data["eventPayload"] == {"action": {"originalInput": f"LOGIN bob {REDACTED}"}}
    assert data["result"]["metadata"]["echo"] == {"commandString": REDACTED}
    phase = next(p for p in data["execution"]["phases"] if p["phase"] == "payload_captured")
    payload_json = json.dumps(data["eventPayload"], separators=(",", ":"), ensure_ascii=False)
    assert phase["payloadSize"] == len(payload_json.encode())
    assert "hunter22" not in trace.to_json()


def test_a_secret_in_custom_metadata_reaches_the_command_and_the_error() -> None:
    trace = ActionExecutionTrace(
        action_id="a",
        actor_id="p",
        turn_action={"actionDefinitionId": "a", "commandString": "use 98765"},
    )
    trace.set_metadata("auth", {"pin": 98765})
    trace.capture_dispatch_start()
    trace.capture_event_payload({"note": "nothing here"})
    trace.capture_error("pin 98765 refused")
    data = trace.to_dict()
    assert data["turnAction"]["commandString"] == f"use {REDACTED}"
    assert data["error"]["message"] == f"pin {REDACTED} refused"
    assert data["eventPayload"] == {"note": "nothing here"}


def test_short_values_and_flags_are_not_reused() -> None:
    trace = ActionExecutionTrace(
        action_id="a",
        actor_id="p",
        turn_action={"actionDefinitionId": "a", "commandString": "go abc true"},
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"password": "abc", "hasSecret": True})
    assert trace.to_dict()["turnAction"]["commandString"] == "go abc true"


# -- names and errors ----------------------------------------------------------------------------


def test_long_span_names_are_redacted_and_clipped() -> None:
    structured = StructuredTrace()
    name = "x" * 1020 + " ghp_" + "a" * 36
    with structured.span(name):
        pass
    operation = structured.get_spans()[0].operation
    assert operation.endswith("...[Truncated]")
    assert "ghp_" not in operation
    assert len(operation) < 1100


def test_an_action_aware_trace_records_action_ids_through_the_value_rules() -> None:
    from actiontrace import ActionAwareStructuredTrace

    token = "ghp_" + "b" * 36
    trace = ActionAwareStructuredTrace(actor_id=f"bot {token}")
    trace.capture_action_data(f"stage {token}", f"act {token}", {"n": 1})
    assert trace.is_action_traced(f"act {token}")
    assert trace.get_action_trace(f"act {token}") is not None
    assert not trace.is_action_traced(3)  # type: ignore[arg-type]
    assert trace.get_action_trace(3) is None  # type: ignore[arg-type]
    assert token not in trace.to_json()


def test_odd_exception_class_names() -> None:
    nameless = type("", (Exception,), {})
    long_name = type("E" * 300 + "AKIAIOSFODNN7EXAMPLE", (Exception,), {})
    trace = ActionExecutionTrace(action_id="a", actor_id="p", turn_action={})
    trace.capture_dispatch_start()
    trace.capture_error(nameless("x"))
    assert trace.to_dict()["error"]["type"] == "object"
    other = ActionExecutionTrace(action_id="a", actor_id="p", turn_action={})
    other.capture_dispatch_start()
    other.capture_error(long_name("x"))
    kind = other.to_dict()["error"]["type"]
    assert kind.endswith("...[Truncated]") and len(kind) < 300
    assert "AKIA" not in other.to_json()


def test_ids_of_str_subclasses_pass_the_value_rules() -> None:
    class Name(str):
        pass

    trace = ActionExecutionTrace(
        action_id=Name("act pwd=hunter2"), actor_id=Name("p"), turn_action={}
    )
    assert trace.action_id == f"act pwd={REDACTED}"
    assert type(trace.action_id) is str


def test_dense_pairs_are_all_redacted_and_flags_kept() -> None:
    assert redact_secrets("?token=abcd&" * 2000).count(REDACTED) == 2000
    assert redact_secrets("password=true&" * 500) == "password=true&" * 500
    mixed = 'password: \'a b\' token="c d" pwd=\\"e f\\" '
    assert redact_secrets(mixed * 300) == (
        f'password: \'{REDACTED}\' token="{REDACTED}" pwd=\\"{REDACTED}\\" ' * 300
    )
    assert redact_secrets("cookie:" * 1000) == f"cookie:{REDACTED}"  # one name, one long value


def test_a_long_run_of_numbers_is_not_read_as_cards() -> None:
    table = "1 2 3 4 5 6 4111 1111 1111 1111"
    assert redact_secrets(table) == table
    assert redact_secrets("4111 1111 1111 1111 12 29 737") == f"{REDACTED} 12 29 737"


def test_values_that_stay_and_values_without_their_closing_quote() -> None:
    assert redact_secrets("my password is none.") == "my password is none."
    assert redact_secrets("my password is 'x y'") == f"my password is '{REDACTED}'"
    assert redact_secrets('password: "open sesame') == f"password: {REDACTED} sesame"
