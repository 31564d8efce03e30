"""``import actiontrace`` loads only the package root; each public name loads its module when used.

Each check runs in a fresh interpreter, so what another test imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import actiontrace

PROBE = """
import json, sys
before = set(sys.modules)
{code}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def loaded_by(code: str) -> set[str]:
    """The modules that running ``code`` in a fresh interpreter adds to ``sys.modules``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_actiontrace_loads_nothing_but_the_package_root() -> None:
    assert loaded_by("import actiontrace") == {"actiontrace"}


def test_a_core_name_loads_the_core_only_never_the_writer_the_analysis_or_the_pipeline() -> None:
    loaded = loaded_by("from actiontrace import ActionExecutionTrace")
    assert "actiontrace.trace" in loaded and "actiontrace.sanitize" in loaded
    ours = {name for name in loaded if name.startswith("actiontrace")}
    for part in ("analysis", "output", "pipeline", "otel", "cli", "demo"):
        assert not [name for name in ours if name.startswith(f"actiontrace.{part}")], part
    assert "asyncio" not in loaded


def test_the_reader_does_not_load_the_writer() -> None:
    loaded = loaded_by("from actiontrace import read_traces")
    assert "actiontrace.output.reader" in loaded
    for writer in ("service", "sinks", "worker"):
        assert f"actiontrace.output.{writer}" not in loaded
    assert "actiontrace.trace" not in loaded and "actiontrace.analysis" not in loaded


def test_the_output_service_does_not_load_the_analysis_side_or_opentelemetry() -> None:
    loaded = loaded_by("from actiontrace import ActionTraceOutputService")
    assert "actiontrace.output.worker" in loaded
    assert not [
        name for name in loaded if name.startswith(("actiontrace.analysis", "opentelemetry"))
    ]


def test_every_public_name_resolves_and_the_export_table_agrees_with_all() -> None:
    assert set(actiontrace._EXPORTS) | {"__version__"} == set(actiontrace.__all__)
    assert len(actiontrace.__all__) == len(set(actiontrace.__all__))
    for name in actiontrace.__all__:
        value = getattr(actiontrace, name)
        assert value is not None
        if name != "__version__":
            module = actiontrace._EXPORTS[name]
            assert value is getattr(sys.modules[f"actiontrace{module}"], name)
    assert set(actiontrace.__all__) <= set(dir(actiontrace))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        actiontrace.no_such_name  # noqa: B018
    assert not hasattr(actiontrace, "_no_such_private")


def test_the_library_logger_has_a_null_handler_before_anything_logs() -> None:
    code = (
        "import logging\n"
        "from actiontrace import ActionExecutionTraceFactory\n"
        "ActionExecutionTraceFactory()\n"
        "print(any(isinstance(h, logging.NullHandler) "
        "for h in logging.getLogger('actiontrace').handlers))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "True"


def test_the_command_line_parser_loads_no_command_s_machinery() -> None:
    loaded = loaded_by("from actiontrace.cli import build_parser\nbuild_parser()")
    for heavy in (
        "actiontrace.demo",
        "actiontrace.analysis.report",
        "actiontrace.analysis.serve",
        "actiontrace.analysis.html",
        "actiontrace.analysis.tree",
        "actiontrace.pipeline",
        "actiontrace.output.service",
        "actiontrace.output.reader",
        "actiontrace.output.records",
        "actiontrace.analysis.chrome",
        "actiontrace.trace",
        "orjson",
        "asyncio",
    ):
        assert heavy not in loaded, heavy


def test_the_analysis_package_loads_its_names_when_used() -> None:
    loaded = loaded_by("import actiontrace.analysis")
    assert "actiontrace.analysis.report" not in loaded
    loaded = loaded_by("from actiontrace.analysis import render_record")
    assert "actiontrace.analysis.show" in loaded and "actiontrace.analysis.report" not in loaded
