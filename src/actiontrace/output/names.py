"""Safe file names for trace files: portable to Windows, Linux and macOS, never leaving a folder.

Every name built here uses only ``A-Z a-z 0-9 . _ -``, is at most 255 bytes, is not ``.``/``..``,
does not start with ``.`` or ``-`` nor end with ``.``, and is not a reserved Windows device name
(``CON``, ``NUL``, ``COM1`` ... also with an extension), whatever text the ids hold.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata

from ..errors import InvalidArgumentError

__all__ = [
    "MAX_NAME_BYTES",
    "is_safe_name",
    "jsonl_file_name",
    "safe_component",
    "timestamp_text",
    "trace_file_name",
]

MAX_NAME_BYTES = 255
"""The longest file name (in bytes) common file systems accept."""

_COMPONENT_CHARS = 64
_DISALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_PUNCTUATION_RUNS = re.compile(r"[._-]{2,}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "0123456789"]
)


def _is_reserved(name: str) -> bool:
    # Windows reserves the device names with any extension too ("nul.txt"), case-insensitively.
    return name.split(".", 1)[0].upper() in _WINDOWS_RESERVED


def is_safe_name(name: str) -> bool:
    """Whether ``name`` follows every rule of this module (the rules in the module docstring)."""
    return (
        _SAFE_NAME.fullmatch(name) is not None
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
        and not name.endswith(".")
        and ".." not in name
        and not _is_reserved(name)
    )


def safe_component(text: str, max_chars: int = _COMPONENT_CHARS) -> str:
    """Reduce ``text`` to a safe, non-empty piece of a file name of at most ``max_chars`` chars.

    Accented letters keep their base letter (``é`` -> ``e``); every other run of characters
    outside the allowed set, and every run of two or more of ``. _ -``, becomes one ``_``.
    Text with nothing usable left becomes ``h`` plus a short hash of it, so different ids
    still tend to give different names.
    """
    if max_chars < 9:
        raise InvalidArgumentError("max_chars must be at least 9")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    # "../" and the like collapse to one "_"; a leading "." (hidden, "..") or "-" (an option to
    # shell tools) and a trailing "." (dropped by Windows) are cut.
    cleaned = _PUNCTUATION_RUNS.sub("_", _DISALLOWED.sub("_", folded))
    cleaned = cleaned[:max_chars].lstrip("._-").rstrip(".")
    if not cleaned:
        digest = hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
        return "h" + digest
    if _is_reserved(cleaned):
        cleaned = ("_" + cleaned)[:max_chars].rstrip(".")
    return cleaned


def timestamp_text(epoch_ns: int) -> str:
    """Format UTC wall-clock time as fixed-width text that sorts: ``20261124T100000123456Z``."""
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{rest // 1000:06d}Z"


def jsonl_file_name(epoch_ns: int, pid: int, counter: int) -> str:
    """Name a JSON Lines file a service creates: ``traces_<time>_p<pid>_<counter>.jsonl``."""
    return f"traces_{timestamp_text(epoch_ns)}_p{pid}_{counter:06d}.jsonl"


def trace_file_name(action_id: str, actor_id: str, epoch_ns: int, pid: int, counter: int) -> str:
    """Name a one-trace JSON file: ``trace_<time>_p<pid>_<counter>_<action>_<actor>.json``.

    Time, process and counter come first, so names sort in time order and are unique; the ids
    follow in their safe forms (``safe_component``).
    """
    head = f"trace_{timestamp_text(epoch_ns)}_p{pid}_{counter:06d}"
    name = f"{head}_{safe_component(action_id)}_{safe_component(actor_id)}.json"
    # head is ASCII and < 64 chars, each id part <= 64: far below the limit, checked anyway.
    assert len(name) <= MAX_NAME_BYTES
    return name
