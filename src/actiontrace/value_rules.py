"""Secrets recognised by their shape wherever they stand in a string, whatever their key.

Each rule redacts only the secret part (the rest of the string stays) and runs only when a cheap
test on the string says it could apply, so an ordinary game string costs a few ``in`` tests.
Vendor formats follow the public secret scanners (gitleaks, detect-secrets, GitHub secret
scanning): the prefix, length and character set they publish, and the context they require.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from .types import REDACTED

__all__ = ["is_card_number", "redact_values"]

KeyTest = Callable[[str], bool]

# -- blocks and tokens that are secrets by shape alone ---------------------------------------------

_PEM_RE = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)
# A JSON Web Token: base64url of a JSON header ({"alg"... is ``eyJ``), payload, signature; anything
# may precede it (``session_<jwt>``, ``%3D<jwt>``). A JWE's two further parts go with it.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{12,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[\w-]+){0,2}")
_B64URL_RUN_RE = re.compile(r"[A-Za-z0-9_-]*")

_VENDOR_RE = re.compile(
    "|".join(
        (
            # AWS access key id (gitleaks aws-access-token)
            r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
            # GitHub classic and fine-grained tokens (GitHub secret scanning, gitleaks github-*)
            r"gh[pousr]_[A-Za-z0-9]{36,255}",
            r"github_pat_[A-Za-z0-9_]{36,255}",
            # GitLab tokens (gitleaks gitlab-*): personal, pipeline trigger, deploy, runner...
            r"gl(?:pat|ptt|dt|rt|oas|cbt|ft|imt|soat|ffct|agent)-[A-Za-z0-9_-]{20,255}",
            r"GR1348941[A-Za-z0-9_-]{20,255}",
            # Slack bot/user/app/config tokens and webhook paths (gitleaks slack-*)
            r"xox[abeoprs]-[A-Za-z0-9-]{10,255}",
            r"xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{100,300}",
            r"xapp-\d-[A-Za-z0-9-]{10,255}",
            r"(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,200}",
            # Stripe secret, restricted and webhook keys (gitleaks stripe-access-token)
            r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,99}",
            r"whsec_[A-Za-z0-9+/=]{24,128}",
            # Google API key, OAuth client secret and access token (gitleaks gcp-api-key)
            r"AIza[A-Za-z0-9_-]{35}",
            r"GOCSPX-[A-Za-z0-9_-]{28}",
            r"ya29\.[A-Za-z0-9_-]{20,2048}",
            # OpenAI keys: ``T3BlbkFJ`` is base64 of "OpenAI" (gitleaks openai-api-key); project,
            # service-account and admin keys also by their prefix alone. Anthropic likewise.
            r"sk-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200}",
            r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,400}",
            r"sk-ant-[a-z]{3,6}\d{2}-[A-Za-z0-9_-]{80,300}",
            # npm access token (gitleaks npm-access-token)
            r"npm_[A-Za-z0-9]{36}",
            # Discord bot token (detect-secrets DiscordBotTokenDetector)
            r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}",
        )
    )
)

# An AWS secret access key is 40 base64 characters: too common a shape to redact alone, so only
# next to its keyword, as gitleaks and detect-secrets require.
_AWS_SECRET_RE = re.compile(
    r"(?i:aws)[\w .-]{0,20}?(?i:secret|key)[\w .-]{0,20}?[\s:=>\"',]{1,5}"
    r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)

# -- credentials that need their context -----------------------------------------------------------

_TOKEN_CHARS = r"[A-Za-z0-9\-._~+/]"
_SCHEME_RE = re.compile(
    rf"(?P<scheme>(?i:bearer|token)\s+){_TOKEN_CHARS}{{16,}}=*"
    r"|(?P<basic>(?i:basic)\s+)(?P<b64>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"
)
_URL_CREDENTIALS_RE = re.compile(
    r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)(?P<password>[^\s/?#]+)(?=@)"
)
# ``?name=value`` and ``&name=value`` (also URL-encoded, and a form body's first field); the name
# is judged by the key rules.
_PARAM_RE = re.compile(
    r"(?P<sep>^|[?&;]|%3[Ff]|%26)(?P<name>[A-Za-z0-9_.\[\]-]{1,128})(?P<eq>=|%3[Dd])"
    r"(?P<value>(?:(?!%26)[^&#\s\"'<>\\])+)"
)
_COOKIE_RE = re.compile(r"(?P<head>(?i:set-)?(?i:cookie)[ \t]*:[ \t]*)(?=[^\s=;,]{1,256}=)[^\r\n]+")
# ``name: value`` / ``name=value`` in free text (see ``_key_values``): the name quoted or not; the
# value runs to the next whitespace, or to its closing quote.
_SPACE_RE = re.compile(r"\s")
# ``my password is hunter2``: only the password family (``the secret is hidden...`` stays).
_IS_RE = re.compile(
    r"(?i)(?<![A-Za-z])(?P<head>(?:password|passwd|passphrase|pwd|pin)s?\s+is\s+)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\S+)"
)
_FLAGS = frozenset({"true", "false", "null", "none", "nil", ""})
# A flag word ends the value, a sentence, or a JSON string ("true\",..."): "nil*2xq!" is a
# password starting with one, not a flag.
_FLAG_WORD_RE = re.compile(r"(?i:true|false|null|none|nil)(?=[.!?]?(?:\s|$)|[\"'\\,;&)\]}])")
_CARD_RUN_RE = re.compile(r"\d(?:[ -]?\d){12,}")
_DIGIT_GROUPS_RE = re.compile(r"\d+")
# A card is written in at most five groups; with an expiry date or a code beside it, eight.
_MAX_CARD_GROUPS = 8


def _quoted_body(value: str) -> tuple[str, str, str]:
    """Split a matched value into (opening quote, body, closing quote)."""
    for quote in ('\\"', '"', "'"):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return quote, value[len(quote) : -len(quote)], quote
    return "", value, ""


def _redact_value(value: str) -> str:
    """``value`` with its secret replaced, quotes kept; a flag or a redacted value stays."""
    opening, body, closing = _quoted_body(value)
    if body.startswith(REDACTED) or body.lower() in _FLAGS:
        return value
    if not opening and _FLAG_WORD_RE.match(body):
        return value  # ``true",...`` inside a JSON string: a flag, then the string's own quote
    return f"{opening}{REDACTED}{closing}"


def _scheme(match: re.Match[str]) -> str:
    basic = match.group("basic")
    if basic is None:
        if match.group(0)[len(match.group("scheme")) :].isdigit():
            return match.group(0)  # "the bearer 76561198000000000": a number, not a credential
        return match.group("scheme") + REDACTED
    token = match.group("b64")
    if token.isdigit():
        return match.group(0)  # a number, not base64 of ``user:password``
    # Basic credentials are base64 of ``user:password``: "Basic training" decodes to no such text.
    if any(c.isdigit() or c in "+/=" for c in token):
        return basic + REDACTED
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return match.group(0)
    if ":" in text and text.isprintable():
        return basic + REDACTED
    return match.group(0)


def _aws(match: re.Match[str]) -> str:
    start = match.start("secret") - match.start()
    return match.group(0)[:start] + REDACTED


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """Whether a run of 13 to 19 digits is a payment card number (network prefix, length, Luhn)."""
    n = len(digits)
    if not 13 <= n <= 19 or digits[0] not in "23456" or not digits.isdigit():
        return False
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    network = (
        (digits[0] == "4" and n in (13, 16, 19))  # Visa
        or ((51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16)  # Mastercard
        or (p2 in (34, 37) and n == 15)  # American Express
        or ((p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and n >= 16)
        or (3528 <= p4 <= 3589 and n >= 16)  # JCB
        or ((300 <= p3 <= 305 or p2 in (36, 38, 39)) and n >= 14)  # Diners Club
        or (p2 == 62 and n >= 16)  # UnionPay
        or (p2 in (50, 56, 57, 58) or digits[0] == "6")  # Maestro (12-19; 13+ here)
    )
    return network and _luhn(digits)


def _cards(text: str) -> str:
    """Redact card numbers: runs of digits (single spaces or dashes between groups allowed)."""
    parts: list[str] = []
    done = 0
    for run in _CARD_RUN_RE.finditer(text):
        start, end = run.span()
        if (start and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()):
            continue  # pragma: no cover - a run is maximal, digits cannot border it
        groups = [(m.start() + start, m.end() + start) for m in _DIGIT_GROUPS_RE.finditer(run[0])]
        count = len(groups)
        if count > _MAX_CARD_GROUPS:
            continue  # a long run of numbers (a table, a list of ids), not a card and its date
        i = 0
        while i < count:
            found = -1
            if text[groups[i][0]] in "23456":  # every card network starts so
                digits = ""
                for j in range(i, count):
                    digits += text[groups[j][0] : groups[j][1]]
                    if len(digits) > 19:
                        break
                    # A card is the whole run, or whole groups of it when separators split it.
                    if len(digits) >= 13 and (count > 1 or j == 0) and is_card_number(digits):
                        found = j
            if found < 0:
                i += 1
                continue
            parts.append(text[done : groups[i][0]])
            parts.append(REDACTED)
            done = groups[found][1]
            i = found + 1
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _jwts(text: str) -> str:
    """Redact JSON Web Tokens, whatever precedes them, in time linear in ``text``."""
    parts: list[str] = []
    done = 0
    at = 0
    while (start := text.find("eyJ", at)) >= 0:
        token = _JWT_RE.match(text, start)
        if token is None:
            # A later ``eyJ`` in the same base64url run would fail the same way: skip the run.
            run = _B64URL_RUN_RE.match(text, start + 3)
            at = run.end() if run is not None else start + 3
            continue
        parts.append(text[done:start])
        parts.append(REDACTED)
        done = at = token.end()
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


_NAME_CHARS = frozenset("_.[]-")
_SPACE = frozenset(" \t\r\n")
_SCHEME_WORD_RE = re.compile(r"(?i:bearer|basic|token|digest)\s+")
_MAX_NAME = 128


def _name_before(text: str, sep: int) -> str | None:
    """Return the ``name`` of a ``name:`` / ``"name" =`` ending at index ``sep``, if any."""
    end = sep
    while end and text[end - 1] in _SPACE:
        end -= 1
    if end and text[end - 1] in "\"'":  # a quoted name
        end -= 1
        if end and text[end - 1] == "\\":
            end -= 1
    start = end
    limit = max(end - _MAX_NAME, 0)
    while start > limit and (text[start - 1].isalnum() or text[start - 1] in _NAME_CHARS):
        start -= 1
    if start == end or (start == limit and start and text[start - 1].isalnum()):
        return None  # no name, or one too long to be a field name
    first = text[start]
    if not (first.isalpha() or first == "_"):
        return None
    return text[start:end]


def _value_end(text: str, start: int, unquoted_end: int) -> tuple[int, str]:
    """Return where the value at ``start`` ends and its quote ("" when unquoted)."""
    for quote in ('\\"', '"', "'"):
        if text.startswith(quote, start):
            close = text.find(quote, start + len(quote))
            if close >= 0:
                return close + len(quote), quote
            break
    return unquoted_end, ""


def _kept(text: str, start: int, end: int, quote: str) -> bool:
    """Whether the value in ``text[start:end]`` stays: empty, a flag, or already redacted."""
    body, body_end = start + len(quote), end - len(quote)
    if body >= body_end or text.startswith(REDACTED, body):
        return True
    flag = _FLAG_WORD_RE.match(text, body, body_end)
    return flag is not None and (not quote or flag.end() == body_end)


def _key_values(text: str, is_sensitive: KeyTest) -> str:
    """Redact the value after every sensitive ``name:`` / ``name=`` (a flag's value stays).

    Works from each separator backwards to its name, so text without ``:`` or ``=`` costs
    nothing and an ordinary ``says: hello`` costs one short scan. The next whitespace is found
    once and reused, so the work stays linear in the text however many separators it holds.
    """
    parts: list[str] = []
    done = 0
    at = 0
    colon = text.find(":")
    equals = text.find("=")
    size = len(text)
    space = -1  # the first whitespace at or after the last value's start (``size``: none)
    while colon >= 0 or equals >= 0:
        if equals < 0 or 0 <= colon < equals:
            sep, colon = colon, text.find(":", colon + 1)
        else:
            sep, equals = equals, text.find("=", equals + 1)
        if sep < at:
            continue  # inside a value already redacted
        name = _name_before(text, sep)
        if name is None or not is_sensitive(name):
            continue  # the value is scanned too: ``note: token=abc`` holds a pair of its own
        start = sep + 1
        while start < size and text[start] in _SPACE:
            start += 1
        scheme = _SCHEME_WORD_RE.match(text, start)
        if scheme is not None:
            start = scheme.end()
        if space < start:
            found = _SPACE_RE.search(text, start)
            space = found.start() if found is not None else size
        end, quote = _value_end(text, start, space)
        if end <= start or _kept(text, start, end, quote):
            continue
        parts.append(text[done:start])
        parts.append(f"{quote}{REDACTED}{quote}")
        done = at = end
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


_DIGITS = b"0123456789"


def _digit_count(text: str) -> int:
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS))


def _may_hold_vendor_token(text: str) -> bool:
    """Whether a vendor token's literal part appears (tested before the vendor pattern runs)."""
    if "_" in text and (
        "gh" in text or "pat_" in text or "k_" in text or "whsec_" in text or "npm_" in text
    ):
        return True
    if "-" in text and (
        "gl" in text or "xox" in text or "xapp" in text or "GOCSPX" in text or "sk-" in text
    ):
        return True
    if "A" in text and (
        "AKIA" in text
        or "ASIA" in text
        or "ABIA" in text
        or "ACCA" in text
        or "A3T" in text
        or "AIza" in text
    ):
        return True
    if "ya29." in text or "GR1348941" in text or "hooks.slack.com" in text:
        return True
    # A Discord bot token: two dots seven characters apart, 59 characters or more in all.
    if len(text) >= 59:
        dot = text.find(".", 24)
        while dot >= 0:
            if text[dot + 7 : dot + 8] == ".":
                return True
            dot = text.find(".", dot + 1)
    return False


def redact_values(text: str, is_sensitive: KeyTest) -> str:
    """Apply every value rule to ``text``; ``is_sensitive`` judges names in ``name=value`` forms.

    Each rule is guarded by a test that is cheap next to its pattern (a substring, a length), so
    a string that can hold none of the shapes costs only those tests.
    """
    size = len(text)
    if size < 5:
        return text
    low = text.lower()
    if "-----BEGIN" in text:
        text = _PEM_RE.sub(REDACTED, text)
    if "eyJ" in text:
        text = _jwts(text)
    if size >= 20 and _may_hold_vendor_token(text):
        text = _VENDOR_RE.sub(REDACTED, text)
    if size >= 13 and _digit_count(text) >= 13:
        text = _cards(text)
    if "aws" in low:
        text = _AWS_SECRET_RE.sub(_aws, text)
    if "bearer" in low or "token" in low or "basic" in low:
        text = _SCHEME_RE.sub(_scheme, text)
    if "://" in text:
        text = _URL_CREDENTIALS_RE.sub(lambda m: m.group("head") + REDACTED, text)
    if "cookie" in low:
        text = _COOKIE_RE.sub(lambda m: m.group("head") + REDACTED, text)
    if ("=" in text and ("?" in text or "&" in text or ";" in text)) or "%3d" in low:

        def param(match: re.Match[str]) -> str:
            value = match.group("value")
            if (
                value.startswith(REDACTED)
                or value.lower() in _FLAGS
                or not is_sensitive(match.group("name"))
            ):
                return match.group(0)
            return f"{match.group('sep')}{match.group('name')}{match.group('eq')}{REDACTED}"

        text = _PARAM_RE.sub(param, text)
    if ":" in text or "=" in text:
        text = _key_values(text, is_sensitive)
    if ("is " in low or "is\t" in low) and ("pass" in low or "pwd" in low or "pin" in low):
        text = _IS_RE.sub(lambda m: m.group("head") + _redact_value(m.group("value")), text)
    return text
