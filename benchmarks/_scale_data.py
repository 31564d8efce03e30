"""Generated trace folders for ``bench_scale.py``: real traces, varied, written fast.

A few thousand real traces (``ActionExecutionTrace``: successes, failures, errors with causes,
linked children, sampling marks) are made once; the rest of the ``count`` lines are copies of them
with fresh ids, durations and times, written as several JSON Lines files (every fourth gzipped),
as if from several machines.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path
from typing import Any

from actiontrace import ActionExecutionTrace

ACTIONS = ("core:go", "core:take", "core:look", "core:talk", "core:attack", "magic:cast")
TEMPLATES = 2_000


def _templates(rng: random.Random) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    parent: ActionExecutionTrace | None = None
    for n in range(TEMPLATES):
        action = ACTIONS[n % len(ACTIONS)]
        trace = ActionExecutionTrace(
            action_id=action,
            actor_id=f"actor-{n % 8}",
            turn_action={"actionDefinitionId": action, "commandString": f"{action} {n}"},
            parent=parent if n % 4 and parent is not None else None,
        )
        trace.capture_dispatch_start()
        trace.capture_event_payload({"turn": n, "room": f"room-{n % 50}", "items": [1, 2, 3]})
        roll = rng.random()
        if roll < 0.03:
            try:
                try:
                    raise KeyError(f"missing {n % 5}")
                except KeyError as inner:
                    raise ValueError(f"bad move {n % 7}") from inner
            except ValueError as error:
                trace.capture_error(error)
        else:
            trace.capture_dispatch_result({"success": roll > 0.13})
        made.append(trace.to_dict())
        if n % 4 == 0:
            parent = trace
    return made


def generate(
    folder: Path, count: int, *, files: int = 8, gzip_every: int = 4, seed: int = 11
) -> list[Path]:
    """Write ``count`` execution traces under ``folder`` in ``files`` files; return their paths."""
    rng = random.Random(seed)
    templates = _templates(rng)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    per_file = -(-count // files)
    written = 0
    for index in range(files):
        machine = folder / f"server-{index % 4}"
        machine.mkdir(exist_ok=True)
        name = f"traces-{index}.jsonl" + (
            ".gz" if gzip_every and index % gzip_every == gzip_every - 1 else ""
        )
        path = machine / name
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as handle:
            lines = []
            for _ in range(min(per_file, count - written)):
                trace = copy.deepcopy(templates[rng.randrange(TEMPLATES)])
                meta = trace["metadata"]
                meta["traceId"] = f"{rng.getrandbits(128):032x}"
                meta["spanId"] = f"{rng.getrandbits(64):016x}"
                execution = trace["execution"]
                duration = round(rng.lognormvariate(0, 1.2), 6)
                execution["endTime"] = execution["startTime"] + duration
                execution["duration"] = duration
                execution["startEpochNs"] += rng.randrange(10**12)
                if execution["status"] == "success" and rng.random() < 0.5:
                    trace["sampling"] = {"reason": "rate", "rate": 0.25}
                elif execution["status"] != "success":
                    trace["sampling"] = {"reason": execution["status"], "rate": 0.25}
                lines.append(json.dumps(trace, separators=(",", ":"), ensure_ascii=False))
                if len(lines) >= 10_000:
                    handle.write("\n".join(lines) + "\n")
                    written += len(lines)
                    lines = []
            if lines:
                handle.write("\n".join(lines) + "\n")
                written += len(lines)
        paths.append(path)
    return paths
