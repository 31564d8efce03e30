"""The tracing work around one action, shared by ``CommandProcessor`` and ``Tracer``.

``TracingParts`` holds the collaborators (filter, factory, structured factory, outputs) and asks
the filter; ``ActiveAction`` is one traced action from start to the hand-over to the outputs. Every
fault of a collaborator is logged and swallowed here, so neither caller can let tracing change
what the game sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any, Final

from ..context import DISPATCHING, Dispatching
from ..logs import SafeLog
from .dispatch import ATTEMPT_ACTION_ID
from .seams import Outputs, method_of

__all__ = ["CURRENT", "ActiveAction", "TracingParts", "attempt_payload", "is_clean_exit"]

CURRENT: Final = object()
"""``parent=CURRENT``: link to the trace being dispatched in this context, if any."""

_EXIT_METADATA: Final = {"exit": True}
_SUCCESS: Final = {"success": True}


def is_clean_exit(error: BaseException) -> bool:
    """Whether ``error`` is a ``SystemExit`` whose code says success (a game's normal quit)."""
    return type(error) is SystemExit and error.code in (0, None)


def attempt_payload(
    actor_id: str, action_id: str, original_input: str, target_id: object, parameters: object
) -> dict[str, Any]:
    """Build the attempt-action event payload that handlers receive."""
    payload: dict[str, Any] = {
        "eventName": ATTEMPT_ACTION_ID,
        "actorId": actor_id,
        "actionId": action_id,
    }
    if target_id is not None:
        payload["targetId"] = target_id
    if parameters is not None:
        payload["parameters"] = parameters
    payload["originalInput"] = original_input
    return payload


class TracingParts:
    """The collaborators of tracing, bound once; ``selects`` asks the filter, faults swallowed.

    An execution trace needs a filter and a factory; a structured trace needs its factory (and
    the filter's yes when there is a filter). ``active`` is false when neither can be made.
    """

    __slots__ = (
        "active",
        "create_structured",
        "create_trace",
        "log",
        "outputs",
        "owner",
        "should_trace",
        "verbosity_for",
        "verdicts",
    )

    def __init__(
        self,
        owner: str,
        log: SafeLog,
        *,
        trace_filter: object,
        trace_factory: object,
        output: object,
        structured_trace_factory: object,
        output_argument: str,
    ) -> None:
        self.owner = owner
        self.log = log
        should_trace = (
            None
            if trace_filter is None
            else method_of(trace_filter, "should_trace", "trace_filter")
        )
        create_trace = (
            None
            if trace_factory is None
            else method_of(trace_factory, "create_trace", "trace_factory")
        )
        self.outputs = Outputs(output, log, owner, output_argument)
        self.create_structured: Callable[..., Any] | None = (
            None
            if structured_trace_factory is None
            else method_of(structured_trace_factory, "create_trace", "structured_trace_factory")
        )
        verbosity_for = getattr(trace_filter, "verbosity_for", None)
        self.verbosity_for: Callable[[str], Any] | None = (
            verbosity_for if callable(verbosity_for) else None
        )
        # Without a filter, execution traces are off (a structured factory alone traces all).
        self.create_trace: Callable[..., Any] | None = (
            create_trace if should_trace is not None else None
        )
        self.active = self.create_trace is not None or self.create_structured is not None
        self.should_trace: Callable[[str], object] | None = should_trace if self.active else None
        # A should_trace that is a dict's own lookup (ActionTraceFilter without sampling) is
        # looked up in place by the dispatch paths: a subscript, not two calls (a filter that
        # says no cost the game 5% over no filter through the calls, measured with
        # bench_dispatch).
        table = getattr(self.should_trace, "__self__", None)
        self.verdicts: Mapping[str, object] | None = (
            table if isinstance(table, dict) and self.should_trace == table.__getitem__ else None
        )

    def selects(self, action_id: str) -> bool:
        """Whether to trace ``action_id`` (no filter: yes); a faulty filter means no."""
        should_trace = self.should_trace
        if should_trace is None:
            return True
        try:
            selected = should_trace(action_id)
            # Identity tests first: the common answers cost a comparison, nothing more.
            return selected is True or (selected is not False and bool(selected))
        except Exception as error:
            return self.filter_fault(action_id, error)

    def filter_fault(self, action_id: str, error: Exception) -> bool:
        """Log the filter's fault on ``action_id``; its answer is then no."""
        self.outputs.fault("trace_filter.should_trace", action_id, error)
        return False


class ActiveAction(Dispatching):
    """One traced action: its execution and structured traces, open spans and dispatch state.

    It is itself the ``Dispatching`` record its handlers' dispatch services hand exceptions to.
    """

    __slots__ = ("_spans", "_token", "action_id", "parts", "structured")

    def __init__(
        self,
        parts: TracingParts,
        action_id: str,
        actor_id: str,
        turn_action: Mapping[str, Any],
        *,
        parent: object = CURRENT,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.parts = parts
        self.action_id = action_id
        self._spans: list[Any] = []
        self._token: Token[Dispatching | None] | None = None
        Dispatching.__init__(self, None)
        if parent is CURRENT:
            dispatching = DISPATCHING.get()
            parent = None if dispatching is None else dispatching.trace
        self.trace = self._new_trace(actor_id, turn_action, parent, metadata)
        create = parts.create_structured
        self.structured: Any = None if create is None else self._new_structured(create, actor_id)

    def _new_trace(
        self,
        actor_id: str,
        turn_action: Mapping[str, Any],
        parent: object,
        metadata: Mapping[str, Any] | None,
    ) -> Any:
        parts = self.parts
        create_trace = parts.create_trace
        if create_trace is None:
            return None
        action_id = self.action_id
        try:
            extra: dict[str, Any] = {}
            if parent is not None:
                extra["parent"] = parent
            if metadata is not None:
                extra["metadata"] = metadata
            if parts.verbosity_for is not None:
                extra["verbosity"] = parts.verbosity_for(action_id)
            trace = create_trace(
                action_id=action_id, actor_id=actor_id, turn_action=turn_action, **extra
            )
            trace.capture_dispatch_start()
        except Exception as error:
            parts.outputs.fault("trace_factory.create_trace", action_id, error)
            return None
        return trace

    def _new_structured(self, create: Callable[..., Any], actor_id: str) -> Any:
        action_id = self.action_id
        try:
            structured = create(action_id, actor_id)
            if self.trace is not None:
                link_to = getattr(structured, "link_to", None)
                if callable(link_to):
                    link_to(self.trace)
            annotate = getattr(structured, "annotate", None)
            if callable(annotate):
                annotate(actionId=action_id, actorId=actor_id)
        except Exception as error:
            self.parts.outputs.fault("structured_trace_factory.create_trace", action_id, error)
            return None
        return structured

    # -- spans of the structured trace ---------------------------------------------------------

    def open_span(self, operation: str) -> None:
        """Open ``operation`` under the innermost open span; only with a structured trace."""
        try:
            opened = self.structured.span(operation)
            opened.__enter__()
        except Exception as error:
            self.parts.outputs.fault(f"structured trace span '{operation}'", self.action_id, error)
            return
        self._spans.append(opened)

    def close_span(self, error: BaseException | None = None, *, failed: bool = False) -> None:
        """End the innermost span opened here, recording ``error`` or a failure status."""
        if not self._spans:
            return
        opened = self._spans.pop()
        try:
            if failed:
                opened.set_status("failure")
            if error is None:
                opened.__exit__(None, None, None)
            else:
                opened.__exit__(type(error), error, error.__traceback__)
        except Exception as fault:
            self.parts.outputs.fault("structured trace span end", self.action_id, fault)

    # -- the captures --------------------------------------------------------------------------

    def capture_payload(self, payload: object) -> None:
        """Capture the event payload (once)."""
        if self.trace is None:
            return
        try:
            self.trace.capture_event_payload(payload)
        except Exception as error:
            self.parts.outputs.fault("trace.capture_event_payload", self.action_id, error)

    def activate(self) -> None:
        """Make this action current: its handlers' dispatches link to it and hand errors to it."""
        self.open = True
        self._token = DISPATCHING.set(self)

    def deactivate(self) -> None:
        """Undo ``activate``; a hand-over that comes later is ignored."""
        token, self._token = self._token, None
        self.open = False
        if token is not None:
            try:
                DISPATCHING.reset(token)
            except ValueError:  # ended in another context than it began in
                DISPATCHING.set(token.old_value if token.old_value is not Token.MISSING else None)

    @property
    def handed_error(self) -> BaseException | None:
        """The first handler exception a dispatch service handed to this action, if any."""
        return self.error

    def finish(
        self, error: BaseException | None = None, result: Mapping[str, Any] | None = None
    ) -> None:
        """End every open span and record the outcome on the trace.

        ``error`` (an exception leaving the action) wins; a clean ``SystemExit`` is a success with
        ``{"exit": true}``. Otherwise ``result`` is recorded when given, then a handed-over
        handler exception as the error; with neither, ``{"success": True}``.
        """
        handed = self.error
        if error is not None and is_clean_exit(error):
            result, error, handed = {"success": True, "metadata": _EXIT_METADATA}, None, None
        if self._spans:
            failed = result is not None and not result.get("success")
            while self._spans:
                self.close_span(error if error is not None else handed, failed=failed)
        trace = self.trace
        if trace is None:
            return
        if error is None and (result is not None or handed is None):
            try:
                trace.capture_dispatch_result(_SUCCESS if result is None else result)
            except Exception as fault:
                self.parts.outputs.fault("trace.capture_dispatch_result", self.action_id, fault)
        if error is None:
            error = handed
        if error is not None:
            try:
                trace.capture_error(error)
            except Exception as fault:
                self.parts.outputs.fault("trace.capture_error", self.action_id, fault)

    # -- the hand-over -------------------------------------------------------------------------

    def write_sync(self) -> None:
        """Hand the traces to the outputs, without an event loop."""
        outputs = self.parts.outputs
        if not outputs:
            return
        if self.trace is not None:
            outputs.write_sync(self.trace, self.action_id)
        if self.structured is not None:
            outputs.write_sync(self.structured, self.action_id)

    async def write(self) -> None:
        """Hand the traces to the outputs, awaiting any that are asynchronous."""
        outputs = self.parts.outputs
        if not outputs:
            return
        for trace in (self.trace, self.structured):
            if trace is not None:
                pending = outputs.write(trace, self.action_id)
                if pending:
                    await outputs.drain(pending, self.action_id)
