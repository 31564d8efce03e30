"""Reference §4: ``sanitize_payload`` and ``is_sensitive_key`` — key rules, value secrets, type
conversions, cycles and depth, the size cap, user rules, and never raising.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import pytest

from actiontrace import (
    MAX_PAYLOAD_SIZE,
    REDACTED,
    ActionExecutionTrace,
    InvalidArgumentError,
    is_sensitive_key,
    sanitize_payload,
)
from actiontrace.sanitize import MAX_DEPTH, compact_json, sanitize_to_json

TOKEN = "abcdefghijklmnopqrstuvwxyz012345"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGF5ZXIifQ.c2lnbmF0dXJlLXZhbHVl"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretbody\nmoresecret==\n"
    "-----END RSA PRIVATE KEY-----"
)


def compact_size(value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(text.encode("utf-8"))


def assert_json_safe(value: Any) -> None:
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


# -- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "userPassword",
        "PASSWORD",
        "x-api-key",
        "apiKey",
        "api_key",
        "API_KEY",
        "refresh_token",
        "Authorization",
        "credentials",
        "secret",
        "clientSecret",
        "auth",
        "user.password",
        "user password",
        "passwords",
        "tokens",
        "X-Auth-Token",
        "APIKey",
    ],
)
def test_sensitive_keys_are_recognised(key: str) -> None:
    assert is_sensitive_key(key)
    assert sanitize_payload({key: "value"}) == {key: REDACTED}


@pytest.mark.parametrize(
    "key", ["author", "authority", "username", "secretary", "tokenizer", "keyboard", "name", ""]
)
def test_words_that_merely_contain_a_field_name_are_not_sensitive(key: str) -> None:
    assert not is_sensitive_key(key)
    assert sanitize_payload({key: "value"}) == {key: "value"}


@pytest.mark.parametrize("key", [None, 1, ("password",), b"password"])
def test_is_sensitive_key_of_a_non_str_is_false(key: Any) -> None:
    assert is_sensitive_key(key) is False


def test_very_long_key_is_matched_in_linear_time_and_clipped() -> None:
    key = "a_" * 2000 + "password"
    assert is_sensitive_key(key)
    assert not is_sensitive_key("a_" * 2000)
    out = sanitize_payload({key: "hunter2"})
    ((name, value),) = out.items()
    assert value == REDACTED
    assert len(name) < len(key)
    assert "[Truncated:" in name


def test_absurdly_long_key_counts_as_sensitive() -> None:
    key = "word " * 100_000
    assert is_sensitive_key(key)
    assert list(sanitize_payload({key: "v"}).values()) == [REDACTED]


@pytest.mark.parametrize("value", ["hunter2", 1234, 12.5, b"raw"])
def test_sensitive_key_scalar_becomes_redacted(value: Any) -> None:
    assert sanitize_payload({"password": value}) == {"password": REDACTED}


@pytest.mark.parametrize("value", [True, False, None])
def test_a_flag_under_a_sensitive_key_is_kept(value: Any) -> None:
    assert sanitize_payload({"hasSecret": value, "password": value}) == {
        "hasSecret": value,
        "password": value,
    }
    assert sanitize_payload({"tokens": [value, "t0k3n-value"]}) == {"tokens": [value, REDACTED]}


def test_sensitive_key_container_keeps_its_shape() -> None:
    out = sanitize_payload(
        {
            "credentials": {
                "password": "p",
                "user": "ann",
                "nested": {"pin": 1234, "tags": ["a", "b"]},
                "pair": ("x", 2),
            }
        }
    )
    assert out == {
        "credentials": {
            "password": REDACTED,
            "user": REDACTED,
            "nested": {"pin": REDACTED, "tags": [REDACTED, REDACTED]},
            "pair": [REDACTED, REDACTED],
        }
    }
    assert out["credentials"]["password"] == REDACTED


def test_list_under_a_sensitive_key_keeps_its_length() -> None:
    out = sanitize_payload({"tokens": ["a", 4, None, True, 1.5, math.nan, b"x", ["y"]]})
    assert out == {"tokens": [REDACTED, REDACTED, None, True] + [REDACTED] * 3 + [[REDACTED]]}
    assert sanitize_payload({"tokens": []}) == {"tokens": []}


def test_sensitive_key_nested_deep_is_redacted() -> None:
    payload = {"a": [{"b": {"c": [{"apiKey": "k"}]}}]}
    assert sanitize_payload(payload) == {"a": [{"b": {"c": [{"apiKey": REDACTED}]}}]}


# -- value secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("bearer", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_token_is_redacted_case_insensitively(bearer: str) -> None:
    out = sanitize_payload({"header": f"{bearer} {TOKEN}"})
    assert out == {"header": f"{bearer} {REDACTED}"}


def test_bearer_needs_sixteen_token_characters() -> None:
    assert sanitize_payload("Bearer abcdefghijklmno") == "Bearer abcdefghijklmno"  # 15
    assert sanitize_payload("Bearer abcdefghijklmnop") == f"Bearer {REDACTED}"  # 16


def test_the_bearer_of_bad_news_stays() -> None:
    text = "the bearer of bad news arrived with the bearer bonds"
    assert sanitize_payload(text) == text


def test_bearer_inside_longer_text_keeps_the_rest() -> None:
    out = sanitize_payload(f"Authorization: Bearer {TOKEN} (expires soon)")
    assert out == f"Authorization: Bearer {REDACTED} (expires soon)"


def test_jwt_is_redacted_whatever_its_key() -> None:
    assert sanitize_payload({"note": f"session {JWT} ok"}) == {"note": f"session {REDACTED} ok"}
    assert sanitize_payload([JWT]) == [REDACTED]


def test_text_that_only_starts_like_a_jwt_stays() -> None:
    assert sanitize_payload("eyJust kidding") == "eyJust kidding"


def test_pem_private_key_block_is_redacted() -> None:
    out = sanitize_payload(f"key:\n{PEM}\ndone")
    assert out == f"key:\n{REDACTED}\ndone"


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_pem_private_key_of_every_kind_is_redacted(kind: str) -> None:
    block = f"-----BEGIN {kind}PRIVATE KEY-----\nAAAA\n-----END {kind}PRIVATE KEY-----"
    assert sanitize_payload(block) == REDACTED


def test_pem_block_without_end_line_is_redacted_to_the_end() -> None:
    clipped = "prefix -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert sanitize_payload(clipped) == f"prefix {REDACTED}"


def test_public_key_block_stays() -> None:
    block = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
    assert sanitize_payload(block) == block


def test_secrets_in_mapping_keys_are_redacted() -> None:
    assert sanitize_payload({f"Bearer {TOKEN}": 1}) == {f"Bearer {REDACTED}": 1}
    assert sanitize_payload({f"id {JWT}": 2}) == {f"id {REDACTED}": 2}
    out = sanitize_payload({PEM: 3})
    assert list(out) == [REDACTED]
    text = json.dumps(out)
    assert TOKEN not in text
    assert "secretbody" not in text


def test_secrets_in_long_strings_are_redacted() -> None:
    text = "x" * 5000 + f" Bearer {TOKEN} " + "y" * 5000 + " " + JWT
    out = sanitize_payload(text)
    assert TOKEN not in out
    assert JWT not in out
    assert out.count(REDACTED) == 2


def _clip_offset() -> int:
    """Where a long string is clipped when captured alone (found, not assumed)."""
    out = sanitize_payload("x" * (2 * MAX_PAYLOAD_SIZE))
    return out.index("...[Truncated")


def test_secret_that_straddles_the_clip_point_of_a_long_string_is_redacted() -> None:
    clip = _clip_offset()
    for start in range(clip - 60, clip + 4, 3):
        text = "x" * start + " Bearer " + "Z" * 40 + " tail" * 1000
        out = sanitize_payload(text)
        assert "Z" not in out, start
    spec_example = "x" * (MAX_PAYLOAD_SIZE - 10) + " Bearer " + "Z" * 40
    assert "Z" not in sanitize_payload(spec_example)


def test_jwt_that_straddles_the_clip_point_is_redacted() -> None:
    clip = _clip_offset()
    for start in range(clip - 60, clip + 4, 7):
        out = sanitize_payload("x" * start + " " + JWT + " tail" * 1000)
        assert "eyJ" not in out
        assert "c2lnbmF0" not in out


# -- types -------------------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: int
    password: str = "pw"


def test_mapping_becomes_dict_with_str_keys() -> None:
    out = sanitize_payload({1: "a", 2.5: "b", None: "c", False: "d", Colour.RED: "e"})
    assert out == {"1": "a", "2.5": "b", "null": "c", "false": "d", "red": "e"}
    assert all(isinstance(key, str) for key in out)


def test_other_mapping_types_become_dicts() -> None:
    counts: defaultdict[str, int] = defaultdict(int, {"a": 1})
    assert sanitize_payload(OrderedDict(b=2)) == {"b": 2}
    assert sanitize_payload(counts) == {"a": 1}
    assert sanitize_payload(MappingProxyType({"password": "x"})) == {"password": REDACTED}


def test_key_of_an_unsupported_type_becomes_its_type_marker() -> None:
    assert sanitize_payload({(1, 2): "a", frozenset(): "b"}) == {"<tuple>": "a", "<frozenset>": "b"}


def test_special_keys_become_text() -> None:
    class Name(str):
        pass

    out = sanitize_payload({math.inf: 1, Name("k"): 2, 2**5000: 3, Level.HIGH: 4})
    assert out == {"Infinity": 1, "k": 2, "<int: 5001 bits>": 3, "3": 4}


def test_tuples_become_lists() -> None:
    assert sanitize_payload((1, ("a", None))) == [1, ["a", None]]


def test_sets_become_lists() -> None:
    assert sanitize_payload({3, 1, 2}) == [1, 2, 3]
    assert sorted(sanitize_payload(frozenset({"b", "a"}))) == ["a", "b"]
    assert sorted(sanitize_payload({1, "a"}), key=str) == [1, "a"]


def test_dataclasses_become_dicts() -> None:
    assert sanitize_payload(Point(1, 2)) == {"x": 1, "y": 2, "password": REDACTED}
    assert sanitize_payload(Point) == "<type>"


def test_dates_and_times_become_iso_strings() -> None:
    moment = dt.datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=dt.UTC)
    out = sanitize_payload([moment, dt.date(2026, 11, 24), dt.time(10, 0, 1)])
    assert out == ["2026-11-24T10:00:00.123000+00:00", "2026-11-24", "10:00:01"]


def test_decimal_uuid_and_path_become_str() -> None:
    ident = uuid.UUID(int=1)
    out = sanitize_payload([Decimal("1.10"), ident, Path("/tmp/x"), PurePosixPath("a/b")])
    assert out == ["1.10", str(ident), "/tmp/x", "a/b"]


def test_enums_become_their_values() -> None:
    assert sanitize_payload([Colour.RED, Colour.BLUE, Level.HIGH]) == ["red", 2, 3]


def test_bytes_become_a_short_marker() -> None:
    out = sanitize_payload([b"abc", bytearray(10), memoryview(b"12345")])
    assert out == ["<bytes: 3>", "<bytes: 10>", "<bytes: 5>"]
    assert sanitize_payload(b"x" * 100_000_000) == "<bytes: 100000000>"


@pytest.mark.parametrize(
    ("value", "text"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")]
)
def test_non_finite_floats_become_strings(value: float, text: str) -> None:
    assert sanitize_payload(value) == text
    assert sanitize_payload({"v": value}) == {"v": text}
    assert sanitize_payload([value]) == [text]


def test_subclasses_of_builtins_become_plain_builtins() -> None:
    class MyStr(str):
        def __str__(self) -> str:
            return "hacked"

    class MyInt(int):
        pass

    class MyFloat(float):
        pass

    class MyList(list[Any]):
        pass

    out = sanitize_payload([MyStr("s"), MyInt(5), MyFloat(1.5), MyFloat("nan"), MyList([1])])
    assert out == ["s", 5, 1.5, "NaN", [1]]
    assert [type(item) for item in out] == [str, int, float, str, list]


def test_huge_int_becomes_a_marker() -> None:
    assert sanitize_payload(2**10_000) == "<int: 10001 bits>"
    assert sanitize_payload({"n": 2**10_000}) == {"n": "<int: 10001 bits>"}


def test_generators_and_iterators_are_not_consumed() -> None:
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    generator = numbers()
    iterator = iter([10, 20])
    out = sanitize_payload({"g": generator, "i": iterator})
    assert out == {"g": "<generator>", "i": "<list_iterator>"}
    assert next(generator) == 1
    assert next(iterator) == 10


def test_arbitrary_object_becomes_its_type_name_never_its_repr() -> None:
    class Session:
        def __repr__(self) -> str:
            return "Session(password='hunter2')"

        __str__ = __repr__

    out = sanitize_payload({"session": Session(), "fn": len, "cls": Session})
    assert out == {"session": "<Session>", "fn": "<builtin_function_or_method>", "cls": "<type>"}
    assert "hunter2" not in json.dumps(out)


def test_object_with_a_huge_type_name_is_clipped_as_value_and_as_key() -> None:
    cls = type("N" * 100_000, (), {})
    out = sanitize_payload([cls(), {cls(): 1}])
    assert compact_size(out) < 110_000
    assert out[0].startswith("<NNN")
    (key,) = out[1]
    assert key.startswith("<NNN")
    assert key.endswith("more chars]")


def test_result_is_a_new_value() -> None:
    payload = {"a": [1, {"b": 2}]}
    out = sanitize_payload(payload)
    assert out == payload
    assert out is not payload
    assert out["a"] is not payload["a"]
    assert out["a"][1] is not payload["a"][1]


def test_shared_subobjects_are_not_cycles() -> None:
    shared = {"v": 1}
    assert sanitize_payload({"a": shared, "b": shared, "c": [shared, shared]}) == {
        "a": {"v": 1},
        "b": {"v": 1},
        "c": [{"v": 1}, {"v": 1}],
    }


# -- cycles and depth --------------------------------------------------------------------------


def test_self_referencing_dict_becomes_circular() -> None:
    data: dict[str, Any] = {"name": "loop"}
    data["self"] = data
    assert sanitize_payload(data) == {"name": "loop", "self": "[Circular]"}


def test_self_referencing_list_becomes_circular() -> None:
    items: list[Any] = [1]
    items.append(items)
    assert sanitize_payload(items) == [1, "[Circular]"]


def test_indirect_cycle_through_a_sensitive_key_becomes_circular() -> None:
    outer: dict[str, Any] = {}
    outer["auth"] = {"back": outer, "list": [outer]}
    assert sanitize_payload(outer) == {"auth": {"back": "[Circular]", "list": ["[Circular]"]}}


def test_nesting_deeper_than_32_becomes_max_depth() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        value = {"k": value}
    out = sanitize_payload(value)
    depth = 0
    while isinstance(out, dict):
        out = out["k"]
        depth += 1
    assert out == "[MaxDepth]"
    assert depth == MAX_DEPTH == 32


def test_nesting_of_exactly_32_is_kept() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH):
        value = [value]
    out = sanitize_payload(value)
    for _ in range(MAX_DEPTH):
        out = out[0]
    assert out == "leaf"


def test_100000_deep_nesting_raises_no_recursion_error() -> None:
    nested_list: list[Any] = []
    nested_dict: dict[str, Any] = {}
    for _ in range(100_000):
        nested_list = [nested_list]
        nested_dict = {"d": nested_dict}
    for value in (nested_list, nested_dict):
        out = sanitize_payload(value)
        assert "[MaxDepth]" in json.dumps(out)
    trace = ActionExecutionTrace(
        action_id="a", actor_id="b", turn_action={"actionDefinitionId": "a"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload(nested_list)
    assert "[MaxDepth]" in trace.to_json()


# -- size --------------------------------------------------------------------------------------


def test_long_string_is_clipped_with_a_visible_marker() -> None:
    text = "é" * (MAX_PAYLOAD_SIZE)  # two bytes each: twice the cap
    out = sanitize_payload({"text": text})
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out["text"].startswith("éé")
    assert "...[Truncated:" in out["text"]
    assert out["text"].endswith("more chars]")


def test_long_list_is_cut_with_a_visible_marker() -> None:
    out = sanitize_payload(list(range(1_000_000)))
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out[:3] == [0, 1, 2]
    assert out[-1].startswith("[Truncated: ")
    assert out[-1].endswith("more items]")
    assert int(out[-1].split()[1]) == 1_000_000 - (len(out) - 1)


def test_big_mapping_is_cut_with_a_visible_marker() -> None:
    out = sanitize_payload({f"key{i}": "v" * 20 for i in range(200_000)})
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out["key0"] == "v" * 20
    assert out["[Truncated]"].endswith("more keys")


def test_many_nested_containers_are_cut_within_the_size_cap() -> None:
    payload = [{"id": i, "tags": ["a", "b"], "pos": {"x": i, "y": -i}} for i in range(200_000)]
    out = sanitize_payload(payload)
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out[-1].startswith("[Truncated:")


@pytest.mark.parametrize(
    "payload",
    [
        ["\x00" * 1000] * 3000,
        {f"\x01{i}": "\u2028" * 5 for i in range(200_000)},
        ["\U0001f600" * 1000] * 3000,
        ["é" * 5000] * 500,
        [{"k": "\x00" * 500}] * 10_000,
    ],
    ids=["control-chars", "escaped-keys", "emoji", "latin", "nested-escapes"],
)
def test_escape_heavy_payload_fits_the_cap_and_keeps_content(payload: Any) -> None:
    out, text, size, truncated = sanitize_to_json(payload)
    assert truncated
    assert size == compact_size(out) <= MAX_PAYLOAD_SIZE
    assert text == compact_json(out)
    assert size > MAX_PAYLOAD_SIZE // 2  # cut to fit, not thrown away


def test_payload_phase_says_truncated_only_when_cut() -> None:
    for payload, expected in (({"a": "short"}, False), (["x" * 100] * 50_000, True)):
        trace = ActionExecutionTrace(
            action_id="a", actor_id="b", turn_action={"actionDefinitionId": "a"}
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload(payload)
        phase = trace.get_execution_phases()[1]
        assert phase["truncated"] is expected
        assert phase["payloadSize"] <= MAX_PAYLOAD_SIZE


def test_100_mb_string_is_captured_bounded_and_marked() -> None:
    big = "x" * 100_000_000
    out = sanitize_payload({"s": big})
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out["s"].endswith("more chars]")


def test_10_million_item_list_is_captured_bounded_and_marked() -> None:
    big = list(range(10_000_000))
    out = sanitize_payload(big)
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out[-1].startswith("[Truncated: ")
    huge_set = set(range(2_000_000))
    out_set = sanitize_payload(huge_set)
    assert compact_size(out_set) <= MAX_PAYLOAD_SIZE
    assert out_set[-1].startswith("[Truncated")


def test_long_strings_in_a_list_share_the_budget() -> None:
    out = sanitize_payload(["y" * 600_000] * 5)
    assert compact_size(out) <= MAX_PAYLOAD_SIZE
    assert out[0] == "y" * 600_000
    assert "[Truncated" in json.dumps(out[1:])


def test_value_that_barely_fits_a_small_budget_is_cut_to_fit() -> None:
    clean, text, size, truncated = sanitize_to_json({"k": ["\x00" * 200] * 10}, max_bytes=64)
    assert truncated
    assert size <= 64
    assert json.loads(text) == clean


def test_value_that_cannot_fit_at_all_becomes_a_marker() -> None:
    clean, text, size, truncated = sanitize_to_json({"k": ["\x00" * 200] * 10}, max_bytes=8)
    assert truncated
    assert clean == "[Truncated: payload too large]"
    assert json.loads(text) == clean
    assert size == len(text)


def test_compact_json_refuses_what_json_cannot_hold() -> None:
    assert compact_json({"a": [1, "é", None]}) == '{"a":[1,"é",null]}'
    with pytest.raises(TypeError, match="object"):
        compact_json(object())


# -- user rules --------------------------------------------------------------------------------


def test_user_sensitive_fields_are_matched_like_the_built_in_ones() -> None:
    rules = {"sensitive_fields": ["dob", "homeAddress"]}
    assert is_sensitive_key("dob", **rules)
    assert is_sensitive_key("userDOB", **rules)
    assert is_sensitive_key("dob_hash", **rules)
    assert is_sensitive_key("home_address", **rules)
    assert is_sensitive_key("HOME-ADDRESSES", **rules)
    assert is_sensitive_key("myhomeaddress", **rules)  # five letters or more: run together too
    assert not is_sensitive_key("adobe", **rules)  # a short name counts as a whole word only
    assert not is_sensitive_key("home_address_count", **rules)
    assert not is_sensitive_key("dob")
    out = sanitize_payload({"dob": "1990-01-01", "home_address": "x", "adobe": 1}, **rules)
    assert out == {"dob": REDACTED, "home_address": REDACTED, "adobe": 1}


def test_safe_fields_exempt_whole_keys_case_and_separator_insensitively() -> None:
    rules = {"safe_fields": ["token_count"]}
    assert not is_sensitive_key("token_count", **rules)
    assert not is_sensitive_key("TokenCount", **rules)
    assert not is_sensitive_key("token-count", **rules)
    assert not is_sensitive_key("Token Count", **rules)
    assert is_sensitive_key("token_count_secret", **rules)
    assert is_sensitive_key("token", **rules)
    out = sanitize_payload({"tokenCount": 3, "token": "t"}, **rules)
    assert out == {"tokenCount": 3, "token": REDACTED}


def test_a_field_name_without_words_matches_nothing() -> None:
    assert not is_sensitive_key("--", sensitive_fields=["--"])
    assert is_sensitive_key("password", sensitive_fields=["--"])


def test_many_different_rule_sets_can_be_used() -> None:
    for index in range(300):
        name = f"field{index}x"
        assert is_sensitive_key(name, sensitive_fields=[name])
        assert not is_sensitive_key(name, sensitive_fields=["other"], safe_fields=[f"s{index}"])


def test_rules_accept_any_iterable_of_names() -> None:
    assert is_sensitive_key("pin", sensitive_fields=iter(["pin"]))
    assert is_sensitive_key("pin", sensitive_fields=("pin",), safe_fields=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("argument", ["sensitive_fields", "safe_fields"])
@pytest.mark.parametrize("bad", ["password", ["ok", 3], [""], ["  "], 5, [None]])
def test_invalid_field_names_raise_invalid_argument_error_naming_the_argument(
    argument: str, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        sanitize_payload({"a": 1}, **{argument: bad})
    with pytest.raises(InvalidArgumentError, match=argument):
        is_sensitive_key("a", **{argument: bad})
    with pytest.raises(InvalidArgumentError, match=argument):
        ActionExecutionTrace(
            action_id="a", actor_id="b", turn_action={"actionDefinitionId": "a"}, **{argument: bad}
        )


def test_trace_applies_its_sensitive_fields() -> None:
    trace = ActionExecutionTrace(
        action_id="a",
        actor_id="b",
        turn_action={"actionDefinitionId": "a", "parameters": {"pin": 1}},
        sensitive_fields=["pin"],
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"pin": 1234})
    data = trace.to_dict()
    assert data["eventPayload"] == {"pin": REDACTED}
    assert data["turnAction"]["parameters"] == {"pin": REDACTED}


# -- never raises ------------------------------------------------------------------------------


class ItemsRaise(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["a"])

    def __len__(self) -> int:
        return 1

    def items(self) -> Any:
        raise RuntimeError("items failed")


class LenRaises(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        return 1

    def __iter__(self) -> Iterator[str]:
        return iter(["a", "b"])

    def __len__(self) -> int:
        raise RuntimeError("no len")


class IterFailsHalfway(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        return key.upper()

    def __iter__(self) -> Iterator[str]:
        yield "a"
        raise RuntimeError("broke mid-way")

    def __len__(self) -> int:
        return 3


class PretendsToBeADict:
    __class__ = dict  # type: ignore[assignment]


class ClassLookupRaises:
    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        raise RuntimeError("no class")


class BadList(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("no iteration")


class BadSet(set[Any]):
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        raise RuntimeError("no len")


class FailsMidway(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        yield 1
        raise RuntimeError("broke mid-way")


class PretendsToBeABool:
    __class__ = bool  # type: ignore[assignment]


class PretendsToBeAnInt:
    __class__ = int  # type: ignore[assignment]


class NamelessMeta(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("no name")


class Nameless(metaclass=NamelessMeta):
    pass


class BadEnumValue(enum.Enum):
    A = 1

    @property
    def value(self) -> Any:  # type: ignore[override]
        raise RuntimeError("no value")


@dataclasses.dataclass
class Unfinished:
    x: int


def _unfinished() -> Unfinished:
    item = Unfinished(1)
    del item.x
    return item


class HashableButTouchy:
    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return self is other

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("no ordering")


class BadFloatKey(float):
    def __float__(self) -> float:
        raise RuntimeError("no float")

    def __hash__(self) -> int:
        return 1


def test_a_mapping_whose_items_raise_is_marked_and_its_siblings_kept() -> None:
    out = sanitize_payload({"before": 1, "bad": ItemsRaise(), "after": 2})
    assert out == {"before": 1, "bad": {"[Truncated]": "unreadable entries"}, "after": 2}


def test_a_mapping_failing_mid_iteration_keeps_what_was_read() -> None:
    out = sanitize_payload({"m": IterFailsHalfway(), "after": 2})
    assert out == {"m": {"a": "A", "[Truncated]": "unreadable entries"}, "after": 2}


def test_a_dict_mutated_during_iteration_keeps_what_was_read() -> None:
    class Grows:
        def __init__(self, target: dict[Any, Any]) -> None:
            self.target = target

        def __hash__(self) -> int:
            return id(self)

    data: dict[Any, Any] = {"a": 1}

    class Mutator:
        """A value whose conversion adds a key to the dict being walked."""

        @property  # type: ignore[misc]
        def __class__(self) -> Any:
            data[Grows(data)] = 2
            return Mutator

    data["b"] = Mutator()
    data["c"] = 3
    out = sanitize_payload(data)
    assert out["a"] == 1
    assert out["[Truncated]"] == "unreadable entries"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (LenRaises(), {"a": 1, "b": 1}),
        (PretendsToBeADict(), {"[Truncated]": "unreadable entries"}),
        (ClassLookupRaises(), "<ClassLookupRaises>"),
        (BadList([1, 2]), ["[Truncated: unreadable items]"]),
        (BadSet(), ["[Truncated: unreadable items]"]),
        (BadEnumValue.A, "<BadEnumValue>"),
        (_unfinished(), {"[Truncated]": "unreadable entries"}),
        ({HashableButTouchy(), HashableButTouchy()}, ["<HashableButTouchy>"] * 2),
        ({BadFloatKey(1.5): 1, "z": 2}, {"[Truncated]": "unreadable entries"}),
        ({BadEnumValue.A: 1}, {"<BadEnumValue>": 1}),
        (FailsMidway([1, 2]), [1, "[Truncated: unreadable items]"]),
        (PretendsToBeABool(), "<PretendsToBeABool>"),
        (PretendsToBeAnInt(), "<PretendsToBeAnInt>"),
        (Nameless(), "<object>"),
        ({Nameless(): 1}, {"<object>": 1}),
    ],
    ids=[
        "len-raises",
        "fake-class-dict",
        "class-lookup-raises",
        "list-iter-raises",
        "set-iter-and-len-raise",
        "enum-value-raises",
        "dataclass-missing-field",
        "unsortable-set",
        "float-key-conversion-raises",
        "enum-key-value-raises",
        "list-fails-mid-iteration",
        "fake-class-bool",
        "fake-class-int",
        "type-name-raises",
        "key-type-name-raises",
    ],
)
def test_sanitize_never_raises_for_hostile_objects(value: Any, expected: Any) -> None:
    out = sanitize_payload({"v": value, "after": True})
    assert out["v"] == expected
    assert out["after"] is True
    assert_json_safe(out)


def test_lone_surrogates_become_encodable_utf8() -> None:
    out = sanitize_payload({"k\ud800": "v\udfff", "list": ["\ud83d" * 2000], "x": "a\udc00" * 600})
    text = json.dumps(out, ensure_ascii=False)
    text.encode("utf-8")
    assert "k" in next(iter(out))
    trace = ActionExecutionTrace(
        action_id="a\ud800", actor_id="b", turn_action={"actionDefinitionId": "\udfff"}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"s": "\ud800"})
    trace.to_json().encode("utf-8")
    trace.to_json(indent=2).encode("utf-8")


def test_top_level_scalars_pass_through() -> None:
    assert sanitize_payload(None) is None
    assert sanitize_payload(True) is True
    assert sanitize_payload(3) == 3
    assert sanitize_payload(2.5) == 2.5
    assert sanitize_payload("text") == "text"
