"""Disk faults never reach the caller: logged, counted, retried with backoff, waits bounded (§6).

A full file (EFBIG) is real, through RLIMIT_FSIZE in a child process; a removed or replaced
directory is real; permission denied and a full disk (ENOSPC) are injected, since the tests run
as root (modes are ignored) and a real full file system cannot be made here.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, ActionTraceOutputService, read_traces
from actiontrace.output import sinks
from actiontrace.output.reader import ReadStats, scan_traces

BOUND = 10.0  # seconds flush()/close() may take at most while a fault persists (SPEC §6)


def make_trace(n: int) -> ActionExecutionTrace:
    t = ActionExecutionTrace(
        action_id=f"core:a{n}", actor_id="p1", turn_action={"actionDefinitionId": "core:a"}
    )
    t.capture_dispatch_start()
    t.capture_dispatch_result({"success": True})
    return t


def action_ids(path: Path) -> list[str]:
    return [t["metadata"]["actionId"] for t in read_traces(path)]


class Fault:
    """Makes a function of the sinks module raise OSError(code) while switched on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
        self.on = True
        self.calls = 0
        real = getattr(sinks.os, name)

        def faulty(*args: Any, **kwargs: Any) -> Any:
            if self.on:
                self.calls += 1
                raise OSError(code, os.strerror(code))
            return real(*args, **kwargs)

        monkeypatch.setattr(sinks.os, name, faulty)


# -- a real full file: RLIMIT_FSIZE ---------------------------------------------------------------

CHILD_WITH_FILE_SIZE_LIMIT = r"""
import json, resource, signal, sys, time
from actiontrace import ActionExecutionTrace, ActionTraceOutputService

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
svc = ActionTraceOutputService(sys.argv[1])
for n in range(400):
    t = ActionExecutionTrace(action_id=f"core:a{n}", actor_id="p", turn_action={})
    t.capture_dispatch_start()
    t.capture_event_payload({"text": "x" * 300})
    t.capture_dispatch_result({"success": True})
    svc.write_trace(t)
flushed = svc.flush()
after_flush = dict(svc.stats)
# One trace larger than the limit can never be written: a fault that persists.
big = ActionExecutionTrace(action_id="core:big", actor_id="p", turn_action={})
big.capture_dispatch_start()
big.capture_event_payload({"text": "y" * 100_000})
big.capture_dispatch_result({"success": True})
svc.write_trace(big)
started = time.monotonic()
svc.close(timeout=2)
took = time.monotonic() - started
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # let coverage write its data
print(json.dumps({"flushed": flushed, "after_flush": after_flush, "stats": svc.stats,
                  "close_took": took}))
"""


def test_a_real_file_size_limit_rotates_files_and_a_hopeless_trace_is_counted_failed(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD_WITH_FILE_SIZE_LIMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["flushed"] is True
    # Every file hit EFBIG at 64 KiB and the writer moved on to a new one: nothing lost.
    assert report["after_flush"]["written"] == 400
    assert report["after_flush"]["failed"] == 0
    assert report["stats"]["failed"] == 1  # the 100 KB trace
    assert report["stats"]["faults"] >= 2  # its attempts, retried with backoff
    assert report["close_took"] < 2 + 2
    assert "reached the file size limit" in done.stderr
    assert "gave up writing 1 traces" in done.stderr
    files = list(tmp_path.iterdir())
    assert len(files) > 2
    assert all(path.stat().st_size <= 64 * 1024 for path in files)
    stats = ReadStats()
    ids = [r.trace["metadata"]["actionId"] for r in scan_traces(tmp_path, stats)]
    assert ids == [f"core:a{n}" for n in range(400)]
    assert stats.corrupt == 0 and stats.torn == 0  # partial lines were cut off


# -- the directory removed or replaced ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_directory_removed_mid_run_is_recreated_and_later_traces_land(
    tmp_path: Path, fmt: str
) -> None:
    folder = tmp_path / "traces"
    with ActionTraceOutputService(folder, format=fmt) as svc:
        for n in range(10):
            svc.write_trace(make_trace(n))
        assert svc.flush()
        shutil.rmtree(folder)
        for n in range(10, 20):
            svc.write_trace(make_trace(n))
        assert svc.flush()
    assert folder.is_dir()
    assert sorted(action_ids(folder)) == sorted(f"core:a{n}" for n in range(10, 20))
    assert svc.stats["failed"] == 0


@pytest.mark.parametrize(("fmt", "timeout"), [("jsonl", None), ("json", 2.0)])
def test_a_directory_replaced_by_a_file_is_logged_counted_and_close_returns_in_bound(
    tmp_path: Path, fmt: str, timeout: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "traces"
    svc = ActionTraceOutputService(folder, format=fmt)
    svc.write_trace(make_trace(0))
    assert svc.flush()
    shutil.rmtree(folder)
    folder.write_text("not a directory")
    with caplog.at_level(logging.WARNING, "actiontrace"):
        for n in range(1, 6):
            assert svc.write_trace(make_trace(n)) is True  # the caller sees nothing
        started = time.monotonic()
        if timeout is None:
            svc.close()  # the default bound of SPEC §6
        else:
            svc.close(timeout)
        took = time.monotonic() - started
    assert took < (BOUND if timeout is None else timeout + 2)
    assert svc.stats["failed"] == 5 and svc.stats["written"] == 1
    assert svc.stats["faults"] >= 2 and svc.stats["queued"] == 0
    assert folder.read_text() == "not a directory"
    assert "cannot write traces" in caplog.text and "gave up" in caplog.text
    # Rate-limited: a handful of messages, not one per attempt.
    assert len(caplog.records) <= 4


def test_an_output_dir_that_cannot_be_created_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, "actiontrace"):
        svc = ActionTraceOutputService(blocker / "traces")
        svc.write_trace(make_trace(0))
        svc.close(timeout=1)
    assert "cannot create trace directory" in caplog.text
    assert svc.stats["failed"] == 1


# -- injected faults: permission denied, a full disk -----------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_permission_denied_is_retried_then_given_up_and_writing_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fmt: str
) -> None:
    fault = Fault(monkeypatch, "open", errno.EACCES)
    svc = ActionTraceOutputService(tmp_path, format=fmt)
    with caplog.at_level(logging.WARNING, "actiontrace"):
        for n in range(3):
            svc.write_trace(make_trace(n))
        started = time.monotonic()
        assert svc.flush(timeout=1) is True  # settled: given up after half the timeout
        assert time.monotonic() - started < 1 + 2
    assert svc.stats["failed"] == 3 and fault.calls >= 2
    assert "Permission denied" in caplog.text
    fault.on = False
    for n in range(3, 6):
        svc.write_trace(make_trace(n))
    svc.close()
    assert sorted(action_ids(tmp_path)) == [f"core:a{n}" for n in range(3, 6)]
    assert svc.stats["written"] == 3


def test_a_full_disk_is_retried_with_backoff_and_nothing_is_lost_once_it_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = Fault(monkeypatch, "write", errno.ENOSPC)
    svc = ActionTraceOutputService(tmp_path)
    for n in range(5):
        svc.write_trace(make_trace(n))
    time.sleep(1.2)  # let the fault persist: the backoff spaces the attempts out
    attempts = fault.calls
    fault.on = False
    assert svc.flush() is True
    svc.close()
    # 0, .05, .15, .35, .75 s: exponential backoff, not a busy loop.
    assert 3 <= attempts <= 8
    assert svc.stats["written"] == 5 and svc.stats["failed"] == 0
    assert svc.stats["faults"] == attempts
    assert action_ids(tmp_path) == [f"core:a{n}" for n in range(5)]


def test_a_flush_gives_up_only_on_traces_enqueued_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = Fault(monkeypatch, "write", errno.ENOSPC)
    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(make_trace(0))
    flushed = threading.Event()

    def flush() -> None:
        svc.flush(timeout=0.6)
        flushed.set()

    flusher = threading.Thread(target=flush)
    flusher.start()
    time.sleep(0.1)
    svc.write_trace(make_trace(1))  # after the flush began: not the flush's to give up
    flusher.join(5)
    assert flushed.is_set()
    fault.on = False
    svc.close()
    assert svc.stats["failed"] == 1
    assert action_ids(tmp_path) == ["core:a1"]


def test_the_backoff_is_capped_so_a_cleared_fault_is_noticed_within_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = Fault(monkeypatch, "write", errno.ENOSPC)
    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(make_trace(0))
    time.sleep(2.5)  # long enough for an uncapped backoff to reach 3.2 s
    fault.on = False
    cleared = time.monotonic()
    assert svc.flush() is True
    assert time.monotonic() - cleared < 1 + 1.5
    svc.close()
    assert svc.stats["written"] == 1


def test_close_returns_in_bound_when_the_writer_is_stuck_counting_the_queue_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Hung:
        def to_dict(self) -> dict[str, Any]:
            entered.set()
            release.wait(20)
            return {"metadata": {"actionId": "hung", "traceType": "execution"}}

    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(Hung())
    assert entered.wait(10)
    for n in range(4):
        svc.write_trace(make_trace(n))
    with caplog.at_level(logging.ERROR, "actiontrace"):
        started = time.monotonic()
        svc.close(timeout=0.5)
        took = time.monotonic() - started
    assert took < 0.5 + 2
    assert svc.stats["failed"] == 4
    assert "4 queued traces were not written" in caplog.text
    release.set()
    svc._thread.join(10)
    assert not svc._thread.is_alive()
    assert svc.stats["written"] == 1 and svc.stats["queued"] == 0
    assert svc.flush(0.1) is True


def test_a_repeated_fault_message_says_how_many_were_suppressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from actiontrace.output import service as service_module

    monkeypatch.setattr(service_module, "_LOG_INTERVAL", 0.3)
    fault = Fault(monkeypatch, "write", errno.ENOSPC)
    with caplog.at_level(logging.WARNING, "actiontrace"):
        svc = ActionTraceOutputService(tmp_path)
        svc.write_trace(make_trace(0))
        time.sleep(1.0)
        fault.on = False
        svc.close()
    messages = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert 2 <= len(messages) < fault.calls
    assert any("similar messages suppressed" in m for m in messages[1:])


def test_close_timing_out_with_nothing_queued_logs_nothing_and_flush_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    entered = threading.Event()

    class Hung:
        def to_dict(self) -> dict[str, Any]:
            entered.set()
            release.wait(20)
            return {"metadata": {"actionId": "hung", "traceType": "execution"}}

    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(Hung())
    assert entered.wait(10)
    with caplog.at_level(logging.ERROR, "actiontrace"):
        svc.close(timeout=0.1)
    assert caplog.text == ""
    assert svc.stats["failed"] == 0 and svc.stats["queued"] == 1
    release.set()
    svc._thread.join(10)
    assert svc.stats["written"] == 1 and svc.flush(0.1) is True
