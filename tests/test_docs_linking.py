"""docs/linking.md: every Python block runs as written, in order, in one interpreter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "linking.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_linking_guide_python_blocks_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "linking_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"linking.md block {index}", "exec"), namespace)
    out = capsys.readouterr().out
    # The last block draws the guide's first session as a tree: attack > damage > defeated.
    assert "core:attack · hero · success" in out
    assert "└─ core:damage · orc · success" in out
    assert "   └─ core:defeated · orc · success" in out


def test_linking_guide_names_what_the_issue_asks_for() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for needle in (
        "traceparent",
        "copy_context",
        "structured_trace_factory",
        "actiontrace.span(",
        "Never add",
        "ACTIONTRACE_VERBOSITY",
        "[verbosity_overrides]",
        "show PATH --tree",
        "report PATH --by",
    ):
        assert needle in text, needle
