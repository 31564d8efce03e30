"""``ActionTraceOutputService``: the game enqueues traces, a writer thread writes them (SPEC §6).

The shape is ``logging.handlers.QueueHandler``/``QueueListener``: ``write_trace`` only appends to a
bounded in-memory queue (no serialisation, no I/O, no waiting beyond an O(1) lock), and one daemon
writer thread swaps the whole queue out, serialises it and hands it to a sink in chunks. The writer
is a daemon and ``close()`` is registered with ``atexit``: Python joins non-daemon threads *before*
``atexit`` hooks run, so a non-daemon writer stopped from ``atexit`` would hang the exit.

Bookkeeping: every accepted trace gets a sequence number; the writer settles traces in order
(written, or failed), and ``_done`` is the highest number up to which all are settled, so
``flush()`` waits for ``_done`` to pass the number it saw. A successful trace sits in the queue in a
``_Slot`` that is also listed in ``_evictable``; a failed or error trace arriving at a full queue
empties the oldest slot (the writer skips empty slots) instead of being dropped.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import math
import os
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from ..arguments import timeout_argument
from ..errors import InvalidArgumentError
from ..factory import LoggerLike, ensure_logger
from .sinks import JsonFileSink, JsonLinesSink, Sink

__all__ = ["DEFAULT_TIMEOUT", "FORMATS", "ActionTraceOutputService"]

FORMATS: Final = ("jsonl", "json")
"""The values ``format`` accepts."""

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds ``flush()`` and ``close()`` wait at most by default (SPEC §6)."""

_GIVE_UP_SHARE = 0.5  # of a flush/close timeout spent retrying a faulting disk before giving up
_INITIAL_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
_LOG_INTERVAL = 5.0  # seconds between two log messages of one kind
_CHUNK = 512  # traces per sink write
_FAILURE_STATUSES = frozenset(("failed", "error"))
_monotonic = time.monotonic


class _Slot:
    """A queued successful (evictable) trace; emptied when a failure evicts it."""

    __slots__ = ("trace",)

    def __init__(self, trace: object) -> None:
        self.trace: object | None = trace


def _is_failure(trace: object) -> bool:
    """Whether ``trace`` says, cheaply and without ``to_dict()``, that it failed or errored.

    Reads ``has_error`` and ``status`` (our traces have both). Anything that does not say so,
    including an object with only ``to_dict()``, counts as successful: evictable, never evicting.
    """
    try:
        if getattr(trace, "has_error", False) is True:
            return True
        return getattr(trace, "status", None) in _FAILURE_STATUSES
    except Exception:  # a raising or unhashable attribute: unknown, so not a known failure
        return False


class _SafeLogger:
    """Passes messages on to the user's logger; a logger that raises must not stop the writer."""

    __slots__ = ("_logger",)

    def __init__(self, logger: LoggerLike) -> None:
        self._logger = logger

    def _emit(self, level: str, msg: str) -> None:
        with contextlib.suppress(Exception):
            getattr(self._logger, level)(msg)

    def debug(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Log at debug level."""
        self._emit("debug", msg)

    def info(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Log at info level."""
        self._emit("info", msg)

    def warning(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Log at warning level."""
        self._emit("warning", msg)

    def error(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Log at error level."""
        self._emit("error", msg)


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
    interpreter exit.
    """

    __slots__ = (
        "__weakref__",
        "_accepted",
        "_closed",
        "_directory",
        "_done",
        "_dropped",
        "_evictable",
        "_evicted",
        "_failed",
        "_faults",
        "_format",
        "_give_ups",
        "_idle",
        "_last_drop_report",
        "_live",
        "_lock",
        "_log_suppressed",
        "_log_times",
        "_logger",
        "_max_queue",
        "_queue",
        "_reported_drops",
        "_settled",
        "_sink",
        "_stopping",
        "_thread",
        "_wake",
        "_warned_closed",
        "_written",
    )

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
        self._max_queue = _int_argument(max_queue_size, "max_queue_size", 1)
        _int_argument(max_file_bytes, "max_file_bytes", 1)
        if max_files is not None:
            _int_argument(max_files, "max_files", 1)
        if max_total_bytes is not None:
            _int_argument(max_total_bytes, "max_total_bytes", 1)
        if not isinstance(compress_rotated, bool):
            raise InvalidArgumentError(f"compress_rotated must be a bool, got {compress_rotated!r}")
        if compress_rotated and format != "jsonl":
            raise InvalidArgumentError('compress_rotated applies only to format="jsonl"')
        self._logger = _SafeLogger(ensure_logger(logger, "logger"))
        self._directory = directory
        self._format = format
        self._sink: Sink[Any]
        if format == "jsonl":
            self._sink = JsonLinesSink(
                directory,
                max_file_bytes=max_file_bytes,
                max_files=max_files,
                compress=compress_rotated,
                logger=self._logger,
                max_total_bytes=max_total_bytes,
            )
        else:
            self._sink = JsonFileSink(
                directory,
                max_files=max_files,
                logger=self._logger,
                max_total_bytes=max_total_bytes,
            )
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            # Not fatal: the writer keeps retrying (and logging) until the directory can be made.
            self._logger.warning(f"actiontrace: cannot create trace directory {directory}: {error}")

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer waits here for work
        self._settled = threading.Condition(self._lock)  # flush/close wait here for progress
        self._queue: deque[object] = deque()
        self._evictable: deque[_Slot] = deque()
        self._live = 0
        self._accepted = 0
        self._done = 0
        self._written = 0
        self._dropped = 0
        self._failed = 0
        self._evicted = 0
        self._faults = 0
        self._give_ups: list[tuple[float, int]] = []
        self._closed = False
        self._stopping = False
        self._idle = False
        self._warned_closed = False
        self._reported_drops = 0
        self._last_drop_report = -math.inf
        self._log_times: dict[str, float] = {}
        self._log_suppressed: dict[str, int] = {}
        self._thread = threading.Thread(
            target=self._run, name="actiontrace-output-writer", daemon=True
        )
        self._thread.start()
        atexit.register(self._close_at_exit)

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
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        """Counts of traces, as a new dict of ints.

        ``written``; ``dropped`` (queue full or closed; includes ``evicted``); ``failed`` (could not
        be serialised or written); ``queued`` (accepted, not yet settled); ``evicted`` (successful
        traces dropped to make room for failed ones); ``faults`` (failed write attempts).
        """
        with self._lock:
            return {
                "written": self._written,
                "dropped": self._dropped,
                "failed": self._failed,
                "queued": self._accepted - self._written - self._failed - self._evicted,
                "evicted": self._evicted,
                "faults": self._faults,
            }

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
        failure = _is_failure(trace)
        with self._lock:
            if self._closed:
                self._dropped += 1
                warn = not self._warned_closed
                self._warned_closed = True
            else:
                if self._live >= self._max_queue:
                    if not failure or not self._evictable:
                        self._dropped += 1
                        return False
                    self._evictable.popleft().trace = None
                    self._evicted += 1
                    self._dropped += 1
                    self._live -= 1
                if failure:
                    self._queue.append(trace)
                else:
                    slot = _Slot(trace)
                    self._queue.append(slot)
                    self._evictable.append(slot)
                self._live += 1
                self._accepted += 1
                if self._idle:
                    self._wake.notify()
                return True
        if warn:
            self._logger.warning("actiontrace: write_trace() after close(): traces are dropped")
        return False

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait until every trace enqueued before this call is handed to the operating system.

        Returns ``True`` once they are all settled (written, or counted as ``failed``), ``False``
        when ``timeout`` seconds passed first. While the disk faults, the writer retries for half
        of ``timeout``, then counts the traces this flush waits for as ``failed``.
        """
        wait = timeout_argument(timeout)
        start = _monotonic()
        with self._lock:
            target = self._accepted
            if self._done >= target:
                return True
            if threading.current_thread() is self._thread:
                return False  # from inside the writer (a trace's to_dict): waiting would deadlock
            request = (start + wait * _GIVE_UP_SHARE, target)
            self._give_ups.append(request)
            self._wake.notify()
            try:
                while self._done < target:
                    remaining = start + wait - _monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        return False
                    self._settled.wait(remaining)
            finally:
                self._give_ups.remove(request)
        return True

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Write everything still queued, then stop the writer; idempotent.

        Returns within ``timeout`` seconds even when the disk keeps faulting (what could not be
        written is counted as ``failed``). Later ``write_trace`` calls drop their traces.
        """
        self._shutdown(timeout_argument(timeout), from_atexit=False)

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
        state = "closed" if self._closed else "open"
        return f"<ActionTraceOutputService {self._format} {str(self._directory)!r} {state}>"

    def _close_at_exit(self) -> None:
        self._shutdown(DEFAULT_TIMEOUT, from_atexit=True)

    def _shutdown(self, timeout: float, *, from_atexit: bool) -> None:
        start = _monotonic()
        with self._lock:
            first = not self._closed
            if first:
                self._closed = True
                self._stopping = True
                self._give_ups.append((start + timeout * _GIVE_UP_SHARE, self._accepted))
                self._wake.notify()
        if first and not from_atexit:
            atexit.unregister(self._close_at_exit)
        if threading.current_thread() is self._thread:
            return  # closed from inside the writer (a trace's to_dict, a logger): it stops itself
        self._thread.join(max(0.0, start + timeout - _monotonic()))
        if self._thread.is_alive():
            self._abandon_queue()

    def _abandon_queue(self) -> None:
        """Count what still waits in the queue as failed: the writer is stuck (a hung disk)."""
        with self._lock:
            lost = self._live
            # Same length, all empty slots: should the writer come back, it settles them
            # (so a later flush() returns) without writing what is now counted as failed.
            self._queue = deque([_Slot(None)] * len(self._queue))
            self._evictable = deque()
            self._live = 0
            self._failed += lost
        if lost:
            self._logger.error(
                f"actiontrace: close() timed out; {lost} queued traces were not written"
            )

    # -- the writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._drain_once():
                pass
        finally:
            try:
                self._sink.close()
            except Exception as error:
                self._log("close", "warning", f"actiontrace: closing trace file failed: {error}")
            with self._lock:
                self._settled.notify_all()

    def _drain_once(self) -> bool:
        """Take the queue and write it; ``False`` once closed and drained."""
        with self._lock:
            while not self._queue and not self._stopping:
                due = self._drop_report_due_in()
                if due is not None and due <= 0:
                    break
                self._idle = True
                self._wake.wait(due)
                self._idle = False
            batch = self._queue
            first = self._done + 1
            last = self._accepted
            if batch:
                self._queue = deque()
                self._evictable = deque()
                self._live = 0
            stopping = self._stopping
        self._report_drops()
        if batch:
            try:
                self._process(batch, first)
            except Exception as error:  # a bug must never kill the writer or hang flush()
                self._log("bug", "error", f"actiontrace: output writer error: {error!r}")
                self._fail_rest(batch, first)
            self._settle(last)
            return True
        return not stopping

    def _process(self, batch: deque[object], first: int) -> None:
        encode = self._sink.encode
        entries: list[Any] = []
        seqs: list[int] = []
        seq = first - 1
        for item in batch:
            seq += 1
            trace = item.trace if type(item) is _Slot else item
            if trace is None:  # evicted
                continue
            try:
                entry = encode(trace)
            except Exception as error:
                with self._lock:
                    self._failed += 1
                self._log(
                    "encode",
                    "error",
                    f"actiontrace: could not serialise a {type(trace).__name__} trace "
                    f"({type(error).__name__}: {error}); counted as failed",
                )
                continue
            entries.append(entry)
            seqs.append(seq)
            if len(entries) >= _CHUNK:
                self._write_chunk(entries, seqs)
                entries = []
                seqs = []
        if entries:
            self._write_chunk(entries, seqs)

    def _write_chunk(self, entries: list[Any], seqs: list[int]) -> None:
        """Write ``entries`` retrying faults with backoff until done or given up."""
        index = 0
        delay = _INITIAL_BACKOFF
        while index < len(entries):
            try:
                end = self._sink.write(entries, index)
            except Exception as error:
                with self._lock:
                    self._faults += 1
                # Everything before this trace is settled: release flushes waiting only for that.
                self._settle(seqs[index] - 1)
                limit = self._give_up_limit()
                if limit >= seqs[index]:
                    end = bisect.bisect_right(seqs, limit, index)
                    self._settle(seqs[end - 1], failed=end - index)
                    self._log(
                        "give-up",
                        "error",
                        f"actiontrace: gave up writing {end - index} traces to "
                        f"{self._directory} ({error}); counted as failed",
                    )
                    index = end
                    continue
                self._log(
                    "fault",
                    "warning",
                    f"actiontrace: cannot write traces to {self._directory}: {error}; "
                    f"retrying in {delay:g}s",
                )
                self._backoff(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            self._settle(seqs[end - 1], written=end - index)
            index = end
            delay = _INITIAL_BACKOFF

    def _settle(self, upto: int, *, written: int = 0, failed: int = 0) -> None:
        with self._lock:
            self._written += written
            self._failed += failed
            self._done = max(self._done, upto)
            self._settled.notify_all()

    def _fail_rest(self, batch: deque[object], first: int) -> None:
        """Count the traces of ``batch`` not yet settled as failed (after a writer bug)."""
        with self._lock:
            skip = self._done - first + 1
            lost = 0
            for index, item in enumerate(batch):
                if index >= skip and not (type(item) is _Slot and item.trace is None):
                    lost += 1
            self._failed += lost

    def _give_up_limit(self) -> int:
        """Return the highest sequence number whose flush/close no longer waits for retries."""
        now = _monotonic()
        with self._lock:
            return max((target for at, target in self._give_ups if at <= now), default=0)

    def _backoff(self, delay: float) -> None:
        """Sleep ``delay`` seconds, waking early when a flush/close arrives or must give up."""
        with self._lock:
            now = _monotonic()
            pending = [at - now for at, _ in self._give_ups if at > now]
            self._wake.wait(max(0.0, min([delay, *pending])))

    # -- logging, rate-limited ---------------------------------------------------------------------

    def _log(self, key: str, level: str, message: str) -> None:
        """Log ``message`` unless one of the same ``key`` went out less than _LOG_INTERVAL ago."""
        now = _monotonic()
        last = self._log_times.get(key)
        if last is not None and now - last < _LOG_INTERVAL:
            self._log_suppressed[key] = self._log_suppressed.get(key, 0) + 1
            return
        self._log_times[key] = now
        suppressed = self._log_suppressed.pop(key, 0)
        if suppressed:
            message += f" ({suppressed} similar messages suppressed)"
        getattr(self._logger, level)(message)

    def _drop_report_due_in(self) -> float | None:
        """Seconds until unreported drops may be logged (called with the lock held)."""
        if self._dropped == self._reported_drops:
            return None
        return self._last_drop_report + _LOG_INTERVAL - _monotonic()

    def _report_drops(self) -> None:
        with self._lock:
            dropped, evicted = self._dropped, self._evicted
            due = self._drop_report_due_in()
        if due is None or due > 0:
            return
        new = dropped - self._reported_drops
        self._reported_drops = dropped
        self._last_drop_report = _monotonic()
        self._logger.warning(
            f"actiontrace: output queue full (max_queue_size={self._max_queue}): {new} traces "
            f"dropped since the last report, {dropped} in all ({evicted} of them successful "
            "traces evicted to keep failed ones)"
        )
