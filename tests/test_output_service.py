"""The output service: enqueue on the caller's thread, write on one writer thread (SPEC §6)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from actiontrace import (
    ActionExecutionTrace,
    ActionTraceOutputService,
    InvalidArgumentError,
    read_traces,
)
from actiontrace.output import service as service_module
from actiontrace.output import sinks
from actiontrace.output.service import _is_failure


def make_trace(n: int, outcome: str = "success") -> ActionExecutionTrace:
    t = ActionExecutionTrace(
        action_id=f"core:a{n}", actor_id="p1", turn_action={"actionDefinitionId": "core:a"}
    )
    t.capture_dispatch_start()
    if outcome == "error":
        t.capture_error(ValueError("boom"))
    else:
        t.capture_dispatch_result({"success": outcome == "success"})
    return t


class Plain:
    """A trace-like object with only to_dict()."""

    def __init__(self, n: int) -> None:
        self.n = n

    def to_dict(self) -> dict[str, Any]:
        return {"metadata": {"actionId": f"plain:{self.n}", "traceType": "custom"}, "n": self.n}


class Gate:
    """Holds the writer inside to_dict() until released: a writer held still."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def to_dict(self) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(20)
        return {"metadata": {"actionId": "gate", "traceType": "execution"}}


def action_ids(path: Path) -> list[str]:
    return [t["metadata"]["actionId"] for t in read_traces(path)]


@pytest.fixture
def service(tmp_path: Path) -> Any:
    svc = ActionTraceOutputService(tmp_path / "out")
    yield svc
    svc.close()


def hold(svc: ActionTraceOutputService) -> Gate:
    gate = Gate()
    svc.write_trace(gate)
    assert gate.entered.wait(10)
    return gate


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"format": "xml"}, "format"),
        ({"format": None}, "format"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"max_queue_size": True}, "max_queue_size"),
        ({"max_queue_size": 1.5}, "max_queue_size"),
        ({"max_file_bytes": 0}, "max_file_bytes"),
        ({"max_file_bytes": "1"}, "max_file_bytes"),
        ({"max_files": 0}, "max_files"),
        ({"max_files": -1}, "max_files"),
        ({"max_total_bytes": 0}, "max_total_bytes"),
        ({"max_total_bytes": 2.5}, "max_total_bytes"),
        ({"compress_rotated": 1}, "compress_rotated"),
        ({"compress_rotated": True, "format": "json"}, "compress_rotated"),
        ({"logger": object()}, "logger"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(
    tmp_path: Path, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        ActionTraceOutputService(tmp_path, **options)


@pytest.mark.parametrize("bad", ["", "   ", None, 5, b"bytes"])
def test_an_invalid_output_dir_is_rejected(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="output_dir"):
        ActionTraceOutputService(bad)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1", True, None])
def test_flush_and_close_reject_an_invalid_timeout(service: Any, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="timeout"):
        service.flush(bad)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        service.close(bad)
    assert not service.closed


def test_the_output_dir_and_its_parents_are_created(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b" / "c"
    with ActionTraceOutputService(str(folder)) as svc:
        assert folder.is_dir()
        assert svc.output_dir == folder
        assert svc.format == "jsonl"


def test_write_trace_rejects_an_object_without_to_dict(service: Any) -> None:
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("no attributes here")

    for bad in (object(), {"metadata": {}}, Hostile()):
        with pytest.raises(InvalidArgumentError, match="to_dict"):
            service.write_trace(bad)
    assert service.stats["dropped"] == 0


# -- writing --------------------------------------------------------------------------------------


def test_traces_written_and_flushed_read_back_equal_to_their_dicts(service: Any) -> None:
    made = [make_trace(0), make_trace(1, "failed"), make_trace(2, "error")]
    assert all(service.write_trace(t) for t in made)
    assert service.flush() is True
    assert list(read_traces(service.output_dir)) == [t.to_dict() for t in made]
    assert service.stats == {
        "written": 3,
        "dropped": 0,
        "failed": 0,
        "queued": 0,
        "evicted": 0,
        "faults": 0,
    }


def test_any_object_with_to_dict_is_written(service: Any) -> None:
    service.write_trace(Plain(1))
    service.flush()
    assert list(read_traces(service.output_dir)) == [Plain(1).to_dict()]


def test_json_format_writes_one_pretty_file_per_trace(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path, format="json", max_files=2) as svc:
        for n in range(3):
            svc.write_trace(make_trace(n))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and all(name.endswith(".json") for name in names)
    assert action_ids(tmp_path) == ["core:a1", "core:a2"]
    assert svc.stats["written"] == 3


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_max_total_bytes_bounds_the_disk_the_service_uses(tmp_path: Path, fmt: str) -> None:
    budget = 20_000
    with ActionTraceOutputService(
        tmp_path, format=fmt, max_file_bytes=4_000, max_total_bytes=budget
    ) as svc:
        for n in range(200):
            svc.write_trace(make_trace(n))
    used = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert 0 < used <= budget
    kept = action_ids(tmp_path)
    assert kept and kept[-1] == "core:a199"  # the newest are the ones kept
    assert svc.stats["written"] == 200


def test_serialisation_and_file_io_happen_only_on_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real_write = os.write

    class Recording(Plain):
        def to_dict(self) -> dict[str, Any]:
            threads.append(threading.current_thread().name)
            return super().to_dict()

    def recording_write(fd: int, data: Any) -> int:
        threads.append(threading.current_thread().name)
        return real_write(fd, data)

    monkeypatch.setattr(sinks.os, "write", recording_write)
    with ActionTraceOutputService(tmp_path) as svc:
        for n in range(50):
            svc.write_trace(Recording(n))
        svc.flush()
    assert threads and set(threads) == {"actiontrace-output-writer"}


def test_flush_waits_for_everything_enqueued_before_it(service: Any) -> None:
    for round_ in range(5):
        for n in range(200):
            service.write_trace(make_trace(round_ * 200 + n))
        assert service.flush() is True
        assert len(action_ids(service.output_dir)) == (round_ + 1) * 200
        assert service.stats["queued"] == 0


def test_flush_with_nothing_queued_returns_true_at_once(service: Any) -> None:
    assert service.flush(0) is True


def test_flush_returns_false_when_its_timeout_passes_first(service: Any) -> None:
    gate = hold(service)
    service.write_trace(make_trace(1))
    started = time.monotonic()
    assert service.flush(0.2) is False
    assert time.monotonic() - started < 5
    assert service.stats["queued"] == 2
    gate.release.set()
    assert service.flush() is True
    assert service.stats["written"] == 2


def test_close_writes_everything_still_queued(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)
    for n in range(1000):
        svc.write_trace(make_trace(n))
    svc.close()
    assert svc.closed
    assert action_ids(tmp_path) == [f"core:a{n}" for n in range(1000)]
    assert svc.stats["written"] == 1000 and svc.stats["queued"] == 0


def test_close_is_idempotent_and_stops_the_writer_thread(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)
    writer = svc._thread
    svc.close()
    svc.close()
    assert not writer.is_alive()
    assert svc.flush() is True


def test_leaving_a_with_block_closes_the_service(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path) as svc:
        svc.write_trace(make_trace(0))
        assert not svc.closed
    assert svc.closed
    assert action_ids(tmp_path) == ["core:a0"]
    assert "closed" in repr(svc) and "jsonl" in repr(svc)


def test_write_after_close_drops_the_trace_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = ActionTraceOutputService(tmp_path)
    svc.close()
    with caplog.at_level(logging.WARNING, "actiontrace"):
        assert svc.write_trace(make_trace(0)) is False
        assert svc.write_trace(make_trace(1)) is False
    assert svc.stats["dropped"] == 2
    assert caplog.text.count("after close()") == 1
    assert action_ids(tmp_path) == []


def test_close_called_from_the_writer_thread_does_not_deadlock(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)

    class Closer(Plain):
        def to_dict(self) -> dict[str, Any]:
            svc.close()
            return super().to_dict()

    svc.write_trace(Closer(1))
    svc._thread.join(10)
    assert not svc._thread.is_alive()
    svc.close()
    assert svc.stats["written"] == 1


def test_flush_called_from_the_writer_thread_returns_at_once(tmp_path: Path) -> None:
    results: list[tuple[bool, float]] = []

    with ActionTraceOutputService(tmp_path) as svc:

        class Flusher(Plain):
            def to_dict(self) -> dict[str, Any]:
                started = time.monotonic()
                results.append((svc.flush(), time.monotonic() - started))
                return super().to_dict()

        svc.write_trace(Flusher(1))
        assert svc.flush() is True
    ((flushed, took),) = results
    assert flushed is False and took < 1
    assert svc.stats["written"] == 1


def test_writes_from_many_threads_all_land(service: Any) -> None:
    def produce(base: int) -> None:
        for n in range(2000):
            service.write_trace(Plain(base + n))

    workers = [threading.Thread(target=produce, args=(k * 10_000,)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert service.flush() is True
    got = sorted(t["n"] for t in read_traces(service.output_dir))
    expected = sorted(k * 10_000 + n for k in range(4) for n in range(2000))
    assert got == expected
    assert service.stats["written"] == 8000


class Small:
    """A small trace with its own compact to_json(), as ours has (the writer's fast path)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())

    def to_json(self) -> str:
        return f'{{"metadata":{{"actionId":"core:a{self.n}","traceType":"execution"}}}}'


def test_100000_traces_written_then_closed_are_all_read_back(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path, max_queue_size=100_000, max_file_bytes=1 << 20)
    for n in range(100_000):
        svc.write_trace(Small(n))
    svc.close()
    assert svc.stats["written"] == 100_000 and svc.stats["dropped"] == 0
    ids = [t["metadata"]["actionId"] for t in read_traces(tmp_path)]
    assert ids == [f"core:a{n}" for n in range(100_000)]
    assert len(list(tmp_path.iterdir())) > 1  # rotation happened along the way


# -- a full queue ---------------------------------------------------------------------------------


def test_write_trace_never_blocks_even_when_the_writer_is_held(service: Any) -> None:
    traces = [Plain(n) for n in range(20_000)]
    gate = hold(service)
    started = time.monotonic()
    results = [service.write_trace(t) for t in traces]
    elapsed = time.monotonic() - started
    gate.release.set()
    assert elapsed < 5  # ~1 µs each; a blocking call would hang until release
    assert results.count(True) == 10_000
    assert service.stats["dropped"] == 10_000


def test_a_full_queue_drops_successes_and_counts_them(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path, max_queue_size=3) as svc:
        gate = hold(svc)
        assert [svc.write_trace(make_trace(n)) for n in range(5)] == [True] * 3 + [False] * 2
        assert svc.stats["dropped"] == 2 and svc.stats["queued"] == 4
        gate.release.set()
    assert action_ids(tmp_path) == ["gate", "core:a0", "core:a1", "core:a2"]


def test_a_failure_at_a_full_queue_evicts_the_oldest_queued_success(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path, max_queue_size=3) as svc:
        gate = hold(svc)
        for n in range(3):
            svc.write_trace(make_trace(n))
        assert svc.write_trace(make_trace(10, "failed")) is True
        assert svc.write_trace(make_trace(11, "error")) is True
        assert svc.write_trace(make_trace(12, "success")) is False
        assert svc.stats["evicted"] == 2 and svc.stats["dropped"] == 3
        assert svc.stats["queued"] == 4  # the gate in flight plus three queued
        gate.release.set()
    assert action_ids(tmp_path) == ["gate", "core:a2", "core:a10", "core:a11"]
    assert svc.stats["written"] == 4


def test_a_failure_is_dropped_only_when_no_success_is_left_to_evict(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path, max_queue_size=2) as svc:
        gate = hold(svc)
        svc.write_trace(make_trace(0, "error"))
        svc.write_trace(make_trace(1, "failed"))
        assert svc.write_trace(make_trace(2, "error")) is False
        assert svc.stats["evicted"] == 0 and svc.stats["dropped"] == 1
        gate.release.set()
    assert action_ids(tmp_path) == ["gate", "core:a0", "core:a1"]


def test_a_flood_of_successes_never_hides_a_failure(tmp_path: Path) -> None:
    with ActionTraceOutputService(tmp_path, max_queue_size=100) as svc:
        gate = hold(svc)
        for n in range(5000):
            svc.write_trace(make_trace(n, "failed" if n == 2500 else "success"))
        gate.release.set()
    ids = action_ids(tmp_path)
    assert "core:a2500" in ids
    assert svc.stats["written"] == 101
    assert svc.stats["dropped"] == 5000 - 100


def test_drops_are_reported_in_one_rate_limited_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "actiontrace"):
        with ActionTraceOutputService(tmp_path, max_queue_size=5) as svc:
            gate = hold(svc)
            for n in range(1000):
                svc.write_trace(make_trace(n))
            gate.release.set()
            svc.flush()
    reports = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert len(reports) == 1
    assert "995 traces dropped" in reports[0]


def test_drops_after_a_report_are_reported_once_the_interval_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service_module, "_LOG_INTERVAL", 0.3)
    with caplog.at_level(logging.WARNING, "actiontrace"):
        with ActionTraceOutputService(tmp_path, max_queue_size=1) as svc:
            for _ in range(2):
                gate = hold(svc)
                for n in range(10):
                    svc.write_trace(make_trace(n))
                gate.release.set()
                svc.flush()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and caplog.text.count("queue full") < 2:
                time.sleep(0.02)
    reports = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert len(reports) == 2
    assert "9 traces dropped since the last report, 18 in all" in reports[1]


@pytest.mark.parametrize(
    ("trace", "failure"),
    [
        (make_trace(0, "success"), False),
        (make_trace(0, "failed"), True),
        (make_trace(0, "error"), True),
        (Plain(0), False),
        (type("S", (), {"status": "error"})(), True),
        (type("S", (), {"status": "failed"})(), True),
        (type("S", (), {"status": ["unhashable"]})(), False),
        (type("S", (), {"has_error": True})(), True),
        (type("S", (), {"has_error": 1, "status": "success"})(), False),
        (type("S", (), {"status": property(lambda self: 1 / 0)})(), False),
    ],
)
def test_failure_is_judged_from_status_and_has_error_without_to_dict(
    trace: Any, failure: bool
) -> None:
    assert _is_failure(trace) is failure


# -- trouble from traces, loggers and bugs --------------------------------------------------------


def test_a_trace_whose_to_dict_raises_is_counted_failed_and_the_writer_goes_on(
    service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Plain):
        def to_dict(self) -> dict[str, Any]:
            raise RuntimeError("cannot serialise")

    class NotADict(Plain):
        def to_dict(self) -> Any:
            return ["x"]

    with caplog.at_level(logging.ERROR, "actiontrace"):
        service.write_trace(Plain(1))
        service.write_trace(Broken(2))
        service.write_trace(NotADict(3))
        service.write_trace(Plain(4))
        assert service.flush() is True
    assert [t["n"] for t in read_traces(service.output_dir)] == [1, 4]
    assert service.stats["failed"] == 2 and service.stats["written"] == 2
    assert "RuntimeError: cannot serialise" in caplog.text
    assert "similar messages suppressed" not in caplog.text


def test_a_logger_that_raises_never_stops_the_service(tmp_path: Path) -> None:
    class Raising:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("logger down")

            return fail

    class Broken(Plain):
        def to_dict(self) -> dict[str, Any]:
            raise RuntimeError("cannot serialise")

    svc = ActionTraceOutputService(tmp_path, logger=Raising(), max_queue_size=1)
    gate = hold(svc)
    svc.write_trace(Broken(0))
    assert svc.write_trace(Plain(1)) is False  # dropped: a drop report goes to the logger
    gate.release.set()
    assert svc.flush() is True
    svc.write_trace(Plain(2))
    svc.close()
    assert svc.write_trace(Plain(3)) is False
    assert svc.stats["failed"] == 1 and svc.stats["written"] == 2
    assert [t["metadata"]["actionId"] for t in read_traces(tmp_path)] == ["gate", "plain:2"]


def test_a_writer_bug_counts_the_batch_failed_and_the_writer_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_process = service_module.ActionTraceOutputService._process
    raised: list[int] = []

    def buggy(self: Any, batch: Any, first: int) -> None:
        if len(batch) == 3 and not raised:  # the batch queued behind the gate
            raised.append(first)
            raise RuntimeError("a bug")
        real_process(self, batch, first)

    monkeypatch.setattr(service_module.ActionTraceOutputService, "_process", buggy)
    with caplog.at_level(logging.ERROR, "actiontrace"):
        with ActionTraceOutputService(tmp_path, max_queue_size=2) as svc:
            gate = hold(svc)
            svc.write_trace(make_trace(0))
            svc.write_trace(make_trace(1))
            svc.write_trace(make_trace(2, "error"))  # evicts a0: a dead slot in the batch
            gate.release.set()
            assert svc.flush() is True
            svc.write_trace(make_trace(3))
    assert "output writer error" in caplog.text
    assert action_ids(tmp_path) == ["gate", "core:a3"]
    assert svc.stats["failed"] == 2 and svc.stats["evicted"] == 1  # a1 and a2; a0 was evicted
    assert svc.stats["written"] == 2 and svc.stats["queued"] == 0


def test_a_failure_to_close_the_file_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_close(self: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sinks.JsonLinesSink, "close", broken_close)
    with caplog.at_level(logging.WARNING, "actiontrace"):
        svc = ActionTraceOutputService(tmp_path)
        svc.write_trace(make_trace(0))
        svc.close()
    assert "closing trace file failed" in caplog.text
    assert svc.stats["written"] == 1


# -- exit -----------------------------------------------------------------------------------------


CHILD_EXITS_WITHOUT_CLOSE = """
import sys
from actiontrace import ActionExecutionTrace, ActionTraceOutputService
svc = ActionTraceOutputService(sys.argv[1])
for n in range(2000):
    t = ActionExecutionTrace(action_id=f"core:a{n}", actor_id="p", turn_action={})
    t.capture_dispatch_start()
    t.capture_dispatch_result({"success": True})
    svc.write_trace(t)
print("enqueued", flush=True)
"""


def test_traces_still_queued_at_interpreter_exit_are_written(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD_EXITS_WITHOUT_CLOSE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "enqueued"
    assert action_ids(tmp_path) == [f"core:a{n}" for n in range(2000)]


def test_a_closed_service_is_unregistered_from_atexit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[Any] = []
    monkeypatch.setattr(service_module.atexit, "unregister", removed.append)
    svc = ActionTraceOutputService(tmp_path)
    svc.close()
    svc.close()
    assert removed == [svc._close_at_exit]


def test_the_atexit_hook_closes_the_service(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(make_trace(0))
    svc._close_at_exit()
    assert svc.closed and not svc._thread.is_alive()
    assert json.loads(next(tmp_path.iterdir()).read_text())["metadata"]["actionId"] == "core:a0"


def test_the_safe_logger_passes_every_level_on_and_swallows_logger_errors() -> None:
    from actiontrace.output.service import _SafeLogger

    seen: list[tuple[str, str]] = []

    class Recording:
        def __getattr__(self, level: str) -> Any:
            return lambda message: seen.append((level, message))

    class Raising:
        def __getattr__(self, level: str) -> Any:
            def fail(message: str) -> None:
                raise RuntimeError(message)

            return fail

    for logger in (_SafeLogger(Recording()), _SafeLogger(Raising())):
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.error("e")
    assert seen == [("debug", "d"), ("info", "i"), ("warning", "w"), ("error", "e")]
