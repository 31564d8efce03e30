"""The README's Python example runs exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_a_python_example() -> None:
    assert _python_blocks(), "README.md lost its usage example"


def test_readme_python_examples_run_as_written(capsys) -> None:
    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert re.search(
        r"Action: core:go \| Actor: player-1 \| Status: success \| Duration: [\d.]+ms", out
    )


def test_readme_links_point_to_existing_docs() -> None:
    root = README.parent
    for target in re.findall(r"\]\((docs/[^)]+)\)", README.read_text(encoding="utf-8")):
        assert (root / target).is_file(), f"README links to missing {target}"
