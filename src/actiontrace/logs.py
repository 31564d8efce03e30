"""The library's one way to log: never raises, redacts secrets, rate-limits what can flood.

Every module that logs goes through :class:`SafeLog`. A message (with its ``%`` arguments and, when
given, the exception's traceback) is formatted here, passed through the sanitiser's value rules
(:func:`actiontrace.sanitize.redact_secrets`) and handed to the user's logger as one finished
string: a handler or formatter of the application never sees a raw exception that could print a
credential the trace itself redacts.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import weakref
from typing import Final

from .factory import LoggerLike
from .sanitize import redact_secrets

__all__ = ["LOG_INTERVAL", "SafeLog", "format_exception_text"]

LOG_INTERVAL: Final = 5.0
"""Seconds between two rate-limited messages of one kind."""

# The levels the library logs at, with the numbers of the logging module (not imported for them).
_LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def format_exception_text(error: BaseException) -> str:
    """Return the traceback of ``error`` (cause chain included) as text, secrets redacted."""
    try:
        text = "".join(traceback.format_exception(error))
    except Exception:  # an exception whose str() or frames fail: name it only
        text = f"{type(error).__name__}: <unprintable>\n"
    return redact_secrets(text)


def _render(message: str, args: tuple[object, ...], error: BaseException | None) -> str:
    try:
        text = message % args if args else message
    except Exception:  # a bad format string: keep the parts rather than lose the message
        text = f"{message} {args!r}"
    if error is not None:
        text = f"{text}\n{format_exception_text(error).rstrip()}"
    return redact_secrets(text)


class SafeLog:
    """Logs through the user's ``logger``; never raises, redacts, and rate-limits on request.

    ``log("warning", "could not write %s", name, exc=error)`` formats the message and the traceback
    of ``exc`` into one redacted string. ``limited(key, ...)`` drops a message when one of the same
    ``key`` went out less than ``LOG_INTERVAL`` seconds ago, and says how many it dropped next time.
    """

    __slots__ = ("__weakref__", "_last", "_lock", "_logger", "_suppressed")

    def __init__(self, logger: LoggerLike) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        _ALL.add(self)

    @property
    def logger(self) -> LoggerLike:
        """The logger messages go to."""
        return self._logger

    def __call__(
        self, level: str, message: str, *args: object, exc: BaseException | None = None
    ) -> None:
        """Log ``message % args`` (and the traceback of ``exc``) at ``level``; never raises."""
        try:
            level = level if level in _LEVELS else "error"
            enabled = getattr(self._logger, "isEnabledFor", None)
            if enabled is not None and not enabled(_LEVELS[level]):
                return  # nothing to format or redact for a level nobody listens to
            getattr(self._logger, level)(_render(message, args, exc))
        except Exception:  # a broken logger must not stop a worker or reach the game
            return

    def debug(self, message: str, *args: object) -> None:
        """Log at debug level; never raises (so a ``SafeLog`` serves where a logger is expected)."""
        self("debug", message, *args)

    def info(self, message: str, *args: object) -> None:
        """Log at info level; never raises."""
        self("info", message, *args)

    def warning(self, message: str, *args: object) -> None:
        """Log at warning level; never raises."""
        self("warning", message, *args)

    def error(self, message: str, *args: object) -> None:
        """Log at error level; never raises."""
        self("error", message, *args)

    def limited(
        self,
        key: str,
        message: str,
        *args: object,
        level: str = "warning",
        exc: BaseException | None = None,
    ) -> None:
        """Log as ``__call__`` does, unless a message of this ``key`` went out recently."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < LOG_INTERVAL:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message = f"{message} ({suppressed} similar message(s) suppressed)"
        self(level, message, *args, exc=exc)


_ALL: weakref.WeakSet[SafeLog] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held a lock at the fork: the child starts afresh.
    for log in list(_ALL):
        log._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - every POSIX system has it
    os.register_at_fork(after_in_child=_after_fork_in_child)
