"""Output services survive fork: the child writes its own files, the parent loses nothing.

The parent's writer is held inside a trace's ``to_dict()`` at the moment of the fork, so traces
sit in its queue then: the child must neither write them again nor lose its own, and the parent
must write every one of them once released.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, ActionTraceOutputService, read_traces

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def make_trace(action_id: str) -> ActionExecutionTrace:
    trace = ActionExecutionTrace(
        action_id=action_id, actor_id="p1", turn_action={"actionDefinitionId": action_id}
    )
    trace.capture_dispatch_start()
    trace.capture_dispatch_result({"success": True})
    return trace


class Gate:
    """Holds the parent's writer inside to_dict() until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def to_dict(self) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(20)
        return {"metadata": {"actionId": "gate", "traceType": "custom"}}


def ids_in(files: list[Path]) -> list[str]:
    return [t["metadata"]["actionId"] for f in sorted(files) for t in read_traces(f)]


def files_of(folder: Path, pid: int) -> list[Path]:
    return [path for path in folder.iterdir() if f"_p{pid}_" in path.name]


def child_work(svc: ActionTraceOutputService, count: int) -> int:
    """What a forked child does with the service it inherited; its exit code says how it went."""
    for n in range(count):
        svc.write_trace(make_trace(f"child:{n}"))
    if not svc.flush(10):
        return 2
    stats = svc.stats
    # Fresh counts: the parent's queued and written traces are not the child's.
    if stats["written"] != count or stats["queued"] != 0 or stats["dropped"] != 0:
        return 3
    svc.close()
    return 0


def run_forked_child(svc: ActionTraceOutputService, count: int) -> int:
    """Fork with os.fork; return the child's pid after it exited with code 0."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - measured in the child (coverage saves on os._exit)
        code = 1
        try:
            code = child_work(svc, count)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pid


def mp_child(svc: ActionTraceOutputService, count: int) -> None:
    code = child_work(svc, count)
    if code:
        raise SystemExit(code)


@pytest.mark.parametrize("how", ["os.fork", "multiprocessing"])
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_forked_child_writes_its_own_files_and_the_parent_loses_nothing(
    tmp_path: Path, how: str, fmt: str
) -> None:
    svc = ActionTraceOutputService(tmp_path, format=fmt)
    gate = Gate()
    svc.write_trace(gate)
    assert gate.entered.wait(10)
    for n in range(20):  # queued in the parent while its writer is held: at the fork too
        svc.write_trace(make_trace(f"parent:{n}"))
    if how == "os.fork":
        child_pid = run_forked_child(svc, 30)
    else:
        process = multiprocessing.get_context("fork").Process(target=mp_child, args=(svc, 30))
        process.start()
        process.join(30)
        assert process.exitcode == 0
        assert process.pid is not None
        child_pid = process.pid
    gate.release.set()
    for n in range(20, 40):
        svc.write_trace(make_trace(f"parent:{n}"))
    assert svc.flush() is True
    svc.close()

    child_files = files_of(tmp_path, child_pid)
    parent_files = files_of(tmp_path, os.getpid())
    assert child_files and parent_files
    assert len(child_files) + len(parent_files) == len(list(tmp_path.iterdir()))
    assert ids_in(child_files) == [f"child:{n}" for n in range(30)]  # names sort in write order
    expected = ["gate", *(f"parent:{n}" for n in range(40))]
    assert sorted(ids_in(parent_files)) == sorted(expected)
    stats = svc.stats
    assert stats["written"] == 41 and stats["dropped"] == 0 and stats["failed"] == 0


def test_a_service_closed_before_the_fork_stays_closed_in_the_child(tmp_path: Path) -> None:
    svc = ActionTraceOutputService(tmp_path)
    svc.write_trace(make_trace("parent:0"))
    svc.close()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - measured in the child
        ok = svc.closed and svc.write_trace(make_trace("child:0")) is False and svc.flush(1)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ids_in(list(tmp_path.iterdir())) == ["parent:0"]


def mp_child_without_flush(svc: ActionTraceOutputService, count: int) -> None:
    for n in range(count):
        svc.write_trace(make_trace(f"child:{n}"))
    # No flush, no close: the child's normal end writes what is queued.


def test_a_multiprocessing_child_that_never_flushes_still_writes_its_traces_at_its_end(
    tmp_path: Path,
) -> None:
    svc = ActionTraceOutputService(tmp_path)
    process = multiprocessing.get_context("fork").Process(
        target=mp_child_without_flush, args=(svc, 500)
    )
    process.start()
    process.join(30)
    assert process.exitcode == 0 and process.pid is not None
    svc.write_trace(make_trace("parent:0"))
    svc.close()
    assert ids_in(files_of(tmp_path, process.pid)) == [f"child:{n}" for n in range(500)]
    assert ids_in(files_of(tmp_path, os.getpid())) == ["parent:0"]
