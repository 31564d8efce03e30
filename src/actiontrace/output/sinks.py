"""Where the output service's writer puts traces: rotating JSON Lines files, or one JSON file each.

A sink is used by one thread only (the writer). It turns a trace into an entry with ``encode`` and
writes entries with ``write(entries, start)``, which writes a prefix of ``entries[start:]`` (at
least one) and returns the index after it, or raises ``OSError`` having written none of them, so
the caller can retry exactly what failed. Writes go straight to the operating system (``os.write``
on an unbuffered descriptor): once ``write`` returns, a killed process loses none of it.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..factory import LoggerLike
from ..sanitize import compact_json
from .names import jsonl_file_name, trace_file_name

__all__ = ["JsonFileSink", "JsonLinesSink", "Sink", "TraceFile"]

EntryT = TypeVar("EntryT")

PARTIAL_SUFFIX = ".partial"
"""Suffix of files being written; never one of the trace suffixes, so readers skip them."""

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_FILE_MODE = 0o644
_GZIP_LEVEL = 6  # gzip's own default: most of level 9's ratio at a fraction of its time
_NAME_ATTEMPTS = 1000


class Sink(Protocol[EntryT]):
    """What the output service needs of a sink (one writer thread calls every method)."""

    def encode(self, trace: Any) -> EntryT:
        """Serialise ``trace`` (anything with ``to_dict()``); raise anything on failure."""
        ...

    def write(self, entries: Sequence[EntryT], start: int) -> int:
        """Write a prefix (at least one) of ``entries[start:]``; return the index after it.

        Raise ``OSError`` with none of them written.
        """
        ...

    def close(self) -> None:
        """Release open files; the sink may be written to again afterwards (it reopens)."""
        ...


def _trace_dict(trace: Any) -> dict[str, Any]:
    data = trace.to_dict()
    if not isinstance(data, dict):
        raise TypeError(f"to_dict() returned {type(data).__name__}, not a dict")
    return data


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: written as JSON's own \udXXX escapes, so the line stays valid JSON.
        return text.encode("utf-8", "backslashreplace")


def _create(path: Path) -> int:
    """Create ``path`` exclusively: a service never appends to a file it did not create."""
    return os.open(path, _OPEN_FLAGS, _FILE_MODE)


def _write_all(fd: int, data: bytes) -> int:
    """Write all of ``data``; on ``OSError`` the exception carries how much got written."""
    view = memoryview(data)
    done = 0
    try:
        while done < len(data):
            done += os.write(fd, view[done:])
    except OSError as error:
        error.written = done  # type: ignore[attr-defined]
        raise
    return done


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _discard(path: Path) -> None:
    """Best-effort removal of a temporary file after a failure (a second fault is not news)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


class TraceFile:
    """A file a sink created: its current name (it changes when compressed) and size in bytes."""

    __slots__ = ("path", "size")

    def __init__(self, path: Path, size: int = 0) -> None:
        self.path = path
        self.size = size

    def __repr__(self) -> str:
        return f"TraceFile({str(self.path)!r})"


class _OwnFiles:
    """The files one sink created, oldest first, pruned to ``max_files`` and ``max_total_bytes``.

    The newest file (the one being written) is never pruned, so a total larger than
    ``max_total_bytes`` is only ever that one file.
    """

    __slots__ = ("_files", "_logger", "_max", "_max_total", "_total")

    def __init__(
        self, max_files: int | None, max_total_bytes: int | None, logger: LoggerLike
    ) -> None:
        self._files: deque[TraceFile] = deque()
        self._max = max_files
        self._max_total = max_total_bytes
        self._total = 0
        self._logger = logger

    def add(self, path: Path, size: int = 0) -> TraceFile:
        record = TraceFile(path, size)
        self._files.append(record)
        self._total += size
        self._prune()
        return record

    def resize(self, record: TraceFile, size: int) -> None:
        """Record that ``record`` (still kept) now holds ``size`` bytes; prune to the budget."""
        self._total += size - record.size
        record.size = size
        if self._max_total is not None and self._total > self._max_total:
            self._prune()

    def _prune(self) -> None:
        files = self._files
        if self._max is not None:
            while len(files) > self._max:
                self._delete_oldest()
        if self._max_total is not None:
            while self._total > self._max_total and len(files) > 1:
                self._delete_oldest()

    def _delete_oldest(self) -> None:
        record = self._files.popleft()
        self._total -= record.size
        try:
            _remove(record.path)
        except OSError as error:
            self._logger.warning(
                f"actiontrace: could not delete old trace file {record.path}: {error}"
            )

    def forget(self, record: TraceFile) -> None:
        self._files.remove(record)
        self._total -= record.size

    def __contains__(self, record: object) -> bool:
        return record in self._files

    def paths(self) -> list[Path]:
        return [record.path for record in self._files]


class JsonLinesSink:
    """Appends one compact JSON trace per line to ``*.jsonl`` files it creates in ``directory``.

    A new file starts when the current one would pass ``max_file_bytes`` (a single trace larger
    than that gets a file of its own); at most ``max_files`` files are kept (oldest deleted);
    older files are deleted while all kept files together hold more than ``max_total_bytes``;
    with ``compress`` each finished file becomes ``<name>.jsonl.gz`` (written under a temporary
    name, renamed when complete, then the ``.jsonl`` deleted). A file removed or replaced behind
    the sink's back is noticed before the next write, and a new one is started (the directory
    recreated when it is gone).
    """

    __slots__ = (
        "_compress",
        "_counter",
        "_current",
        "_directory",
        "_fd",
        "_files",
        "_identity",
        "_logger",
        "_max_bytes",
        "_pending_compression",
    )

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int,
        max_files: int | None,
        compress: bool,
        logger: LoggerLike,
        max_total_bytes: int | None = None,
    ) -> None:
        self._directory = directory
        self._max_bytes = max_file_bytes
        self._compress = compress
        self._logger = logger
        self._files = _OwnFiles(max_files, max_total_bytes, logger)
        self._fd = -1
        self._current: TraceFile | None = None
        self._identity: tuple[int, int] = (0, 0)
        self._counter = 0
        self._pending_compression: list[TraceFile] = []

    @property
    def files(self) -> list[Path]:
        """The files this sink created and still keeps, oldest first."""
        return self._files.paths()

    def encode(self, trace: Any) -> bytes:
        """Make one line: the compact ``to_json()`` when the trace gives one, else ``to_dict()``."""
        to_json = getattr(trace, "to_json", None)
        if callable(to_json):
            try:
                text = to_json()
            except Exception:
                text = None
            # Trusted only when it is plainly one JSON object on one line.
            if type(text) is str and text[:1] == "{" and text[-1:] == "}" and "\n" not in text:
                return _utf8(text + "\n")
        return _utf8(compact_json(_trace_dict(trace)) + "\n")

    def write(self, entries: Sequence[bytes], start: int) -> int:
        """Append lines to the current file, starting a new file first when needed."""
        if self._fd >= 0 and not self._current_is_intact():
            self._drop_current()
        used = self._current_size()
        if self._fd >= 0 and used and used + len(entries[start]) > self._max_bytes:
            self._finish_current()
        if self._fd < 0:
            self._open_new()
        if self._pending_compression:
            self._compress_finished()
        current = self._current
        assert current is not None
        end = start
        total = current.size
        limit = self._max_bytes
        count = len(entries)
        while end < count:
            size = len(entries[end])
            if total and total + size > limit:
                break
            total += size
            end += 1
        blob = b"".join(entries[start:end])
        try:
            _write_all(self._fd, blob)
        except OSError as error:
            kept = self._keep_whole_lines(entries, start, getattr(error, "written", 0))
            if error.errno == errno.EFBIG and self._fd >= 0 and self._current_size():
                # This file reached the process's size limit: the next attempt starts a new one.
                self._logger.warning(
                    f"actiontrace: {self._current_path()} reached the file size limit "
                    f"({error}); continuing in a new file"
                )
                self._finish_current()
            if kept:
                return start + kept  # the fault shows again on the next call, if it persists
            raise
        self._files.resize(current, total)
        return end

    def close(self) -> None:
        """Close the current file (it stays as it is: only rotated files are compressed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._current = None

    # -- the current file --------------------------------------------------------------------------

    def _current_path(self) -> Path | None:
        return None if self._current is None else self._current.path

    def _current_size(self) -> int:
        return 0 if self._current is None else self._current.size

    def _current_is_intact(self) -> bool:
        """Whether the open file is still the one at its path (not deleted, moved or replaced)."""
        assert self._current is not None
        try:
            info = os.stat(self._current.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def _drop_current(self) -> None:
        assert self._current is not None
        self._logger.warning(
            f"actiontrace: trace file {self._current.path} was removed or replaced; "
            "starting a new one"
        )
        self._files.forget(self._current)
        self.close()

    def _open_new(self) -> None:
        os.makedirs(self._directory, exist_ok=True)
        for _ in range(_NAME_ATTEMPTS):
            self._counter += 1
            path = self._directory / jsonl_file_name(time.time_ns(), os.getpid(), self._counter)
            try:
                fd = _create(path)
            except FileExistsError:
                continue
            info = os.fstat(fd)
            self._fd = fd
            self._identity = (info.st_dev, info.st_ino)
            self._current = self._files.add(path)
            return
        raise FileExistsError(errno.EEXIST, "no free trace file name", str(self._directory))

    def _keep_whole_lines(self, entries: Sequence[bytes], start: int, written: int) -> int:
        """After a failed write of ``written`` bytes, keep the whole lines; cut a partial one off.

        Returns how many lines were kept.
        """
        current = self._current
        assert current is not None
        base = current.size
        kept = 0
        kept_bytes = 0
        # written < the bytes of the lines being written (the write failed): this stops in range.
        while kept_bytes + len(entries[start + kept]) <= written:
            kept_bytes += len(entries[start + kept])
            kept += 1
        if written > kept_bytes:
            try:
                os.ftruncate(self._fd, base + kept_bytes)
            except OSError:
                # Cannot cut it: leave this file (its last line is torn, readers skip it).
                self._files.resize(current, base + written)
                self.close()
                return kept
        self._files.resize(current, base + kept_bytes)
        return kept

    def _finish_current(self) -> None:
        current = self._current
        self.close()
        if self._compress and current is not None:
            self._pending_compression.append(current)

    def _compress_finished(self) -> None:
        pending, self._pending_compression = self._pending_compression, []
        for record in pending:
            if record in self._files:  # not already deleted by max_files
                self._gzip(record)

    def _gzip(self, record: TraceFile) -> None:
        source = record.path
        target = source.with_name(source.name + ".gz")
        partial = source.with_name(target.name + PARTIAL_SUFFIX)
        try:
            with (
                open(source, "rb") as raw,
                open(partial, "xb") as out,
                gzip.GzipFile(
                    filename=source.name, mode="wb", fileobj=out, compresslevel=_GZIP_LEVEL
                ) as packed,
            ):
                shutil.copyfileobj(raw, packed, 1024 * 1024)
            os.rename(partial, target)
        except OSError as error:
            self._logger.warning(f"actiontrace: could not compress {source}: {error}")
            _discard(partial)
            return
        record.path = target
        with contextlib.suppress(OSError):
            self._files.resize(record, os.stat(target).st_size)
        try:
            _remove(source)
        except OSError as error:
            self._logger.warning(f"actiontrace: could not delete compressed {source}: {error}")


class _JsonEntry:
    """One trace as pretty JSON, with the ids its file is named after."""

    __slots__ = ("action_id", "actor_id", "data")

    def __init__(self, action_id: str, actor_id: str, data: bytes) -> None:
        self.action_id = action_id
        self.actor_id = actor_id
        self.data = data


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


class JsonFileSink:
    """Writes each trace as one pretty-printed ``*.json`` file in ``directory``.

    The file is written under a temporary name and renamed when complete, so a reader never sees
    half a file. Its name holds the time, process id, a counter, and the action and actor ids made
    safe (``names.trace_file_name``). At most ``max_files`` such files are kept, holding at most
    ``max_total_bytes`` together (oldest deleted).
    """

    __slots__ = ("_counter", "_directory", "_files")

    def __init__(
        self,
        directory: Path,
        *,
        max_files: int | None,
        logger: LoggerLike,
        max_total_bytes: int | None = None,
    ) -> None:
        self._directory = directory
        self._files = _OwnFiles(max_files, max_total_bytes, logger)
        self._counter = 0

    @property
    def files(self) -> list[Path]:
        """The files this sink created and still keeps, oldest first."""
        return self._files.paths()

    def encode(self, trace: Any) -> _JsonEntry:
        """Render ``to_dict()`` as indented JSON, with the ids to name its file after."""
        data = _trace_dict(trace)
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return _JsonEntry(
            _text(meta.get("actionId"), _text(meta.get("traceType"), "trace")),
            _text(meta.get("actorId"), "none"),
            _utf8(text),
        )

    def write(self, entries: Sequence[_JsonEntry], start: int) -> int:
        """Write ``entries[start]`` as a new file; recreate the directory when it is gone."""
        entry = entries[start]
        try:
            self._write_file(entry)
        except FileNotFoundError:
            os.makedirs(self._directory, exist_ok=True)
            self._write_file(entry)
        return start + 1

    def close(self) -> None:
        """Nothing stays open between writes."""

    def _write_file(self, entry: _JsonEntry) -> None:
        for _ in range(_NAME_ATTEMPTS):
            self._counter += 1
            name = trace_file_name(
                entry.action_id, entry.actor_id, time.time_ns(), os.getpid(), self._counter
            )
            final = self._directory / name
            partial = self._directory / (name + PARTIAL_SUFFIX)
            if os.path.lexists(final):
                continue
            try:
                fd = _create(partial)
            except FileExistsError:
                continue
            try:
                try:
                    _write_all(fd, entry.data)
                finally:
                    os.close(fd)
                os.rename(partial, final)
            except OSError:
                _discard(partial)
                raise
            self._files.add(final, len(entry.data))
            return
        raise FileExistsError(errno.EEXIST, "no free trace file name", str(self._directory))
