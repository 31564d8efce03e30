"""Secrets whatever their shape (hypothesis): key spellings, positions in a string, case,
separators, nesting and truncation boundaries; and game text that must stay as it is.
"""

from __future__ import annotations

import base64
import string
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from actiontrace import MAX_PAYLOAD_SIZE, REDACTED, is_sensitive_key, sanitize_payload
from actiontrace.sanitize import redact_secrets

PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- keys ------------------------------------------------------------------------------------------

NAMES = [
    ["password"],
    ["passwd"],
    ["pwd"],
    ["passphrase"],
    ["secret"],
    ["token"],
    ["api", "key"],
    ["access", "key"],
    ["private", "key"],
    ["secret", "key"],
    ["signing", "key"],
    ["client", "secret"],
    ["credential"],
    ["auth"],
    ["authorization"],
    ["cookie"],
    ["session", "id"],
    ["session", "token"],
    ["sid"],
    ["pin"],
    ["otp"],
    ["ssn"],
    ["cvv"],
    ["card", "number"],
    ["iban"],
]
PREFIXES = ["user", "db", "my", "x", "aws", "player", "admin", "new", "stripe", "game"]
QUALIFIERS = ["hash", "confirmation", "again", "old", "value", "b64", "hex", "raw", "code", "data"]
TAILS = ["count", "level", "door", "passage", "hint", "eaten", "start", "reset", "sent", "ids"]


def spell(words: list[str], style: str) -> str:
    if style == "camel":
        return words[0].lower() + "".join(word.title() for word in words[1:])
    if style == "pascal":
        return "".join(word.title() for word in words)
    if style == "upper":
        return "_".join(word.upper() for word in words)
    return style.join(word.lower() for word in words)


STYLES = st.sampled_from(["camel", "pascal", "upper", "_", "-", ".", " ", "__"])


@st.composite
def sensitive_keys(draw: st.DrawFn) -> str:
    words = [*draw(st.lists(st.sampled_from(PREFIXES), max_size=2)), *draw(st.sampled_from(NAMES))]
    words += draw(st.lists(st.sampled_from(QUALIFIERS), max_size=2))
    key = spell(words, draw(STYLES))
    return key + draw(st.sampled_from(["", "2", "_1"]))


@st.composite
def benign_keys(draw: st.DrawFn) -> str:
    words = [*draw(st.lists(st.sampled_from(PREFIXES), max_size=1)), *draw(st.sampled_from(NAMES))]
    words.append(draw(st.sampled_from(TAILS)))
    return spell(words, draw(STYLES))


@PROFILE
@given(sensitive_keys(), st.text(min_size=1, max_size=12))
def test_a_key_ending_in_a_sensitive_name_is_sensitive_whatever_its_spelling(
    key: str, value: str
) -> None:
    assert is_sensitive_key(key), key
    assert sanitize_payload({"outer": [{key: value}]}) == {"outer": [{key: REDACTED}]}


@PROFILE
@given(benign_keys(), st.text(max_size=12))
def test_a_key_whose_head_word_is_ordinary_is_kept_whatever_its_spelling(
    key: str, value: str
) -> None:
    assert not is_sensitive_key(key), key
    assert sanitize_payload({key: value})[key] == redact_secrets(value)


@PROFILE
@given(st.sampled_from(["password", "passwd", "token", "secret", "apikey", "cookie"]), STYLES)
def test_long_names_run_together_are_sensitive(name: str, style: str) -> None:
    for prefix in ("db", "new", "access", "x_", "MY"):
        key = prefix + (name.upper() if style == "upper" else name)
        assert is_sensitive_key(key), key


# -- values ----------------------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def chars(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(
        st.sampled_from([("4", 16), ("4", 13), ("51", 16), ("37", 15), ("6011", 16), ("3530", 16)])
    )
    body = prefix + draw(chars(string.digits, length - len(prefix) - 1))
    return next(body + d for d in string.digits if _luhn_ok(body + d))


@st.composite
def jwts(draw: st.DrawFn) -> str:
    claims = draw(st.dictionaries(st.sampled_from("abcxyz"), st.integers(), max_size=3))
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(repr(claims).encode()).decode().rstrip("=")
    return f"{header}.{body or 'e30'}.{draw(chars(URLSAFE, 43))}"


# Each: the secret as written, and the text around it that may touch it on either side.
TOKENS = st.one_of(
    jwts(),
    st.builds(lambda s: "AKIA" + s, chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    st.builds(lambda s: "ghp_" + s, chars(ALNUM, 36)),
    st.builds(lambda s: "glpat-" + s, chars(URLSAFE, 20)),
    st.builds(lambda s: "sk_live_" + s, chars(ALNUM, 24)),
    st.builds(lambda a, b: f"xoxb-{a}-{b}", chars(string.digits, 12), chars(ALNUM, 24)),
    st.builds(lambda s: "npm_" + s, chars(ALNUM, 36)),
    st.builds(lambda s: "AIza" + s, chars(URLSAFE, 35)),
    st.builds(lambda a, b: f"sk-{a}T3BlbkFJ{b}", chars(ALNUM, 20), chars(ALNUM, 20)),
)
NEIGHBOURS = st.text(alphabet=ALNUM + "_- .,:;'\"/=?&()[]{}\n\t", max_size=12)


@PROFILE
@given(TOKENS, NEIGHBOURS, NEIGHBOURS)
def test_a_token_is_redacted_whatever_precedes_or_follows_it(
    token: str, before: str, after: str
) -> None:
    out = redact_secrets(before + token + after)
    assert token not in out
    assert REDACTED in out


@PROFILE
@given(cards(), st.text(alphabet=string.ascii_letters + " .,:;#/()", max_size=12), st.booleans())
def test_a_card_number_is_redacted_wherever_it_stands(
    number: str, around: str, grouped: bool
) -> None:
    shown = " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if grouped else number
    out = redact_secrets(f"{around}{shown}{around[::-1]}")
    assert shown not in out
    assert number not in out.replace(" ", "")


@PROFILE
@given(
    st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR", "Token", "TOKEN", "token"]),
    st.sampled_from([" ", "  ", "\t"]),
    chars(URLSAFE + ".~+/", 24),
    NEIGHBOURS,
)
def test_authorization_schemes_are_redacted_in_any_case(
    scheme: str, space: str, token: str, before: str
) -> None:
    out = redact_secrets(f"{before}{scheme}{space}{token} ok")
    if token.isdigit():  # a number after the word ("the bearer 76561198000000000") stays
        assert token in out
    else:
        assert token not in out


@PROFILE
@given(
    st.sampled_from(["password", "PASSWORD", "Password", "db_password", "pwd", "token", "api-key"]),
    st.sampled_from([":", "=", " : ", " = ", ": "]),
    st.sampled_from(['"{}"', "'{}'", "{}", '\\"{}\\"']),
    chars(ALNUM + "!@#$%^*", 12),
    st.sampled_from(["", "login: ", '{"user": "bob", ', "note "]),
)
# A password that starts with a flag word ("nil", "true"...) is no flag.
@example("password", ":", "{}", "NIL*00000000", "")
@example("token", "=", "'{}'", "true!x", "note ")
def test_a_name_value_pair_in_free_text_is_redacted_whatever_its_separators_and_quotes(
    name: str, separator: str, quoting: str, value: str, before: str
) -> None:
    key = f'"{name}"' if before.startswith("{") else name
    out = redact_secrets(f"{before}{key}{separator}{quoting.format(value)} then more")
    assert value not in out
    assert out.endswith(" then more")


@PROFILE
@given(st.sampled_from(["password", "Password", "PASSWD", "pin", "passphrase"]), chars(ALNUM, 9))
def test_password_is_redacts_the_value(name: str, value: str) -> None:
    assert redact_secrets(f"my {name} is {value}, ok") == f"my {name} is {REDACTED} ok"


# -- nesting and truncation ------------------------------------------------------------------------


@st.composite
def nested(draw: st.DrawFn, leaf: str) -> Any:
    node: Any = leaf
    for _ in range(draw(st.integers(0, 20))):
        if draw(st.booleans()):
            node = {draw(st.sampled_from(["a", "note", "chat", "items"])): node, "n": 1}
        else:
            node = ["x", node]
    return node


@PROFILE
@given(st.data(), TOKENS)
def test_a_token_at_any_depth_is_redacted(data: st.DataObject, token: str) -> None:
    payload = data.draw(nested(f"said {token} once"))
    assert token not in str(sanitize_payload(payload))


def _clip_offset() -> int:
    out = sanitize_payload("x" * (2 * MAX_PAYLOAD_SIZE))
    return int(out.index("...[Truncated"))


CLIP = _clip_offset()


@settings(max_examples=40, deadline=None)
@given(TOKENS, st.integers(-80, 8))
def test_a_token_across_the_clip_point_of_a_long_string_never_shows_a_part(
    token: str, shift: int
) -> None:
    out = sanitize_payload("y" * (CLIP + shift) + " " + token + " tail" * 1000)
    assert token[:8] not in out
    assert token[-8:] not in out


@settings(max_examples=60, deadline=None)
@given(TOKENS, st.integers(-60, 4))
def test_a_token_across_the_clip_point_of_a_long_key_never_shows_a_part(
    token: str, shift: int
) -> None:
    key = "k" * (1024 + shift) + token + "k" * 500
    ((name, _),) = sanitize_payload({key: 1}).items()
    assert token[:10] not in name
    assert token[-10:] not in name


# -- game text stays ---------------------------------------------------------------------------

GAME_WORDS = [
    "the",
    "bearer",
    "of",
    "bad",
    "news",
    "Basic",
    "training",
    "Token",
    "Power",
    "secret",
    "door",
    "hidden",
    "behind",
    "falls",
    "spin",
    "inside",
    "oauth",
    "cookie",
    "cookies",
    "eaten",
    "auth",
    "level",
    "token",
    "count",
    "passage",
    "secretary",
    "key",
    "north",
    "gold",
    "42",
    "76561198000000000",
    "sword",
    "password",
    "reset",
    "pin",
    "map",
    "wall",
]


@PROFILE
@given(st.lists(st.sampled_from(GAME_WORDS), min_size=1, max_size=14), st.sampled_from([" ", ", "]))
def test_game_sentences_stay_as_they_are(words: list[str], joiner: str) -> None:
    text = joiner.join(words)
    assert redact_secrets(text) == text
    assert sanitize_payload({"chat": text, "secret_door": text}) == {
        "chat": text,
        "secret_door": text,
    }
