"""load_config / TraceConfig: files, pyproject table, environment overrides, error messages."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.pipeline import ActionTraceFilter, TraceConfig, load_config

ALL_KEYS = """\
enabled = false
traced_actions = ["core:*", "mod:go"]
excluded_actions = ["core:wait"]
sample_rate = 0.25
seed = 42
output_dir = "out/traces"
format = "json"
max_queue_size = 500
max_file_bytes = 4096
max_files = 3
max_total_bytes = 1000000
compress_rotated = true
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_file_gives_the_defaults(in_tmp: Path) -> None:
    config = load_config(environ={})
    assert config == TraceConfig()
    assert config.source is None
    assert config.enabled is True
    assert config.traced_actions == ("*",)
    assert config.excluded_actions == ()
    assert config.sample_rate == 1.0
    assert config.seed == 0
    assert config.output_dir == Path("traces")
    assert config.format == "jsonl"
    assert config.max_queue_size == 10_000
    assert config.max_file_bytes == 64 * 1024 * 1024
    assert config.max_files is None
    assert config.max_total_bytes is None
    assert config.compress_rotated is False


def test_actiontrace_toml_sets_every_key(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text(ALL_KEYS)
    config = load_config(environ={})
    assert config.enabled is False
    assert config.traced_actions == ("core:*", "mod:go")
    assert config.excluded_actions == ("core:wait",)
    assert config.sample_rate == 0.25
    assert config.seed == 42
    assert config.output_dir == Path("actiontrace.toml").parent / "out/traces"
    assert config.format == "json"
    assert config.max_queue_size == 500
    assert config.max_file_bytes == 4096
    assert config.max_files == 3
    assert config.max_total_bytes == 1_000_000
    assert config.compress_rotated is True
    assert config.source == Path("actiontrace.toml")


def test_relative_output_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "settings.toml").write_text('output_dir = "traces"\n')
    assert load_config(folder / "settings.toml", environ={}).output_dir == folder / "traces"
    absolute = tmp_path / "elsewhere"
    (folder / "settings.toml").write_text(f"output_dir = {str(absolute)!r}\n")
    assert load_config(folder / "settings.toml", environ={}).output_dir == absolute


def test_pyproject_table_is_read_when_there_is_no_actiontrace_toml(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text(
        '[project]\nname = "game"\n\n[tool.actiontrace]\nsample_rate = 0.5\nseed = 9\n'
    )
    config = load_config(environ={})
    assert (config.sample_rate, config.seed) == (0.5, 9)
    assert config.source == Path("pyproject.toml")


def test_actiontrace_toml_wins_over_pyproject(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text("[tool.actiontrace]\nseed = 1\n")
    (in_tmp / "actiontrace.toml").write_text("seed = 2\n")
    assert load_config(environ={}).seed == 2


@pytest.mark.parametrize(
    "text", ['[project]\nname = "game"\n', "tool = 1\n", "[tool.black]\nline-length = 9\n"]
)
def test_pyproject_without_the_table_gives_defaults(in_tmp: Path, text: str) -> None:
    (in_tmp / "pyproject.toml").write_text(text)
    config = load_config(environ={})
    assert config == TraceConfig()
    assert config.source == Path("pyproject.toml")


def test_pyproject_tool_actiontrace_must_be_a_table(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text("[tool]\nactiontrace = 3\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    assert str(caught.value) == "pyproject.toml: key 'tool.actiontrace': must be a table, got 3"


def test_explicit_pyproject_path_reads_its_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.actiontrace]\nenabled = false\n")
    assert load_config(str(path), environ={}).enabled is False


def test_explicit_path_of_another_name_reads_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "tracing.toml"
    path.write_text("seed = 5\n")
    assert load_config(path, environ={}).seed == 5


def test_explicit_missing_file_or_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"path: .*nope\.toml: no such file"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        load_config(tmp_path, environ={})
    with pytest.raises(InvalidArgumentError, match="path must be a str or a path"):
        load_config(42, environ={})  # type: ignore[arg-type]


def test_the_spec_example_message(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text('sample_rate = "high"\n')
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    assert str(caught.value) == (
        "actiontrace.toml: key 'sample_rate': must be a number between 0 and 1, got 'high'"
    )


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ("enabled = 1", "enabled", "must be true or false, got 1"),
        ('traced_actions = "core:*"', "traced_actions", "must be an array of strings"),
        ("traced_actions = [1]", "traced_actions", "non-empty strings, got item 1"),
        ('excluded_actions = [""]', "excluded_actions", "got item ''"),
        ("sample_rate = 1.5", "sample_rate", "between 0 and 1, got 1.5"),
        ("sample_rate = true", "sample_rate", "between 0 and 1, got True"),
        ("sample_rate = nan", "sample_rate", "between 0 and 1, got nan"),
        ("seed = 1.5", "seed", "must be an integer, got 1.5"),
        ("output_dir = 3", "output_dir", "must be a non-empty string"),
        ('output_dir = ""', "output_dir", "must be a non-empty string"),
        ('format = "yaml"', "format", "must be 'jsonl' or 'json', got 'yaml'"),
        ("max_queue_size = 0", "max_queue_size", "must be an integer >= 1, got 0"),
        ("max_file_bytes = -5", "max_file_bytes", "must be an integer >= 1, got -5"),
        ("max_files = 0", "max_files", "must be an integer >= 1, got 0"),
        ("max_total_bytes = -5", "max_total_bytes", "must be an integer >= 1, got -5"),
        ('compress_rotated = "yes"', "compress_rotated", "must be true or false"),
    ],
)
def test_bad_value_names_file_key_and_problem(
    in_tmp: Path, line: str, key: str, problem: str
) -> None:
    (in_tmp / "actiontrace.toml").write_text(line + "\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    message = str(caught.value)
    assert message.startswith(f"actiontrace.toml: key '{key}': ")
    assert problem in message


def test_bad_value_in_pyproject_names_the_table(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text("[tool.actiontrace]\nseed = 'x'\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    assert str(caught.value).startswith("pyproject.toml: [tool.actiontrace]: key 'seed': ")


def test_unknown_key_is_named_with_a_suggestion(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text("smaple_rate = 0.5\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    message = str(caught.value)
    assert message.startswith("actiontrace.toml: key 'smaple_rate': unknown key")
    assert "did you mean 'sample_rate'?" in message
    assert "known keys: enabled, traced_actions" in message


def test_unknown_key_without_a_close_match_lists_the_known_keys(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text("[logging]\nlevel = 'x'\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    message = str(caught.value)
    assert message.startswith("actiontrace.toml: key 'logging': unknown key; known keys: ")
    assert "source" not in message


def test_invalid_toml_names_the_file_and_line(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text("enabled = true\nseed = = 3\n")
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    message = str(caught.value)
    assert message.startswith("actiontrace.toml: invalid TOML: ")
    assert "line 2" in message


def test_unreadable_file_is_named(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "actiontrace.toml").write_text("seed = 1\n")

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={})
    assert str(caught.value) == "actiontrace.toml: cannot read: Permission denied"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_actiontrace_enabled_overrides_the_file(in_tmp: Path, value: str, expected: bool) -> None:
    (in_tmp / "actiontrace.toml").write_text(f"enabled = {str(not expected).lower()}\n")
    assert load_config(environ={"ACTIONTRACE_ENABLED": value}).enabled is expected


def test_bad_actiontrace_enabled_names_the_variable(in_tmp: Path) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        load_config(environ={"ACTIONTRACE_ENABLED": "maybe"})
    assert str(caught.value) == (
        "environment variable ACTIONTRACE_ENABLED: must be one of "
        "1/0/true/false/yes/no/on/off, got 'maybe'"
    )


def test_actiontrace_actions_replaces_traced_actions(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text('traced_actions = ["mod:*"]\n')
    config = load_config(environ={"ACTIONTRACE_ACTIONS": " core:* , *:go,, "})
    assert config.traced_actions == ("core:*", "*:go")


def test_actiontrace_actions_without_a_pattern_is_an_error(in_tmp: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="environment variable ACTIONTRACE_ACTIONS"):
        load_config(environ={"ACTIONTRACE_ACTIONS": " , ,"})


def test_actiontrace_dir_overrides_output_dir_as_given(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text('output_dir = "from-file"\n')
    assert load_config(environ={"ACTIONTRACE_DIR": "env/dir"}).output_dir == Path("env/dir")


def test_empty_variables_count_as_unset(in_tmp: Path) -> None:
    env = {"ACTIONTRACE_ENABLED": " ", "ACTIONTRACE_ACTIONS": "", "ACTIONTRACE_DIR": "  "}
    assert load_config(environ=env) == TraceConfig()


def test_environ_defaults_to_the_process_environment(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIONTRACE_ENABLED", "off")
    monkeypatch.delenv("ACTIONTRACE_ACTIONS", raising=False)
    monkeypatch.delenv("ACTIONTRACE_DIR", raising=False)
    assert load_config().enabled is False


def test_trace_config_validates_and_normalises_direct_construction() -> None:
    config = TraceConfig(
        traced_actions=["core:*"],  # type: ignore[arg-type]
        output_dir="somewhere",  # type: ignore[arg-type]
        sample_rate=0,
    )
    assert config.traced_actions == ("core:*",)
    assert config.output_dir == Path("somewhere")
    assert isinstance(config.sample_rate, float)
    with pytest.raises(InvalidArgumentError) as caught:
        TraceConfig(sample_rate=math.inf)
    assert str(caught.value) == "sample_rate must be a number between 0 and 1, got inf"
    with pytest.raises(InvalidArgumentError, match="max_files must be an integer >= 1"):
        TraceConfig(max_files=0)


def test_trace_config_is_frozen_with_slots() -> None:
    config = TraceConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    assert not hasattr(config, "__dict__")


def test_create_filter_carries_the_settings() -> None:
    config = TraceConfig(
        traced_actions=("core:*",), excluded_actions=("core:wait",), sample_rate=0.5, seed=4
    )
    trace_filter = config.create_filter()
    assert isinstance(trace_filter, ActionTraceFilter)
    assert trace_filter.traced_actions == ("core:*",)
    assert trace_filter.excluded_actions == ("core:wait",)
    assert (trace_filter.sample_rate, trace_filter.seed) == (0.5, 4)
    assert not trace_filter.should_trace("core:wait")
    assert not trace_filter.should_trace("mod:go")
    reference = ActionTraceFilter(traced_actions=("core:*",), sample_rate=0.5, seed=4)
    assert [trace_filter.should_trace("core:go") for _ in range(50)] == [
        reference.should_trace("core:go") for _ in range(50)
    ]
    assert not TraceConfig(enabled=False).create_filter().should_trace("core:go")


@pytest.mark.parametrize("file_format", ["jsonl", "json"])
def test_create_output_service_writes_where_and_how_configured(
    tmp_path: Path, file_format: str
) -> None:
    from actiontrace import ActionExecutionTrace, ActionTraceOutputService, read_traces

    # One byte in all: only the newest file is kept, which shows the setting reached the service.
    config = TraceConfig(
        output_dir=tmp_path / "traces", format=file_format, max_file_bytes=1, max_total_bytes=1
    )
    service = config.create_output_service(logger=logging.getLogger("test"))
    assert isinstance(service, ActionTraceOutputService)
    with service:
        for action in ("core:go", "core:stop"):
            trace = ActionExecutionTrace(
                action_id=action, actor_id="p1", turn_action={"actionDefinitionId": action}
            )
            trace.capture_dispatch_start()
            trace.capture_dispatch_result({"success": True})
            service.write_trace(trace)
            service.flush()
    assert [p.suffix for p in (tmp_path / "traces").iterdir()] == [f".{file_format}"]
    assert service.stats["written"] == 2
    [written] = list(read_traces(tmp_path / "traces"))
    assert written["metadata"]["actionId"] == "core:stop"


def test_verbosity_and_per_pattern_overrides_come_from_the_file(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text(
        'verbosity = "minimal"\n[verbosity_overrides]\n"combat:*" = "verbose"\n',
        encoding="utf-8",
    )
    config = load_config(environ={})
    trace_filter = config.create_filter()
    assert trace_filter.verbosity_for("core:go").value == "minimal"
    assert trace_filter.verbosity_for("combat:hit").value == "verbose"


def test_actiontrace_verbosity_overrides_the_file(in_tmp: Path) -> None:
    (in_tmp / "actiontrace.toml").write_text('verbosity = "minimal"\n', encoding="utf-8")
    config = load_config(environ={"ACTIONTRACE_VERBOSITY": "Detailed"})
    assert config.verbosity.value == "detailed"
    with pytest.raises(InvalidArgumentError, match="ACTIONTRACE_VERBOSITY: must be one of"):
        load_config(environ={"ACTIONTRACE_VERBOSITY": "loud"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('verbosity = "loud"', "key 'verbosity': must be one of"),
        ('verbosity_overrides = ["x"]', "key 'verbosity_overrides': must be a table"),
        (
            '[verbosity_overrides]\n"core:*" = "loud"',
            "key 'verbosity_overrides': level of 'core:\\*' must be one of",
        ),
        (
            '[verbosity_overrides]\n"" = "minimal"',
            "key 'verbosity_overrides': patterns must be non-empty strings",
        ),
    ],
)
def test_bad_verbosity_settings_name_file_key_and_problem(
    in_tmp: Path, text: str, problem: str
) -> None:
    (in_tmp / "actiontrace.toml").write_text(text + "\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=f"actiontrace.toml: {problem}"):
        load_config(environ={})


def test_trace_config_accepts_overrides_as_pairs() -> None:
    from actiontrace import TraceConfig

    config = TraceConfig(verbosity_overrides=(("core:*", "verbose"),))  # type: ignore[arg-type]
    assert config.create_filter().verbosity_for("core:go").value == "verbose"
