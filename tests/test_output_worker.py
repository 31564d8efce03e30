"""The one background worker behind every output, driven directly with small sinks.

Nothing here sleeps to pass: sinks record what they were handed and signal with events, and
``flush()`` is what waits for the worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from actiontrace.logs import SafeLog
from actiontrace.output import worker as worker_module
from actiontrace.output.worker import DEFAULT_LINGER, Batch, Worker

LOG = SafeLog(logging.getLogger("actiontrace"))


class Recording:
    """Writes every batch to a list; can be held at the door."""

    def __init__(self) -> None:
        self.batches: list[list[object]] = []
        self.stopped = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def write(self, batch: Batch) -> None:
        self.entered.set()
        assert self.release.wait(20)
        self.batches.append(list(batch.items))
        batch.settle(len(batch.items), written=len(batch.items))

    def stop(self) -> None:
        self.stopped += 1


class Failing:
    """A sink whose every attempt faults; it retries until a flush or close gives up."""

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, batch: Batch) -> None:
        index = 0
        while index < len(batch.items):
            self.attempts += 1
            batch.count_fault()
            end = batch.given_up(index)
            if end > index:
                batch.settle(end, failed=end - index)
                index = end
                continue
            batch.pause(0.05)

    def stop(self) -> None:
        pass


def make(sink: Any, **options: Any) -> Worker:
    settings: dict[str, Any] = {"max_queue": 100, "at_exit": lambda: None}
    settings.update(options)
    return Worker(sink, name="test-worker", label="test", log=LOG, **settings)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    made: list[Worker] = []
    yield made
    for worker in made:
        worker.close(5)


def test_items_arrive_in_order_and_flush_waits_for_them(workers: list[Worker]) -> None:
    sink = Recording()
    worker = make(sink, max_queue=1000)
    workers.append(worker)
    for n in range(250):
        assert worker.put(n) is True
    assert worker.flush(10) is True
    assert [item for batch in sink.batches for item in batch] == list(range(250))
    assert worker.stats == {
        "written": 250,
        "dropped": 0,
        "failed": 0,
        "queued": 0,
        "evicted": 0,
        "faults": 0,
    }
    worker.close()
    assert sink.stopped == 1 and not worker.thread.is_alive()


def test_a_trickle_is_gathered_into_few_batches_by_the_linger(workers: list[Worker]) -> None:
    sink = Recording()
    worker = make(sink, linger=0.5)
    workers.append(worker)
    for n in range(20):
        worker.put(n)
        time.sleep(0.002)  # a trickle: one at a time, well inside one linger
    assert worker.flush(10) is True
    assert len(sink.batches) <= 3  # without the linger, close to one batch per item
    assert [item for batch in sink.batches for item in batch] == list(range(20))


def test_flush_does_not_wait_out_the_linger(workers: list[Worker]) -> None:
    sink = Recording()
    worker = make(sink, linger=30.0)
    workers.append(worker)
    worker.put("one")
    began = time.monotonic()
    assert worker.flush(10) is True
    assert time.monotonic() - began < 5.0  # not the 30 s linger
    assert sink.batches == [["one"]]


def test_a_full_batch_ends_the_linger_at_once(workers: list[Worker]) -> None:
    sink = Recording()
    worker = make(sink, linger=30.0, batch_size=10)
    workers.append(worker)
    for n in range(10):
        worker.put(n)
    assert sink.entered.wait(10)  # no flush: the tenth item woke the worker
    assert worker.flush(10) is True
    assert sink.batches[0] == list(range(10))


def test_a_failure_evicts_the_oldest_success_when_the_queue_is_full(
    workers: list[Worker],
) -> None:
    sink = Recording()
    sink.release.clear()
    worker = make(sink, max_queue=3, linger=0)
    workers.append(worker)
    worker.put("held")
    assert sink.entered.wait(10)
    for name in ("s1", "s2", "s3"):
        assert worker.put(name) is True
    assert worker.put("s4") is False  # full: a success is dropped
    assert worker.put("f1", failure=True) is True  # a failure evicts s1
    assert worker.put("f2", failure=True) is True  # and s2
    assert worker.put("f3", failure=True) is True  # and s3
    assert worker.put("f4", failure=True) is False  # nothing evictable is left
    sink.release.set()
    assert worker.flush(10) is True
    assert [item for batch in sink.batches for item in batch] == ["held", "f1", "f2", "f3"]
    stats = worker.stats
    assert stats["evicted"] == 3 and stats["dropped"] == 5 and stats["written"] == 4


def test_flush_and_close_give_up_on_a_sink_that_never_recovers(workers: list[Worker]) -> None:
    sink = Failing()
    worker = make(sink)
    workers.append(worker)
    for n in range(5):
        worker.put(n)
    began = time.monotonic()
    assert worker.flush(0.6) is True  # settled: counted as failed after half the timeout
    assert time.monotonic() - began < 3.0
    assert worker.stats["failed"] == 5 and worker.stats["faults"] >= 2
    worker.put(5)
    began = time.monotonic()
    assert worker.close(0.6) is True
    assert time.monotonic() - began < 3.0
    assert worker.stats["failed"] == 6 and worker.stats["queued"] == 0


def test_a_sink_bug_counts_the_unsettled_items_failed_and_the_worker_goes_on(
    workers: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    class Buggy(Recording):
        def write(self, batch: Batch) -> None:
            if "bug" in batch.items:
                batch.settle(1, written=1)  # the first was handed on before the bug
                raise RuntimeError("a bug")
            super().write(batch)

    sink = Buggy()
    worker = make(sink, linger=0)
    workers.append(worker)
    sink.release.clear()
    worker.put("held")
    assert sink.entered.wait(10)
    for item in ("ok", "bug", "lost"):
        worker.put(item)
    with caplog.at_level(logging.ERROR, "actiontrace"):
        sink.release.set()
        assert worker.flush(10) is True
    assert "output writer error" in caplog.text
    assert worker.stats["written"] == 2 and worker.stats["failed"] == 2
    worker.put("after")
    assert worker.flush(10) is True
    assert sink.batches[-1] == ["after"]


def test_close_with_a_stuck_sink_returns_in_time_and_counts_the_queue_failed(
    workers: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    sink = Recording()
    sink.release.clear()
    worker = make(sink, linger=0)
    workers.append(worker)
    worker.put("held")
    assert sink.entered.wait(10)
    worker.put("a")
    worker.put("b")
    with caplog.at_level(logging.ERROR, "actiontrace"):
        assert worker.close(0.2) is False
    assert "2 queued trace(s) were not written" in caplog.text
    assert worker.stats["failed"] == 2
    assert worker.put("late") is False
    sink.release.set()
    worker.thread.join(10)
    assert not worker.thread.is_alive()
    assert sink.batches == [["held"]]  # the abandoned ones are not written after all
    assert worker.flush(0.1) is True


def test_a_failing_stop_exit_hook_or_fork_hook_is_logged_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadStop(Recording):
        def stop(self) -> None:
            raise OSError(5, "cannot close")

    def bad_exit() -> None:
        raise RuntimeError("exit hook broke")

    with caplog.at_level(logging.ERROR, "actiontrace"):
        worker = make(BadStop(), at_exit=bad_exit)
        worker_module._close_all()  # the exit hook raising does not stop the others
        worker.close(5)
        assert not worker.thread.is_alive()
    assert "exit hook broke" in caplog.text and "stopping failed" in caplog.text


def test_the_default_linger_is_short() -> None:
    assert 0 < DEFAULT_LINGER <= 0.05


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_failing_fork_hook_is_logged_and_the_child_worker_still_runs(tmp_path: Any) -> None:
    def broken_hook() -> None:
        raise RuntimeError("reopen failed")

    sink = Recording()
    worker = make(sink, after_fork=broken_hook)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - measured in the child
            ok = worker.put("child") and worker.flush(5) and sink.batches[-1] == ["child"]
            os._exit(0 if ok and worker.stats["written"] == 1 else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        worker.close(5)
