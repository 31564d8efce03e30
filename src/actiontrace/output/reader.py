"""Reading trace files back: ``scan_traces`` and ``read_traces``, the one read path.

The read path is one line of small steps, each in its own module, shared by every consumer
(``report``, ``show``, ``tail``, the HTML report, ``serve``, the exports) and by the follower
(``analysis.follow``)::

    discover_trace_files ─▶ open_regular ─▶ LineSplitter ─▶ parse_line ─▶ TraceRecord
       (discovery.py)          (lines.py: bounded chunks,        (records.py: one model,
                                gzip included)                    normalised fields)

The reader knows only the on-disk format, nothing of the writer: JSON Lines files (``*.jsonl``,
one trace object per line, optionally gzipped as ``*.jsonl.gz``) and JSON files (``*.json``, one
trace object or a list of them). Reading survives any file: a damaged line (not JSON, not a trace,
too deep, ``NaN``, a lone surrogate, longer than ``MAX_LINE_BYTES``) is skipped and counted, a
file that is not a regular one is skipped and counted, and memory stays bounded by one line.
"""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import InvalidArgumentError
from .discovery import TRACE_SUFFIXES, TraceFile, discover_trace_files, display_path
from .lines import MAX_LINE_BYTES, LineSplitter, open_regular, read_chunks, read_limited
from .records import (
    BLANK,
    TraceRecord,
    make_record,
    parse_exact,
    parse_fast,
    parse_line,
    parse_value,
)

__all__ = [
    "MAX_LINE_BYTES",
    "TRACE_SUFFIXES",
    "ReadStats",
    "TraceRecord",
    "read_file_records",
    "read_traces",
    "scan_traces",
]

MAX_LOCATIONS = 10
"""How many problem locations ``ReadStats`` keeps (the counts go on)."""

_GZIP_DAMAGE = (OSError, zlib.error)


@dataclass(slots=True)
class ReadStats:
    """What reading met: files read, traces yielded, what was skipped and where.

    Damaged lines (``damaged_lines``): ``corrupt`` (not JSON, not a trace, breaking a reading
    rule, too long; a ``.json`` file or list item likewise) and ``torn`` (a last line cut short: a
    file being written, a crash, a truncated gzip stream). Skipped files (``skipped_files``):
    ``unreadable`` (could not be opened or decompressed) and ``skipped`` (not a regular file, a
    link leading out of the folder). ``problems``: ``(file, line)`` of the first
    ``MAX_LOCATIONS`` of those (line 0: the file).
    """

    files: int = 0
    traces: int = 0
    corrupt: int = 0
    torn: int = 0
    unreadable: int = 0
    skipped: int = 0
    problems: list[tuple[str, int]] = field(default_factory=list)

    @property
    def damaged_lines(self) -> int:
        """Lines (or ``.json`` items) skipped: ``corrupt + torn``."""
        return self.corrupt + self.torn

    @property
    def skipped_files(self) -> int:
        """Files not read: ``unreadable + skipped``."""
        return self.unreadable + self.skipped

    def note(self, file: str, line: int) -> None:
        """Remember where a problem was (the first ``MAX_LOCATIONS`` only)."""
        if len(self.problems) < MAX_LOCATIONS:
            self.problems.append((file, line))

    def damaged(self, file: str, line: int, *, torn: bool = False) -> None:
        """Count one damaged line of ``file``."""
        if torn:
            self.torn += 1
        else:
            self.corrupt += 1
        self.note(file, line)

    def skip(self, file: str, *, unreadable: bool = False) -> None:
        """Count one file not read."""
        if unreadable:
            self.unreadable += 1
        else:
            self.skipped += 1
        self.note(file, 0)

    def counts(self) -> dict[str, int]:
        """Return the counts as a JSON-ready dict (``files``, ``corrupt``, ..., the totals)."""
        return {
            "files": self.files,
            "corrupt": self.corrupt,
            "torn": self.torn,
            "unreadable": self.unreadable,
            "skipped": self.skipped,
            "damagedLines": self.damaged_lines,
            "skippedFiles": self.skipped_files,
        }


def _json_items(
    handle: IO[bytes], file: str, stats: ReadStats, fast: bool
) -> Iterator[TraceRecord]:
    data = read_limited(handle)
    try:
        value: Any = parse_value(data, fast=fast) if data is not None else None
    except (ValueError, RecursionError):
        value = None
    if value is None:
        stats.damaged(file, 0)
        return
    items = value if type(value) is list else [value]
    for position, item in enumerate(items, 1):
        record = make_record(item, file, position)
        if record is None:
            stats.damaged(file, position)
        else:
            stats.traces += 1
            yield record


def _lines(stream: IO[bytes], file: str, stats: ReadStats, fast: bool) -> Iterator[TraceRecord]:
    splitter = LineSplitter()
    feed = splitter.feed
    parse = parse_fast if fast else parse_exact
    number = 0
    try:
        for chunk in read_chunks(stream):
            for data in feed(chunk):
                number += 1
                record: Any = None
                if data is not None:
                    try:  # the hot path: a line that parses (parse_line handles the rest)
                        record = make_record(parse(data), file, number)
                    except (ValueError, RecursionError):
                        record = parse_line(data, file, number, fast=fast, first=number == 1)
                if record is None:
                    stats.damaged(file, number)
                elif record is not BLANK:
                    stats.traces += 1
                    yield record
    except EOFError:  # a gzip stream cut short: what came before it was read
        stats.damaged(file, number + 1, torn=True)
        return
    except _GZIP_DAMAGE:  # not gzip, or damaged compressed data
        stats.skip(file, unreadable=True)
        return
    rest = splitter.finish()
    if rest == b"":
        return
    number += 1
    last = None if rest is None else parse_line(rest, file, number, fast=fast, first=number == 1)
    if last is None:
        # A last line without newline that does not parse: cut short while being written.
        stats.damaged(file, number, torn=rest is not None)
    elif type(last) is TraceRecord:
        stats.traces += 1
        yield last


def read_file_records(
    found: TraceFile, stats: ReadStats, *, fast: bool = False, in_folder: bool = True
) -> Iterator[TraceRecord]:
    """Yield the records of one discovered file, counting in ``stats`` what is skipped.

    A file that vanished since it was listed is read from its ``.gz`` twin when that exists (it
    was compressed in the meantime), else nothing; with ``in_folder=False`` (a file named by the
    caller) a vanished file raises ``FileNotFoundError``.
    """
    try:
        handle = open_regular(found.path)
    except FileNotFoundError:
        if not in_folder:
            raise
        twin = found.path + ".gz"
        if found.kind == "jsonl" and os.path.exists(twin):
            name = display_path(twin)
            yield from read_file_records(
                TraceFile(twin, "gz", name, found.relative + ".gz"), stats, fast=fast
            )
        return
    except OSError:
        if not in_folder:
            raise
        stats.skip(found.name, unreadable=True)
        return
    if handle is None:  # replaced by a FIFO or device since it was listed
        stats.skip(found.name)
        return
    stats.files += 1
    with handle:
        if found.kind == "json":
            yield from _json_items(handle, found.name, stats, fast)
        elif found.kind == "gz":
            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                yield from _lines(stream, found.name, stats, fast)  # type: ignore[arg-type]
        else:
            yield from _lines(handle, found.name, stats, fast)


def _records(path: str, stats: ReadStats, fast: bool) -> Iterator[TraceRecord]:
    found = discover_trace_files(path)
    for name in found.skipped:
        stats.skip(name)
    single = not os.path.isdir(path)
    for item in found.files:
        yield from read_file_records(item, stats, fast=fast, in_folder=not single)


def scan_traces(
    path: str | os.PathLike[str], stats: ReadStats | None = None, *, fast: bool = False
) -> Iterator[TraceRecord]:
    """Yield every trace under ``path`` as a ``TraceRecord``, streaming, in name order.

    ``path`` is a file (read whatever its name; ``.gz`` is decompressed, ``.json`` is one object or
    a list) or a folder (read by ``discover_trace_files``' rules: ``*.jsonl``, ``*.jsonl.gz`` and
    ``*.json`` regular files, links only inside it, hidden folders skipped). Damaged lines and
    skipped files are counted in ``stats`` (pass a ``ReadStats`` to see them), never raised. A
    missing ``path`` raises ``FileNotFoundError`` at once.

    ``fast=True`` parses with orjson when the ``actiontrace[fast]`` extra is installed (about 4x
    faster), under the same rules.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"path must be a non-empty path, got {path!r}")
    if stats is not None and not isinstance(stats, ReadStats):
        raise InvalidArgumentError(f"stats must be a ReadStats or None, got {stats!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "No such trace file or folder", path)
    return _records(path, stats if stats is not None else ReadStats(), fast)


def read_traces(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the trace dicts in a file or folder (see ``scan_traces``), skipping damaged lines.

    Raises ``FileNotFoundError`` at once when ``path`` does not exist.
    """
    records = scan_traces(path)
    return (record.trace for record in records)
