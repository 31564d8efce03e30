"""``CommandProcessor``: an actor's chosen action becomes an event, traced on request.

The untraced path is the game's hot path: when there is no filter and factory, or the filter says
no, ``dispatch_action`` (and ``dispatch_action_sync``) do no tracing work at all (no factory call,
no sanitising, no clock read). Everything tracing does happens through ``ActiveAction``, and every
fault there is logged and swallowed: tracing never changes what the game gets back or what the
handlers see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from inspect import isawaitable
from types import CoroutineType
from typing import Any, TypeAlias

from ..factory import LoggerLike, ensure_logger
from ..logs import SafeLog
from .dispatch import ATTEMPT_ACTION_ID, close_awaitable, describe_exception
from .seams import StructuredTraceFactory, TraceFactory, TraceFilter, TraceOutput, method_of
from .tracing import ActiveAction, TracingParts, attempt_payload

__all__ = ["CommandProcessor"]


class _Malformed(Exception):
    """Input ``dispatch_action`` refuses; the message is the reason."""


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


_Turn: TypeAlias = tuple[str, str, object, object]


def _read_turn(turn_action: object) -> _Turn:
    """Return (action id, original input, target id, parameters), or raise ``_Malformed``.

    Target and parameters are ``None`` when the turn action names none (parameters: not a mapping).
    """
    if type(turn_action) is not dict and not isinstance(turn_action, Mapping):
        raise _Malformed(f"turn_action must be a mapping, got {type(turn_action).__name__}")
    action_id = turn_action.get("actionDefinitionId")
    if not isinstance(action_id, str) or not action_id:
        raise _Malformed(
            f"turn_action must have a non-empty str actionDefinitionId, got {action_id!r}"
        )
    command = turn_action.get("commandString")
    parameters = turn_action.get("parameters")
    if (
        parameters is not None
        and type(parameters) is not dict
        and not isinstance(parameters, Mapping)
    ):
        parameters = None
    target = turn_action.get("targetId")
    if target is None or target == "":
        # Engines also name the target among the parameters.
        target = parameters.get("targetId") if parameters is not None else None
        if target == "":
            target = None
    original_input = command if isinstance(command, str) and command else action_id
    return action_id, original_input, target, parameters


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
    context)`` returning (or resolving to) a bool, such as ``EventDispatchService``; for
    ``dispatch_action_sync``, its ``dispatch_with_error_handling_sync`` (or a plain
    ``dispatch_with_error_handling`` that returns a bool). Tracing is opt-in: a trace is made only
    when both ``trace_filter`` (anything with ``should_trace(action_id)``) and ``trace_factory``
    (anything with ``create_trace(action_id=, actor_id=, turn_action=)``) are given and the filter
    selects the action. The trace records the start, the payload, then the result or the error,
    and is handed to ``trace_output_service`` (anything with ``write_trace(trace)``, or a sequence
    of them, each given every trace) before the dispatch returns.
    """

    __slots__ = (
        "_dispatch",
        "_dispatch_sync",
        "_event_dispatch_service",
        "_log",
        "_parts",
        "_structured_trace_factory",
        "_trace_factory",
        "_trace_filter",
        "_traced",
        "_verdicts",
    )

    def __init__(
        self,
        event_dispatch_service: Any,
        logger: LoggerLike | None = None,
        trace_filter: TraceFilter | None = None,
        trace_factory: TraceFactory | None = None,
        trace_output_service: TraceOutput | Sequence[TraceOutput] | None = None,
        *,
        structured_trace_factory: StructuredTraceFactory | None = None,
    ) -> None:
        self._dispatch = method_of(
            event_dispatch_service, "dispatch_with_error_handling", "event_dispatch_service"
        )
        dispatch_sync = getattr(event_dispatch_service, "dispatch_with_error_handling_sync", None)
        self._dispatch_sync = dispatch_sync if callable(dispatch_sync) else self._dispatch
        self._event_dispatch_service = event_dispatch_service
        self._log = SafeLog(ensure_logger(logger))
        self._parts = TracingParts(
            "CommandProcessor",
            self._log,
            trace_filter=trace_filter,
            trace_factory=trace_factory,
            output=trace_output_service,
            structured_trace_factory=structured_trace_factory,
            output_argument="trace_output_service",
        )
        self._trace_filter = trace_filter
        self._trace_factory = trace_factory
        self._structured_trace_factory = structured_trace_factory
        self._traced = self._parts.active
        self._verdicts = self._parts.verdicts
        if (trace_filter is None) != (trace_factory is None) and structured_trace_factory is None:
            given, missing = (
                ("trace_filter", "trace_factory")
                if trace_factory is None
                else ("trace_factory", "trace_filter")
            )
            self._log(
                "warning", "CommandProcessor: %s given without %s: tracing is off", given, missing
            )

    # -- the public surface ------------------------------------------------------------------------

    @property
    def event_dispatch_service(self) -> Any:
        """The service events are dispatched through."""
        return self._event_dispatch_service

    @property
    def trace_filter(self) -> TraceFilter | None:
        """The filter deciding which actions are traced, or ``None``."""
        return self._trace_filter

    @property
    def trace_factory(self) -> TraceFactory | None:
        """The factory creating traces, or ``None``."""
        return self._trace_factory

    @property
    def trace_output_service(self) -> Any:
        """Where finished traces go (one output or a sequence of them), or ``None``."""
        return self._parts.outputs.given

    @property
    def structured_trace_factory(self) -> StructuredTraceFactory | None:
        """The factory creating structured (nested-operation) traces, or ``None``."""
        return self._structured_trace_factory

    async def dispatch_action(self, actor: Any, turn_action: Mapping[str, Any]) -> dict[str, Any]:
        """Dispatch ``turn_action`` for ``actor`` (an object with ``.id`` or a mapping with ``id``).

        Returns ``{"success", "turnEnded", "originalInput", "actionResult": {"actionId"}}``, plus a
        non-empty ``"error"`` text on failure (and ``"internalError"`` with the exception when the
        dispatch service raised). Malformed input gives a failure result and dispatches nothing.
        Never raises an ``Exception``; ``SystemExit``, ``KeyboardInterrupt`` and cancellation
        propagate (after a traced action's trace has recorded them).
        """
        read = self._read(actor, turn_action)
        if isinstance(read, dict):
            return read
        actor_id, turn = read
        action_id, original_input, target_id, parameters = turn
        verdicts = self._verdicts
        if verdicts is not None:  # the filter's own lookup, in place (see TracingParts)
            try:
                traced = verdicts[action_id]
                if traced is not False and traced is not True:
                    traced = bool(traced)  # a dict of other answers than bools: asked here
            except Exception as error:
                traced = self._parts.filter_fault(action_id, error)
        else:
            traced = self._traced and self._parts.selects(action_id)
        if traced:
            return await self._dispatch_traced(actor_id, turn, turn_action)
        payload = attempt_payload(actor_id, action_id, original_input, target_id, parameters)
        try:
            success = self._dispatch(ATTEMPT_ACTION_ID, payload, f"Action dispatch for {action_id}")
            if type(success) is CoroutineType or isawaitable(success):
                success = await success
            success = success is True or (success is not False and bool(success))
        except Exception as error:
            return self._dispatch_raised(action_id, original_input, error)
        return _outcome(success, action_id, original_input)

    def dispatch_action_sync(self, actor: Any, turn_action: Mapping[str, Any]) -> dict[str, Any]:
        """``dispatch_action`` for engines without an event loop; it never creates one.

        Dispatches through ``dispatch_with_error_handling_sync`` (or a plain
        ``dispatch_with_error_handling`` that returns a bool) and returns the same result, with the
        same trace. A dispatch service that answers with an awaitable is a failure here.
        """
        read = self._read(actor, turn_action)
        if isinstance(read, dict):
            return read
        actor_id, turn = read
        action_id, original_input, target_id, parameters = turn
        verdicts = self._verdicts
        if verdicts is not None:  # as in dispatch_action
            try:
                traced = verdicts[action_id]
                if traced is not False and traced is not True:
                    traced = bool(traced)  # a dict of other answers than bools: asked here
            except Exception as error:
                traced = self._parts.filter_fault(action_id, error)
        else:
            traced = self._traced and self._parts.selects(action_id)
        if traced:
            return self._dispatch_traced_sync(actor_id, turn, turn_action)
        payload = attempt_payload(actor_id, action_id, original_input, target_id, parameters)
        try:
            success = self._call_sync(payload, action_id)
            success = success is True or (success is not False and bool(success))
        except Exception as error:
            return self._dispatch_raised(action_id, original_input, error)
        return _outcome(success, action_id, original_input)

    def _read(
        self, actor: Any, turn_action: Mapping[str, Any]
    ) -> tuple[str, _Turn] | dict[str, Any]:
        """(actor id, turn) of well-formed input, else the failure result to return."""
        try:
            return _actor_id(actor), _read_turn(turn_action)
        except Exception as error:
            return self._malformed(actor, turn_action, error)

    # -- the traced path ---------------------------------------------------------------------------

    def _begin(
        self,
        actor_id: str,
        turn: _Turn,
        turn_action: Mapping[str, Any],
    ) -> tuple[ActiveAction, dict[str, Any]]:
        action_id, original_input, target_id, parameters = turn
        active = ActiveAction(self._parts, action_id, actor_id, turn_action)
        if active.structured is None:
            payload = attempt_payload(actor_id, action_id, original_input, target_id, parameters)
            active.capture_payload(payload)
        else:
            active.open_span("dispatch_action")
            active.open_span("create_payload")
            payload = attempt_payload(actor_id, action_id, original_input, target_id, parameters)
            active.capture_payload(payload)
            active.close_span()
            active.open_span("dispatch_event")
        # While the handlers run, this action is the current one: actions they dispatch
        # (directly, awaited, or from tasks they create) become its children.
        active.activate()
        return active, payload

    def _end(
        self, active: ActiveAction, success: bool, action_id: str, original_input: str
    ) -> dict[str, Any]:
        # A handler exception handed over by the dispatch service is the trace's error instead.
        active.finish(result=None if active.handed_error is not None else {"success": success})
        return _outcome(success, action_id, original_input)

    async def _dispatch_traced(
        self,
        actor_id: str,
        turn: _Turn,
        turn_action: Mapping[str, Any],
    ) -> dict[str, Any]:
        active, payload = self._begin(actor_id, turn, turn_action)
        action_id, original_input = turn[0], turn[1]
        try:
            success = self._dispatch(ATTEMPT_ACTION_ID, payload, f"Action dispatch for {action_id}")
            if type(success) is CoroutineType or isawaitable(success):
                success = await success
            success = success is True or (success is not False and bool(success))
        except Exception as error:
            active.deactivate()
            active.finish(error)
            await active.write()
            return self._dispatch_raised(action_id, original_input, error)
        except BaseException as error:
            # A request to stop: the traces still say what happened, then it goes on.
            active.deactivate()
            active.finish(error)
            await active.write()
            raise
        active.deactivate()
        outcome = self._end(active, success, action_id, original_input)
        await active.write()
        return outcome

    def _dispatch_traced_sync(
        self,
        actor_id: str,
        turn: _Turn,
        turn_action: Mapping[str, Any],
    ) -> dict[str, Any]:
        active, payload = self._begin(actor_id, turn, turn_action)
        action_id, original_input = turn[0], turn[1]
        try:
            success = self._call_sync(payload, action_id)
            success = success is True or (success is not False and bool(success))
        except BaseException as error:
            active.deactivate()
            active.finish(error)
            active.write_sync()
            if isinstance(error, Exception):
                return self._dispatch_raised(action_id, original_input, error)
            raise
        active.deactivate()
        outcome = self._end(active, success, action_id, original_input)
        active.write_sync()
        return outcome

    def _call_sync(self, payload: dict[str, Any], action_id: str) -> object:
        """Call the synchronous dispatch; an awaitable answer is closed and is an error."""
        success = self._dispatch_sync(
            ATTEMPT_ACTION_ID, payload, f"Action dispatch for {action_id}"
        )
        if type(success) is CoroutineType or isawaitable(success):
            close_awaitable(success)
            raise TypeError(
                "the dispatch service answered with an awaitable: dispatch_action_sync needs "
                "dispatch_with_error_handling_sync (or a dispatch_with_error_handling returning "
                "a bool)"
            )
        return success

    # -- failures and logging ----------------------------------------------------------------------

    def _malformed(self, actor: object, turn_action: object, error: Exception) -> dict[str, Any]:
        reason = str(error) if isinstance(error, _Malformed) else f"unreadable input: {error!r}"
        self._log("error", "CommandProcessor.dispatch_action: %s", reason)
        original_input, action_id = _best_effort_input(turn_action)
        return _failure(original_input, action_id, f"Invalid action request: {reason}")

    def _dispatch_raised(
        self, action_id: str, original_input: str, error: Exception
    ) -> dict[str, Any]:
        detail = describe_exception(error)
        self._log(
            "error",
            "CommandProcessor: dispatching '%s' for action '%s' raised %s",
            ATTEMPT_ACTION_ID,
            action_id,
            detail,
            exc=error,
        )
        result = _failure(original_input, action_id, f"Failed to dispatch action '{action_id}'")
        result["internalError"] = detail
        return result


def _outcome(success: bool, action_id: str, original_input: str) -> dict[str, Any]:
    """Build the result for the dispatch service's answer."""
    if success:
        return {
            "success": True,
            "turnEnded": False,
            "originalInput": original_input,
            "actionResult": {"actionId": action_id},
        }
    return _failure(original_input, action_id, f"Failed to dispatch action '{action_id}'")


def _failure(original_input: str, action_id: str | None, error: str) -> dict[str, Any]:
    return {
        "success": False,
        "turnEnded": True,
        "originalInput": original_input,
        "actionResult": {"actionId": action_id},
        "error": error,
    }
