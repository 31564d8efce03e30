"""``ActionTraceOutputService``: the game enqueues traces, a background worker writes them to disk.

The queue, the thread, flush and close with bounded waits and the exit and fork handling are the
shared :class:`~actiontrace.output.worker.Worker`'s; this module is what is particular to files:
serialising each trace on the worker's thread and writing the entries through a sink (rotating JSON
Lines, or one JSON file per trace), retrying a faulting disk with backoff until the ``flush()`` or
``close()`` that waits gives up. After a fork the child gets a sink of its own, whose files carry
the child's process id. The public contract is in ``docs/reference.md``.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from ..arguments import timeout_argument
from ..errors import InvalidArgumentError
from ..factory import LoggerLike, ensure_logger
from ..logs import SafeLog
from .sinks import JsonFileSink, JsonLinesSink, Sink
from .worker import DEFAULT_TIMEOUT, Batch, Worker, is_failure

__all__ = ["DEFAULT_TIMEOUT", "FORMATS", "ActionTraceOutputService"]

FORMATS: Final = ("jsonl", "json")
"""The values ``format`` accepts."""

_INITIAL_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
_CHUNK = 512  # traces per sink write


def _int_argument(value: object, name: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _directory_argument(value: object) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"output_dir must be a non-empty path, got {value!r}")
    return Path(value)


class ActionTraceOutputService:
    """Writes traces to ``output_dir`` from a background thread; the caller only enqueues.

    ``format="jsonl"`` appends one trace per line to rotating ``*.jsonl`` files (a new file when the
    current one would pass ``max_file_bytes``; finished files gzipped when ``compress_rotated``);
    ``format="json"`` writes one pretty ``*.json`` file per trace. Either way the oldest files
    are deleted to keep at most ``max_files`` files holding at most ``max_total_bytes`` together
    (the file being written is always kept). Disk faults are logged, counted and retried, never
    raised. Use it as a context manager, or call ``close()``; it also closes itself at
    interpreter exit, and keeps working in a forked child (with files of the child's own).
    See ``docs/reference.md``.
    """

    __slots__ = ("__weakref__", "_directory", "_format", "_worker")

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        format: str = "jsonl",
        max_queue_size: int = 10_000,
        max_file_bytes: int = 64 * 1024 * 1024,
        max_files: int | None = None,
        compress_rotated: bool = False,
        logger: LoggerLike | None = None,
        max_total_bytes: int | None = None,
    ) -> None:
        directory = _directory_argument(output_dir)
        if format not in FORMATS:
            raise InvalidArgumentError(f"format must be one of {FORMATS}, got {format!r}")
        max_queue = _int_argument(max_queue_size, "max_queue_size", 1)
        _int_argument(max_file_bytes, "max_file_bytes", 1)
        if max_files is not None:
            _int_argument(max_files, "max_files", 1)
        if max_total_bytes is not None:
            _int_argument(max_total_bytes, "max_total_bytes", 1)
        if not isinstance(compress_rotated, bool):
            raise InvalidArgumentError(f"compress_rotated must be a bool, got {compress_rotated!r}")
        if compress_rotated and format != "jsonl":
            raise InvalidArgumentError('compress_rotated applies only to format="jsonl"')
        log = SafeLog(ensure_logger(logger, "logger"))
        self._directory = directory
        self._format = format

        def make_sink() -> Sink[Any]:
            if format == "jsonl":
                return JsonLinesSink(
                    directory,
                    max_file_bytes=max_file_bytes,
                    max_files=max_files,
                    compress=compress_rotated,
                    logger=log,
                    max_total_bytes=max_total_bytes,
                )
            return JsonFileSink(
                directory, max_files=max_files, logger=log, max_total_bytes=max_total_bytes
            )

        writer = _FileWriter(directory, make_sink, log)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            # Not fatal: the writer keeps retrying (and logging) until the directory can be made.
            log.warning(f"actiontrace: cannot create trace directory {directory}: {error}")
        self._worker = Worker(
            writer,
            name="actiontrace-output-writer",
            label="output",
            log=log,
            max_queue=max_queue,
            at_exit=self._close_at_exit,
            after_fork=writer.after_fork,
        )

    # -- the caller's side -------------------------------------------------------------------------

    @property
    def output_dir(self) -> Path:
        """The folder traces are written to."""
        return self._directory

    @property
    def format(self) -> str:
        """``"jsonl"`` or ``"json"``."""
        return self._format

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._worker.closed

    @property
    def stats(self) -> dict[str, int]:
        """Counts of traces, as a new dict of ints.

        ``written``; ``dropped`` (queue full or closed; includes ``evicted``); ``failed`` (could not
        be serialised or written); ``queued`` (accepted, not yet settled); ``evicted`` (successful
        traces dropped to make room for failed ones); ``faults`` (failed write attempts).
        """
        return self._worker.stats

    def write_trace(self, trace: Any) -> bool:
        """Enqueue ``trace`` (anything with ``to_dict()``) for writing: never blocks, does no I/O.

        Returns whether it was queued. It is not when the queue is full (then it is counted as
        ``dropped``, unless it failed or errored and a queued successful trace can be evicted for
        it) or the service is closed (counted as ``dropped``, logged once). Raises
        ``InvalidArgumentError`` only for an object without a callable ``to_dict``.
        """
        try:
            serialisable = callable(getattr(trace, "to_dict", None))
        except Exception:
            serialisable = False
        if not serialisable:
            raise InvalidArgumentError(
                f"trace must have a to_dict() method, got {type(trace).__name__}"
            )
        return self._worker.put(trace, failure=is_failure(trace))

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait until every trace enqueued before this call is handed to the operating system.

        Returns ``True`` once they are all settled (written, or counted as ``failed``), ``False``
        when ``timeout`` seconds passed first. While the disk faults, the writer retries for half
        of ``timeout``, then counts the traces this flush waits for as ``failed``.
        """
        return self._worker.flush(timeout_argument(timeout))

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Write everything still queued, then stop the writer; idempotent.

        Returns within ``timeout`` seconds even when the disk keeps faulting (what could not be
        written is counted as ``failed``). Later ``write_trace`` calls drop their traces.
        """
        self._worker.close(timeout_argument(timeout))

    def __enter__(self) -> ActionTraceOutputService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ActionTraceOutputService {self._format} {str(self._directory)!r} {state}>"

    def _close_at_exit(self) -> None:
        self._worker.close(DEFAULT_TIMEOUT)


class _FileWriter:
    """What the worker hands batches to: serialise each trace, write through the sink, retry."""

    __slots__ = ("_directory", "_log", "_make_sink", "_sink")

    def __init__(self, directory: Path, make_sink: Callable[[], Sink[Any]], log: SafeLog) -> None:
        self._directory = directory
        self._make_sink = make_sink
        self._sink = make_sink()
        self._log = log

    def after_fork(self) -> None:
        """Start files of the child's own: the parent's open file and file list are the parent's.

        Closing the inherited descriptor leaves the parent's file as it is.
        """
        with contextlib.suppress(OSError):
            self._sink.close()
        self._sink = self._make_sink()

    def stop(self) -> None:
        """Close the open file: the worker's thread is ending."""
        try:
            self._sink.close()
        except Exception as error:
            self._log("warning", "actiontrace: closing trace file failed: %s", error)

    def write(self, batch: Batch) -> None:
        """Serialise and write ``batch``; faults are retried, logged and counted, never raised."""
        encode = self._sink.encode
        entries: list[Any] = []
        places: list[int] = []
        for index, trace in enumerate(batch.items):
            try:
                entry = encode(trace)
            except Exception as error:
                batch.count_failed()
                self._log.limited(
                    "encode",
                    "actiontrace: could not serialise a %s trace (%s: %s); counted as failed",
                    type(trace).__name__,
                    type(error).__name__,
                    error,
                    level="error",
                )
                continue
            entries.append(entry)
            places.append(index)
            if len(entries) >= _CHUNK:
                self._write_chunk(batch, entries, places)
                entries = []
                places = []
        if entries:
            self._write_chunk(batch, entries, places)

    def _write_chunk(self, batch: Batch, entries: list[Any], places: list[int]) -> None:
        """Write ``entries`` retrying faults with backoff until done or given up."""
        index = 0
        delay = _INITIAL_BACKOFF
        while index < len(entries):
            try:
                end = self._sink.write(entries, index)
            except Exception as error:
                batch.count_fault()
                # Everything before this trace is settled: release flushes waiting only for that.
                batch.settle(places[index])
                limit = batch.given_up(places[index])
                if limit > places[index]:
                    end = bisect.bisect_left(places, limit, index)
                    batch.settle(places[end - 1] + 1, failed=end - index)
                    self._log.limited(
                        "give-up",
                        f"actiontrace: gave up writing {end - index} traces to "
                        f"{self._directory} ({error}); counted as failed",
                        level="error",
                    )
                    index = end
                    continue
                self._log.limited(
                    "fault",
                    f"actiontrace: cannot write traces to {self._directory}: {error}; "
                    f"retrying in {delay:g}s",
                )
                batch.pause(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            batch.settle(places[end - 1] + 1, written=end - index)
            index = end
            delay = _INITIAL_BACKOFF
