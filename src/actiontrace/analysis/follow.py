"""``follow_traces``: the traces under a path, then each new one as it is written (SPEC §10).

The follower polls. Each active ``*.jsonl`` file is read from a byte offset that only ever moves
past complete lines, so a line still being written (no newline yet) is simply read again next time
and never reported as corrupt. Files are tracked by identity (``st_dev``, ``st_ino``): a file
replaced under the same name starts over from byte 0, a file renamed keeps its offset.

Rotation with compression turns ``name.jsonl`` into ``name.jsonl.gz`` (the writer compresses under
a temporary name, renames, then deletes the original). The follower knows the ``.gz`` is the twin
of the ``.jsonl`` it followed: when it still holds the original open it drains that (the text is
final), otherwise it reads the twin from the byte offset it had reached. A ``.jsonl.gz`` with no
known twin is read whole. At most ``_MAX_OPEN`` files stay open; the offset is what counts.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from ..errors import InvalidArgumentError

__all__ = ["FollowedTrace", "follow_records", "follow_traces"]

_CHUNK = 1 << 20
_MAX_OPEN = 32
_GZ_ERRORS = (EOFError, OSError, zlib.error)


class FollowedTrace(NamedTuple):
    """One trace as the follower found it: the dict, the file it is in, and its 1-based line."""

    trace: dict[str, Any]
    file: str
    line: int


class _Tail:
    """A ``*.jsonl`` being followed: where it is, what it is, and how far it has been read."""

    __slots__ = ("identity", "line", "offset", "path")

    def __init__(self, path: str, identity: tuple[int, int]) -> None:
        self.path = path
        self.identity = identity
        self.offset = 0  # bytes up to and including the last complete line
        self.line = 0  # complete lines consumed


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


def _parse(raw: bytes) -> dict[str, Any] | None:
    """Parse one line: a trace, or ``None`` for a blank or corrupt line or a non-trace value.

    A trace is a JSON object with a ``metadata`` object, as the reader has it.
    """
    try:
        value = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    return value if _is_trace(value) else None


def _is_trace(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("metadata"), dict)


def _kind(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith(".jsonl"):
        return "jsonl"
    if lowered.endswith(".jsonl.gz"):
        return "gz"
    if lowered.endswith(".json"):
        return "json"
    return None


def _list(root: str) -> list[tuple[str, str]]:
    """``(path, kind)`` of every trace file under ``root`` (a folder, recursively, or a file)."""
    if os.path.isdir(root):
        found: list[tuple[tuple[str, ...], str, str]] = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in files:
                kind = _kind(name)
                if kind is not None:
                    path = os.path.join(folder, name)
                    # The reader's order: by the parts of the path below the root.
                    found.append((Path(os.path.relpath(path, root)).parts, path, kind))
        found.sort()
        return [(path, kind) for _, path, kind in found]
    # A single file is followed whatever its name; a rotated `.jsonl` is looked for as its twin.
    kind = _kind(root) or "jsonl"
    paths = [(root, kind)] if os.path.exists(root) else []
    if kind == "jsonl" and os.path.exists(root + ".gz"):
        paths.append((root + ".gz", "gz"))
    return paths


class _Follower:
    """The polling state machine behind ``follow_records``: one ``poll()`` per round."""

    __slots__ = ("done", "failed_json", "open", "orphans", "root", "tails")

    def __init__(self, root: str) -> None:
        self.root = root
        self.tails: dict[str, _Tail] = {}
        self.open: OrderedDict[tuple[int, int], BinaryIO] = OrderedDict()
        # Paths read to their end (a `.jsonl` whose twin must then be skipped, `.gz`, `.json`).
        self.done: set[str] = set()
        # Followed `.jsonl` files that vanished while closed: their twin is read from the offset.
        self.orphans: dict[str, _Tail] = {}
        self.failed_json: dict[str, tuple[int, int]] = {}

    def close(self) -> None:
        for handle in self.open.values():
            handle.close()
        self.open.clear()

    # -- one round ---------------------------------------------------------------------------------

    def poll(self) -> Iterator[FollowedTrace]:
        listed: set[str] = set()
        for path, kind in _list(self.root):
            listed.add(path)
            if kind == "jsonl":
                yield from self._jsonl(path)
            elif kind == "gz":
                yield from self._gz(path)
            else:
                yield from self._json(path)
        for path in [p for p in self.tails if p not in listed]:
            yield from self._vanished(self.tails.pop(path))

    def _jsonl(self, path: str) -> Iterator[FollowedTrace]:
        if path in self.done:
            return
        try:
            stat = os.stat(path)
        except OSError:
            return  # gone between listing and now: its twin (or nothing) shows up next round
        identity = _identity(stat)
        tail = self.tails.get(path)
        if tail is not None and tail.identity != identity:
            # Replaced under the same name: finish the old file, start the new one from byte 0.
            yield from self._vanished(tail, replaced=True)
            tail = None
        if tail is None:
            tail = self._renamed(identity, path) or _Tail(path, identity)
            self.tails[path] = tail
        if stat.st_size < tail.offset:  # truncated and rewritten in place
            tail.offset = tail.line = 0
        if stat.st_size > tail.offset:
            yield from self._read(tail, final=False)

    def _renamed(self, identity: tuple[int, int], path: str) -> _Tail | None:
        for old, tail in self.tails.items():
            if tail.identity == identity:
                del self.tails[old]
                tail.path = path
                return tail
        return None

    def _handle(self, tail: _Tail) -> BinaryIO | None:
        handle = self.open.get(tail.identity)
        if handle is not None:
            self.open.move_to_end(tail.identity)
            return handle
        try:
            handle = open(tail.path, "rb")  # noqa: SIM115 - kept open across rounds on purpose
        except OSError:
            return None
        if _identity(os.fstat(handle.fileno())) != tail.identity:
            handle.close()  # the name now points at another file: this one is not there
            return None
        self.open[tail.identity] = handle
        while len(self.open) > _MAX_OPEN:
            self.open.popitem(last=False)[1].close()
        return handle

    def _read(self, tail: _Tail, *, final: bool) -> Iterator[FollowedTrace]:
        """Read ``tail`` from its offset; with ``final``, a last line without newline counts too."""
        handle = self._handle(tail)
        if handle is None:
            return
        handle.seek(tail.offset)
        rest = b""
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            data = rest + chunk
            end = data.rfind(b"\n")
            if end < 0:
                rest = data
                continue
            rest = data[end + 1 :]
            for raw in data[:end].split(b"\n"):
                tail.offset += len(raw) + 1
                tail.line += 1
                trace = _parse(raw)
                if trace is not None:
                    yield FollowedTrace(trace, tail.path, tail.line)
        if final and rest:
            tail.offset += len(rest)
            tail.line += 1
            trace = _parse(rest)
            if trace is not None:
                yield FollowedTrace(trace, tail.path, tail.line)

    def _release(self, tail: _Tail) -> None:
        self.open.pop(tail.identity).close()  # callers hold it open

    def _vanished(self, tail: _Tail, *, replaced: bool = False) -> Iterator[FollowedTrace]:
        """``tail`` is gone from its name: drain it if still open, else wait for its twin."""
        if tail.identity in self.open:
            yield from self._read(tail, final=True)
            self._release(tail)
        elif not replaced:
            self.orphans[tail.path] = tail
        if not replaced:
            self.done.add(tail.path)

    def _gz(self, path: str) -> Iterator[FollowedTrace]:
        if path in self.done:
            return
        base = path[:-3]
        tail = self.tails.pop(base, None)
        if tail is not None and tail.identity in self.open:
            # The twin exists, so the original is complete: finish it from the handle we hold.
            self.done.update((base, path))
            yield from self._read(tail, final=True)
            self._release(tail)
            return
        if tail is None:
            tail = self.orphans.pop(base, None)
        if tail is None and base in self.done:
            self.done.add(path)
            return
        self.done.update((base, path))
        start = tail.offset if tail is not None else 0
        line = tail.line if tail is not None else 0
        yield from _read_gz(path, start, line)

    def _json(self, path: str) -> Iterator[FollowedTrace]:
        if path in self.done:
            return
        try:
            stat = os.stat(path)
            if self.failed_json.get(path) == (stat.st_size, stat.st_mtime_ns):
                return
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return
        try:
            value = json.loads(data)
        except ValueError:
            # Perhaps still being written: try again once it changes.
            self.failed_json[path] = (stat.st_size, stat.st_mtime_ns)
            return
        self.failed_json.pop(path, None)
        self.done.add(path)
        # One trace, or a list of them (line = position in the list), as the reader has it.
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items, 1):
            if _is_trace(item):
                yield FollowedTrace(item, path, position)


def _read_gz(path: str, skip: int, line: int) -> Iterator[FollowedTrace]:
    """Yield the traces of a compressed ``.jsonl`` past the first ``skip`` bytes of its text."""
    try:
        with gzip.open(path, "rb") as stream:
            stream.seek(skip)
            for raw in stream:
                line += 1
                trace = _parse(raw)
                if trace is not None:
                    yield FollowedTrace(trace, path, line)
    except _GZ_ERRORS:
        return  # a damaged archive: what could be read has been yielded


def _check(path: object, poll_interval: object) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, (int, float))
        or not math.isfinite(poll_interval)
        or poll_interval <= 0
    ):
        raise InvalidArgumentError(
            f"poll_interval must be a positive number of seconds, got {poll_interval!r}"
        )
    return os.fspath(Path(path))


def follow_records(
    path: str | os.PathLike[str],
    *,
    poll_interval: float = 0.2,
    stop: threading.Event | None = None,
) -> Generator[FollowedTrace | None, None, None]:
    """Follow ``path`` like ``follow_traces``, yielding ``FollowedTrace`` records.

    After each round that has caught up with the files it yields ``None`` once (a "nothing more
    for now" mark that lets a consumer batch its work), then waits ``poll_interval`` seconds, or
    until ``stop`` is set, which ends the generator.
    """
    root = _check(path, poll_interval)
    follower = _Follower(root)
    wait = stop.wait if stop is not None else time.sleep
    try:
        while stop is None or not stop.is_set():
            yield from follower.poll()
            yield None
            wait(poll_interval)
    finally:
        follower.close()


def follow_traces(
    path: str | os.PathLike[str], *, poll_interval: float = 0.2
) -> Generator[dict[str, Any], None, None]:
    """Yield the trace dicts already under ``path`` (a file or a folder), then each new one.

    Reads ``*.jsonl``, ``*.jsonl.gz`` and ``*.json`` files (a folder recursively, in name order),
    follows new files and rotations, yields no trace twice, and waits for a line still being
    written. A path that does not exist yet is waited for. Runs until closed
    (``generator.close()``), polling every ``poll_interval`` seconds.
    """
    records = follow_records(path, poll_interval=poll_interval)
    try:
        for record in records:
            if record is not None:
                yield record.trace
    finally:
        records.close()
