import logging
import subprocess
import sys

from actiontrace.logs import LOG_INTERVAL, SafeLog, format_exception_text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQtaGVyZQ"


class Recorder:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg):
        self.lines.append(("debug", msg))

    def info(self, msg):
        self.lines.append(("info", msg))

    def warning(self, msg):
        self.lines.append(("warning", msg))

    def error(self, msg):
        self.lines.append(("error", msg))


def test_message_arguments_and_traceback_are_redacted():
    log = SafeLog(Recorder())
    try:
        raise ValueError(f"Authorization: Bearer {JWT}")
    except ValueError as error:
        log("error", "dispatch failed for %s", "core:go", exc=error)
    ((level, text),) = log.logger.lines
    assert level == "error"
    assert "dispatch failed for core:go" in text
    assert "Traceback" in text and "ValueError" in text
    assert JWT not in text and "[REDACTED]" in text


def test_a_broken_logger_or_format_never_raises():
    class Broken(Recorder):
        def error(self, msg):
            raise RuntimeError("logger down")

    SafeLog(Broken())("error", "x")
    rec = Recorder()
    SafeLog(rec)("bogus-level", "%d apples", "not a number")
    assert rec.lines and rec.lines[0][0] == "error" and "apples" in rec.lines[0][1]


def test_limited_drops_repeats_and_counts_them(monkeypatch):
    from actiontrace import logs

    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    rec = Recorder()
    log = SafeLog(rec)
    for _ in range(3):
        log.limited("disk", "disk full")
    assert [text for _, text in rec.lines] == ["disk full"]
    now[0] += LOG_INTERVAL + 0.1
    log.limited("disk", "disk full")
    assert rec.lines[-1][1] == "disk full (2 similar message(s) suppressed)"


def test_unprintable_exception_is_named():
    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert "Odd" in format_exception_text(Odd())


def test_library_logs_reach_no_terminal_unless_configured():
    code = (
        "import logging, actiontrace\n"
        "logging.getLogger('actiontrace').error('should not be seen')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == "" and out.stdout == ""
    code_configured = "import logging\nlogging.basicConfig()\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code_configured], capture_output=True, text=True, check=True
    )
    assert "should not be seen" in out.stderr
    assert logging.getLogger("actiontrace").handlers


def test_level_methods_make_a_safe_log_serve_as_a_logger():
    rec = Recorder()
    log = SafeLog(rec)
    log.debug("d %s", 1)
    log.info("i")
    log.warning("w")
    log.error("e 100%")  # no arguments: a lone % is not a format
    assert rec.lines == [("debug", "d 1"), ("info", "i"), ("warning", "w"), ("error", "e 100%")]

    class Raising:
        def __getattr__(self, level):
            def fail(msg):
                raise RuntimeError(msg)

            return fail

    broken = SafeLog(Raising())
    for method in (broken.debug, broken.info, broken.warning, broken.error):
        method("never raises")


def test_a_lock_held_by_another_thread_at_a_fork_does_not_hang_the_child():
    import os
    import threading
    import time

    if not hasattr(os, "fork"):
        return
    rec = Recorder()
    log = SafeLog(rec)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with log._lock:
            held.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - measured in the child
            log.limited("disk", "from the child")
            os._exit(0 if rec.lines[-1] == ("warning", "from the child") else 1)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError("the child hung on the parent's lock")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join(10)


def test_a_level_the_logger_ignores_costs_no_formatting_or_redaction():
    formatted = []

    class Counted:
        def __str__(self):
            formatted.append(1)
            return "value"

    logger = logging.getLogger("actiontrace.test.levels")
    logger.setLevel(logging.WARNING)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        log = SafeLog(logger)
        log.debug("quiet %s", Counted())
        assert formatted == [] and records == []
        log.warning("loud %s", Counted())
        assert formatted == [1] and [r.getMessage() for r in records] == ["loud value"]
    finally:
        logger.removeHandler(handler)
