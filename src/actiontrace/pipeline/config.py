"""Tracing configuration: ``actiontrace.toml`` or ``[tool.actiontrace]``, plus the environment.

Keys (all optional, flat)::

    enabled = true                       # bool
    traced_actions = ["*"]               # array of patterns (see ActionTraceFilter)
    excluded_actions = []                # array of patterns; exclusion wins
    sample_rate = 1.0                    # number in [0, 1]
    seed = 0                             # integer, seeds the sampling hash
    output_dir = "traces"                # relative paths are relative to the config file
    format = "jsonl"                     # "jsonl" or "json"
    max_queue_size = 10000               # integer >= 1
    max_file_bytes = 67108864            # integer >= 1
    max_files = 10                       # integer >= 1; omit to keep every file
    max_total_bytes = 1073741824         # integer >= 1; omit for no bound on the total
    compress_rotated = false             # bool
    verbosity = "standard"               # minimal / standard / detailed / verbose

    [verbosity_overrides]                # per-pattern levels, first match wins
    "combat:*" = "verbose"

Environment variables override the file: ``ACTIONTRACE_ENABLED`` (1/0/true/false/yes/no/on/off),
``ACTIONTRACE_ACTIONS`` (comma-separated patterns, replacing ``traced_actions``),
``ACTIONTRACE_DIR`` (``output_dir``) and ``ACTIONTRACE_VERBOSITY`` (``verbosity``). An empty
variable counts as unset.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgumentError
from ..factory import LoggerLike
from ..verbosity import Verbosity, parse_verbosity
from .filter import ActionTraceFilter

if TYPE_CHECKING:
    from ..output.service import ActionTraceOutputService

__all__ = [
    "CONFIG_FILE_NAME",
    "ENV_ACTIONS",
    "ENV_DIR",
    "ENV_ENABLED",
    "ENV_VERBOSITY",
    "TraceConfig",
    "load_config",
]

CONFIG_FILE_NAME: Final = "actiontrace.toml"
PYPROJECT_FILE_NAME: Final = "pyproject.toml"
ENV_ENABLED: Final = "ACTIONTRACE_ENABLED"
ENV_ACTIONS: Final = "ACTIONTRACE_ACTIONS"
ENV_DIR: Final = "ACTIONTRACE_DIR"
ENV_VERBOSITY: Final = "ACTIONTRACE_VERBOSITY"

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class _Bad(Exception):
    """A value's problem, worded to follow ``key 'name': ``."""


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, got {value!r}")
    return value


def _patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _Bad(f"must be an array of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not item:
            raise _Bad(f"must be an array of non-empty strings, got item {item!r}")
    return tuple(value)


def _rate(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise _Bad(f"must be a number between 0 and 1, got {value!r}")
    return float(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"must be an integer, got {value!r}")
    return value


def _positive(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad(f"must be an integer >= 1, got {value!r}")
    return value


def _optional_positive(value: object) -> int | None:
    return None if value is None else _positive(value)


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value:
        raise _Bad(f"must be a non-empty string (a directory path), got {value!r}")
    return Path(value)


def _verbosity(value: object) -> Verbosity:
    try:
        return parse_verbosity(value, "value")
    except InvalidArgumentError:
        choices = ", ".join(level.value for level in Verbosity)
        raise _Bad(f"must be one of {choices}, got {value!r}") from None


def _overrides(value: object) -> tuple[tuple[str, Verbosity], ...]:
    if isinstance(value, tuple) and all(isinstance(item, tuple) for item in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise _Bad(f"must be a table of pattern = level, got {value!r}")
    pairs = []
    for pattern, level in value.items():
        if not isinstance(pattern, str) or not pattern:
            raise _Bad(f"patterns must be non-empty strings, got {pattern!r}")
        try:
            pairs.append((pattern, parse_verbosity(level, "value")))
        except InvalidArgumentError:
            choices = ", ".join(item.value for item in Verbosity)
            raise _Bad(f"level of {pattern!r} must be one of {choices}, got {level!r}") from None
    return tuple(pairs)


def _format(value: object) -> str:
    if value not in ("jsonl", "json"):
        raise _Bad(f"must be 'jsonl' or 'json', got {value!r}")
    return value


_CHECKS: Final[dict[str, Callable[[object], Any]]] = {
    "enabled": _bool,
    "traced_actions": _patterns,
    "excluded_actions": _patterns,
    "sample_rate": _rate,
    "seed": _int,
    "output_dir": _path,
    "format": _format,
    "max_queue_size": _positive,
    "max_file_bytes": _positive,
    "max_files": _optional_positive,
    "max_total_bytes": _optional_positive,
    "compress_rotated": _bool,
    "verbosity": _verbosity,
    "verbosity_overrides": _overrides,
}


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """Everything needed to switch tracing on: the filter's settings and the output's.

    Built by ``load_config`` or directly (every field is validated either way; a bad value raises
    ``InvalidArgumentError`` naming the field). ``source`` says which file the values came from.
    """

    enabled: bool = True
    traced_actions: tuple[str, ...] = ("*",)
    excluded_actions: tuple[str, ...] = ()
    sample_rate: float = 1.0
    seed: int = 0
    output_dir: Path = Path("traces")
    format: str = "jsonl"
    max_queue_size: int = 10_000
    max_file_bytes: int = 64 * 1024 * 1024
    max_files: int | None = None
    max_total_bytes: int | None = None
    compress_rotated: bool = False
    verbosity: Verbosity = Verbosity.STANDARD
    verbosity_overrides: tuple[tuple[str, Verbosity], ...] = ()
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            try:
                # Normalise (lists to tuples, str to Path, int rate to float) in place.
                object.__setattr__(self, name, check(getattr(self, name)))
            except _Bad as bad:
                raise InvalidArgumentError(f"{name} {bad}") from None

    def create_filter(self) -> ActionTraceFilter:
        """Build an ``ActionTraceFilter`` with this configuration's settings."""
        return ActionTraceFilter(
            enabled=self.enabled,
            traced_actions=self.traced_actions,
            excluded_actions=self.excluded_actions,
            sample_rate=self.sample_rate,
            seed=self.seed,
            verbosity=self.verbosity,
            verbosity_overrides=dict(self.verbosity_overrides),
        )

    def create_output_service(self, logger: LoggerLike | None = None) -> ActionTraceOutputService:
        """Build an ``ActionTraceOutputService`` writing to ``output_dir`` with these settings."""
        from ..output.service import ActionTraceOutputService  # noqa: PLC0415 - loaded on use

        return ActionTraceOutputService(
            self.output_dir,
            format=self.format,
            max_queue_size=self.max_queue_size,
            max_file_bytes=self.max_file_bytes,
            max_files=self.max_files,
            compress_rotated=self.compress_rotated,
            logger=logger,
            max_total_bytes=self.max_total_bytes,
        )


_KEYS: Final = tuple(f.name for f in fields(TraceConfig) if f.name != "source")


def _fail(where: str, key: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}: key '{key}': {problem}")


def _from_table(table: Mapping[str, Any], where: str, base: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in table.items():
        check = _CHECKS.get(key)
        if check is None:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _fail(where, key, f"unknown key{hint}; known keys: {', '.join(_KEYS)}")
        try:
            value = check(raw)
        except _Bad as bad:
            raise _fail(where, key, str(bad)) from None
        if key == "output_dir" and not value.is_absolute():
            value = base / value
        values[key] = value
    return values


def _read_toml(path: Path, shown: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise InvalidArgumentError(f"{shown}: invalid TOML: {error}") from None
    except OSError as error:
        raise InvalidArgumentError(f"{shown}: cannot read: {error.strerror or error}") from None


def _file_values(path: Path, shown: str) -> dict[str, Any]:
    document = _read_toml(path, shown)
    base = path.parent
    if path.name != PYPROJECT_FILE_NAME:
        return _from_table(document, shown, base)
    tool = document.get("tool", {})
    table = tool.get("actiontrace", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise InvalidArgumentError(
            f"{shown}: key 'tool.actiontrace': must be a table, got {table!r}"
        )
    return _from_table(table, f"{shown}: [tool.actiontrace]", base)


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    enabled = environ.get(ENV_ENABLED, "").strip()
    if enabled:
        word = enabled.lower()
        if word not in _TRUE and word not in _FALSE:
            raise InvalidArgumentError(
                f"environment variable {ENV_ENABLED}: must be one of "
                f"1/0/true/false/yes/no/on/off, got {enabled!r}"
            )
        values["enabled"] = word in _TRUE
    actions = environ.get(ENV_ACTIONS, "").strip()
    if actions:
        patterns = tuple(part.strip() for part in actions.split(",") if part.strip())
        if not patterns:
            raise InvalidArgumentError(
                f"environment variable {ENV_ACTIONS}: holds no pattern, got {actions!r}"
            )
        values["traced_actions"] = patterns
    directory = environ.get(ENV_DIR, "")
    if directory.strip():
        values["output_dir"] = Path(directory)
    level = environ.get(ENV_VERBOSITY, "").strip()
    if level:
        try:
            values["verbosity"] = _verbosity(level)
        except _Bad as bad:
            raise InvalidArgumentError(f"environment variable {ENV_VERBOSITY}: {bad}") from None
    return values


def _find(path: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    if path is None:
        for name in (CONFIG_FILE_NAME, PYPROJECT_FILE_NAME):
            if Path(name).is_file():
                return Path(name), name
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be a str or a path, got {type(path).__name__}")
    candidate = Path(path)
    shown = os.fspath(path)
    if not candidate.is_file():
        problem = "is a directory" if candidate.is_dir() else "no such file"
        raise InvalidArgumentError(f"path: {shown}: {problem}")
    return candidate, shown


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> TraceConfig:
    """Load the tracing configuration, then apply the environment's overrides.

    With ``path=None``, reads ``actiontrace.toml`` in the current directory, else the
    ``[tool.actiontrace]`` table of ``./pyproject.toml``, else uses the defaults. A file named
    ``pyproject.toml`` is read for its ``[tool.actiontrace]`` table, any other file for its
    top-level keys. ``environ`` defaults to ``os.environ``. A bad file or variable raises
    ``InvalidArgumentError`` naming the file (or variable), the key and the problem.
    """
    found = _find(path)
    values: dict[str, Any] = {}
    source = None
    if found is not None:
        source, shown = found
        values.update(_file_values(source, shown))
    values.update(_env_values(os.environ if environ is None else environ))
    return TraceConfig(**values, source=source)
