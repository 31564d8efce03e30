"""The seams of the pipeline: what a filter, factory, output and structured factory must offer.

Any object with the method named here serves; nothing needs to inherit from these classes. An
output may also be a sequence of outputs: :class:`Outputs` hands every trace to each, in order, and
one that raises never affects the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ..errors import InvalidArgumentError
from ..logs import SafeLog
from .dispatch import close_awaitable, describe_exception

if TYPE_CHECKING:
    from ..ids import TraceContext
    from ..structured import StructuredTrace
    from ..trace import ActionExecutionTrace
    from ..verbosity import Verbosity

__all__ = [
    "OutputArgument",
    "Outputs",
    "StructuredTraceFactory",
    "TraceFactory",
    "TraceFilter",
    "TraceOutput",
    "method_of",
]


class TraceFilter(Protocol):
    """Decides which actions are traced (``ActionTraceFilter``)."""

    def should_trace(self, action_id: str, /) -> object:
        """Return a truthy value to trace ``action_id``."""


class TraceFactory(Protocol):
    """Creates execution traces (``ActionExecutionTraceFactory``)."""

    def create_trace(
        self,
        *,
        action_id: str,
        actor_id: str,
        turn_action: Mapping[str, Any],
        parent: ActionExecutionTrace | TraceContext | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        verbosity: Verbosity | str | None = ...,
    ) -> ActionExecutionTrace:
        """Return a new trace for the action (``parent``, ``metadata``, ``verbosity`` optional)."""


class StructuredTraceFactory(Protocol):
    """Creates the structured (nested-operation) trace of one action."""

    def create_trace(self, action_id: str, actor_id: str, /) -> StructuredTrace:
        """Return a new structured trace for the action."""


class TraceOutput(Protocol):
    """Receives finished traces (``ActionTraceOutputService``, ``OTelTraceSink``)."""

    def write_trace(self, trace: Any, /) -> object:
        """Take ``trace``; may return an awaitable, which async callers await."""


OutputArgument: TypeAlias = "TraceOutput | Sequence[TraceOutput] | None"


def method_of(owner: object, name: str, argument: str) -> Callable[..., Any]:
    """``owner.name`` bound once, or ``InvalidArgumentError`` naming ``argument``."""
    try:
        method = getattr(owner, name, None)
    except Exception:
        method = None
    if not callable(method):
        raise InvalidArgumentError(f"{argument} must have a callable {name} method")
    return method  # type: ignore[no-any-return]


class Outputs:
    """One output or a sequence of them, each given every trace in order, faults isolated.

    ``write(trace, action_id)`` returns the awaitables some outputs gave back (or ``None``), for
    an async caller to ``drain``; a synchronous caller closes them instead (``write_sync``).
    """

    __slots__ = ("_log", "_owner", "_writers", "given")

    _writers: tuple[tuple[Callable[..., Any], str], ...]

    def __init__(self, output: object, log: SafeLog, owner: str, argument: str) -> None:
        self.given = output
        self._log = log
        self._owner = owner
        if output is None:
            names: tuple[tuple[object, str], ...] = ()
        elif isinstance(output, Sequence) and not isinstance(output, (str, bytes)):
            names = tuple((item, f"{argument}[{index}]") for index, item in enumerate(output))
        else:
            names = ((output, argument),)
        self._writers = tuple(
            (method_of(item, "write_trace", name), f"{name}.write_trace") for item, name in names
        )

    def __bool__(self) -> bool:
        return bool(self._writers)

    def write(self, trace: object, action_id: str) -> list[tuple[Awaitable[object], str]] | None:
        """Hand ``trace`` to every output; return the awaitables they gave back, if any."""
        pending: list[tuple[Awaitable[object], str]] | None = None
        for write_trace, where in self._writers:
            try:
                result = write_trace(trace)
            except Exception as error:
                self.fault(where, action_id, error)
                continue
            if result is not None and result is not True and isawaitable(result):
                if pending is None:
                    pending = []
                pending.append((result, where))
        return pending

    async def drain(self, pending: list[tuple[Awaitable[object], str]], action_id: str) -> None:
        """Await what ``write`` gave back; one that raises never stops the others."""
        for awaitable, where in pending:
            try:
                await awaitable
            except Exception as error:
                self.fault(where, action_id, error)

    def write_sync(self, trace: object, action_id: str) -> None:
        """``write`` for a caller without an event loop: an async output's awaitable is closed."""
        pending = self.write(trace, action_id)
        if pending:
            for awaitable, _ in pending:
                close_awaitable(awaitable)
            self._log.limited(
                "async-output",
                "%s: an output's write_trace returned an awaitable, which a synchronous "
                "dispatch cannot await; that trace was not written (use the async API)",
                self._owner,
            )

    def fault(self, where: str, action_id: str, error: BaseException) -> None:
        """Log a tracing fault: it is swallowed, the action itself is unaffected."""
        self._log(
            "warning",
            "%s: tracing failed in %s for action '%s' (%s); the action itself is unaffected",
            self._owner,
            where,
            action_id,
            describe_exception(error),
            exc=error,
        )
