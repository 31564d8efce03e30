"""Which mapping keys name a secret: head-word matching with qualifiers and run-together names.

A key is split into words (``userPassword`` -> user, password; ``OAuthToken`` -> o, auth, token;
``PHPSESSID`` stays one word); trailing digits of a word are ignored (``password2``). The key is
sensitive when

* its last words, after dropping any number of trailing qualifiers (``hash``, ``confirmation``,
  ``code``...), spell a sensitive name, word for word (``session_id``, ``x-api-key``, ``pin_code``;
  plurals count: ``tokens``), or
* its words run together end in one of the long names (``newpassword``, ``DBPASSWORD``,
  ``accesstoken``). Short names (``pin``, ``sid``, ``auth``...) count only as whole words, so
  ``spin``, ``inside`` and ``oauth`` are ordinary keys, and so are ``secret_door``, ``token_count``
  and ``password_hint``: the head word decides, not a word somewhere in the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .types import SENSITIVE_FIELDS

__all__ = ["QUALIFIERS", "RUN_TOGETHER_NAMES", "KeyMatcher", "key_words"]

QUALIFIERS = frozenset(
    {
        "value",
        "hash",
        "digest",
        "salt",
        "confirm",
        "confirmation",
        "again",
        "old",
        "new",
        "current",
        "plain",
        "raw",
        "encrypted",
        "b64",
        "base64",
        "hex",
        "header",
        "str",
        "string",
        "text",
        "data",
        "code",
    }
)
"""Trailing words that describe a secret without changing what it is (``password_hash``)."""

RUN_TOGETHER_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "clientsecret",
    "credential",
    "cookie",
    "sessionid",
    "sessid",
    "sessiontoken",
    "authorization",
    "cardnumber",
    "encryptionkey",
    "licensekey",
)
"""Names matched at the end of a key whose words run together (``DBPASSWORD``, ``accesstoken``)."""

# An upper-case run ends before its last capital when lower case follows (``OAuth`` -> O, Auth);
# digits stay with the word they follow (``b64``, ``password2``); ``_ - .`` and spaces separate.
# Letters other than A-Z count as lower case, so ``clé`` stays one word.
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][^\W\dA-Z_])|[A-Z]?[^\W\dA-Z_]+[0-9]*|[A-Z]+[0-9]*|[0-9]+")
_MIN_RUN_TOGETHER = 5


def key_words(name: str) -> list[str]:
    """Split a key into lower-case words (camelCase, acronyms, ``_ - .`` and spaces)."""
    return [word.lower() for word in _WORD_RE.findall(name)]


def _is_qualifier(raw: str) -> bool:
    """Whether a word (trailing digits ignored, so ``b64`` and ``hash2`` count) is a qualifier."""
    if raw in QUALIFIERS:
        return True
    end = len(raw)
    while end and raw[end - 1].isdigit():
        end -= 1
        if raw[:end] in QUALIFIERS:
            return True
    return False


def _plurals(word: str) -> tuple[str, ...]:
    return (word, word + "s", word + "es")


class KeyMatcher:
    """The built-in sensitive names plus a user's, compiled for fast matching of one key."""

    __slots__ = ("_heads", "_suffixes")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        # last word (or plural) -> the words that must precede it, for each name ending in it
        heads: dict[str, set[tuple[str, ...]]] = {}
        suffixes = set(RUN_TOGETHER_NAMES)
        for name in (*SENSITIVE_FIELDS, *extra):
            words = [word.rstrip("0123456789") or word for word in key_words(name)]
            if not words:
                continue
            forms = [tuple(words)]
            joined = "".join(words)
            if len(words) > 1:
                forms.append((joined,))  # ``apikey`` as one word spells ``api key``
            for form in forms:
                for last in _plurals(form[-1]):
                    heads.setdefault(last, set()).add(form[:-1])
            if name not in SENSITIVE_FIELDS and len(joined) >= _MIN_RUN_TOGETHER:
                suffixes.add(joined)
        self._heads = {last: tuple(before) for last, before in heads.items()}
        self._suffixes = tuple(sorted({form for name in suffixes for form in _plurals(name)}))

    def matches(self, key: str) -> bool:
        """Whether ``key`` names a secret (see the module docstring)."""
        words = []
        for raw in key_words(key):
            word = raw.rstrip("0123456789")
            if word:
                words.append((word, raw))
        heads = self._heads
        suffixes = self._suffixes
        while words:
            last = words[-1][0]
            for before in heads.get(last, ()):
                count = len(before)
                if count < len(words) and all(
                    words[-1 - count + i][0] == want for i, want in enumerate(before)
                ):
                    return True
            if "".join(word for word, _ in words).endswith(suffixes):
                return True
            if not _is_qualifier(words[-1][1]):
                return False
            words.pop()
        return False
