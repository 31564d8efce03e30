"""actiontrace: action execution tracing for turn-based game and narrative engines.

The public names of SPEC.md, importable from here; the modules behind them are private detail.
"""

from __future__ import annotations

from .errors import InvalidArgumentError, TraceStateError
from .factory import ActionExecutionTraceFactory
from .sanitize import is_sensitive_key, sanitize_payload
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

__version__ = "0.1.0"

__all__ = [
    "MAX_PAYLOAD_SIZE",
    "REDACTED",
    "SENSITIVE_FIELDS",
    "TRACE_FORMAT_VERSION",
    "ActionExecutionTrace",
    "ActionExecutionTraceFactory",
    "DispatchResult",
    "ErrorInfo",
    "ExecutionInfo",
    "ExecutionPhase",
    "ExecutionStatus",
    "InvalidArgumentError",
    "PhaseRecord",
    "TraceDict",
    "TraceMetadata",
    "TraceStateError",
    "TurnActionRecord",
    "__version__",
    "is_sensitive_key",
    "sanitize_payload",
]
