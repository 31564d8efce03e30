"""TailSampler: outcome-aware sampling, linked trees kept whole, bounded holding."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actiontrace import (
    ATTEMPT_ACTION_ID,
    ActionExecutionTrace,
    ActionExecutionTraceFactory,
    ActionTraceFilter,
    ActionTraceOutputService,
    CommandProcessor,
    EventBus,
    EventDispatchService,
    InvalidArgumentError,
    TailSampler,
    TraceContext,
    read_traces,
)
from actiontrace.context import DISPATCHING, Dispatching
from actiontrace.output import sampler as sampler_module


class Collect:
    """An output double that keeps what it is given (the sampler's wrappers)."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def write_trace(self, trace: Any) -> None:
        self.got.append(trace)

    def reasons(self) -> dict[str, str]:
        """Action id -> sampling reason of each kept trace ("failure": error or failed)."""
        return {item.trace.action_id: _failure(item.sampling["reason"]) for item in self.got}

    def ids(self) -> list[str]:
        return [item.trace.trace_id for item in self.got]


class Fake:
    """A trace as any engine might hand one over: attributes and to_dict(), nothing else."""

    def __init__(
        self,
        trace_id: str,
        *,
        status: str = "success",
        duration: float = 1.0,
        action_id: str = "core:go",
        span_id: str | None = None,
        parent_span_id: str | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.status = status
        self.has_error = status == "error"
        self.duration = duration
        self.action_id = action_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id

    def to_dict(self) -> dict[str, Any]:
        return {"metadata": {"traceId": self.trace_id, "actionId": self.action_id}}


def _failure(reason: str) -> str:
    # A handler's exception makes an error trace, or a failed one where the dispatch service
    # keeps it to itself: either is always kept, and that is what these tests are about.
    return "failure" if reason in ("error", "failed") else reason


def _ids(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128) or 1:032x}" for _ in range(count)]


def _trace(action: str = "core:go", outcome: str = "success", **extra: Any) -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id=action, actor_id="hero", turn_action={"actionDefinitionId": action}, **extra
    )
    trace.capture_dispatch_start()
    if outcome == "error":
        trace.capture_error(RuntimeError("boom"))
    else:
        trace.capture_dispatch_result({"success": outcome == "success"})
    return trace


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The sampler's monotonic clock, set by the test: ``clock[0] = seconds``."""
    now = [1000.0]
    monkeypatch.setattr(sampler_module, "_monotonic", lambda: now[0])
    yield now


# -- outcome and duration ------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.5, 1.0])
def test_every_error_and_failure_is_kept_at_any_rate(rate: float) -> None:
    out = Collect()
    sampler = TailSampler(out, rate=rate)
    errors = [_trace(outcome="error") for _ in range(200)]
    failures = [_trace(outcome="failed") for _ in range(200)]
    for trace in errors + failures:
        sampler.write_trace(trace)
    kept = {id(item.trace): item.sampling for item in out.got}
    assert all(kept[id(t)] == {"reason": "error", "rate": rate} for t in errors)
    assert all(kept[id(t)] == {"reason": "failed", "rate": rate} for t in failures)
    stats = sampler.stats
    assert stats["keptError"] == 200 and stats["keptFailed"] == 200
    assert stats["kept"] == 400 and stats["sampledOut"] == 0


def test_without_keep_failed_a_failure_is_sampled_like_a_success() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, keep_failed=False)
    sampler.write_trace(_trace(outcome="failed"))
    sampler.write_trace(_trace(outcome="error"))
    assert [item.sampling["reason"] for item in out.got] == ["error"]
    assert sampler.stats["sampledOut"] == 1


def test_without_keep_errors_an_error_is_sampled_by_rate() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, keep_errors=False)
    sampler.write_trace(_trace(outcome="error"))
    assert out.got == [] and sampler.stats["sampledOut"] == 1


def test_slow_traces_are_kept_above_a_number_of_ms() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, slow_ms=50)
    ids = _ids(3)
    sampler.write_trace(Fake(ids[0], duration=50.0))  # not slower than the limit
    sampler.write_trace(Fake(ids[1], duration=50.5))
    sampler.write_trace(Fake(ids[2], duration=500.0, status="failed"))  # failed comes first
    assert [(i.trace.trace_id, i.sampling["reason"]) for i in out.got] == [
        (ids[1], "slow"),
        (ids[2], "failed"),
    ]
    assert sampler.stats["keptSlow"] == 1


def test_slow_ms_patterns_are_searched_in_order_and_the_first_match_applies() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, slow_ms={"core:go": 100, "core:*": 10, "*:look": 1})
    cases = [
        ("core:go", 50.0, False),  # core:go's own 100 ms applies, not core:*'s 10 ms
        ("core:go", 150.0, True),
        ("core:look", 20.0, True),  # core:* (10 ms) comes before *:look (1 ms)
        ("core:look", 5.0, False),
        ("magic:look", 5.0, True),
        ("magic:cast", 10_000.0, False),  # no pattern: never slow
    ]
    ids = _ids(len(cases))
    for trace_id, (action, duration, _) in zip(ids, cases, strict=True):
        sampler.write_trace(Fake(trace_id, action_id=action, duration=duration))
    kept = set(out.ids())
    assert [trace_id in kept for trace_id in ids] == [slow for _, _, slow in cases]


def test_the_rate_keeps_its_fraction_of_100000_traces() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.1, seed=3)
    n = 100_000
    for trace_id in _ids(n, seed=11):
        sampler.write_trace(Fake(trace_id))
    kept = len(out.got)
    # Binomial(100000, 0.1): sd 94.9; five of them either side.
    assert abs(kept - n * 0.1) < 5 * (n * 0.1 * 0.9) ** 0.5
    assert sampler.stats["keptRate"] == kept and sampler.stats["sampledOut"] == n - kept
    assert all(item.sampling == {"reason": "rate", "rate": 0.1} for item in out.got)


def test_the_rate_decision_is_by_trace_id_and_seed_for_any_kind_of_trace() -> None:
    real = [_trace() for _ in range(2000)]
    by_object, by_text, other_seed = Collect(), Collect(), Collect()
    first = TailSampler(by_object, rate=0.5, seed=9)
    second = TailSampler(by_text, rate=0.5, seed=9)
    third = TailSampler(other_seed, rate=0.5, seed=10)
    for trace in real:
        first.write_trace(trace)
        second.write_trace(Fake(trace.trace_id))
        third.write_trace(trace)
    assert by_object.ids() == by_text.ids()
    assert 800 < len(by_object.ids()) < 1200
    assert by_object.ids() != other_seed.ids()


_CHILD = """
import json, sys
from actiontrace import TailSampler
class Fake:
    def __init__(self, trace_id):
        self.trace_id = trace_id
    def to_dict(self):
        return {}
class Out:
    kept = []
    def write_trace(self, trace):
        self.kept.append(trace.trace.trace_id)
out = Out()
sampler = TailSampler(out, rate=0.25, seed=42)
for trace_id in json.load(sys.stdin):
    sampler.write_trace(Fake(trace_id))
print(json.dumps(out.kept))
"""


def test_two_processes_decide_the_same_for_the_same_traces() -> None:
    ids = _ids(5000, seed=5)
    here = Collect()
    sampler = TailSampler(here, rate=0.25, seed=42)
    for trace_id in ids:
        sampler.write_trace(Fake(trace_id))
    answers = []
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(ids),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
        )
        answers.append(json.loads(done.stdout))
    assert answers[0] == answers[1] == here.ids()
    assert 1000 < len(here.ids()) < 1500


# -- linked trees ----------------------------------------------------------------------------------


def _pipeline(output: Any) -> tuple[EventBus, CommandProcessor]:
    bus = EventBus()
    processor = CommandProcessor(
        EventDispatchService(bus),
        trace_filter=ActionTraceFilter(),
        trace_factory=ActionExecutionTraceFactory(),
        trace_output_service=output,
    )
    return bus, processor


def _turn(action: str) -> dict[str, Any]:
    return {"actionDefinitionId": action, "commandString": action}


async def test_a_tree_is_kept_whole_when_only_a_grandchild_errored() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    bus, processor = _pipeline(sampler)
    pending_seen: list[int] = []

    async def react(payload: dict[str, Any]) -> None:
        action = payload["actionId"]
        if action == "core:attack":
            await processor.dispatch_action({"id": "world"}, _turn("core:damage"))
            # The child and grandchild have ended: both wait for the root.
            pending_seen.append(sampler.pending)
            assert out.got == []
        elif action == "core:damage":
            await processor.dispatch_action({"id": "world"}, _turn("core:die"))
        elif action == "core:die":
            raise RuntimeError("the grandchild fails")

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await processor.dispatch_action({"id": "hero"}, _turn("core:attack"))
    assert pending_seen == [2]
    assert sampler.pending == 0
    assert out.reasons() == {
        "core:die": "failure",
        "core:damage": "linked",
        "core:attack": "linked",
    }
    assert len({item.trace.trace_id for item in out.got}) == 1


async def test_a_tree_without_a_reason_is_dropped_whole() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    bus, processor = _pipeline(sampler)

    async def react(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:attack":
            await processor.dispatch_action({"id": "world"}, _turn("core:damage"))

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await processor.dispatch_action({"id": "hero"}, _turn("core:attack"))
    assert out.got == []
    assert sampler.stats["sampledOut"] == 2 and sampler.pending == 0


async def test_a_tree_kept_by_rate_is_kept_whole_with_reason_rate() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=1.0)
    bus, processor = _pipeline(sampler)

    async def react(payload: dict[str, Any]) -> None:
        if payload["actionId"] == "core:attack":
            await processor.dispatch_action({"id": "world"}, _turn("core:damage"))

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await processor.dispatch_action({"id": "hero"}, _turn("core:attack"))
    assert out.reasons() == {"core:damage": "rate", "core:attack": "rate"}


async def _late_children(root_fails: bool) -> tuple[Collect, TailSampler]:
    """A root whose handler starts tasks that end after it: one succeeds, one errors."""
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    bus, processor = _pipeline(sampler)
    go_on = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []

    async def later(action: str) -> None:
        await go_on.wait()
        await processor.dispatch_action({"id": "world"}, _turn(action))

    async def react(payload: dict[str, Any]) -> None:
        action = payload["actionId"]
        if action == "core:cast":
            tasks.append(asyncio.create_task(later("core:echo")))
            tasks.append(asyncio.create_task(later("core:backfire")))
            if root_fails:
                raise RuntimeError("the root fails")
        elif action == "core:backfire":
            raise RuntimeError("a late error")

    bus.subscribe(ATTEMPT_ACTION_ID, react)
    await processor.dispatch_action({"id": "hero"}, _turn("core:cast"))
    assert sampler.stats["kept"] + sampler.stats["sampledOut"] == 1  # the root has decided
    go_on.set()
    await asyncio.gather(*tasks)
    return out, sampler


async def test_members_ending_after_a_dropped_root_follow_it_except_errors() -> None:
    out, sampler = await _late_children(root_fails=False)
    assert out.reasons() == {"core:backfire": "failure"}
    assert sampler.pending == 0 and sampler.stats["sampledOut"] == 2


async def test_members_ending_after_a_kept_root_are_kept() -> None:
    out, sampler = await _late_children(root_fails=True)
    assert out.reasons() == {
        "core:cast": "failure",
        "core:echo": "linked",
        "core:backfire": "failure",
    }
    assert sampler.pending == 0


def test_a_trace_continued_from_a_remote_context_is_a_root() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    remote = TraceContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    sampler.write_trace(_trace("net:ok", parent=remote))
    assert sampler.pending == 0 and sampler.stats["sampledOut"] == 1
    failing = _trace("net:fail", outcome="error", parent=remote)
    sampler.write_trace(failing)
    assert out.reasons() == {"net:fail": "failure"}


def test_a_remote_rooted_tree_is_held_until_its_local_root_ends() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    remote = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    root = _trace("net:handle", parent=remote)
    # the child is written while its parent runs, as in dispatch
    token = DISPATCHING.set(Dispatching(root))
    try:
        sampler.write_trace(_trace("core:child", outcome="failed", parent=root))
    finally:
        DISPATCHING.reset(token)
    assert sampler.pending == 1 and out.got == []
    sampler.write_trace(root)
    assert out.reasons() == {"core:child": "failure", "net:handle": "linked"}


def test_a_structured_trace_follows_its_execution_trace() -> None:
    from actiontrace import StructuredTrace

    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    failing = _trace(outcome="error")
    steps = StructuredTrace(parent=failing)
    quiet = _trace()
    quiet_steps = StructuredTrace(parent=quiet)
    for trace in (failing, steps, quiet, quiet_steps):
        sampler.write_trace(trace)
    assert [item.trace for item in out.got] == [failing, steps]
    assert [item.sampling["reason"] for item in out.got] == ["error", "linked"]


# -- holding is bounded ----------------------------------------------------------------------------


def _flood(sampler: TailSampler, root: ActionExecutionTrace, count: int, **kw: Any) -> list[int]:
    """Children of ``root`` (which never ends) written while it runs; pending after each."""
    seen = []
    token = DISPATCHING.set(Dispatching(root))
    try:
        for _ in range(count):
            sampler.write_trace(_trace("core:tick", parent=root, **kw))
            seen.append(sampler.pending)
    finally:
        DISPATCHING.reset(token)
    return seen


def test_held_traces_are_bounded_by_count_under_a_flood(clock: list[float]) -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, max_pending=100)
    roots = [_trace("core:loop") for _ in range(5)]  # written never: they never end
    seen: list[int] = []
    for root in roots:
        seen += _flood(sampler, root, 1000)
    assert max(seen) == 100
    assert sampler.stats["sampledOut"] == 5000 - sampler.pending


def test_over_the_count_the_oldest_tree_is_decided_keeping_its_reasons(clock: list[float]) -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, max_pending=3)
    old, new = _trace("core:old"), _trace("core:new")
    token = DISPATCHING.set(Dispatching(old))
    try:
        sampler.write_trace(_trace("core:a", parent=old))
        sampler.write_trace(_trace("core:b", outcome="failed", parent=old))
    finally:
        DISPATCHING.reset(token)
    _flood(sampler, new, 2)
    assert out.reasons() == {"core:a": "linked", "core:b": "failure"}
    assert sampler.pending == 2


def test_held_traces_are_released_past_the_window(clock: list[float]) -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, window_s=30.0)
    root = _trace("core:loop")
    _flood(sampler, root, 10)
    _flood(sampler, root, 1, outcome="error")
    assert sampler.pending == 11
    clock[0] += 29.0
    assert sampler.flush() is True
    assert sampler.pending == 11
    clock[0] += 30.0 / 8 + 1.0
    sampler.flush()
    assert sampler.pending == 0
    # Decided without the root: the error qualified the tree, so all of it is kept.
    assert len(out.got) == 11 and sampler.stats["keptLinked"] == 10
    # The root ends after all: it decides for itself (it qualifies for nothing at rate 0).
    sampler.write_trace(root)
    assert sampler.stats["sampledOut"] == 1


def test_a_flood_with_no_root_ever_ending_stays_within_the_window(clock: list[float]) -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0, window_s=1.0, max_pending=1_000_000)
    root = _trace("core:loop")
    highest = 0
    for _ in range(50):
        highest = max(highest, *_flood(sampler, root, 100))
        clock[0] += 0.1
    # 100 traces per 0.1 s, released within window_s * 9/8: never more than ~1.2 s of them.
    assert highest <= 1300
    assert sampler.stats["sampledOut"] + sampler.pending == 5000


def test_close_decides_every_held_trace_then_closes_the_output(tmp_path: Path) -> None:
    service = ActionTraceOutputService(tmp_path)
    with TailSampler(service, rate=0.0) as sampler:
        root = _trace("core:loop")
        _flood(sampler, root, 3, outcome="failed")
        assert sampler.pending == 3
    assert sampler.closed and service.closed
    written = list(read_traces(tmp_path))
    assert [t["sampling"] for t in written] == [{"reason": "failed", "rate": 0.0}] * 3


# -- what the output gets --------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["jsonl", "json"])
def test_kept_traces_are_written_with_their_sampling_record(
    tmp_path: Path, format: str, assert_valid_trace: Any
) -> None:
    service = ActionTraceOutputService(tmp_path, format=format)
    sampler = TailSampler(service, rate=1.0, slow_ms=10_000)
    traces = [_trace(outcome="error"), _trace(outcome="failed"), _trace()]
    for trace in traces:
        sampler.write_trace(trace)
    assert sampler.flush() is True
    written = {t["metadata"]["spanId"]: t for t in read_traces(tmp_path)}
    for trace, reason in zip(traces, ("error", "failed", "rate"), strict=True):
        data = written[trace.span_id]
        assert data.pop("sampling") == {"reason": reason, "rate": 1.0}
        assert data == trace.to_dict()
    for data in read_traces(tmp_path):
        assert_valid_trace(data)
    sampler.close()
    stats = sampler.stats
    assert stats["written"] == 3 and stats["kept"] == 3 and stats["pending"] == 0


def test_the_wrapper_shows_the_trace_and_renders_json_every_way() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=1.0)
    trace = _trace(outcome="error")
    sampler.write_trace(trace)
    wrapped = out.got[0]
    assert wrapped.has_error is True and wrapped.status == "error"
    assert wrapped.is_complete is True and wrapped.span_id == trace.span_id  # passed through
    expected = {**trace.to_dict(), "sampling": {"reason": "error", "rate": 1.0}}
    assert json.loads(wrapped.to_json()) == expected
    assert json.loads(wrapped.to_json(indent=2)) == expected
    assert wrapped.to_dict() == expected
    assert "error" in repr(wrapped)


def test_a_trace_without_to_json_or_ids_is_still_handled() -> None:
    class Bare:
        def to_dict(self) -> dict[str, Any]:
            return {"metadata": {}}

    out = Collect()
    sampler = TailSampler(out, rate=0.5, seed=1)
    for _ in range(400):
        sampler.write_trace(Bare())
    assert 120 < len(out.got) < 280  # decided by a seeded sequence: about half
    item = out.got[0]
    assert json.loads(item.to_json()) == {
        "metadata": {},
        "sampling": {"reason": "rate", "rate": 0.5},
    }
    with pytest.raises(InvalidArgumentError, match="to_dict"):
        sampler.write_trace(object())


def test_an_empty_object_and_a_non_dict_pass_through_unchanged() -> None:
    class Empty:
        def to_dict(self) -> Any:
            return ["not", "a", "dict"]

        def to_json(self) -> str:
            return "{}"

    out = Collect()
    TailSampler(out, rate=1.0).write_trace(Empty())
    assert out.got[0].to_dict() == ["not", "a", "dict"]
    assert json.loads(out.got[0].to_json()) == {"sampling": {"reason": "rate", "rate": 1.0}}


def test_an_output_that_raises_never_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        stats = property(lambda self: 1 / 0)

        def write_trace(self, trace: Any) -> None:
            raise OSError("disk on fire")

        def flush(self) -> None:  # no timeout parameter
            raise OSError("still on fire")

        def close(self) -> None:
            raise OSError("ashes")

    sampler = TailSampler(Broken(), rate=1.0)
    sampler.write_trace(_trace())
    assert sampler.flush() is False
    assert sampler.stats["kept"] == 1
    sampler.close()
    sampler.close()
    assert "disk on fire" in caplog.text


def test_an_output_without_flush_or_close_is_fine() -> None:
    out = Collect()
    sampler = TailSampler(out)
    assert sampler.flush() is True
    sampler.close()
    assert sampler.output is out and sampler.rate == 0.1 and sampler.seed == 0
    assert "TailSampler" in repr(sampler)


def test_errors_first_eviction_of_the_output_is_preserved_under_backpressure(
    tmp_path: Path,
) -> None:
    writing = threading.Event()
    release = threading.Event()

    class Blocker:
        """A kept trace whose serialisation holds the writer until the test lets it go."""

        trace_id = "f" * 32
        status = "success"

        def to_dict(self) -> dict[str, Any]:
            writing.set()
            release.wait(30)
            return {"metadata": {"actionId": "block", "traceType": "other"}}

    service = ActionTraceOutputService(tmp_path, max_queue_size=10)
    sampler = TailSampler(service, rate=1.0)
    sampler.write_trace(Blocker())
    assert writing.wait(30)  # the writer is stuck: the queue fills from here
    successes = [_trace("core:ok") for _ in range(10)]
    errors = [_trace("core:bad", outcome="error") for _ in range(4)]
    for trace in successes + errors:
        sampler.write_trace(trace)
    stats = service.stats
    assert stats["evicted"] == 4 and stats["dropped"] == 4
    release.set()
    sampler.close()
    written = [t for t in read_traces(tmp_path) if t["metadata"].get("actionId") == "core:bad"]
    assert len(written) == 4
    assert all(t["sampling"]["reason"] == "error" for t in written)


# -- arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rate": 1.5}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": True}, "rate"),
        ({"keep_errors": 1}, "keep_errors"),
        ({"keep_failed": None}, "keep_failed"),
        ({"slow_ms": -1}, "slow_ms"),
        ({"slow_ms": "fast"}, "slow_ms"),
        ({"slow_ms": {"": 3}}, "slow_ms"),
        ({"slow_ms": {"core:*": float("inf")}}, "slow_ms"),
        ({"seed": 1.5}, "seed"),
        ({"window_s": -1}, "window_s"),
        ({"max_pending": -1}, "max_pending"),
        ({"max_pending": 2.0}, "max_pending"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        TailSampler(Collect(), **kwargs)


def test_an_output_must_have_write_trace() -> None:
    with pytest.raises(InvalidArgumentError, match="output"):
        TailSampler(object())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_sampler_without_the_parents_held_traces() -> None:
    out = Collect()
    sampler = TailSampler(out, rate=0.0)
    _flood(sampler, _trace("core:loop"), 2, outcome="failed")
    assert sampler.pending == 2
    # Fork while the sampler's lock is held, as another thread of the game might hold it.
    sampler._lock.acquire()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            signal.alarm(10)  # a lock inherited locked would hang here: fail, do not hang
            if sampler.pending == 0:
                sampler.write_trace(_trace("child:boom", outcome="error"))
                if [item.trace.action_id for item in out.got] == ["child:boom"]:
                    code = 0
        finally:
            os._exit(code)
    sampler._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sampler.pending == 2 and out.got == []  # the parent's held traces stay the parent's
    sampler.close()
    assert len(out.got) == 2


def test_threads_writing_at_once_get_the_decisions_one_thread_gets() -> None:
    ids = _ids(20_000, seed=8)
    alone = Collect()
    single = TailSampler(alone, rate=0.2, seed=4)
    for trace_id in ids:
        single.write_trace(Fake(trace_id))
    shared_out = Collect()
    shared = TailSampler(shared_out, rate=0.2, seed=4)
    start = threading.Barrier(4)

    def worker(part: list[str]) -> None:
        start.wait()
        for trace_id in part:
            shared.write_trace(Fake(trace_id))

    threads = [threading.Thread(target=worker, args=(ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(shared_out.ids()) == sorted(alone.ids())
    stats = shared.stats
    assert stats["kept"] + stats["sampledOut"] == 20_000 and stats["kept"] == len(alone.got)


def test_an_opentelemetry_sink_behind_the_sampler_exports_what_is_kept(
    memory: tuple[Any, Any],
) -> None:
    sink, exporter = memory
    sampler = TailSampler(sink, rate=0.0)
    failing, quiet = _trace("magic:cast", outcome="error"), _trace("core:go")
    sampler.write_trace(quiet)
    sampler.write_trace(failing)
    assert sampler.flush() is True
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["magic:cast"]
    assert spans[0].attributes["actiontrace.status"] == "error"
    assert format(spans[0].context.trace_id, "032x") == failing.trace_id


EXIT_WITH_A_HELD_TRACE = r"""
import sys
from actiontrace import ActionExecutionTrace, ActionTraceOutputService, TailSampler
from actiontrace.context import DISPATCHING, Dispatching

def trace(action, parent=None):
    made = ActionExecutionTrace(
        action_id=action, actor_id="hero", turn_action={"actionDefinitionId": action}, parent=parent
    )
    made.capture_dispatch_start()
    return made

sampler = TailSampler(ActionTraceOutputService(sys.argv[1]), rate=0.0)
root = trace("core:root")  # never ends: its child stays held until exit
child = trace("core:child", parent=root)
child.capture_error(RuntimeError("boom"))
token = DISPATCHING.set(Dispatching(root))
sampler.write_trace(child)
DISPATCHING.reset(token)
assert sampler.pending == 1
later = ActionTraceOutputService(sys.argv[2])  # an output made after the sampler
# The program ends without closing anything.
"""


def test_a_held_trace_reaches_the_file_at_exit_whatever_was_made_after(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    subprocess.run(
        [sys.executable, "-c", EXIT_WITH_A_HELD_TRACE, str(first), str(second)],
        check=True,
        timeout=60,
    )
    written = list(read_traces(first))
    assert [t["metadata"]["actionId"] for t in written] == ["core:child"]
    assert written[0]["sampling"]["reason"] == "error"
