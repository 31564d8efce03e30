"""What is being traced in the current context (``contextvars``: per thread and per asyncio task).

The processor makes its trace current while an action's handlers run, so an action dispatched from
inside them becomes its child (SPEC §9.1); a structured trace and its open span are current in the
same way, so ``actiontrace.span()`` nests where it is called (SPEC §9.3). New threads and executor
workers start with an empty context: they inherit nothing unless the caller passes it on itself
(``contextvars.copy_context().run``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .structured import Span, StructuredTrace
    from .trace import ActionExecutionTrace

__all__ = ["ACTIVE_SPAN", "CURRENT_TRACE", "current_trace"]

CURRENT_TRACE: ContextVar[ActionExecutionTrace | None] = ContextVar(
    "actiontrace_current_trace", default=None
)
# (structured trace, its innermost open span here — or None when none is open yet)
ACTIVE_SPAN: ContextVar[tuple[StructuredTrace, Span | None] | None] = ContextVar(
    "actiontrace_active_span", default=None
)


def current_trace() -> ActionExecutionTrace | None:
    """Return the execution trace being dispatched in the current context, or ``None``."""
    return CURRENT_TRACE.get()
