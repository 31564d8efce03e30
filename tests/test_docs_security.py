"""docs/security.md: every Python block runs as written, in order, in one interpreter, and every
key the guide's table names behaves as the table says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from actiontrace import is_sensitive_key

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "security.md"


def _text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_security_guide_python_blocks_run_in_order() -> None:
    blocks = re.findall(r"```python\n(.*?)```", _text(), re.S)
    assert len(blocks) >= 4
    namespace: dict[str, Any] = {"__name__": "security_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"security.md block {index}", "exec"), namespace)


def test_the_guides_key_table_is_what_is_sensitive_key_answers() -> None:
    rows = dict(re.findall(r"^\| (`.*`) \| (yes|no) \|$", _text(), re.M))
    assert set(rows.values()) == {"yes", "no"}
    for cell, answer in rows.items():
        keys = re.findall(r"`([^`]+)`", cell)
        assert keys
        for key in keys:
            assert is_sensitive_key(key) is (answer == "yes"), key
