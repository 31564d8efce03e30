"""The statuses a trace file records, as written: an execution trace's and a span's.

A module of constants and nothing else: the command line's parser offers them as choices without
loading the read path.
"""

STATUSES = ("success", "failed", "error", "pending", "in_progress")
"""Execution statuses as written; ``TraceRecord.status`` is one of these or ``"unknown"``."""

SPAN_STATUSES = ("active", "success", "failure", "error")
"""Span statuses as written; a structured record's status is one of these or ``"unknown"``."""
