"""A process killed with SIGKILL loses nothing it flushed, and leaves readable files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actiontrace.output.reader import ReadStats, scan_traces

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

CHILD = r"""
import sys
from actiontrace import ActionExecutionTrace, ActionTraceOutputService

def trace(n):
    t = ActionExecutionTrace(action_id=f"core:a{n}", actor_id="p", turn_action={})
    t.capture_dispatch_start()
    t.capture_event_payload({"n": n, "text": "x" * 200})
    t.capture_dispatch_result({"success": True})
    return t

svc = ActionTraceOutputService(sys.argv[1], max_file_bytes=256 * 1024)
n = 0
for _ in range(3):
    for _ in range(700):
        svc.write_trace(trace(n))
        n += 1
    assert svc.flush()
    print(f"flushed {n}", flush=True)
print("writing on", flush=True)
while True:  # until killed: the writer is busy mid-batch when SIGKILL lands
    svc.write_trace(trace(n))
    n += 1
"""


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def test_every_trace_flushed_before_a_sigkill_is_read_back(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        flushed = 0
        for line in child.stdout:
            if line.startswith("flushed "):
                flushed = int(line.split()[1])
            elif line.strip() == "writing on":
                break
        # Kill it once the writer has visibly gone on writing after the last flush.
        at_flush = folder_bytes(tmp_path)
        deadline = time.monotonic() + 20
        while folder_bytes(tmp_path) < at_flush + 64 * 1024 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    assert flushed == 2100

    stats = ReadStats()
    ids = [
        int(r.trace["metadata"]["actionId"].split("a")[-1]) for r in scan_traces(tmp_path, stats)
    ]
    # Everything flushed is there, in order; more may follow (written before the kill).
    assert ids[:flushed] == list(range(flushed))
    assert len(ids) > flushed
    assert stats.corrupt == 0 and stats.unreadable == 0
    assert stats.torn <= 1  # at most the line being written when the process died
    assert stats.files == len(list(tmp_path.iterdir())) >= 2
