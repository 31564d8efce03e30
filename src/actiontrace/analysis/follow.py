"""``follow_traces``: the traces under a path, then each new one as it is written.

The follower is the read path (``output.discovery``, ``output.lines``, ``output.records``) run
again and again: each poll lists the files with ``discover_trace_files`` (so it reads exactly what
``scan_traces`` reads, under the same rules) and reads what is new. Each active ``*.jsonl`` file
keeps a ``LineSplitter`` across polls: new bytes are read from where the last read stopped, so a
line still being written (no newline yet) is neither reported as damaged nor read again, and one
past ``MAX_LINE_BYTES`` is dropped as it comes, holding no memory. Files are tracked by identity
(``st_dev``, ``st_ino``): a file replaced under the same name starts over from byte 0, a file
renamed keeps its place.

Rotation with compression turns ``name.jsonl`` into ``name.jsonl.gz`` (the writer compresses under
a temporary name, renames, then deletes the original). The follower knows the ``.gz`` is the twin
of the ``.jsonl`` it followed: when it still holds the original open it drains that (the text is
final), otherwise it reads the twin from the last complete line it had reached. A ``.jsonl.gz``
with no known twin is read whole. At most ``_MAX_OPEN`` files stay open.

Damaged lines and skipped files are counted in a ``ReadStats`` (pass one to ``follow_records``),
as ``scan_traces`` counts them.
"""

from __future__ import annotations

import gzip
import math
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidArgumentError
from ..output.discovery import TraceFile, discover_trace_files, display_path
from ..output.lines import LineSplitter, open_regular, read_chunks, read_limited
from ..output.reader import ReadStats
from ..output.records import BLANK, TraceRecord, make_record, parse_line, parse_value

__all__ = ["FollowedTrace", "follow_records", "follow_traces"]

FollowedTrace = TraceRecord
"""What the follower yields: the same ``TraceRecord`` as ``scan_traces``."""

_MAX_OPEN = 32
_GZ_ERRORS = (EOFError, OSError, zlib.error)


class _Tail:
    """A ``*.jsonl`` being followed: where it is, what it is, and how far it has been read."""

    __slots__ = ("identity", "name", "path", "splitter")

    def __init__(self, path: str, identity: tuple[int, int]) -> None:
        self.path = path
        self.name = display_path(path)
        self.identity = identity
        self.splitter = LineSplitter()

    @property
    def offset(self) -> int:
        """Bytes up to and including the last complete line."""
        return self.splitter.offset


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


def _list(root: str) -> tuple[list[TraceFile], list[str]]:
    """List the trace files under ``root`` now (nothing when it does not exist yet)."""
    try:
        found = discover_trace_files(root)
    except OSError:
        found = None
    files = found.files if found is not None else []
    twin = root + ".gz"
    if not root.lower().endswith((".gz", ".json")) and os.path.isfile(twin):
        # A single file is followed through its rotation: its twin is looked for too.
        files = [*files, TraceFile(twin, "gz", display_path(twin), os.path.basename(twin))]
    return files, found.skipped if found is not None else []


class _Follower:
    """The polling state machine behind ``follow_records``: one ``poll()`` per round."""

    __slots__ = (
        "done",
        "failed_json",
        "listed",
        "open",
        "orphans",
        "root",
        "skipped",
        "stats",
        "stop",
        "tails",
    )

    def __init__(self, root: str, stats: ReadStats, stop: threading.Event | None = None) -> None:
        self.root = root
        self.stats = stats
        self.stop = stop
        self.tails: dict[str, _Tail] = {}
        self.open: OrderedDict[tuple[int, int], IO[bytes]] = OrderedDict()
        # Paths read to their end (a `.jsonl` whose twin must then be skipped, `.gz`, `.json`).
        self.done: set[str] = set()
        # Followed `.jsonl` files that vanished while closed: their twin is read from the offset.
        self.orphans: dict[str, _Tail] = {}
        self.failed_json: dict[str, tuple[int, int]] = {}
        self.skipped: set[str] = set()  # counted once each
        self.listed: set[str] = set()  # the paths of this round's listing

    def close(self) -> None:
        for handle in self.open.values():
            handle.close()
        self.open.clear()

    # -- one round ---------------------------------------------------------------------------------

    def poll(self) -> Iterator[TraceRecord]:
        files, skipped = _list(self.root)
        for name in skipped:
            if name not in self.skipped:
                self.skipped.add(name)
                self.stats.skip(name)
        listed = self.listed = {found.path for found in files}
        for found in files:
            if found.kind == "jsonl":
                yield from self._jsonl(found.path)
            elif found.kind == "gz":
                yield from self._gz(found.path)
            else:
                yield from self._json(found.path)
        for path in [p for p in self.tails if p not in listed]:
            yield from self._vanished(self.tails.pop(path))

    def _jsonl(self, path: str) -> Iterator[TraceRecord]:
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
            tail = self._renamed(identity, path)
            if tail is None:
                tail = _Tail(path, identity)
                self.stats.files += 1
            self.tails[path] = tail
        if stat.st_size < tail.splitter.position:  # truncated and rewritten in place
            tail.splitter = LineSplitter()
        if stat.st_size > tail.splitter.position:
            yield from self._read(tail, final=False)

    def _renamed(self, identity: tuple[int, int], path: str) -> _Tail | None:
        for old, tail in self.tails.items():
            # A file under a new name whose old name is gone (a link beside it is not a rename).
            if tail.identity == identity and old not in self.listed:
                del self.tails[old]
                tail.path = path
                tail.name = display_path(path)
                return tail
        return None

    def _handle(self, tail: _Tail) -> IO[bytes] | None:
        handle = self.open.get(tail.identity)
        if handle is not None:
            self.open.move_to_end(tail.identity)
            return handle
        try:
            handle = open_regular(tail.path)
        except OSError:
            return None
        if handle is None:
            return None
        if _identity(os.fstat(handle.fileno())) != tail.identity:
            handle.close()  # the name now points at another file: this one is not there
            return None
        self.open[tail.identity] = handle
        while len(self.open) > _MAX_OPEN:
            self.open.popitem(last=False)[1].close()
        return handle

    def _read(self, tail: _Tail, *, final: bool) -> Iterator[TraceRecord]:
        """Read ``tail`` on from where it stopped; with ``final``, a last unfinished line too."""
        handle = self._handle(tail)
        if handle is None:
            return
        handle.seek(tail.splitter.position)
        chunks = _until(self.stop, read_chunks(handle))
        yield from _feed(chunks, tail.splitter, tail.name, self.stats, final=final)

    def _release(self, tail: _Tail) -> None:
        self.open.pop(tail.identity).close()  # callers hold it open

    def _vanished(self, tail: _Tail, *, replaced: bool = False) -> Iterator[TraceRecord]:
        """``tail`` is gone from its name: drain it if still open, else wait for its twin."""
        if tail.identity in self.open:
            yield from self._read(tail, final=True)
            self._release(tail)
        elif not replaced:
            self.orphans[tail.path] = tail
        if not replaced:
            self.done.add(tail.path)

    def _gz(self, path: str) -> Iterator[TraceRecord]:
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
        splitter = LineSplitter()
        if tail is not None:  # go on from the last complete line read of the original
            splitter.lines = tail.splitter.lines
            splitter.position = splitter.offset = tail.offset
        yield from self._read_gz(path, splitter)

    def _read_gz(self, path: str, splitter: LineSplitter) -> Iterator[TraceRecord]:
        """Yield the traces of a compressed ``.jsonl`` past ``splitter.offset`` bytes of text."""
        name = display_path(path)
        try:
            handle = open_regular(path)
        except OSError:
            self.stats.skip(name, unreadable=True)
            return
        if handle is None:
            self.stats.skip(name)
            return
        self.stats.files += 1
        with handle, gzip.GzipFile(fileobj=handle, mode="rb") as stream:
            try:
                skip = splitter.offset
                while skip > 0:  # decompressed and dropped in bounded chunks
                    dropped = len(stream.read(min(skip, 1 << 18)))
                    if not dropped:
                        break
                    skip -= dropped
                chunks = _until(self.stop, read_chunks(stream))  # type: ignore[arg-type]
                yield from _feed(chunks, splitter, name, self.stats, final=True)
            except EOFError:
                self.stats.damaged(name, splitter.lines + 1, torn=True)
            except _GZ_ERRORS:
                self.stats.skip(name, unreadable=True)

    def _json(self, path: str) -> Iterator[TraceRecord]:
        if path in self.done:
            return
        try:
            stat = os.stat(path)
            if self.failed_json.get(path) == (stat.st_size, stat.st_mtime_ns):
                return
            handle = open_regular(path)
            if handle is None:
                return
            with handle:
                data = read_limited(handle)
        except OSError:
            return
        name = display_path(path)
        try:
            value: Any = parse_value(data) if data is not None else None
        except (ValueError, RecursionError):
            value = None
        if value is None:
            # Perhaps still being written: try again once it changes (counted once).
            if path not in self.failed_json:
                self.stats.damaged(name, 0)
            self.failed_json[path] = (stat.st_size, stat.st_mtime_ns)
            return
        if self.failed_json.pop(path, None) is not None:
            self.stats.corrupt -= 1  # it was only being written
        self.done.add(path)
        self.stats.files += 1
        # One trace, or a list of them (line = position in the list), as the reader has it.
        items = value if type(value) is list else [value]
        for position, item in enumerate(items, 1):
            record = make_record(item, name, position)
            if record is None:
                self.stats.damaged(name, position)
            else:
                self.stats.traces += 1
                yield record


def _until(stop: threading.Event | None, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` until ``stop`` is set: a huge file never holds up a stop."""
    for chunk in chunks:
        if stop is not None and stop.is_set():
            return
        yield chunk


def _feed(
    chunks: Iterator[bytes], splitter: LineSplitter, name: str, stats: ReadStats, *, final: bool
) -> Iterator[TraceRecord]:
    """Parse the lines ``chunks`` complete (with ``final``, the unfinished rest too)."""
    for chunk in chunks:
        first = splitter.lines + 1
        for index, data in enumerate(splitter.feed(chunk)):
            yield from _one(data, name, first + index, stats, torn=False)
    if final:
        rest = splitter.finish()
        if rest != b"":
            yield from _one(rest, name, splitter.lines, stats, torn=rest is not None)


def _one(
    data: bytes | None, name: str, number: int, stats: ReadStats, *, torn: bool
) -> Iterator[TraceRecord]:
    record = None if data is None else parse_line(data, name, number, first=number == 1)
    if record is BLANK:
        return
    if record is None:
        stats.damaged(name, number, torn=torn)
        return
    stats.traces += 1
    yield record  # type: ignore[misc]


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
    stats: ReadStats | None = None,
) -> Generator[TraceRecord | None, None, None]:
    """Follow ``path`` like ``follow_traces``, yielding ``TraceRecord`` records.

    After each round that has caught up with the files it yields ``None`` once (a "nothing more
    for now" mark that lets a consumer batch its work), then waits ``poll_interval`` seconds, or
    until ``stop`` is set, which ends the generator. Damaged lines and skipped files are counted
    in ``stats`` when given.
    """
    root = _check(path, poll_interval)
    if stats is not None and not isinstance(stats, ReadStats):
        raise InvalidArgumentError(f"stats must be a ReadStats or None, got {stats!r}")
    follower = _Follower(root, stats if stats is not None else ReadStats(), stop)
    wait = stop.wait if stop is not None else time.sleep
    try:
        while stop is None or not stop.is_set():
            yield from follower.poll()
            if stop is not None and stop.is_set():
                break  # a stop during the round: it may not have caught up, so no mark
            yield None
            wait(poll_interval)
    finally:
        follower.close()


def follow_traces(
    path: str | os.PathLike[str], *, poll_interval: float = 0.2
) -> Generator[dict[str, Any], None, None]:
    """Yield the trace dicts already under ``path`` (a file or a folder), then each new one.

    Reads what ``scan_traces`` reads (``*.jsonl``, ``*.jsonl.gz`` and ``*.json`` regular files, a
    folder recursively, in name order), follows new files and rotations, yields no trace twice,
    and waits for a line still being written. A path that does not exist yet is waited for. Runs
    until closed (``generator.close()``), polling every ``poll_interval`` seconds.
    """
    records = follow_records(path, poll_interval=poll_interval)
    try:
        for record in records:
            if record is not None:
                yield record.trace
    finally:
        records.close()
