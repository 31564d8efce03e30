"""The pipeline around the trace: event bus, dispatch, processor, tracer, filter, config."""

from __future__ import annotations

from .bus import EventBus, EventHandler, Unsubscribe
from .config import TraceConfig, load_config
from .default import configure, trace_action, traced
from .dispatch import ATTEMPT_ACTION_ID, EventDispatchService
from .filter import ActionPatterns, ActionTraceFilter, action_matches
from .processor import CommandProcessor
from .seams import StructuredTraceFactory, TraceFactory, TraceFilter, TraceOutput
from .tracer import ActionBlock, Tracer

__all__ = [
    "ATTEMPT_ACTION_ID",
    "ActionBlock",
    "ActionPatterns",
    "ActionTraceFilter",
    "CommandProcessor",
    "EventBus",
    "EventDispatchService",
    "EventHandler",
    "StructuredTraceFactory",
    "TraceConfig",
    "TraceFactory",
    "TraceFilter",
    "TraceOutput",
    "Tracer",
    "Unsubscribe",
    "action_matches",
    "configure",
    "load_config",
    "trace_action",
    "traced",
]
