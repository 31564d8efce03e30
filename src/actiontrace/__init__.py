"""actiontrace: action execution tracing for turn-based game and narrative engines.

The public names, importable from here; the modules behind them are private detail, and
``docs/reference.md`` describes each name (docstrings cite its sections as "reference §N"). A
name's module loads the first time the name is used (PEP 562 ``__getattr__``), so
``import actiontrace`` loads nothing else and the analysis side costs
nothing to a game that only writes traces.

To add a public name: add it to ``_EXPORTS`` (name -> the module that defines it), to the
``TYPE_CHECKING`` imports (for type checkers and editors) and to ``__all__``; a test checks that
the three agree.
"""

import sys as _sys

__version__ = "0.1.0"

# A library never prints. The library's logger gets a logging.NullHandler where the library
# first hands it out (actiontrace.factory); when the application has already imported logging,
# it gets it now, so nothing sent to the "actiontrace" logger reaches a terminal unless the
# application configures logging. Importing logging here would cost more than the rest together.
if "logging" in _sys.modules:
    _logging = _sys.modules["logging"]
    _library_logger = _logging.getLogger("actiontrace")
    if not any(isinstance(h, _logging.NullHandler) for h in _library_logger.handlers):
        _library_logger.addHandler(_logging.NullHandler())

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers know it)

_EXPORTS = {
    "ATTEMPT_ACTION_ID": ".pipeline",
    "MAX_PAYLOAD_SIZE": ".types",
    "REDACTED": ".types",
    "SENSITIVE_FIELDS": ".types",
    "TRACE_FORMAT_VERSION": ".types",
    "ActionAwareStructuredTrace": ".structured",
    "ActionExecutionTrace": ".trace",
    "ActionExecutionTraceFactory": ".factory",
    "ActionTraceFilter": ".pipeline",
    "ActionTraceOutputService": ".output.service",
    "CommandProcessor": ".pipeline",
    "DispatchResult": ".types",
    "ErrorInfo": ".types",
    "EventBus": ".pipeline",
    "EventDispatchService": ".pipeline",
    "ExecutionInfo": ".types",
    "ExecutionPhase": ".types",
    "ExecutionStatus": ".types",
    "InvalidArgumentError": ".errors",
    "PhaseRecord": ".types",
    "ReadStats": ".output.reader",
    "Span": ".structured",
    "StructuredTrace": ".structured",
    "TailSampler": ".output.sampler",
    "TraceConfig": ".pipeline",
    "TraceContext": ".ids",
    "TraceDict": ".types",
    "TraceMetadata": ".types",
    "TraceRecord": ".output.reader",
    "TraceStateError": ".errors",
    "Tracer": ".pipeline.tracer",
    "TurnActionRecord": ".types",
    "Verbosity": ".verbosity",
    "configure": ".pipeline.default",
    "current_trace": ".context",
    "follow_traces": ".analysis.follow",
    "is_sensitive_key": ".sanitize",
    "load_config": ".pipeline",
    "read_traces": ".output.reader",
    "sanitize_payload": ".sanitize",
    "scan_traces": ".output.reader",
    "span": ".structured",
    "trace_action": ".pipeline.default",
    "traced": ".pipeline.default",
}

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

    from .analysis.follow import follow_traces
    from .context import current_trace
    from .errors import InvalidArgumentError, TraceStateError
    from .factory import ActionExecutionTraceFactory
    from .ids import TraceContext
    from .output.reader import ReadStats, TraceRecord, read_traces, scan_traces
    from .output.sampler import TailSampler
    from .output.service import ActionTraceOutputService
    from .pipeline import (
        ATTEMPT_ACTION_ID,
        ActionTraceFilter,
        CommandProcessor,
        EventBus,
        EventDispatchService,
        TraceConfig,
        load_config,
    )
    from .pipeline.default import configure, trace_action, traced
    from .pipeline.tracer import Tracer
    from .sanitize import is_sensitive_key, sanitize_payload
    from .structured import ActionAwareStructuredTrace, Span, StructuredTrace, span
    from .trace import ActionExecutionTrace
    from .types import (
        MAX_PAYLOAD_SIZE,
        REDACTED,
        SENSITIVE_FIELDS,
        TRACE_FORMAT_VERSION,
        DispatchResult,
        ErrorInfo,
        ExecutionInfo,
        ExecutionPhase,
        ExecutionStatus,
        PhaseRecord,
        TraceDict,
        TraceMetadata,
        TurnActionRecord,
    )
    from .verbosity import Verbosity

__all__ = [
    "ATTEMPT_ACTION_ID",
    "MAX_PAYLOAD_SIZE",
    "REDACTED",
    "SENSITIVE_FIELDS",
    "TRACE_FORMAT_VERSION",
    "ActionAwareStructuredTrace",
    "ActionExecutionTrace",
    "ActionExecutionTraceFactory",
    "ActionTraceFilter",
    "ActionTraceOutputService",
    "CommandProcessor",
    "DispatchResult",
    "ErrorInfo",
    "EventBus",
    "EventDispatchService",
    "ExecutionInfo",
    "ExecutionPhase",
    "ExecutionStatus",
    "InvalidArgumentError",
    "PhaseRecord",
    "ReadStats",
    "Span",
    "StructuredTrace",
    "TailSampler",
    "TraceConfig",
    "TraceContext",
    "TraceDict",
    "TraceMetadata",
    "TraceRecord",
    "TraceStateError",
    "Tracer",
    "TurnActionRecord",
    "Verbosity",
    "__version__",
    "configure",
    "current_trace",
    "follow_traces",
    "is_sensitive_key",
    "load_config",
    "read_traces",
    "sanitize_payload",
    "scan_traces",
    "span",
    "trace_action",
    "traced",
]


def _lazy_exports(
    package: str, exports: "Mapping[str, str]", namespace: "MutableMapping[str, object]"
) -> "Callable[[str], object]":
    """Return a module ``__getattr__`` loading ``exports[name]`` (relative to ``package``) on use.

    The loaded value is kept in ``namespace`` (the package's ``globals()``), so a name costs one
    import, once. The analysis package uses it too.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module  # noqa: PLC0415 - only when a name is first used

        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__


__getattr__ = _lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    """List the module's attributes and every public name, loaded or not."""
    return sorted(set(globals()) | set(__all__))
