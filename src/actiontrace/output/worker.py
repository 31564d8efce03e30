"""The one background worker behind every output: a bounded queue drained by one daemon thread.

The file output service and the OpenTelemetry sink both hand their traces to a :class:`Worker`.
The caller's side (:meth:`Worker.put`) only appends to a bounded in-memory queue: no
serialisation, no I/O, no waiting beyond an O(1) lock. One daemon thread takes the whole queue at
once and hands it, as a :class:`Batch`, to the owner's sink: any object with ``write(batch)``.

Batching: when traces trickle in one at a time, the thread lingers a moment (``linger`` seconds,
as OpenTelemetry's ``BatchSpanProcessor`` waits for its schedule delay) before taking the queue, so
a steady trickle costs one wake-up per linger instead of one per trace. It never lingers while a
``flush()`` or ``close()`` waits, nor once ``batch_size`` traces are queued, so ``flush()`` still
returns as soon as everything enqueued before it is handed on.

Bookkeeping: every accepted trace gets a sequence number; the sink settles a batch's traces in
order (:meth:`Batch.settle`), and the worker's ``done`` is the highest number up to which all are
settled, so ``flush()`` waits for ``done`` to pass the number it saw. A successful trace sits in
the queue in a ``_Slot`` also listed as evictable; a failed or error trace arriving at a full queue
empties the oldest such slot (the thread skips empty slots) instead of being dropped.

Faults: a sink that keeps failing asks :meth:`Batch.given_up` which of its traces no ``flush()`` or
``close()`` waits for any longer (each gives up after half its timeout), counts those as failed and
moves on, so ``flush()`` and ``close()`` return in time even when the disk or network never
recovers.

Exit and fork: the thread is a daemon (Python joins non-daemon threads *before* ``atexit`` hooks
run, so a non-daemon worker stopped from ``atexit`` would hang the exit). One ``atexit`` hook closes
every worker still open, through a weak registry, so a closed output is not kept alive by it. After
``os.fork`` (and ``multiprocessing``'s fork start method) the child has no worker thread: every
open worker is re-created in the child, empty, with fresh locks and counters, and its owner is told
(``after_fork``), so the child writes its own traces to files of its own while the parent carries on
undisturbed. A ``multiprocessing`` child skips ``atexit`` hooks, so there the same hook runs as one
of multiprocessing's exit finalizers. An output that holds traces in front of the workers (the
``TailSampler``) joins the same registry through :func:`register_front`: at exit it is closed
before any worker, so what it still holds reaches them, and after a fork it starts afresh.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import math
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from .. import logs
from ..logs import SafeLog

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LINGER",
    "DEFAULT_TIMEOUT",
    "Batch",
    "BatchSink",
    "FrontOutput",
    "Worker",
    "is_failure",
    "register_front",
]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds ``flush()`` and ``close()`` wait at most by default."""

DEFAULT_LINGER: Final = 0.02
"""Seconds the thread waits for more traces after the first of a batch arrives."""

DEFAULT_BATCH_SIZE: Final = 512
"""Queued traces that end a linger at once (half the queue when that is fewer)."""

_GIVE_UP_SHARE = 0.5  # of a flush/close timeout a sink may spend retrying before giving up
_FAILURE_STATUSES = frozenset(("failed", "error"))
_monotonic = time.monotonic


def is_failure(trace: object) -> bool:
    """Whether ``trace`` says, cheaply and without ``to_dict()``, that it failed or errored.

    Reads ``has_error`` and ``status`` (the library's traces have both). Anything that does not
    say so, including an object with only ``to_dict()``, counts as successful: evictable, never
    evicting.
    """
    try:
        if getattr(trace, "has_error", False) is True:
            return True
        return getattr(trace, "status", None) in _FAILURE_STATUSES
    except Exception:  # a raising or unhashable attribute: unknown, so not a known failure
        return False


class _Slot:
    """A queued successful (evictable) trace; emptied when a failure evicts it."""

    __slots__ = ("trace",)

    def __init__(self, trace: object) -> None:
        self.trace: object | None = trace


class BatchSink(Protocol):
    """What a worker hands its batches to (called on the worker's thread only)."""

    def write(self, batch: Batch) -> None:
        """Hand ``batch.items`` on, settling them in order; anything unsettled counts as failed."""
        ...

    def stop(self) -> None:
        """Release what the sink holds open: the thread is ending (closed, queue drained)."""
        ...


class Batch:
    """The traces one turn of the worker took (``items``, oldest first) and their bookkeeping."""

    __slots__ = ("_counted", "_seqs", "_worker", "items")

    def __init__(self, worker: Worker, items: list[object], seqs: Sequence[int]) -> None:
        self.items = items
        self._seqs = seqs
        self._worker = worker
        self._counted = 0

    def settle(self, end: int, *, written: int = 0, failed: int = 0) -> None:
        """Record that ``items[:end]`` are settled, ``written`` and ``failed`` more of them so."""
        self._counted += written + failed
        worker = self._worker
        with worker._lock:
            worker._written += written
            worker._failed += failed
            if end > 0:
                worker._done = max(worker._done, self._seqs[end - 1])
            worker._settled.notify_all()

    def count_failed(self, count: int = 1) -> None:
        """Count ``count`` items as failed now (a later ``settle`` covers their place in line)."""
        self._counted += count
        with self._worker._lock:
            self._worker._failed += count

    def count_fault(self) -> None:
        """Count one failed attempt to hand items on (shown as ``faults``)."""
        with self._worker._lock:
            self._worker._faults += 1

    def given_up(self, start: int) -> int:
        """Return the index after the items from ``start`` that no flush or close waits for now."""
        now = _monotonic()
        worker = self._worker
        with worker._lock:
            limit = max((target for at, target in worker._give_ups if at <= now), default=0)
        return bisect.bisect_right(self._seqs, limit, start)

    def pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds, waking early when a flush or close arrives or must give up."""
        worker = self._worker
        with worker._lock:
            now = _monotonic()
            pending = [at - now for at, _ in worker._give_ups if at > now]
            worker._wake.wait(max(0.0, min([delay, *pending])))


class Worker:
    """A bounded queue and the daemon thread that drains it into ``sink`` in batches.

    ``name`` names the thread; ``label`` names the owner in log messages. ``at_exit`` is what the
    interpreter's exit calls while the worker is open (the owner's own close); ``after_fork``, when
    given, is called in a forked child after the worker is re-created there.
    """

    __slots__ = (
        "__weakref__",
        "_accepted",
        "_after_fork",
        "_at_exit",
        "_batch_size",
        "_closed",
        "_done",
        "_dropped",
        "_evictable",
        "_evicted",
        "_failed",
        "_faults",
        "_give_ups",
        "_idle",
        "_label",
        "_last_drop_report",
        "_linger",
        "_lingering",
        "_live",
        "_lock",
        "_log",
        "_max_queue",
        "_name",
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
        sink: BatchSink,
        *,
        name: str,
        label: str,
        log: SafeLog,
        max_queue: int,
        at_exit: Callable[[], object],
        after_fork: Callable[[], object] | None = None,
        linger: float = DEFAULT_LINGER,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._sink = sink
        self._name = name
        self._label = label
        self._log = log
        self._max_queue = max_queue
        self._at_exit = at_exit
        self._after_fork = after_fork
        self._linger = linger
        # Wake the thread by half a queue at the latest: a linger must never let the queue fill.
        self._batch_size = max(1, min(batch_size, max_queue // 2))
        self._closed = False
        self._reset()
        _register(self)

    def _reset(self) -> None:
        """Start empty: new locks, queue, counters and thread (at creation and after a fork)."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the thread waits here for work
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
        self._stopping = self._closed
        self._idle = False
        self._lingering = False
        self._warned_closed = False
        self._reported_drops = 0
        self._last_drop_report = -math.inf
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        if not self._closed:
            self._thread.start()

    # -- the caller's side -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    @property
    def thread(self) -> threading.Thread:
        """The worker's thread (a new one after a fork)."""
        return self._thread

    @property
    def stats(self) -> dict[str, int]:
        """Counts: ``written``, ``dropped``, ``failed``, ``queued``, ``evicted``, ``faults``."""
        with self._lock:
            return {
                "written": self._written,
                "dropped": self._dropped,
                "failed": self._failed,
                "queued": self._accepted - self._written - self._failed - self._evicted,
                "evicted": self._evicted,
                "faults": self._faults,
            }

    def put(self, item: object, *, failure: bool = False) -> bool:
        """Queue ``item``; ``False`` when dropped (queue full, or closed). Never blocks.

        A ``failure`` arriving at a full queue evicts the oldest queued non-failure instead of
        being dropped (the evicted one is what is counted as dropped).
        """
        with self._lock:
            if not self._closed:
                if self._live >= self._max_queue:
                    if not failure or not self._evictable:
                        self._dropped += 1
                        return False
                    self._evictable.popleft().trace = None
                    self._evicted += 1
                    self._dropped += 1
                    self._live -= 1
                if failure:
                    self._queue.append(item)
                else:
                    slot = _Slot(item)
                    self._queue.append(slot)
                    self._evictable.append(slot)
                self._live += 1
                self._accepted += 1
                if self._idle and (not self._lingering or self._live >= self._batch_size):
                    self._wake.notify()
                return True
            self._dropped += 1
            self._reported_drops += 1  # said once below, not in a "queue full" report
            warn = not self._warned_closed
            self._warned_closed = True
        if warn:
            self._log(
                "warning", "actiontrace: %s: traces written after close() are dropped", self._label
            )
        return False

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait until every item queued before this call is settled; ``False`` on timeout.

        From the worker's own thread (a trace's ``to_dict``, a logger) it cannot wait for itself
        and returns ``False`` at once unless nothing is pending.
        """
        start = _monotonic()
        with self._lock:
            target = self._accepted
            if self._done >= target:
                return True
            if threading.current_thread() is self._thread:
                return False
            request = (start + timeout * _GIVE_UP_SHARE, target)
            self._give_ups.append(request)
            self._wake.notify()
            try:
                while self._done < target:
                    remaining = start + timeout - _monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        return False
                    self._settled.wait(remaining)
            finally:
                self._give_ups.remove(request)
        return True

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Hand on everything still queued, then stop the thread; idempotent.

        Returns within ``timeout`` seconds: what is still queued then is counted as ``failed``.
        Returns whether the thread stopped in time (``True`` when called from the thread itself,
        which stops once its current batch is done).
        """
        start = _monotonic()
        with self._lock:
            if not self._closed:
                self._closed = self._stopping = True
                self._give_ups.append((start + timeout * _GIVE_UP_SHARE, self._accepted))
                self._wake.notify()
        _REGISTRY.discard(self)
        if threading.current_thread() is self._thread:
            return True
        if self._thread.ident is not None:
            self._thread.join(max(0.0, start + timeout - _monotonic()))
        if not self._thread.is_alive():
            return True
        self._abandon_queue()
        return False

    def _abandon_queue(self) -> None:
        """Count what still waits in the queue as failed: the thread is stuck (a hung disk)."""
        with self._lock:
            lost = self._live
            # Same length, all empty slots: should the thread come back, it settles them
            # (so a later flush() returns) without handing on what is now counted as failed.
            self._queue = deque([_Slot(None)] * len(self._queue))
            self._evictable = deque()
            self._live = 0
            self._failed += lost
        if lost:
            self._log(
                "error",
                "actiontrace: %s: close() timed out; %d queued trace(s) were not written",
                self._label,
                lost,
            )

    # -- the worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._turn():
                pass
        finally:
            try:
                self._sink.stop()
            except Exception as error:
                self._log("error", "actiontrace: %s: stopping failed: %r", self._label, error)
            with self._lock:
                self._settled.notify_all()

    def _take(self) -> tuple[deque[object], int, int, bool]:
        """Wait for work; return the queue taken, its first and last numbers, and ``stopping``."""
        with self._lock:
            linger_end: float | None = None
            while True:
                if self._queue:
                    if (
                        self._stopping
                        or self._give_ups
                        or self._live >= self._batch_size
                        or self._linger <= 0
                    ):
                        break
                    now = _monotonic()
                    if linger_end is None:
                        linger_end = now + self._linger
                    remaining = linger_end - now
                    if remaining <= 0:
                        break
                    wait: float | None = remaining
                    self._lingering = True
                else:
                    if self._stopping:
                        break
                    wait = self._drop_report_due_in()
                    if wait is not None and wait <= 0:
                        break
                self._idle = True
                self._wake.wait(wait)
                self._idle = self._lingering = False
            batch = self._queue
            first = self._done + 1
            last = self._accepted
            if batch:
                self._queue = deque()
                self._evictable = deque()
                self._live = 0
            return batch, first, last, self._stopping

    def _turn(self) -> bool:
        """Take the queue and hand it to the sink; ``False`` once closed and drained."""
        taken, first, last, stopping = self._take()
        self._report_drops()
        if not taken:
            return not stopping
        items = [entry.trace if type(entry) is _Slot else entry for entry in taken]
        seqs: Sequence[int] = range(first, first + len(items))
        if None in items:  # evicted (or abandoned) slots: skip them, keep the others' numbers
            kept = [(item, seq) for item, seq in zip(items, seqs, strict=True) if item is not None]
            items = [item for item, _ in kept]
            seqs = [seq for _, seq in kept]
        batch = Batch(self, items, seqs)
        try:
            if items:  # not when every slot was evicted or abandoned
                self._sink.write(batch)
        except Exception as error:  # a bug must never kill the thread or hang flush()
            self._log.limited(
                "bug", "actiontrace: %s: output writer error: %r", self._label, error, level="error"
            )
        lost = len(items) - batch._counted
        with self._lock:
            self._failed += max(0, lost)
            self._done = max(self._done, last)
            self._settled.notify_all()
        return True

    # -- drop reports, rate-limited ----------------------------------------------------------------

    def _drop_report_due_in(self) -> float | None:
        """Seconds until unreported drops may be logged (called with the lock held)."""
        if self._dropped == self._reported_drops:
            return None
        return self._last_drop_report + logs.LOG_INTERVAL - _monotonic()

    def _report_drops(self) -> None:
        with self._lock:
            dropped, evicted = self._dropped, self._evicted
            due = self._drop_report_due_in()
        if due is None or due > 0:
            return
        new = dropped - self._reported_drops
        self._reported_drops = dropped
        self._last_drop_report = _monotonic()
        self._log(
            "warning",
            "actiontrace: %s queue full (max_queue_size=%d): %d traces dropped since the last "
            "report, %d in all (%d of them successful traces evicted to keep failed ones)",
            self._label,
            self._max_queue,
            new,
            dropped,
            evicted,
        )

    # -- exit and fork -----------------------------------------------------------------------------

    def _renew_after_fork(self) -> None:
        self._reset()
        if self._after_fork is not None:
            try:
                self._after_fork()
            except Exception as error:
                self._log(
                    "error", "actiontrace: %s: re-opening after fork failed", self._label, exc=error
                )


_REGISTRY: weakref.WeakSet[Worker] = weakref.WeakSet()
_FRONTS: weakref.WeakSet[FrontOutput] = weakref.WeakSet()


class FrontOutput(Protocol):
    """An output that holds traces in front of other outputs (``TailSampler``).

    At exit it is closed before any worker, so what it still holds reaches them; in a forked
    child it is told to start afresh.
    """

    def _close_at_exit(self) -> None: ...

    def _after_fork(self) -> None: ...


def _register(worker: Worker) -> None:
    _REGISTRY.add(worker)
    _hook_exit()


def register_front(output: FrontOutput) -> None:
    """Close ``output`` at exit before every worker, and renew it after a fork (weakly held)."""
    _FRONTS.add(output)
    _hook_exit()


def _hook_exit() -> None:
    # atexit runs hooks last-in first-out: re-registering keeps the one hook ahead of anything
    # registered since (an OpenTelemetry provider's own shutdown, say), so workers still have
    # somewhere to hand their last traces.
    atexit.unregister(_close_all)
    atexit.register(_close_all)


def _close_all() -> None:
    """Close every output still open: fronts first, then the workers (through their owners)."""
    for front in list(_FRONTS):
        with contextlib.suppress(Exception):  # a front's close logs its own faults
            front._close_at_exit()
    for worker in list(_REGISTRY):
        try:
            worker._at_exit()
        except Exception as error:  # one owner's fault must not keep the others from closing
            worker._log("error", "actiontrace: %s: close at exit failed", worker._label, exc=error)


class _ExitToken:
    """What multiprocessing's after-fork registry keys our hook on (it must be weakly referable)."""


_EXIT_TOKEN = _ExitToken()


def _close_all_at_multiprocessing_exit(_token: object) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, _close_all, exitpriority=100)


def _renew_all_after_fork() -> None:
    for front in list(_FRONTS):
        front._after_fork()
    for worker in list(_REGISTRY):
        worker._renew_after_fork()
    # A multiprocessing child ends with os._exit: atexit hooks never run there. Its own exit
    # function runs the finalizers registered after its start-up cleared the parent's, so the
    # one exit hook is registered with multiprocessing too (nothing is imported for it).
    util = sys.modules.get("multiprocessing.util")
    if util is not None and (_REGISTRY or _FRONTS):
        util.register_after_fork(_EXIT_TOKEN, _close_all_at_multiprocessing_exit)


if hasattr(os, "register_at_fork"):  # pragma: no branch - every POSIX system has it
    os.register_at_fork(after_in_child=_renew_all_after_fork)
