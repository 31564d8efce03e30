"""``ActionExecutionTraceFactory``: validated creation of traces, with logging (reference §5)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidArgumentError
from .ids import TraceContext
from .sanitize import rules_for
from .trace import ActionExecutionTrace
from .verbosity import Verbosity

__all__ = ["ActionExecutionTraceFactory", "LoggerLike", "ensure_logger"]

_LOGGER_METHODS = ("debug", "info", "warning", "error")


@runtime_checkable
class LoggerLike(Protocol):
    """Anything with callable ``debug``, ``info``, ``warning`` and ``error`` methods."""

    def debug(self, msg: str, /, *args: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def info(self, msg: str, /, *args: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def warning(self, msg: str, /, *args: Any, **kwargs: Any) -> Any: ...  # noqa: D102
    def error(self, msg: str, /, *args: Any, **kwargs: Any) -> Any: ...  # noqa: D102


# A library never prints: nothing reaches a terminal unless the application configures logging.
# Set here, where the library's logger is handed out, so that ``import actiontrace`` stays light
# (the package root sets it already when the application imported logging first).
if not any(isinstance(h, logging.NullHandler) for h in logging.getLogger("actiontrace").handlers):
    logging.getLogger("actiontrace").addHandler(logging.NullHandler())


def ensure_logger(logger: object, argument: str = "logger") -> LoggerLike:
    """Return ``logger`` (``None``: the ``actiontrace`` logger); reject one lacking the API."""
    if logger is None:
        return logging.getLogger("actiontrace")
    missing = [name for name in _LOGGER_METHODS if not callable(getattr(logger, name, None))]
    if missing:
        raise InvalidArgumentError(
            f"{argument} must have callable debug, info, warning and error methods "
            f"(missing: {', '.join(missing)})"
        )
    return logger  # type: ignore[return-value]


def _is_blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


class ActionExecutionTraceFactory:
    """Creates ``ActionExecutionTrace`` objects after validating their inputs.

    ``sensitive_fields`` and ``safe_fields`` extend the sanitiser's rules for every trace it makes.
    Custom metadata comes from four sources, later ones winning: ``metadata`` (added to
    every trace), ``metadata_providers`` (callables returning a mapping, called once per trace),
    ``create_trace(metadata=...)``, and ``trace.set_metadata()``.
    """

    __slots__ = ("_logger", "_metadata", "_providers", "_rules")

    def __init__(
        self,
        logger: LoggerLike | None = None,
        *,
        sensitive_fields: Iterable[str] = (),
        safe_fields: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        metadata_providers: Iterable[Callable[[], Mapping[str, Any]]] = (),
    ) -> None:
        self._logger = ensure_logger(logger)
        self._rules = rules_for(sensitive_fields, safe_fields)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidArgumentError("metadata must be a mapping")
        self._metadata = dict(metadata) if metadata else {}
        try:
            providers = tuple(metadata_providers)
        except TypeError:
            raise InvalidArgumentError(
                "metadata_providers must be an iterable of callables"
            ) from None
        if not all(callable(provider) for provider in providers):
            raise InvalidArgumentError("metadata_providers must be an iterable of callables")
        self._providers = providers

    @property
    def logger(self) -> LoggerLike:
        """The logger this factory reports through."""
        return self._logger

    def _validate(self, action_id: object, actor_id: object, turn_action: object) -> None:
        if _is_blank(action_id):
            raise InvalidArgumentError("action_id must be a non-blank string")
        if _is_blank(actor_id):
            raise InvalidArgumentError("actor_id must be a non-blank string")
        if type(turn_action) is not dict and not isinstance(turn_action, Mapping):
            raise InvalidArgumentError("turn_action must be a mapping")
        if "actionDefinitionId" not in turn_action:
            raise InvalidArgumentError("turn_action is missing actionDefinitionId")
        command = turn_action.get("commandString")
        if command is not None and not isinstance(command, str):
            self._logger.warning(
                f"Turn action commandString should be a str, got {type(command).__name__}"
            )
        parameters = turn_action.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            self._logger.warning(
                f"Turn action parameters should be a mapping, got {type(parameters).__name__}"
            )

    def _custom_metadata(self, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidArgumentError("metadata must be a mapping")
        merged = dict(self._metadata)
        for provider in self._providers:
            try:
                extra = provider()
            except Exception as error:
                self._logger.warning(
                    # str(), not repr(): escapes would hide a token's shape from the value rules
                    self._rules.redact(
                        f"Metadata provider {provider!r} failed "
                        f"({type(error).__name__}: {error}); skipped"
                    )
                )
                continue
            if not isinstance(extra, Mapping):
                self._logger.warning(
                    self._rules.redact(
                        f"Metadata provider {provider!r} returned a {type(extra).__name__}, "
                        "not a mapping; skipped"
                    )
                )
                continue
            merged.update(extra)
        if metadata:
            merged.update(metadata)
        return merged

    def create_trace(
        self,
        *,
        action_id: str,
        actor_id: str,
        turn_action: Mapping[str, Any],
        parent: ActionExecutionTrace | TraceContext | None = None,
        metadata: Mapping[str, Any] | None = None,
        verbosity: Verbosity | str | None = None,
    ) -> ActionExecutionTrace:
        """Validate and create a trace; log and raise ``InvalidArgumentError`` on any failure.

        ``parent`` links the trace to another, ``metadata`` adds custom metadata,
        ``verbosity`` (default ``standard``) says how much it keeps.
        """
        try:
            self._validate(action_id, actor_id, turn_action)
            trace = ActionExecutionTrace(
                action_id=action_id,
                actor_id=actor_id,
                turn_action=turn_action,
                rules=self._rules,
                parent=parent,
                verbosity=Verbosity.STANDARD if verbosity is None else verbosity,
                metadata=(
                    self._custom_metadata(metadata)
                    if metadata is not None or self._metadata or self._providers
                    else None
                ),
            )
        except Exception as error:
            # The reason may quote an argument: it goes through the value rules like any text.
            message = self._rules.redact(f"Failed to create execution trace: {error}")
            self._logger.error(message)
            raise InvalidArgumentError(message) from error
        logger = self._logger
        if not isinstance(logger, logging.Logger) or logger.isEnabledFor(logging.DEBUG):
            # The trace's ids, not the arguments: secrets in them are already redacted; the
            # line as a whole goes through the value rules too (quotes join a name and a value).
            action, actor = trace.action_id, trace.actor_id
            logger.debug(
                self._rules.redact(
                    f"Created execution trace for action '{action}' by actor '{actor}'"
                )
            )
        return trace

    def create_from_turn_action(
        self,
        turn_action: Mapping[str, Any],
        actor_id: str,
        *,
        parent: ActionExecutionTrace | TraceContext | None = None,
        metadata: Mapping[str, Any] | None = None,
        verbosity: Verbosity | str | None = None,
    ) -> ActionExecutionTrace:
        """Create a trace whose action id is ``turn_action["actionDefinitionId"]``."""
        if not isinstance(turn_action, Mapping):
            raise InvalidArgumentError("turn_action must be a mapping")
        if _is_blank(actor_id):
            raise InvalidArgumentError("actor_id must be a non-blank string")
        action_id = turn_action.get("actionDefinitionId")
        if not isinstance(action_id, str) or _is_blank(action_id):
            raise InvalidArgumentError("turn_action is missing actionDefinitionId")
        return self.create_trace(
            action_id=action_id,
            actor_id=actor_id,
            turn_action=turn_action,
            parent=parent,
            metadata=metadata,
            verbosity=verbosity,
        )
