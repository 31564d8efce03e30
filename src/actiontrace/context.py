"""What is being traced in the current context (``contextvars``: per thread and per asyncio task).

A traced dispatch (the processor's, or a ``Tracer`` block) makes itself current while the action's
handlers run, so an action dispatched from inside them becomes its child; a structured trace and its
open span are current in the same way, so ``actiontrace.span()`` nests where it is called. New
threads and executor workers start with an empty context: they inherit nothing unless the caller
passes it on itself (``contextvars.copy_context().run``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .structured import Span, StructuredTrace
    from .trace import ActionExecutionTrace

__all__ = ["ACTIVE_SPAN", "DISPATCHING", "Dispatching", "current_trace", "hand_over"]


class Dispatching:
    """The traced dispatch running in this context, and the first handler exception handed to it.

    ``depth`` counts the dispatch-service calls in progress under it: only a call made at depth 0
    is the owner's own, so an exception a nested (untraced) dispatch inside a handler caught stays
    with that dispatch. ``open`` turns false when the owner ends: a late hand-over changes nothing.
    """

    __slots__ = ("depth", "error", "open", "trace")

    def __init__(self, trace: ActionExecutionTrace | None) -> None:
        self.trace = trace
        self.error: BaseException | None = None
        self.depth = 0
        self.open = True


DISPATCHING: ContextVar[Dispatching | None] = ContextVar("actiontrace_dispatching", default=None)
# (structured trace, its innermost open span here — or None when none is open yet)
ACTIVE_SPAN: ContextVar[tuple[StructuredTrace, Span | None] | None] = ContextVar(
    "actiontrace_active_span", default=None
)


def current_trace() -> ActionExecutionTrace | None:
    """Return the execution trace being dispatched in the current context, or ``None``."""
    dispatching = DISPATCHING.get()
    return None if dispatching is None else dispatching.trace


def hand_over(dispatching: Dispatching, error: BaseException) -> None:
    """Give ``error`` to the owning dispatch, unless it already has one or has ended."""
    if dispatching.open and dispatching.error is None:
        dispatching.error = error
