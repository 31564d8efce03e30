"""Constants, enums and the TypedDicts that document the on-disk trace records."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "MAX_PAYLOAD_SIZE",
    "REDACTED",
    "SENSITIVE_FIELDS",
    "TRACE_FORMAT_VERSION",
    "DispatchResult",
    "ErrorInfo",
    "ExecutionInfo",
    "ExecutionPhase",
    "ExecutionStatus",
    "PhaseRecord",
    "TraceDict",
    "TraceMetadata",
    "TurnActionRecord",
]

TRACE_FORMAT_VERSION = "1.0"
"""Version of the on-disk trace format written in ``metadata.version``."""

MAX_PAYLOAD_SIZE = 1024 * 1024
"""Largest captured payload, in bytes of its compact UTF-8 JSON."""

REDACTED = "[REDACTED]"
"""What a secret is replaced by."""

SENSITIVE_FIELDS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apiKey",
        "access_key",
        "private_key",
        "secret_key",
        "signing_key",
        "encryption_key",
        "license_key",
        "client_secret",
        "credential",
        "auth",
        "authorization",
        "cookie",
        "session_id",
        "session_token",
        "session_key",
        "sid",
        "pin",
        "otp",
        "ssn",
        "cvv",
        "cvc",
        "card_number",
        "iban",
    }
)
"""The built-in sensitive names; keys ending in one (word-aware, see ``is_sensitive_key``) are
redacted."""


class ExecutionPhase(StrEnum):
    """The phases a trace records, one per capture."""

    DISPATCH_START = "dispatch_start"
    PAYLOAD_CAPTURED = "payload_captured"
    DISPATCH_COMPLETED = "dispatch_completed"
    ERROR_CAPTURED = "error_captured"


class ExecutionStatus(StrEnum):
    """Where a trace stands: error > success/failed > in_progress > pending."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"


class PhaseRecord(TypedDict):
    """One entry of ``execution.phases``."""

    phase: str
    timestamp: float
    description: str
    payloadSize: NotRequired[int]
    truncated: NotRequired[bool]
    success: NotRequired[bool]
    errorType: NotRequired[str]


class DispatchResult(TypedDict):
    """The ``result`` record: what the dispatch returned."""

    success: bool
    timestamp: Any
    metadata: Any


class ErrorInfo(TypedDict):
    """The ``error`` record (and each link of its ``cause`` chain)."""

    message: str
    type: str
    stack: str | None
    timestamp: float
    code: Any
    cause: ErrorInfo | None


class TraceMetadata(TypedDict):
    """The ``metadata`` record."""

    actionId: str
    actorId: str
    traceType: Literal["execution"]
    createdAt: str
    version: str
    traceId: NotRequired[str]
    spanId: NotRequired[str]
    parentSpanId: NotRequired[str | None]


class TurnActionRecord(TypedDict):
    """The ``turnAction`` record."""

    actionDefinitionId: Any
    commandString: Any
    parameters: Any


class ExecutionInfo(TypedDict):
    """The ``execution`` record: timing, status and phases."""

    startTime: float | None
    endTime: float | None
    duration: float | None
    status: str
    phases: list[PhaseRecord]
    startEpochNs: int | None


class TraceDict(TypedDict):
    """A whole execution trace as ``ActionExecutionTrace.to_dict()`` returns it."""

    metadata: TraceMetadata
    turnAction: TurnActionRecord
    execution: ExecutionInfo
    eventPayload: Any
    result: DispatchResult | None
    error: ErrorInfo | None
    customMetadata: NotRequired[dict[str, Any]]
