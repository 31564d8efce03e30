"""The pipeline around the trace (SPEC §6): event bus, dispatch, processor, filter, config."""

from __future__ import annotations

from .bus import EventBus, EventHandler, Unsubscribe
from .config import TraceConfig, load_config
from .dispatch import ATTEMPT_ACTION_ID, EventDispatchService
from .filter import ActionPatterns, ActionTraceFilter, action_matches
from .processor import CommandProcessor

__all__ = [
    "ATTEMPT_ACTION_ID",
    "ActionPatterns",
    "ActionTraceFilter",
    "CommandProcessor",
    "EventBus",
    "EventDispatchService",
    "EventHandler",
    "TraceConfig",
    "Unsubscribe",
    "action_matches",
    "load_config",
]
