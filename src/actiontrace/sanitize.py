"""The sanitiser: turn any value into a bounded, JSON-compatible copy with every secret redacted.

Every value a trace records passes through here. The rules:

* keys are matched by their head word (``userPassword``, ``x-api-key``, ``DBPASSWORD``; see
  :mod:`actiontrace.key_rules`); a sensitive key's scalars become ``[REDACTED]`` (flags
  ``True``/``False``/``None`` stay: they hold no secret) and its containers keep their shape;
* values that are secrets whatever their key (tokens, private keys, credentials in URLs, card
  numbers...; see :mod:`actiontrace.value_rules`) are redacted where they stand, in values and
  in keys, before any clipping;
* every value of four or more characters found under a sensitive key is collected, so the trace
  can redact it in its free-text fields too;
* every Python type becomes JSON (never an object's ``repr``, which may hold secrets);
* cycles become ``[Circular]``, nesting past 32 levels ``[MaxDepth]``;
* the compact JSON is at most ``MAX_PAYLOAD_SIZE`` bytes, and the work done is bounded by that size
  and by a node budget, never by the size of the input.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import Enum
from itertools import islice
from pathlib import PurePath
from typing import Any

from .errors import InvalidArgumentError
from .key_rules import KeyMatcher
from .types import MAX_PAYLOAD_SIZE, REDACTED
from .value_rules import is_card_number, redact_values

__all__ = [
    "CIRCULAR",
    "MAX_DEPTH",
    "MAX_DEPTH_MARKER",
    "MAX_NODES",
    "SanitizeRules",
    "clean_text",
    "compact_json",
    "is_sensitive_key",
    "redact_secrets",
    "sanitize_payload",
]

MAX_DEPTH = 32
"""Containers nested deeper than this become ``MAX_DEPTH_MARKER``."""

MAX_NODES = 100_000
"""Most values (container entries included) one sanitisation visits before cutting with a marker."""

CIRCULAR = "[Circular]"
MAX_DEPTH_MARKER = "[MaxDepth]"
TRUNCATED_KEY = "[Truncated]"

_MAX_KEY_CHARS = 1024
# Room kept free for the markers written while a cut unwinds (at most one per open container).
_MARKER_RESERVE = 4096
# A secret that straddles the clip point is redacted before clipping: scan this much further.
_SECRET_SCAN_MARGIN = 64 * 1024

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_default(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_compact_json() -> Any:
    # ``JSONEncoder.encode`` builds a new C encoder on every call; on small payloads that is
    # a third of the cost, so build it once. Without markers: sanitised values hold no cycles.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return _ENCODER.encode
    quote = json.encoder.encode_basestring
    encoder = make(None, _no_default, quote, None, ":", ",", False, False, False)

    def compact_json(value: Any) -> str:
        """Compact JSON as the file format has it: ``(",", ":")`` separators, no ASCII escape."""
        return "".join(encoder(value, 0))

    return compact_json


compact_json: Callable[[Any], str] = _make_compact_json()

# --------------------------------------------------------------------------------------------------
# Keys

_SEPARATORS_RE = re.compile(r"[_\-. ]+")
_CACHE_LIMIT = 4096
# Strings up to this length are remembered with their redacted form (games repeat their strings).
_CACHED_CHARS = 256
# Keys longer than this are not field names: matching their words would cost time in proportion
# to the key, so they count as sensitive outright (their value is redacted, never leaked).
_MAX_MATCHED_KEY_CHARS = 4 * _MAX_KEY_CHARS
# Most values under sensitive keys one walk remembers for redacting them elsewhere in a trace.
MAX_COLLECTED_SECRETS = 64


def _field_names(value: Iterable[str] | None, argument: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        raise InvalidArgumentError(f"{argument} must be an iterable of field names, not a str")
    try:
        names = tuple(value)
    except TypeError:
        raise InvalidArgumentError(f"{argument} must be an iterable of field names") from None
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"{argument} must hold non-empty str field names")
    return names


class SanitizeRules:
    """A compiled set of sensitive and safe field names; immutable and shared between traces."""

    __slots__ = ("_keys", "_matcher", "_safe", "_values", "safe_fields", "sensitive_fields")

    def __init__(
        self, sensitive_fields: Iterable[str] = (), safe_fields: Iterable[str] = ()
    ) -> None:
        extra = _field_names(sensitive_fields, "sensitive_fields")
        safe = _field_names(safe_fields, "safe_fields")
        self.sensitive_fields = extra
        self.safe_fields = safe
        self._matcher = KeyMatcher(extra)
        self._safe = frozenset(_SEPARATORS_RE.sub("", name).lower() for name in safe)
        self._keys: dict[str, tuple[str, bool]] = {}
        self._values: dict[str, str] = {}

    def key_info(self, key: str) -> tuple[str, bool]:
        """Return the key as written out (redacted, then clipped) and whether it is sensitive."""
        info = self._keys.get(key)
        if info is not None:
            return info
        if len(key) > _MAX_KEY_CHARS:
            # Redact before clipping, over the kept part plus a margin: half a secret never shows.
            window = key[: _MAX_KEY_CHARS + _SECRET_SCAN_MARGIN]
            text = self.redact(clean_text(window))
            if len(text) > _MAX_KEY_CHARS or len(window) < len(key):
                kept = text[:_MAX_KEY_CHARS]
                text = f"{kept}...[Truncated: {max(len(key) - len(kept), 1)} more chars]"
        else:
            text = self.redact(clean_text(key))
        info = (text, self._match(key))
        if len(key) <= _CACHED_CHARS:  # never keep a caller's huge strings alive
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            self._keys[key] = info
        return info

    def is_sensitive(self, key: str) -> bool:
        """Whether ``key`` names a sensitive field under these rules."""
        return self.key_info(key)[1]

    def redact(self, text: str) -> str:
        """Apply the value rules to ``text`` (names in ``name=value`` judged by these rules)."""
        done = self._values.get(text)
        if done is not None:
            return done
        if len(text) < 5:
            return text
        clean = redact_values(text, self.is_sensitive)
        if len(text) <= _CACHED_CHARS:
            if len(self._values) >= _CACHE_LIMIT:
                self._values.clear()
            self._values[text] = clean
        return clean

    def _match(self, key: str) -> bool:
        if self._safe and _SEPARATORS_RE.sub("", key).lower() in self._safe:
            return False
        if len(key) > _MAX_MATCHED_KEY_CHARS:
            return True
        return self._matcher.matches(key)


_DEFAULT_RULES = SanitizeRules()
_RULES_CACHE: dict[tuple[tuple[str, ...], tuple[str, ...]], SanitizeRules] = {}


def rules_for(
    sensitive_fields: Iterable[str] = (), safe_fields: Iterable[str] = ()
) -> SanitizeRules:
    """Return the (cached) rules for these extra sensitive and safe field names."""
    if not sensitive_fields and not safe_fields:
        return _DEFAULT_RULES
    key = (
        _field_names(sensitive_fields, "sensitive_fields"),
        _field_names(safe_fields, "safe_fields"),
    )
    rules = _RULES_CACHE.get(key)
    if rules is None:
        if len(_RULES_CACHE) >= 256:
            _RULES_CACHE.clear()
        rules = _RULES_CACHE[key] = SanitizeRules(*key)
    return rules


def is_sensitive_key(
    key: str, *, sensitive_fields: Iterable[str] = (), safe_fields: Iterable[str] = ()
) -> bool:
    """Whether a mapping key names a secret.

    Case-insensitive and word-aware: a key is sensitive when its last words (split at camelCase
    and at ``_ - .`` and spaces), after dropping trailing qualifiers such as ``hash`` or
    ``confirmation``, spell a sensitive name (optionally plural), or when its words run together
    end in one of the long names (``DBPASSWORD``). ``safe_fields`` exempts whole keys.
    """
    if not isinstance(key, str):
        return False
    return rules_for(sensitive_fields, safe_fields).is_sensitive(key)


# --------------------------------------------------------------------------------------------------
# Values that are secrets whatever their key


def redact_secrets(text: str) -> str:
    """Apply every value rule (tokens, private keys, credentials, card numbers...) to ``text``.

    The one function for any string the library writes: trace fields, span names, log lines.
    """
    return _DEFAULT_RULES.redact(text)


def clean_text(text: str) -> str:
    """Lone surrogates cannot be written as UTF-8: replace them with U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _json_bytes(text: str) -> int:
    encoded = json.dumps(text, ensure_ascii=False)
    return len(encoded) if encoded.isascii() else len(encoded.encode("utf-8"))


# --------------------------------------------------------------------------------------------------
# The walk


class _Walk:
    """One sanitisation: a budget of bytes and nodes, and the containers open on the path."""

    __slots__ = ("nodes", "open", "room", "rules", "secrets", "truncated")

    def __init__(self, rules: SanitizeRules, room: int, secrets: list[str] | None) -> None:
        self.rules = rules
        self.room = room
        self.nodes = MAX_NODES
        self.truncated = False
        self.open: set[int] = set()
        self.secrets = secrets

    def collect(self, value: Any) -> None:
        """Remember a scalar redacted under a sensitive key, to redact it elsewhere too."""
        secrets = self.secrets
        if secrets is None or len(secrets) >= MAX_COLLECTED_SECRETS:
            return
        kind = type(value)
        if kind is str:
            text = value
        elif kind is int or kind is float:
            text = repr(value)
        else:
            return
        if 4 <= len(text) <= _MAX_KEY_CHARS and text not in secrets:
            secrets.append(text)

    def value(self, value: Any, depth: int, redact: bool) -> Any:
        kind = type(value)
        if kind is str:
            if redact:
                self.collect(value)
                self.room -= 13
                return REDACTED
            if len(value) > 1024:
                return self.long_text(value)
            value = self.rules.redact(clean_text(value))
            self.room -= len(value) + 2
            return value
        if kind is dict:
            return self.mapping(value, value.items(), len(value), depth, redact)
        if value is None or kind is bool:  # a flag holds no secret, even under a sensitive key
            self.room -= 5
            return value
        if kind is int:
            if redact or (_CARD_MIN <= value < _CARD_MAX and is_card_number(str(value))):
                self.collect(value)
                self.room -= 13
                return REDACTED
            bits = value.bit_length()
            if bits > 4096:  # str() of a huge int is slow, and refused past 4300 digits
                return self.value(f"<int: {bits} bits>", depth, False)
            self.room -= bits // 3 + 2
            return value
        if kind is float:
            if redact:
                self.collect(value)
                self.room -= 13
                return REDACTED
            if value - value == 0.0:  # finite
                self.room -= 24
                return value
            return self.value(_non_finite(value), depth, False)
        if kind is list or kind is tuple:
            return self.sequence(value, value, len(value), depth, redact)
        return self.other(value, depth, redact)

    def long_text(self, value: str) -> str:
        room = max(self.room, 0)
        total = len(value)
        window = self.rules.redact(clean_text(value[: room + _SECRET_SCAN_MARGIN]))
        clipped = window[:room]
        size = _json_bytes(clipped)
        if size <= room and len(clipped) == len(window) and total <= room + _SECRET_SCAN_MARGIN:
            self.room -= size
            return clipped
        # Clip until the JSON text fits, leaving room for the marker.
        room -= 48
        while clipped and size > room:
            keep = max(int(len(clipped) * room / size) - 1, 0)
            clipped = clipped[:keep]
            size = _json_bytes(clipped)
        self.truncated = True
        # ``total`` counts the original's characters; the window may have shrunk by redaction.
        more = max(total - len(clipped), 1)
        self.room -= size + 48
        return f"{clipped}...[Truncated: {more} more chars]"

    def key(self, key: Any) -> tuple[str, bool]:
        """Return the output key for any mapping key, and whether it is sensitive."""
        if type(key) is str:
            return self.rules.key_info(key)
        if key is None or isinstance(key, bool):
            return self.rules.key_info(json.dumps(key))  # as json.dumps writes such keys
        if isinstance(key, int) and not isinstance(key, Enum):
            number = int.__index__(key)
            bits = number.bit_length()
            return self.rules.key_info(str(number) if bits <= 4096 else f"<int: {bits} bits>")
        if isinstance(key, float):
            text = repr(float(key)) if math.isfinite(key) else _non_finite(key)
            return self.rules.key_info(text)
        if isinstance(key, Enum):
            return self.key(_enum_value(key))
        if isinstance(key, str):
            return self.rules.key_info(str.__str__(key))
        return self.rules.key_info(_type_marker(key))[0], False  # clipped like any key

    def mapping(
        self, container: object, items: Iterable[Any], size: int | None, depth: int, redact: bool
    ) -> Any:
        if depth >= MAX_DEPTH:
            self.room -= 12
            return MAX_DEPTH_MARKER
        opened = id(container)
        path = self.open
        if opened in path:
            self.room -= 12
            return CIRCULAR
        path.add(opened)
        out: dict[str, Any] = {}
        rules = self.rules
        key_info = rules.key_info
        known_keys = rules._keys
        known_values = rules._values
        redact_text = rules.redact
        value = self.value
        child = depth + 1
        # The budgets live in locals while the loop handles plain scalars inline (the hot path);
        # they are handed back to ``self`` around every call that may spend them.
        room = self.room - 2
        nodes = self.nodes
        try:
            for raw, item in items:
                if room <= 0 or nodes <= 0:
                    self.truncated = True
                    out[TRUNCATED_KEY] = (
                        f"{size - len(out)} more keys" if size is not None else "more keys"
                    )
                    room -= 30
                    break
                nodes -= 1
                if type(raw) is str:
                    info = known_keys.get(raw)
                    name, sensitive = info if info is not None else key_info(raw)
                else:
                    self.room = room
                    name, sensitive = self.key(raw)
                    room = self.room
                kind = type(item)
                if redact or sensitive:
                    if kind is dict or kind is list or kind is tuple:
                        self.room, self.nodes = room, nodes
                        out[name] = value(item, child, True)
                        room, nodes = self.room - len(name) - 4, self.nodes
                    elif item is None or kind is bool:  # a flag holds no secret
                        out[name] = item
                        room -= len(name) + 9
                    else:
                        self.collect(item)
                        out[name] = REDACTED
                        room -= len(name) + 17
                elif kind is str and len(item) <= 1024:
                    text = known_values.get(item)
                    if text is None:
                        if len(item) < 5 and item.isascii():
                            text = item  # too short for any rule
                        else:
                            text = redact_text(item if item.isascii() else clean_text(item))
                    out[name] = text
                    room -= len(name) + len(text) + 6
                elif (
                    (kind is int and -_CARD_MIN < item < _NOT_A_CARD_BELOW)
                    or kind is bool
                    or item is None
                    or (kind is float and item - item == 0.0)  # finite
                ):
                    out[name] = item
                    room -= len(name) + 28
                else:
                    self.room, self.nodes = room, nodes
                    if kind is dict:
                        out[name] = self.mapping(item, item.items(), len(item), child, False)
                    elif kind is list:
                        out[name] = self.sequence(item, item, len(item), child, False)
                    else:
                        out[name] = value(item, child, False)
                    room, nodes = self.room - len(name) - 4, self.nodes
        except Exception:
            # A mapping that fails while iterated (or mutates under us) keeps what was read.
            self.truncated = True
            out[TRUNCATED_KEY] = "unreadable entries"
        finally:
            path.discard(opened)
        self.room, self.nodes = room, nodes
        return out

    def sequence(
        self, container: object, items: Iterable[Any], size: int | None, depth: int, redact: bool
    ) -> Any:
        if depth >= MAX_DEPTH:
            self.room -= 12
            return MAX_DEPTH_MARKER
        opened = id(container)
        path = self.open
        if opened in path:
            self.room -= 12
            return CIRCULAR
        path.add(opened)
        out: list[Any] = []
        append = out.append
        known_values = self.rules._values
        redact_text = self.rules.redact
        value = self.value
        child = depth + 1
        room = self.room - 2  # budgets in locals while scalars are handled inline, as in mapping
        nodes = self.nodes
        try:
            for item in items:
                if room <= 0 or nodes <= 0:
                    self.truncated = True
                    more = f"{size - len(out)} more items" if size is not None else "more items"
                    append(f"[Truncated: {more}]")
                    room -= 40
                    break
                nodes -= 1
                kind = type(item)
                if kind is str and not redact and len(item) <= 1024:
                    text = known_values.get(item)
                    if text is None:
                        if len(item) < 5 and item.isascii():
                            text = item  # too short for any rule
                        else:
                            text = redact_text(item if item.isascii() else clean_text(item))
                    append(text)
                    room -= len(text) + 3
                elif not redact and (
                    (kind is int and -_CARD_MIN < item < _NOT_A_CARD_BELOW)
                    or kind is bool
                    or item is None
                    or (kind is float and item - item == 0.0)  # finite
                ):
                    append(item)
                    room -= 25
                else:
                    self.room, self.nodes = room, nodes
                    if kind is dict:
                        append(self.mapping(item, item.items(), len(item), child, redact))
                    else:
                        append(value(item, child, redact))
                    room, nodes = self.room - 1, self.nodes
        except Exception:
            self.truncated = True
            append("[Truncated: unreadable items]")
        finally:
            path.discard(opened)
        self.room, self.nodes = room, nodes
        return out

    def other(self, value: Any, depth: int, redact: bool) -> Any:
        try:
            converted = _convert(value)
        except Exception:
            converted = _type_marker(value)
        if converted is _MAPPING or converted is _SEQUENCE or converted is _SET:
            # Subclasses and other containers may fail anywhere: a failure cuts this container
            # alone (with a marker), never its siblings.
            try:
                size: int | None = len(value)
            except Exception:
                size = None
            try:
                items = (
                    iter(value.items())
                    if converted is _MAPPING
                    else iter(value)
                    if converted is _SEQUENCE
                    else _set_items(value, size)
                )
            except Exception:
                self.truncated = True
                if converted is _MAPPING:
                    items = iter(((TRUNCATED_KEY, "unreadable entries"),))
                else:
                    items = iter(("[Truncated: unreadable items]",))
            if converted is _MAPPING:
                return self.mapping(value, items, size, depth, redact)
            return self.sequence(value, items, size, depth, redact)
        if converted is _DATACLASS:
            fields = dataclasses.fields(value)
            pairs = ((f.name, getattr(value, f.name)) for f in fields)
            return self.mapping(value, pairs, len(fields), depth, redact)
        return self.value(converted, depth, redact)


# Integers from here up may be payment card numbers (13 digits and more).
_CARD_MIN = 10**12
_CARD_MAX = 10**19
# No card number is below this (a 13-digit card starts with 4): millisecond timestamps are.
_NOT_A_CARD_BELOW = 2 * 10**12
_MAPPING = object()
_SEQUENCE = object()
_SET = object()
_DATACLASS = object()


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _enum_value(value: Enum) -> Any:
    try:
        return value.value
    except Exception:
        return _type_marker(value)


def _type_marker(value: object) -> str:
    try:
        name = type(value).__name__
    except Exception:
        name = "object"
    return f"<{name}>"


def _convert(value: Any) -> Any:
    """Map a value of a non-builtin type to a plain one, or to a marker of how to walk it."""
    if isinstance(value, Enum):
        return _enum_value(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):  # only an object faking its __class__ gets here
        return int.__bool__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return _MAPPING
    if isinstance(value, (list, tuple)):
        return _SEQUENCE
    if isinstance(value, (set, frozenset)):
        return _SET
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _DATACLASS
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<bytes: {len(value)}>"
    if isinstance(value, memoryview):
        return f"<bytes: {value.nbytes}>"
    return _type_marker(value)


def _set_items(value: set[Any] | frozenset[Any], size: int | None) -> Iterable[Any]:
    if size is not None and size <= 10_000:
        try:
            return sorted(value)
        except Exception:
            pass
    return islice(value, MAX_NODES + 1)


# --------------------------------------------------------------------------------------------------
# Entry points


def sanitize_to_json(
    value: Any,
    rules: SanitizeRules = _DEFAULT_RULES,
    max_bytes: int = MAX_PAYLOAD_SIZE,
    secrets: list[str] | None = None,
) -> tuple[Any, str, int, bool]:
    """Sanitise ``value``; return ``(clean value, its compact JSON, JSON byte size, truncated)``.

    ``secrets``, when given, receives the values (as text, four or more characters) that were
    redacted under sensitive keys.

    The walk estimates sizes as it goes; the JSON it produces is measured exactly, and in the rare
    case that escapes made the estimate short, the walk runs again with less room.
    """
    room = max_bytes - _MARKER_RESERVE if max_bytes > 2 * _MARKER_RESERVE else max_bytes // 2
    for _ in range(6):
        walk = _Walk(rules, room, secrets)
        try:
            if type(value) is dict:  # the usual payload: skip the type dispatch
                clean = walk.mapping(value, value.items(), len(value), 0, False)
            else:
                clean = walk.value(value, 0, False)
            text = compact_json(clean)
        except Exception:  # pragma: no cover - the walk only produces JSON-safe values
            clean = _type_marker(value)
            text = json.dumps(clean)
            return clean, text, len(text), True
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        if size <= max_bytes:
            return clean, text, size, walk.truncated
        # Escapes made the estimate short by a factor: shrink the room by that factor, so the
        # retry keeps about as much as fits instead of almost nothing.
        room = room * max_bytes // size - _MARKER_RESERVE
    clean = "[Truncated: payload too large]"
    text = json.dumps(clean)
    return clean, text, len(text), True


def sanitize_payload(
    value: Any, *, sensitive_fields: Iterable[str] = (), safe_fields: Iterable[str] = ()
) -> Any:
    """Return a new JSON-compatible copy of ``value`` with secrets redacted.

    Never raises for any ``value``; an invalid ``sensitive_fields`` or ``safe_fields`` raises
    ``InvalidArgumentError``.
    """
    return sanitize_to_json(value, rules_for(sensitive_fields, safe_fields))[0]
