"""The process's default tracer: ``configure``, ``trace_action`` and ``@traced``.

Library code marks its actions once; they trace nothing, at almost no cost, until the application
calls ``configure()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

from ..ids import TraceContext
from ..trace import ActionExecutionTrace
from .config import load_config
from .tracer import UNTRACED, ActionBlock, Tracer, UntracedBlock, decorator

__all__ = ["configure", "trace_action", "traced"]

P = ParamSpec("P")
R = TypeVar("R")

_default: Tracer | None = None
_owned_output: Any = None  # an output configure() built from the configuration, closed on replace
_configure_lock = threading.Lock()


def _default_tracer() -> Tracer | None:
    return _default


def configure(**tracer_arguments: Any) -> Tracer:
    """Set (or replace) the process's default tracer and return it.

    With arguments, builds ``Tracer(**tracer_arguments)``. Without, builds it from the
    configuration file and environment variables ``load_config()`` reads: their filter, and when
    tracing is enabled their output service (closed when a later call replaces this tracer).
    """
    global _default, _owned_output
    owned = None
    if tracer_arguments:
        tracer = Tracer(**tracer_arguments)
    else:
        config = load_config()
        owned = config.create_output_service() if config.enabled else None
        tracer = Tracer(trace_filter=config.create_filter(), output=owned)
    with _configure_lock:
        previous, _owned_output = _owned_output, owned
        _default = tracer
    if previous is not None:
        try:
            previous.close()
        except Exception as error:
            tracer._log("warning", "configure: closing the previous output failed", exc=error)
    return tracer


def trace_action(
    action_id: str,
    *,
    actor_id: str,
    command: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    parent: ActionExecutionTrace | TraceContext | None = None,
) -> ActionBlock | UntracedBlock:
    """``Tracer.action`` on the default tracer; a do-nothing block until ``configure()``."""
    tracer = _default
    if tracer is None:
        return UNTRACED
    return tracer.action(
        action_id,
        actor_id=actor_id,
        command=command,
        parameters=parameters,
        payload=payload,
        metadata=metadata,
        parent=parent,
    )


@overload
def traced(action_id: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def traced(
    action_id: str | None = None, *, actor_id: str | Callable[..., str] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def traced(action_id: Any = None, *, actor_id: Any = None) -> Any:
    """``Tracer.traced`` on the default tracer, looked up at each call (none: a plain call)."""
    return decorator(_default_tracer, action_id, actor_id)
