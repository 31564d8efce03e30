"""Reading trace files back: ``read_traces`` and ``scan_traces`` (SPEC §6).

The reader knows only the on-disk format, nothing of the writer: JSON Lines files (``*.jsonl``,
one trace object per line, optionally gzipped as ``*.jsonl.gz``) and JSON files (``*.json``, one
trace object or a list of them). A trace is any JSON object with a ``"metadata"`` object, so every
trace type reads back. Reading streams: one line in memory at a time, whatever the file sizes.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..errors import InvalidArgumentError

_fast_loads: Callable[[bytes], Any] | None
try:  # the optional ``actiontrace[fast]`` extra: orjson parses trace lines about 4x faster
    from orjson import loads as _fast_loads
except ImportError:
    _fast_loads = None

__all__ = ["TRACE_SUFFIXES", "ReadStats", "TraceRecord", "read_traces", "scan_traces"]

TRACE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json")
"""The file suffixes a folder scan reads; every other file is ignored."""

MAX_LOCATIONS = 10
"""How many problem locations ``ReadStats`` keeps (the counts go on)."""

_BOM = b"\xef\xbb\xbf"


def _parse_fast(text: bytes) -> Any:
    """Parse one line with orjson when it is installed, else (and as a fallback) with ``json``.

    For aggregation only: orjson reads integers past 64 bits as floats. It refuses NaN, which
    ``json`` accepts, so such a line is parsed again rather than counted as corrupt.
    """
    if _fast_loads is not None:
        try:
            return _fast_loads(text)
        except ValueError:
            pass
    return json.loads(text)


class TraceRecord(NamedTuple):
    """One trace read back, with where it came from (``line``: 1-based line, or list position)."""

    trace: dict[str, Any]
    file: str
    line: int


@dataclass(slots=True)
class ReadStats:
    """What a scan met: files read, traces yielded, lines skipped, where the first problems are.

    ``corrupt``: lines (or ``.json`` files/items) that are not a trace object, skipped.
    ``torn``: a last line cut short (a file being written, or a crash), skipped.
    ``unreadable``: files that could not be opened or decompressed, skipped.
    ``problems``: ``(file, line)`` of the first ``MAX_LOCATIONS`` of those (line 0: the file).
    """

    files: int = 0
    traces: int = 0
    corrupt: int = 0
    torn: int = 0
    unreadable: int = 0
    problems: list[tuple[str, int]] = field(default_factory=list)

    def _note(self, file: str, line: int) -> None:
        if len(self.problems) < MAX_LOCATIONS:
            self.problems.append((file, line))


def _is_trace(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("metadata"), dict)


def _kind(name: str) -> str | None:
    lowered = name.lower()
    for suffix in TRACE_SUFFIXES:
        if lowered.endswith(suffix):
            return suffix
    return None


def _folder_files(root: Path) -> list[Path]:
    """Trace files under ``root`` in name order, a ``.jsonl`` left out when its ``.gz`` is there."""
    found: list[tuple[tuple[str, ...], Path]] = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        present = set(names)
        base = Path(folder)
        for name in names:
            kind = _kind(name)
            if kind is None:
                continue
            # A rotated file is gzipped under its name plus ".gz", then deleted: while both
            # exist they hold the same traces, and the .gz is the one that stays.
            if kind == ".jsonl" and name + ".gz" in present:
                continue
            path = base / name
            found.append((path.relative_to(root).parts, path))
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def _lines(
    handle: IO[bytes], file: str, stats: ReadStats, parse: Callable[[bytes], Any]
) -> Iterator[TraceRecord]:
    number = 0
    try:
        for raw in handle:
            number += 1
            text = raw.strip()
            if number == 1 and text.startswith(_BOM):
                text = text[len(_BOM) :]
            if not text:
                continue
            try:
                value = parse(text)
            except ValueError:
                value = None
            if _is_trace(value):
                stats.traces += 1
                yield TraceRecord(value, file, number)
            elif raw.endswith(b"\n"):
                stats.corrupt += 1
                stats._note(file, number)
            else:
                stats.torn += 1
                stats._note(file, number)
    except EOFError:  # a gzip stream cut short: what came before it was read
        stats.torn += 1
        stats._note(file, number + 1)
    except (OSError, zlib.error):  # not gzip, or damaged compressed data
        stats.unreadable += 1
        stats._note(file, number + 1)


def _json_file(handle: IO[bytes], file: str, stats: ReadStats) -> Iterator[TraceRecord]:
    try:
        value = json.load(handle)
    except ValueError:
        stats.corrupt += 1
        stats._note(file, 0)
        return
    items = value if isinstance(value, list) else [value]
    for position, item in enumerate(items, 1):
        if _is_trace(item):
            stats.traces += 1
            yield TraceRecord(item, file, position)
        else:
            stats.corrupt += 1
            stats._note(file, position)


def _open(path: Path, kind: str | None) -> IO[bytes]:
    if kind == ".jsonl.gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _read_file(
    path: Path, stats: ReadStats, parse: Callable[[bytes], Any], *, in_folder: bool
) -> Iterator[TraceRecord]:
    kind = _kind(path.name)
    file = str(path)
    try:
        handle = _open(path, kind)
    except FileNotFoundError:
        if not in_folder:
            raise
        # Listed, then gone: compressed in the meantime (read the .gz) or deleted (nothing left).
        if kind == ".jsonl" and path.with_name(path.name + ".gz").exists():
            yield from _read_file(path.with_name(path.name + ".gz"), stats, parse, in_folder=True)
        return
    except OSError:
        if not in_folder:
            raise
        stats.unreadable += 1
        stats._note(file, 0)
        return
    stats.files += 1
    with handle:
        if kind == ".json":
            yield from _json_file(handle, file, stats)
        else:
            yield from _lines(handle, file, stats, parse)


def _records(
    root: Path, files: Iterable[Path] | None, stats: ReadStats, parse: Callable[[bytes], Any]
) -> Iterator[TraceRecord]:
    if files is None:
        yield from _read_file(root, stats, parse, in_folder=False)
        return
    for path in files:
        yield from _read_file(path, stats, parse, in_folder=True)


def scan_traces(
    path: str | os.PathLike[str], stats: ReadStats | None = None, *, fast: bool = False
) -> Iterator[TraceRecord]:
    """Yield every trace under ``path`` as a ``TraceRecord(trace, file, line)``, streaming.

    ``path`` is a file (read whatever its name; ``.gz`` is decompressed, ``.json`` is one object or
    a list) or a folder (read recursively: ``*.jsonl``, ``*.jsonl.gz`` and ``*.json`` files only,
    in name order). Corrupt lines and a torn last line are skipped and counted in ``stats`` (pass
    a ``ReadStats`` to see them), never raised. A missing ``path`` raises ``FileNotFoundError`` at
    once; a file of the folder that cannot be read is counted as ``unreadable``.

    ``fast=True`` parses with orjson when the ``actiontrace[fast]`` extra is installed (about 4x
    faster), for aggregation: it reads integers past 64 bits as floats.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"path must be a non-empty path, got {path!r}")
    if stats is not None and not isinstance(stats, ReadStats):
        raise InvalidArgumentError(f"stats must be a ReadStats or None, got {stats!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, "No such trace file or folder", path)
    files = _folder_files(root) if root.is_dir() else None
    parse = _parse_fast if fast else json.loads
    return _records(root, files, stats if stats is not None else ReadStats(), parse)


def read_traces(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the trace dicts in a file or folder (see ``scan_traces``), skipping damaged lines.

    Raises ``FileNotFoundError`` at once when ``path`` does not exist.
    """
    records = scan_traces(path)
    return (record.trace for record in records)
