"""actiontrace: action execution tracing for turn-based game and narrative engines.

The public names of SPEC.md, importable from here; the modules behind them are private detail.
"""

from __future__ import annotations

import logging

from .analysis.follow import follow_traces
from .context import current_trace
from .errors import InvalidArgumentError, TraceStateError
from .factory import ActionExecutionTraceFactory
from .ids import TraceContext
from .output.reader import read_traces
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

__version__ = "0.1.0"

# A library never prints: nothing reaches a terminal unless the application configures logging.
logging.getLogger("actiontrace").addHandler(logging.NullHandler())

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
    "Span",
    "StructuredTrace",
    "TailSampler",
    "TraceConfig",
    "TraceContext",
    "TraceDict",
    "TraceMetadata",
    "TraceStateError",
    "TurnActionRecord",
    "Verbosity",
    "__version__",
    "current_trace",
    "follow_traces",
    "is_sensitive_key",
    "load_config",
    "read_traces",
    "sanitize_payload",
    "span",
]
