"""``TailSampler``: keep every error and slow action, and a sample of the rest, decided afterwards.

The filter's ``sample_rate`` decides before an action runs (head sampling), so it drops errors at
the same rate as successes. A ``TailSampler`` sits in front of another output and decides once the
trace is finished, when its outcome and duration are known:

* kept, in this order of reasons: ``"error"`` (an error trace, when ``keep_errors``), ``"failed"``
  (a failed trace, when ``keep_failed``), ``"slow"`` (slower than ``slow_ms``), ``"linked"`` (a
  member of a linked tree that is kept for another member's reason), ``"rate"`` (a fraction
  ``rate`` of the rest);
* the rate decision is a stable hash of the trace id and ``seed`` (the id's low 64 bits, the part
  W3C Trace Context makes random, xor-ed with a key made from the seed, then Fibonacci-hashed), so
  every process decides the same for the same trace id, and a whole linked tree, sharing one
  trace id, shares it too.

Linked traces (children, grandchildren... of one root) are kept or dropped as one tree. A child
usually ends before its parent: it is *held* until its root ends and decides. The tree is kept when
the root or any member that ended before the decision qualifies (error, failed, slow) or the rate
keeps it; the root's decision is final, so a member ending later follows it, except that an error
(or failed, with ``keep_failed``) trace is always kept. A trace is held only when its parent still
runs in this process: the parent is the trace being dispatched where the child is written (the
automatic correlation of nested actions) or a trace already held for the same root. Any other trace
with a parent (one continued from a ``TraceContext`` received from another process) is a root for
the sampler. Holding is bounded: a tree whose root has not decided within ``window_s`` seconds, or
the oldest tree when more than ``max_pending`` traces are held, is decided without its root (kept
when a held member qualifies, else by rate); the root then decides for itself when it ends.

Each kept trace is handed on wrapped so that its ``to_dict()`` (and ``to_json()``) carries
``"sampling": {"reason": ..., "rate": ...}``; the wrapper shows the trace's ``has_error`` and
``status``, so an output service still evicts a queued success for an incoming failure when its
queue is full.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, cast

from ..arguments import timeout_argument
from ..context import current_trace
from ..errors import InvalidArgumentError
from ..logs import SafeLog
from ..pipeline.filter import ActionPatterns
from ..trace import ActionExecutionTrace, integer_ids
from ..types import ExecutionStatus
from .worker import register_front

__all__ = ["REASONS", "TailSampler"]

REASONS: Final = ("error", "failed", "slow", "linked", "rate")
"""Why a trace was kept, in order of precedence."""

_STAT_KEYS: Final = {reason: "kept" + reason.capitalize() for reason in REASONS}
_MASK64: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_THRESHOLD_CACHE_LIMIT: Final = 4096
_DEFAULT_TIMEOUT: Final = 10.0
_monotonic = time.monotonic
_UNKNOWN: Final = object()


def _draw(bits: int) -> int:
    """Spread 64 bits (Fibonacci hashing, then an xor-shift): a uniform draw from any id.

    One multiply rather than a full mixer: trace ids are random already, and this is the hot
    path; sequential inputs (ids of objects without a trace id) still come out spread.
    """
    z = (bits * _GOLDEN) & _MASK64
    return z ^ (z >> 32)


def _seed_key(seed: int) -> int:
    data = str(seed).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _hex_id(value: object) -> int | None:
    """Return an id attribute as an integer (a hash of the text if it is not hex)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(value, 16)
    except ValueError:
        data = value.encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _identity(trace: Any) -> tuple[int | None, int | None, int | None]:
    """(trace id, span id, parent span id) of ``trace`` as integers, ``None`` where it has none."""
    if type(trace) is ActionExecutionTrace:
        # Its ids are integers inside: formatting them as hex and parsing them back would cost
        # more than the whole decision.
        return integer_ids(trace)
    return (
        _hex_id(_attribute(trace, "trace_id")),
        _hex_id(_attribute(trace, "span_id")),
        _hex_id(_attribute(trace, "parent_span_id")),
    )


def _records(rate: float) -> dict[str, tuple[dict[str, Any], str]]:
    """Per reason: the ``sampling`` record, and its compact JSON text as ``"sampling":{...}``."""
    return {
        reason: (
            {"reason": reason, "rate": rate},
            f'"sampling":{{"reason":"{reason}","rate":{json.dumps(rate)}}}',
        )
        for reason in REASONS
    }


class _Sampled:
    """A kept trace on its way to the wrapped output: the trace plus its ``sampling`` record."""

    __slots__ = ("_json", "_record", "_trace", "has_error", "status")

    def __init__(
        self, trace: Any, record: tuple[dict[str, Any], str], has_error: bool, status: Any
    ) -> None:
        self._trace = trace
        self._record, self._json = record
        self.has_error = has_error
        self.status = status

    @property
    def trace(self) -> Any:
        """The trace that was kept."""
        return self._trace

    @property
    def sampling(self) -> dict[str, Any]:
        """The ``sampling`` record added to the trace's dict."""
        return dict(self._record)

    def to_dict(self) -> Any:
        """Return the trace's ``to_dict()`` with the ``sampling`` record added."""
        data = self._trace.to_dict()
        if isinstance(data, dict):
            data = dict(data)
            data["sampling"] = dict(self._record)
        return data

    def to_json(self, indent: int | str | None = None) -> str:
        """Return the trace's JSON text with the ``sampling`` record added."""
        if indent is None:
            to_json = getattr(self._trace, "to_json", None)
            if callable(to_json):
                text = to_json()
                # Spliced in rather than re-encoded: the trace's own compact text is its fast path.
                if type(text) is str and text[:1] == "{" and text[-1:] == "}" and "\n" not in text:
                    inner = text[1:-1].strip()
                    return "{" + (inner + "," if inner else "") + self._json + "}"
            return json.dumps(
                self.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def __getattr__(self, name: str) -> Any:
        # Anything else an output reads (is_complete, trace_id, ...) comes from the trace itself.
        return getattr(self._trace, name)

    def __repr__(self) -> str:
        return f"<sampled {self._record['reason']} {self._trace!r}>"


_Item = tuple[Any, str | None, bool, Any]  # trace, its own reason, has_error, status
_Kept = tuple[Any, str, bool, Any]  # trace, the reason it is kept, has_error, status


class _Tree:
    """Traces of one trace id held until their root decides."""

    __slots__ = ("created", "members", "qualified", "spans", "trace_id")

    def __init__(self, trace_id: int, created: float) -> None:
        self.trace_id = trace_id
        self.created = created
        self.members: list[_Item] = []
        self.spans: set[int] = set()
        self.qualified = False


def _rate_argument(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidArgumentError(f"rate must be a number between 0 and 1, got {value!r}")
    return float(value)


def _ms_argument(value: object, argument: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgumentError(f"{argument} must be a number of ms >= 0, got {value!r}")
    return float(value)


def _slow_argument(value: object) -> tuple[float | None, tuple[tuple[ActionPatterns, float], ...]]:
    if value is None:
        return None, ()
    if isinstance(value, Mapping):
        rules = []
        for pattern, limit in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise InvalidArgumentError(
                    f"slow_ms patterns must be non-empty str, got {pattern!r}"
                )
            rules.append(
                (
                    ActionPatterns((pattern,), argument="slow_ms"),
                    _ms_argument(limit, f"slow_ms[{pattern!r}]"),
                )
            )
        return None, tuple(rules)
    return _ms_argument(value, "slow_ms"), ()


def _bool_argument(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{argument} must be a bool, got {type(value).__name__}")
    return value


def _attribute(trace: Any, name: str) -> Any:
    try:
        return getattr(trace, name, None)
    except Exception:  # a raising property: unknown, as if absent
        return None


class TailSampler:
    """An output that keeps errors, failures and slow traces, and a fraction ``rate`` of the rest.

    ``output`` is the output kept traces go to (anything with ``write_trace``; its ``flush``,
    ``close`` and ``stats`` are used when present). ``slow_ms`` is a number of milliseconds, or a
    mapping of action patterns (``*`` matches any run of characters) to milliseconds searched in
    order, the first matching pattern applying. ``seed`` varies the rate decision. See the module
    documentation for how linked traces are held (``window_s``, ``max_pending``).

    ``write_trace`` never blocks on I/O and never raises for a trace (only
    ``InvalidArgumentError`` for an object without ``to_dict``). ``flush()`` decides the trees
    held past their window and flushes the output; ``close()`` (also on leaving a ``with`` block,
    and at interpreter exit) decides every held trace, then closes the output.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_counts",
        "_decided",
        "_decided_old",
        "_generation",
        "_held",
        "_keep_errors",
        "_keep_failed",
        "_lock",
        "_log",
        "_max_pending",
        "_next_sweep",
        "_output",
        "_rate",
        "_records",
        "_seed",
        "_seed_key",
        "_sequence",
        "_slow",
        "_slow_cache",
        "_slow_rules",
        "_threshold",
        "_trees",
        "_window",
    )

    def __init__(
        self,
        output: Any,
        *,
        rate: float = 0.1,
        keep_errors: bool = True,
        keep_failed: bool = True,
        slow_ms: float | Mapping[str, float] | None = None,
        seed: int = 0,
        window_s: float = 30.0,
        max_pending: int = 10_000,
    ) -> None:
        if not callable(getattr(output, "write_trace", None)):
            raise InvalidArgumentError("output must have a write_trace(trace) method")
        self._output = output
        self._rate = _rate_argument(rate)
        self._keep_errors = _bool_argument(keep_errors, "keep_errors")
        self._keep_failed = _bool_argument(keep_failed, "keep_failed")
        self._slow, self._slow_rules = _slow_argument(slow_ms)
        self._slow_cache: dict[str, Any] = {}
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidArgumentError(f"seed must be an int, got {type(seed).__name__}")
        self._seed = seed
        self._seed_key = _seed_key(seed)
        # A trace is kept by rate when its 64-bit draw falls below rate * 2**64.
        self._threshold = int(self._rate * (1 << 64))
        self._records = _records(self._rate)
        window = timeout_argument(window_s, "window_s")
        self._window = window
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 0:
            raise InvalidArgumentError(f"max_pending must be an int >= 0, got {max_pending!r}")
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._trees: OrderedDict[int, _Tree] = OrderedDict()
        # Root decisions, for members ending after their root: two generations of plain dicts
        # (the older dropped whole when the newer fills or ages), so remembering costs O(1).
        self._decided: dict[int, str | None] = {}
        self._decided_old: dict[int, str | None] = {}
        self._generation = 0.0
        self._next_sweep = 0.0
        self._held = 0
        self._sequence = 0
        self._closed = False
        self._counts = {"kept": 0, "sampledOut": 0, **dict.fromkeys(_STAT_KEYS.values(), 0)}
        self._log = SafeLog(logging.getLogger("actiontrace"))
        register_front(self)  # closed at exit before the outputs it feeds; renewed after fork

    # -- configuration -----------------------------------------------------------------------------

    @property
    def output(self) -> Any:
        """The output kept traces go to."""
        return self._output

    @property
    def rate(self) -> float:
        """Fraction of the traces that qualify for no other reason that is kept."""
        return self._rate

    @property
    def seed(self) -> int:
        """Seed of the rate decision's hash."""
        return self._seed

    @property
    def pending(self) -> int:
        """How many traces are held, waiting for their root to decide."""
        with self._lock:
            return self._held

    @property
    def stats(self) -> dict[str, int]:
        """The output's own counts plus ``kept``, ``sampledOut``, ``pending`` and ``kept<Reason>``.

        ``keptError``, ``keptFailed``, ``keptSlow``, ``keptLinked`` and ``keptRate`` count kept
        traces per reason; ``pending`` the traces held for their root.
        """
        inner: dict[str, int] = {}
        try:
            found = getattr(self._output, "stats", None)
            if isinstance(found, Mapping):
                inner = {k: v for k, v in found.items() if isinstance(k, str)}
        except Exception as error:
            self._log.limited("stats", "TailSampler: the output's stats failed", exc=error)
        with self._lock:
            return {**inner, **self._counts, "pending": self._held}

    # -- deciding ----------------------------------------------------------------------------------

    def _slow_limit(self, action_id: object) -> float | None:
        if not isinstance(action_id, str):
            return None
        cache = self._slow_cache
        known = cache.get(action_id, _UNKNOWN)
        if known is not _UNKNOWN:
            return cast("float | None", known)
        limit = None
        for patterns, value in self._slow_rules:
            if patterns.matches(action_id):
                limit = value
                break
        if len(cache) >= _THRESHOLD_CACHE_LIMIT:
            cache.clear()
        cache[action_id] = limit
        return limit

    def _own_reason(self, trace: Any, has_error: bool, status: Any, known: bool) -> str | None:
        """Return why ``trace`` qualifies by itself; ``known``: it is an ActionExecutionTrace."""
        if has_error or status == "error":
            if self._keep_errors:
                return "error"
        elif status == "failed" and self._keep_failed:
            return "failed"
        if known:
            # Hot path: a cached limit per action id, and a duration that is a float or None.
            limit = self._slow
            if self._slow_rules:
                action_id = trace.action_id
                limit = self._slow_cache.get(action_id, _UNKNOWN)
                if limit is _UNKNOWN:
                    limit = self._slow_limit(action_id)
            if limit is None:
                return None
            duration = trace.duration
            return "slow" if duration is not None and duration > limit else None
        if self._slow is None and not self._slow_rules:
            return None
        return self._slow_reason(trace)

    def _slow_reason(self, trace: Any) -> str | None:
        limit = self._slow
        if self._slow_rules:
            limit = self._slow_limit(_attribute(trace, "action_id"))
        if limit is None:
            return None
        duration = _attribute(trace, "duration")
        if (
            isinstance(duration, (int, float))
            and not isinstance(duration, bool)
            and duration > limit
        ):
            return "slow"
        return None

    def _by_rate(self, trace_id: int | None) -> bool:
        """Return the rate decision (call with the lock held: an id-less trace counts)."""
        if trace_id is None:
            self._sequence += 1
            bits = self._sequence
        else:
            bits = trace_id & _MASK64
        return _draw(bits ^ self._seed_key) < self._threshold

    def write_trace(self, trace: Any) -> None:
        """Decide ``trace`` (hold it, drop it, or hand it on to the output); never raises for it."""
        known = type(trace) is ActionExecutionTrace
        trace_id: int | None
        span_id: int | None
        if known:
            # The common case, read directly: the decision's budget is a couple of microseconds.
            status: Any = trace.status
            has_error = status is ExecutionStatus.ERROR
            trace_id, span_id, parent = integer_ids(trace)
        else:
            try:
                serialisable = callable(getattr(trace, "to_dict", None))
            except Exception:
                serialisable = False
            if not serialisable:
                raise InvalidArgumentError(
                    f"trace must have a to_dict() method, got {type(trace).__name__}"
                )
            has_error = _attribute(trace, "has_error") is True
            status = _attribute(trace, "status")
            trace_id, span_id, parent = _identity(trace)
        item: _Item = (trace, self._own_reason(trace, has_error, status, known), has_error, status)
        local = False
        if parent is not None:
            current = current_trace()
            local = current is not None and _identity(current)[1] == parent
        now = _monotonic()
        out: list[_Kept] = []
        with self._lock:
            if now >= self._next_sweep:
                self._expire(now, out)
            if parent is None or trace_id is None:
                self._decide_root(item, trace_id, now, out)
            else:
                self._place(item, (trace_id, span_id, parent), local, now=now, out=out)
            if out:
                self._count(out)
        if out:
            self._hand_on(out)

    def _place(
        self,
        item: _Item,
        ids: tuple[int, int | None, int],
        local: bool,
        *,
        now: float,
        out: list[_Kept],
    ) -> None:
        """Place a trace that has a parent: hold it, follow its root, or decide as a root."""
        trace_id, span, parent = ids
        tree = self._trees.get(trace_id)
        local = local or (tree is not None and parent in tree.spans)
        decided = self._decided.get(trace_id, _UNKNOWN)
        if decided is _UNKNOWN:
            decided = self._decided_old.get(trace_id, _UNKNOWN)
        if decided is not _UNKNOWN and (local or tree is None):
            self._follow(item, decided, out)  # type: ignore[arg-type]
            return
        if not local:
            self._decide_root(item, trace_id, now, out)
            return
        if tree is None:
            tree = self._trees[trace_id] = _Tree(trace_id, now)
        tree.members.append(item)
        if span is not None:
            tree.spans.add(span)
        if item[1] is not None:
            tree.qualified = True
        self._held += 1
        while self._held > self._max_pending and self._trees:
            self._release(self._trees.popitem(last=False)[1], out)

    def _follow(self, item: _Item, tree_reason: str | None, out: list[_Kept]) -> None:
        """Apply the root's decision to a member ending after it; failures are always kept."""
        trace, reason, has_error, status = item
        if tree_reason is not None:
            out.append((trace, reason or tree_reason, has_error, status))
        elif reason in ("error", "failed"):
            out.append((trace, reason, has_error, status))
        else:
            self._counts["sampledOut"] += 1

    def _decide_root(self, item: _Item, trace_id: int | None, now: float, out: list[_Kept]) -> None:
        trace, reason, has_error, status = item
        tree = self._trees.pop(trace_id, None) if trace_id is not None and self._trees else None
        if reason is not None or (tree is not None and tree.qualified):
            tree_reason: str | None = "linked"
        elif trace_id is not None:
            z = (((trace_id & _MASK64) ^ self._seed_key) * _GOLDEN) & _MASK64
            tree_reason = "rate" if z ^ (z >> 32) < self._threshold else None
        else:
            tree_reason = "rate" if self._by_rate(None) else None
        if tree_reason is not None:
            out.append((trace, reason or tree_reason, has_error, status))
        else:
            self._counts["sampledOut"] += 1
        if tree is not None:
            self._settle(tree, tree_reason, out)
        if trace_id is not None:
            decided = self._decided
            if 2 * len(decided) >= self._max_pending or now - self._generation >= self._window:
                self._decided_old = decided
                decided = self._decided = {}
                self._generation = now
            decided[trace_id] = tree_reason

    def _settle(self, tree: _Tree, tree_reason: str | None, out: list[_Kept]) -> None:
        self._held -= len(tree.members)
        for trace, reason, has_error, status in tree.members:
            kept = reason or tree_reason
            if kept is not None:
                out.append((trace, kept, has_error, status))
            else:
                self._counts["sampledOut"] += 1

    def _release(self, tree: _Tree, out: list[_Kept]) -> None:
        """Decide a held tree without its root: kept when a member qualifies, else by rate."""
        if tree.qualified:
            tree_reason: str | None = "linked"
        else:
            tree_reason = "rate" if self._by_rate(tree.trace_id) else None
        self._settle(tree, tree_reason, out)

    def _expire(self, now: float, out: list[_Kept]) -> None:
        """Release trees held past the window."""
        # Swept a few times per window, not on every trace: a held tree waits at most 1/8 longer.
        self._next_sweep = now + self._window / 8
        trees = self._trees
        while trees:
            first = next(iter(trees.values()))
            if now - first.created < self._window:
                break
            self._release(trees.popitem(last=False)[1], out)

    def _count(self, out: list[_Kept]) -> None:
        counts = self._counts
        counts["kept"] += len(out)
        for _, reason, _, _ in out:
            counts[_STAT_KEYS[reason]] += 1

    def _hand_on(self, out: list[_Kept]) -> None:
        write = self._output.write_trace
        records = self._records
        for trace, reason, has_error, status in out:
            try:
                write(_Sampled(trace, records[reason], has_error, status))
            except Exception as error:
                self._log.limited(
                    "write", "TailSampler: the output's write_trace raised", exc=error
                )

    # -- flushing and closing ----------------------------------------------------------------------

    def flush(self, timeout: float = _DEFAULT_TIMEOUT) -> bool:
        """Decide the trees held past their window, then flush the output (when it can).

        Returns the output's answer (``True`` when it has no ``flush``). Traces still waiting
        within their window for a root stay held.
        """
        wait = timeout_argument(timeout)
        out: list[_Kept] = []
        with self._lock:
            self._expire(_monotonic(), out)
            self._count(out)
        self._hand_on(out)
        return self._call_output("flush", wait)

    def close(self, timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Decide every held trace (without its root), then close the output; idempotent."""
        wait = timeout_argument(timeout)
        out: list[_Kept] = []
        with self._lock:
            first = not self._closed
            self._closed = True
            while self._trees:
                self._release(self._trees.popitem(last=False)[1], out)
            self._count(out)
        self._hand_on(out)
        if first:
            self._call_output("close", wait)

    def _call_output(self, name: str, timeout: float) -> bool:
        method = getattr(self._output, name, None)
        if not callable(method):
            return True
        try:
            try:
                result = method(timeout)
            except TypeError:  # an output whose flush()/close() takes no timeout
                result = method()
        except Exception as error:
            self._log.limited(name, "TailSampler: the output's %s() raised", name, exc=error)
            return False
        return result is not False

    def _close_at_exit(self) -> None:
        self.close()

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock, and none of the parent's held traces.

        The lock may have been held by a thread that does not exist here; the held traces are
        the parent's, which the parent decides and writes.
        """
        self._lock = threading.Lock()
        self._trees = OrderedDict()
        self._held = 0

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def __enter__(self) -> TailSampler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TailSampler({self._output!r}, rate={self._rate!r}, seed={self._seed!r})"
