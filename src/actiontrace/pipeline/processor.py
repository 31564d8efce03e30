"""``CommandProcessor``: an actor's chosen action becomes an event, traced on request (SPEC §6).

The untraced path is the game's hot path: when there is no filter and factory, or the filter says
no, ``dispatch_action`` does no tracing work at all (no factory call, no sanitising, no clock read).
Everything tracing does happens in ``_dispatch_traced``, and every fault there is logged and
swallowed: tracing never changes what ``dispatch_action`` returns or what the handlers see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from inspect import isawaitable
from types import CoroutineType
from typing import Any

from ..context import CURRENT_TRACE
from ..errors import InvalidArgumentError
from ..factory import LoggerLike, ensure_logger
from .dispatch import ATTEMPT_ACTION_ID, describe_exception

__all__ = ["CommandProcessor"]


class _Malformed(Exception):
    """Input ``dispatch_action`` refuses; the message is the reason."""


def _method(owner: object, name: str, argument: str) -> Callable[..., Any]:
    """``owner.name`` bound once, or ``InvalidArgumentError`` naming ``argument``."""
    try:
        method = getattr(owner, name, None)
    except Exception:
        method = None
    if not callable(method):
        raise InvalidArgumentError(f"{argument} must have a callable {name} method")
    return method  # type: ignore[no-any-return]


def _actor_id(actor: object) -> str:
    if type(actor) is dict or isinstance(actor, Mapping):
        actor_id = actor.get("id")
    else:
        actor_id = getattr(actor, "id", None)
    if not isinstance(actor_id, str):
        raise _Malformed(f"actor must have a non-empty str id, got {type(actor_id).__name__}")
    if not actor_id:
        raise _Malformed("actor must have a non-empty str id, got an empty str")
    return actor_id


def _read_turn(turn_action: object) -> tuple[str, str, object]:
    """Return (action id, original input, target id or None), or raise ``_Malformed``."""
    if type(turn_action) is not dict and not isinstance(turn_action, Mapping):
        raise _Malformed(f"turn_action must be a mapping, got {type(turn_action).__name__}")
    action_id = turn_action.get("actionDefinitionId")
    if not isinstance(action_id, str) or not action_id:
        raise _Malformed(
            f"turn_action must have a non-empty str actionDefinitionId, got {action_id!r}"
        )
    command = turn_action.get("commandString")
    target = turn_action.get("targetId")
    if target is None or target == "":
        # Engines also name the target among the parameters.
        parameters = turn_action.get("parameters")
        target = parameters.get("targetId") if isinstance(parameters, Mapping) else None
        if target == "":
            target = None
    return action_id, command if isinstance(command, str) and command else action_id, target


def _best_effort_input(turn_action: object) -> tuple[str, str | None]:
    """(original input, action id) for a failure result of malformed input, never raising."""
    try:
        if isinstance(turn_action, Mapping):
            action_id = turn_action.get("actionDefinitionId")
            action_id = action_id if isinstance(action_id, str) and action_id else None
            command = turn_action.get("commandString")
            if isinstance(command, str) and command:
                return command, action_id
            return action_id or "", action_id
    except Exception:
        pass
    return "", None


class CommandProcessor:
    """Dispatches each action as a ``core:attempt_action`` event; optionally traces it.

    ``event_dispatch_service``: anything with ``dispatch_with_error_handling(event_name, payload,
    context)`` returning (or resolving to) a bool, such as ``EventDispatchService``.
    Tracing is opt-in: a trace is made only when both ``trace_filter`` (anything with
    ``should_trace(action_id)``) and ``trace_factory`` (anything with ``create_trace(action_id=,
    actor_id=, turn_action=)``) are given and the filter selects the action. The trace records the
    start, the payload, then the result or the error, and is handed to ``trace_output_service``
    (anything with ``write_trace(trace)``, sync or async) before ``dispatch_action`` returns.
    """

    __slots__ = (
        "_create_structured",
        "_create_trace",
        "_dispatch",
        "_event_dispatch_service",
        "_logger",
        "_should_trace",
        "_structured_trace_factory",
        "_trace_factory",
        "_trace_filter",
        "_trace_output_service",
        "_traced",
        "_verbosity_for",
        "_write_trace",
    )

    def __init__(
        self,
        event_dispatch_service: Any,
        logger: LoggerLike | None = None,
        trace_filter: Any = None,
        trace_factory: Any = None,
        trace_output_service: Any = None,
        *,
        structured_trace_factory: Any = None,
    ) -> None:
        self._dispatch = _method(
            event_dispatch_service, "dispatch_with_error_handling", "event_dispatch_service"
        )
        self._event_dispatch_service = event_dispatch_service
        self._logger = ensure_logger(logger)
        should_trace = (
            None if trace_filter is None else _method(trace_filter, "should_trace", "trace_filter")
        )
        self._create_trace = (
            None
            if trace_factory is None
            else _method(trace_factory, "create_trace", "trace_factory")
        )
        self._write_trace = (
            None
            if trace_output_service is None
            else _method(trace_output_service, "write_trace", "trace_output_service")
        )
        self._create_structured = (
            None
            if structured_trace_factory is None
            else _method(structured_trace_factory, "create_trace", "structured_trace_factory")
        )
        self._trace_filter = trace_filter
        self._trace_factory = trace_factory
        self._trace_output_service = trace_output_service
        self._structured_trace_factory = structured_trace_factory
        verbosity_for = getattr(trace_filter, "verbosity_for", None)
        self._verbosity_for = verbosity_for if callable(verbosity_for) else None
        # An execution trace needs both; a structured trace needs its factory (and the filter's
        # yes when there is a filter). With neither, the filter is never even asked.
        self._traced = self._create_trace is not None or self._create_structured is not None
        self._should_trace = should_trace if self._traced and trace_filter is not None else None
        if (trace_filter is None) != (trace_factory is None) and self._create_structured is None:
            given, missing = (
                ("trace_filter", "trace_factory")
                if trace_factory is None
                else ("trace_factory", "trace_filter")
            )
            self._safe_log(
                logging.WARNING,
                f"CommandProcessor: {given} given without {missing}: tracing is off",
            )

    # -- the public surface ------------------------------------------------------------------------

    @property
    def event_dispatch_service(self) -> Any:
        """The service events are dispatched through."""
        return self._event_dispatch_service

    @property
    def trace_filter(self) -> Any:
        """The filter deciding which actions are traced, or ``None``."""
        return self._trace_filter

    @property
    def trace_factory(self) -> Any:
        """The factory creating traces, or ``None``."""
        return self._trace_factory

    @property
    def trace_output_service(self) -> Any:
        """Where finished traces go, or ``None``."""
        return self._trace_output_service

    @property
    def structured_trace_factory(self) -> Any:
        """The factory creating structured (nested-operation) traces, or ``None``."""
        return self._structured_trace_factory

    async def dispatch_action(self, actor: Any, turn_action: Mapping[str, Any]) -> dict[str, Any]:
        """Dispatch ``turn_action`` for ``actor`` (an object with ``.id`` or a mapping with ``id``).

        Returns ``{"success", "turnEnded", "originalInput", "actionResult": {"actionId"}}``, plus a
        non-empty ``"error"`` text on failure (and ``"internalError"`` with the exception when the
        dispatch service raised). Malformed input gives a failure result and dispatches nothing.
        Never raises an ``Exception``.
        """
        try:
            actor_id = _actor_id(actor)
            action_id, original_input, target_id = _read_turn(turn_action)
        except Exception as error:
            return self._malformed(actor, turn_action, error)
        if self._traced:
            should_trace = self._should_trace
            if should_trace is None:
                selected: object = True  # a structured trace factory alone: every action
            else:
                try:
                    selected = should_trace(action_id)
                except Exception as error:
                    self._trace_fault("trace_filter.should_trace", action_id, error)
                    selected = False
            # Identity tests first: the common answers cost two comparisons, nothing more.
            if selected is True or (selected is not False and self._truthy(selected, action_id)):
                return await self._dispatch_traced(
                    actor_id, action_id, original_input, target_id, turn_action
                )
        payload: dict[str, Any] = {
            "eventName": ATTEMPT_ACTION_ID,
            "actorId": actor_id,
            "actionId": action_id,
        }
        if target_id is not None:
            payload["targetId"] = target_id
        payload["originalInput"] = original_input
        try:
            success = self._dispatch(ATTEMPT_ACTION_ID, payload, f"Action dispatch for {action_id}")
            if type(success) is CoroutineType or isawaitable(success):
                success = await success
            if success is not True and success is not False:
                success = bool(success)
        except Exception as error:
            return self._dispatch_raised(action_id, original_input, error)
        if success:
            return {
                "success": True,
                "turnEnded": False,
                "originalInput": original_input,
                "actionResult": {"actionId": action_id},
            }
        return _failure(original_input, action_id, f"Failed to dispatch action '{action_id}'")

    # -- the traced path ---------------------------------------------------------------------------

    async def _dispatch_traced(
        self,
        actor_id: str,
        action_id: str,
        original_input: str,
        target_id: object,
        turn_action: Mapping[str, Any],
    ) -> dict[str, Any]:
        trace = self._start_trace(action_id, actor_id, turn_action)
        structured = self._start_structured(action_id, actor_id, trace)
        root = self._open_span(structured, "dispatch_action", action_id)
        step = self._open_span(structured, "create_payload", action_id)
        payload: dict[str, Any] = {
            "eventName": ATTEMPT_ACTION_ID,
            "actorId": actor_id,
            "actionId": action_id,
        }
        if target_id is not None:
            payload["targetId"] = target_id
        payload["originalInput"] = original_input
        if trace is not None:
            try:
                trace.capture_event_payload(payload)
            except Exception as error:
                self._trace_fault("trace.capture_event_payload", action_id, error)
        self._close_span(step, action_id)
        event = self._open_span(structured, "dispatch_event", action_id)
        # While the handlers run, this trace is the current one: actions they dispatch (directly,
        # awaited, or from tasks they create) become its children (SPEC §9.1).
        token = CURRENT_TRACE.set(trace) if trace is not None else None
        try:
            success = self._dispatch(ATTEMPT_ACTION_ID, payload, f"Action dispatch for {action_id}")
            if type(success) is CoroutineType or isawaitable(success):
                success = await success
            if success is not True and success is not False:
                success = bool(success)
        except Exception as error:
            _reset(token)
            result = self._dispatch_raised(action_id, original_input, error)
            self._close_span(event, action_id, error)
            self._close_span(root, action_id, error)
            if trace is not None:
                self._capture_error(trace, action_id, error)
            await self._write(trace, action_id)
            await self._write(structured, action_id)
            return result
        except BaseException as error:
            # Cancellation or interpreter exit: the traces still say what happened, then the
            # request to stop goes on.
            _reset(token)
            self._close_span(event, action_id, error)
            self._close_span(root, action_id, error)
            if trace is not None:
                self._capture_error(trace, action_id, error)
            await self._write(trace, action_id)
            await self._write(structured, action_id)
            raise
        _reset(token)
        self._close_span(event, action_id, failed=not success)
        self._close_span(root, action_id, failed=not success)
        if trace is not None:
            try:
                trace.capture_dispatch_result({"success": success})
            except Exception as error:
                self._trace_fault("trace.capture_dispatch_result", action_id, error)
        await self._write(trace, action_id)
        await self._write(structured, action_id)
        if success:
            return {
                "success": True,
                "turnEnded": False,
                "originalInput": original_input,
                "actionResult": {"actionId": action_id},
            }
        return _failure(original_input, action_id, f"Failed to dispatch action '{action_id}'")

    def _truthy(self, selected: object, action_id: str) -> bool:
        try:
            return bool(selected)
        except Exception as error:
            self._trace_fault("trace_filter.should_trace", action_id, error)
            return False

    def _start_trace(self, action_id: str, actor_id: str, turn_action: Mapping[str, Any]) -> Any:
        create_trace = self._create_trace
        if create_trace is None:
            return None
        if self._should_trace is None:
            return (
                None  # a structured trace factory alone selects; execution tracing needs a filter
            )
        try:
            extra: dict[str, Any] = {}
            parent = CURRENT_TRACE.get()
            if parent is not None:
                extra["parent"] = parent
            verbosity_for = self._verbosity_for
            if verbosity_for is not None:
                extra["verbosity"] = verbosity_for(action_id)
            trace = create_trace(
                action_id=action_id, actor_id=actor_id, turn_action=turn_action, **extra
            )
            trace.capture_dispatch_start()
        except Exception as error:
            self._trace_fault("trace_factory.create_trace", action_id, error)
            return None
        return trace

    def _start_structured(self, action_id: str, actor_id: str, trace: Any) -> Any:
        create = self._create_structured
        if create is None:
            return None
        try:
            structured = create(action_id, actor_id)
            if trace is not None:
                link_to = getattr(structured, "link_to", None)
                if callable(link_to):
                    link_to(trace)
            annotate = getattr(structured, "annotate", None)
            if callable(annotate):
                annotate(actionId=action_id, actorId=actor_id)
        except Exception as error:
            self._trace_fault("structured_trace_factory.create_trace", action_id, error)
            return None
        return structured

    def _open_span(self, structured: Any, operation: str, action_id: str) -> Any:
        if structured is None:
            return None
        try:
            opened = structured.span(operation)
            opened.__enter__()
        except Exception as error:
            self._trace_fault(f"structured trace span '{operation}'", action_id, error)
            return None
        return opened

    def _close_span(
        self,
        opened: Any,
        action_id: str,
        error: BaseException | None = None,
        *,
        failed: bool = False,
    ) -> None:
        if opened is None:
            return
        try:
            if failed:
                opened.set_status("failure")
            if error is None:
                opened.__exit__(None, None, None)
            else:
                opened.__exit__(type(error), error, error.__traceback__)
        except Exception as fault:
            self._trace_fault("structured trace span end", action_id, fault)

    def _capture_error(self, trace: Any, action_id: str, error: BaseException) -> None:
        try:
            trace.capture_error(error)
        except Exception as fault:
            self._trace_fault("trace.capture_error", action_id, fault)

    async def _write(self, trace: Any, action_id: str) -> None:
        write_trace = self._write_trace
        if write_trace is None or trace is None:
            return
        try:
            pending = write_trace(trace)
            if pending is not None and isawaitable(pending):
                await pending
        except Exception as error:
            self._trace_fault("trace_output_service.write_trace", action_id, error)

    # -- failures and logging ----------------------------------------------------------------------

    def _malformed(self, actor: object, turn_action: object, error: Exception) -> dict[str, Any]:
        reason = str(error) if isinstance(error, _Malformed) else f"unreadable input: {error!r}"
        self._safe_log(logging.ERROR, f"CommandProcessor.dispatch_action: {reason}")
        original_input, action_id = _best_effort_input(turn_action)
        return _failure(original_input, action_id, f"Invalid action request: {reason}")

    def _dispatch_raised(
        self, action_id: str, original_input: str, error: Exception
    ) -> dict[str, Any]:
        detail = describe_exception(error)
        self._safe_log(
            logging.ERROR,
            f"CommandProcessor: dispatching '{ATTEMPT_ACTION_ID}' for action '{action_id}' "
            f"raised {detail}",
            error,
        )
        result = _failure(original_input, action_id, f"Failed to dispatch action '{action_id}'")
        result["internalError"] = detail
        return result

    def _trace_fault(self, where: str, action_id: str, error: Exception) -> None:
        self._safe_log(
            logging.WARNING,
            f"CommandProcessor: tracing failed in {where} for action '{action_id}' "
            f"({describe_exception(error)}); the action itself is unaffected",
            error,
        )

    def _safe_log(self, level: int, message: str, error: BaseException | None = None) -> None:
        logger = self._logger
        try:
            emit = logger.error if level >= logging.ERROR else logger.warning
            if error is not None and isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
                emit(message, exc_info=error)
            else:
                emit(message)
        except Exception:  # a broken logger must not change the game's outcome either
            pass


def _reset(token: Any) -> None:
    # Set and reset in the same coroutine, so always in the same context.
    if token is not None:
        CURRENT_TRACE.reset(token)


def _failure(original_input: str, action_id: str | None, error: str) -> dict[str, Any]:
    return {
        "success": False,
        "turnEnded": True,
        "originalInput": original_input,
        "actionResult": {"actionId": action_id},
        "error": error,
    }
