"""``Tracer``: trace the actions of any engine, around its own dispatcher.

``with tracer.action("core:go", actor_id="p1", command="go north"):`` traces one action the engine
dispatches itself; ``@tracer.traced()`` does the same for each call of a function. A block behaves
exactly as it would untraced: tracing faults are logged and swallowed, and every exception leaving
the block is re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from inspect import Signature, iscoroutinefunction, signature
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar, overload

from ..errors import InvalidArgumentError, TraceStateError
from ..factory import ActionExecutionTraceFactory, LoggerLike, ensure_logger
from ..ids import TraceContext
from ..logs import SafeLog
from ..trace import ActionExecutionTrace
from .filter import ActionTraceFilter
from .seams import OutputArgument, StructuredTraceFactory, TraceFactory, TraceFilter
from .tracing import CURRENT, ActiveAction, TracingParts, attempt_payload

__all__ = ["UNTRACED", "ActionBlock", "Tracer", "UntracedBlock", "decorator"]

P = ParamSpec("P")
R = TypeVar("R")


class UntracedBlock:
    """The block and handle of an action that is not traced: takes every call, keeps nothing."""

    __slots__ = ()

    trace: Final = None

    def __enter__(self) -> UntracedBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> UntracedBlock:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def set_payload(self, payload: object) -> None:
        """Do nothing."""

    def set_result(self, success: object, **metadata: Any) -> None:
        """Do nothing."""


UNTRACED: Final = UntracedBlock()
"""The shared block of every action that is not traced."""


class ActionBlock:
    """One traced action of the engine's own dispatcher; ``with`` (or ``async with``) it.

    Entering creates the trace, captures its start and makes it current; the handle it yields has
    ``.trace``, ``.set_payload(mapping)`` and ``.set_result(success, **metadata)``. Leaving records
    the outcome and hands the trace to the tracer's output.
    """

    __slots__ = (
        "_action_id",
        "_active",
        "_actor_id",
        "_command",
        "_metadata",
        "_parameters",
        "_parent",
        "_parts",
        "_payload",
        "_payload_taken",
        "_result",
    )

    def __init__(
        self,
        parts: TracingParts,
        action_id: str,
        actor_id: str,
        *,
        command: str | None,
        parameters: Mapping[str, Any] | None,
        payload: object,
        metadata: Mapping[str, Any] | None,
        parent: object,
    ) -> None:
        self._parts = parts
        self._action_id = action_id
        self._actor_id = actor_id
        self._command = command
        self._parameters = parameters
        self._payload = payload
        self._metadata = metadata
        self._parent = parent
        self._active: ActiveAction | None = None
        self._payload_taken = False
        self._result: dict[str, Any] | None = None

    @property
    def trace(self) -> ActionExecutionTrace | None:
        """The execution trace of this action (``None`` before entering, or when not made)."""
        return None if self._active is None else self._active.trace

    def set_payload(self, payload: object) -> None:
        """Capture the event payload now (sanitised; only the first call counts)."""
        if self._active is not None and not self._payload_taken:
            self._payload_taken = True
            self._active.capture_payload(payload)

    def set_result(self, success: object, **metadata: Any) -> None:
        """Choose the result recorded when the block ends normally (the last call counts)."""
        self._result = {"success": success, "metadata": metadata or None}

    def _start(self) -> ActionBlock:
        if self._active is not None:
            raise TraceStateError("This tracer.action block was already entered")
        turn_action: dict[str, Any] = {"actionDefinitionId": self._action_id}
        if self._command is not None:
            turn_action["commandString"] = self._command
        if self._parameters is not None:
            turn_action["parameters"] = self._parameters
        active = ActiveAction(
            self._parts,
            self._action_id,
            self._actor_id,
            turn_action,
            parent=self._parent,
            metadata=self._metadata,
        )
        self._active = active
        if active.structured is not None:
            active.open_span(self._action_id)
        active.activate()
        return self

    def _end(self, error: BaseException | None) -> ActiveAction:
        active = self._active
        if active is None:
            raise TraceStateError("This tracer.action block was never entered")
        active.deactivate()
        if not self._payload_taken:
            self._payload_taken = True
            payload = self._payload
            if payload is None:
                parameters = self._parameters
                target = None if parameters is None else parameters.get("targetId")
                if target == "":
                    target = None
                payload = attempt_payload(
                    self._actor_id,
                    self._action_id,
                    self._command or self._action_id,
                    target,
                    parameters,
                )
            active.capture_payload(payload)
        active.finish(error, self._result)
        return active

    def __enter__(self) -> ActionBlock:
        return self._start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(error).write_sync()

    async def __aenter__(self) -> ActionBlock:
        return self._start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._end(error).write()


def _check_text(value: object, argument: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{argument} must be a non-empty str, got {value!r}")


def _check_mapping(value: object, argument: str) -> None:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{argument} must be a mapping, got {type(value).__name__}")


class Tracer:
    """Traces the actions of an engine that dispatches them itself.

    ``trace_filter`` (default: an ``ActionTraceFilter()`` that traces everything), ``trace_factory``
    (default: an ``ActionExecutionTraceFactory()``), ``output`` (anything with ``write_trace``, or a
    sequence of them; default: none, so traces are made but kept nowhere) and
    ``structured_trace_factory`` (nested steps through ``actiontrace.span``) work as they do for
    ``CommandProcessor``; the filter's verbosity applies.
    """

    __slots__ = ("_log", "_parts", "_structured_trace_factory", "_trace_factory", "_trace_filter")

    def __init__(
        self,
        *,
        trace_filter: TraceFilter | None = None,
        trace_factory: TraceFactory | None = None,
        output: OutputArgument = None,
        structured_trace_factory: StructuredTraceFactory | None = None,
        logger: LoggerLike | None = None,
    ) -> None:
        self._log = SafeLog(ensure_logger(logger))
        self._trace_filter = ActionTraceFilter() if trace_filter is None else trace_filter
        self._trace_factory = (
            ActionExecutionTraceFactory(logger) if trace_factory is None else trace_factory
        )
        self._structured_trace_factory = structured_trace_factory
        self._parts = TracingParts(
            "Tracer",
            self._log,
            trace_filter=self._trace_filter,
            trace_factory=self._trace_factory,
            output=output,
            structured_trace_factory=structured_trace_factory,
            output_argument="output",
        )

    @property
    def trace_filter(self) -> TraceFilter:
        """The filter deciding which actions are traced."""
        return self._trace_filter

    @property
    def trace_factory(self) -> TraceFactory:
        """The factory creating traces."""
        return self._trace_factory

    @property
    def output(self) -> Any:
        """Where finished traces go (one output or a sequence of them), or ``None``."""
        return self._parts.outputs.given

    @property
    def structured_trace_factory(self) -> StructuredTraceFactory | None:
        """The factory creating structured (nested-operation) traces, or ``None``."""
        return self._structured_trace_factory

    def action(
        self,
        action_id: str,
        *,
        actor_id: str,
        command: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent: ActionExecutionTrace | TraceContext | None = None,
    ) -> ActionBlock | UntracedBlock:
        """Return a ``with``/``async with`` block tracing one action, when the filter selects it.

        The trace's turn action is built from ``action_id``, ``command`` and ``parameters``; its
        parent is the current trace unless ``parent`` is given; ``metadata`` is custom metadata.
        The payload is what the block passes to ``set_payload``, else ``payload``, else the
        attempt-action payload built from the arguments. Leaving the block records the result set
        with ``set_result``, else a handler exception a dispatch service handed over, else
        success; an exception leaving it is recorded (a clean ``SystemExit`` as a success with
        ``{"exit": true}``) and re-raised unchanged. Invalid arguments raise
        ``InvalidArgumentError``, traced or not.
        """
        # Exact-type tests first: the common call costs a few comparisons, nothing more.
        if type(action_id) is not str or not action_id:
            _check_text(action_id, "action_id")
        if type(actor_id) is not str or not actor_id:
            _check_text(actor_id, "actor_id")
        if command is not None and not isinstance(command, str):
            raise InvalidArgumentError(f"command must be a str, got {type(command).__name__}")
        if parameters is not None:
            _check_mapping(parameters, "parameters")
        if metadata is not None:
            _check_mapping(metadata, "metadata")
        if parent is not None and not isinstance(parent, (ActionExecutionTrace, TraceContext)):
            raise InvalidArgumentError("parent must be an ActionExecutionTrace or a TraceContext")
        if not self._parts.selects(action_id):
            return UNTRACED
        return ActionBlock(
            self._parts,
            action_id,
            actor_id,
            command=command,
            parameters=parameters,
            payload=payload,
            metadata=metadata,
            parent=CURRENT if parent is None else parent,
        )

    def _call_block(
        self,
        action_id: str,
        actor: object,
        bind: Callable[..., Mapping[str, Any] | None],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> ActionBlock | UntracedBlock:
        if not self._parts.selects(action_id):
            return UNTRACED
        parameters = bind(*args, **kwargs)
        try:
            actor_id = _call_actor(actor, parameters, args, kwargs)
        except Exception as error:
            self._parts.outputs.fault("traced actor_id", action_id, error)
            actor_id = "unknown"
        return ActionBlock(
            self._parts,
            action_id,
            actor_id,
            command=None,
            parameters=parameters,
            payload=None,
            metadata=None,
            parent=CURRENT,
        )

    @overload
    def traced(self, action_id: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def traced(
        self, action_id: str | None = None, *, actor_id: str | Callable[..., str] | None = None
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
    def traced(self, action_id: Any = None, *, actor_id: Any = None) -> Any:
        """Decorate a sync or async function so that each call is traced as one action.

        ``action_id`` defaults to the function's qualified name; ``actor_id`` is a str, or a
        callable given the call's arguments; without one, the call's ``actor_id`` argument, else
        its ``actor`` argument's id (``.id`` or ``["id"]``), else ``"unknown"``. The call's
        arguments are the trace's parameters (sanitised).
        """
        return decorator(lambda: self, action_id, actor_id)


def _call_actor(
    actor: object, parameters: Mapping[str, Any] | None, args: tuple[Any, ...], kwargs: Any
) -> str:
    if isinstance(actor, str):
        return actor
    if actor is not None:
        chosen = actor(*args, **kwargs)  # type: ignore[operator]
        return chosen if isinstance(chosen, str) and chosen else "unknown"
    if parameters:
        given = parameters.get("actor_id")
        if isinstance(given, str) and given:
            return given
        holder = parameters.get("actor")
        if holder is not None:
            found = holder.get("id") if isinstance(holder, Mapping) else getattr(holder, "id", None)
            if isinstance(found, str) and found:
                return found
    return "unknown"


def _binder(func: Callable[..., Any]) -> Callable[..., Mapping[str, Any] | None]:
    """Return a function mapping a call's arguments to ``{name: value}`` (``self`` left out)."""
    cache: list[Signature | None] = []

    def bind(*args: Any, **kwargs: Any) -> Mapping[str, Any] | None:
        if not cache:
            try:
                cache.append(signature(func))
            except (TypeError, ValueError):  # a builtin without a signature
                cache.append(None)
        found = cache[0]
        if found is None:
            return {"args": list(args), **kwargs} if args or kwargs else None
        try:
            bound = found.bind(*args, **kwargs)
        except TypeError:  # the call itself will fail, and be recorded as the error
            return None
        arguments = dict(bound.arguments)
        for name in ("self", "cls"):
            arguments.pop(name, None)
        return arguments

    return bind


def decorator(get_tracer: Callable[[], Tracer | None], action_id: Any, actor: Any) -> Any:
    """Build ``traced``'s decorator; the tracer is looked up at each call (None: plain call)."""
    if callable(action_id):  # used bare: @traced
        return decorator(get_tracer, None, actor)(action_id)
    if action_id is not None:
        _check_text(action_id, "action_id")
    if actor is not None and not isinstance(actor, str) and not callable(actor):
        raise InvalidArgumentError("actor_id must be a str or a callable")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if not callable(func):
            raise InvalidArgumentError("traced decorates a function")
        name: str = action_id or getattr(func, "__qualname__", None) or type(func).__name__
        bind = _binder(func)
        if iscoroutinefunction(func):

            @wraps(func)
            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                tracer = get_tracer()
                if tracer is None:
                    return await func(*args, **kwargs)
                async with tracer._call_block(name, actor, bind, args, kwargs):
                    return await func(*args, **kwargs)

            return traced_async  # type: ignore[return-value]

        @wraps(func)
        def traced_sync(*args: P.args, **kwargs: P.kwargs) -> R:
            tracer = get_tracer()
            if tracer is None:
                return func(*args, **kwargs)
            with tracer._call_block(name, actor, bind, args, kwargs):
                return func(*args, **kwargs)

        return traced_sync

    return decorate
