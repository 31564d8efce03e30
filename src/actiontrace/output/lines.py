"""Bounded line reading: whatever a file holds, memory stays within ``MAX_LINE_BYTES`` a line.

* ``open_regular(path)`` opens a path for reading only when it is a regular file (a FIFO is opened
  non-blocking and checked, never read; a device or socket likewise), else returns ``None``.
* ``LineSplitter`` cuts a byte stream fed in chunks into lines. It keeps the pieces of an
  unfinished line (joined once, when its newline comes: no copying per chunk) and, once a line
  passes ``MAX_LINE_BYTES``, drops it and remembers only that it is too long (``None`` is
  returned in its place). A follower keeps one splitter per file across polls, so an unfinished
  line is never read twice.
* ``read_chunks(stream)`` reads a stream (a file, or a gzip stream, decompressed in bounded
  chunks) to its end, ``CHUNK_BYTES`` at a time; ``read_limited(stream)`` reads a whole small
  file, or tells it is too big.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import IO, Final

__all__ = [
    "CHUNK_BYTES",
    "MAX_LINE_BYTES",
    "LineSplitter",
    "open_regular",
    "read_chunks",
    "read_limited",
]

MAX_LINE_BYTES: Final = 8 * 1024 * 1024
"""Longest line (and longest ``.json`` file) read; a longer one is skipped as damaged."""

CHUNK_BYTES: Final = 1 << 18
"""Bytes read (or decompressed) at a time; at most ``MAX_LINE_BYTES``."""

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def open_regular(path: str) -> IO[bytes] | None:
    """Open ``path`` for binary reading when it is a regular file; ``None`` when it is not.

    The check is made on the opened descriptor, so a file swapped for a FIFO after it was listed
    is still caught; opening is non-blocking, so a FIFO never hangs the open either. Raises
    ``OSError`` when the path cannot be opened at all.
    """
    fd = os.open(path, _FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_chunks(stream: IO[bytes], size: int | None = None) -> Iterator[bytes]:
    """Yield ``stream``'s bytes, at most ``size`` (``CHUNK_BYTES``) at a time, until its end.

    Each chunk is one read (``read1``): a gzip stream cut short gives every byte before the cut.
    """
    read = getattr(stream, "read1", stream.read)
    limit = CHUNK_BYTES if size is None else size
    while chunk := read(limit):
        yield chunk


def read_limited(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> bytes | None:
    """All of ``stream`` when it holds at most ``limit`` bytes, else ``None`` (read no further)."""
    data = stream.read(limit + 1)
    return data if len(data) <= limit else None


class LineSplitter:
    """Cuts bytes fed in chunks into lines, holding at most ``limit`` bytes of an unfinished one.

    ``feed(chunk)`` returns the lines the chunk completes (without their newline), a line longer
    than ``limit`` as ``None``. ``lines`` counts the lines completed so far, ``offset`` the bytes
    up to and including the last newline, ``position`` all bytes fed. ``finish()`` returns the
    unfinished rest (``b""`` when there is none, ``None`` when it is too long) and counts it as a
    line when there was one.
    """

    __slots__ = ("_overlong", "_parts", "_size", "limit", "lines", "offset", "position")

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self.lines = 0
        self.offset = 0
        self.position = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._overlong = False

    @property
    def pending(self) -> bool:
        """Whether an unfinished line is held (or being skipped as too long)."""
        return self._size > 0 or self._overlong

    def feed(self, chunk: bytes) -> list[bytes | None]:
        """Take the next ``chunk``; return the lines it completes (``None`` for one too long)."""
        self.position += len(chunk)
        pieces: list[bytes | None] = chunk.split(b"\n")  # type: ignore[assignment]
        rest: bytes = pieces.pop()  # type: ignore[assignment]
        if pieces:
            first: bytes = pieces[0]  # type: ignore[assignment]
            if self._overlong or self._size + len(first) > self.limit:
                pieces[0] = None
            elif self._parts:
                self._parts.append(first)
                pieces[0] = b"".join(self._parts)
            if len(chunk) > self.limit:  # a chunk bigger than a line may be: check every line
                for index in range(1, len(pieces)):
                    if len(pieces[index]) > self.limit:  # type: ignore[arg-type]
                        pieces[index] = None
            self._parts = []
            self._size = 0
            self._overlong = False
            self.lines += len(pieces)
            self.offset = self.position - len(rest)
        if rest and not self._overlong:
            if self._size + len(rest) > self.limit:
                self._overlong = True
                self._parts = []
                self._size = 0
            else:
                self._parts.append(rest)
                self._size += len(rest)
        return pieces

    def finish(self) -> bytes | None:
        """Return the unfinished rest and start afresh (``b""``: none; ``None``: too long)."""
        if not self.pending:
            return b""
        rest = None if self._overlong else b"".join(self._parts)
        self._parts = []
        self._size = 0
        self._overlong = False
        self.lines += 1
        self.offset = self.position
        return rest
