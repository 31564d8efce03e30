"""``actiontrace serve PATH``: the HTML report, live.

One background thread follows PATH (``follow_records``, the read path run again and again) and
feeds the report and page aggregators; after each round that brought new traces (or new damage)
it publishes a snapshot (at most every ``publish_interval`` seconds), encoded once and shared by
every client. Should following ever fail, it is logged and started afresh. Clients get:

* ``/`` (or ``/index.html``): the report page with the current snapshot embedded;
* ``/data``: the current snapshot as JSON;
* ``/events``: Server-Sent Events, one ``snapshot`` event per new snapshot;
* ``/traces/``: the trace files under PATH (a JSON list), ``/traces/<name>``: one of them; only
  the files the read path reads (``discover_trace_files``: regular files, links inside PATH).

Everything else is a 404; methods other than GET and HEAD are a 405. The server binds to
127.0.0.1 unless told otherwise and then answers only requests addressed to a loopback name
(a page of another site that rebinds its DNS name to 127.0.0.1 cannot read it). ``close()`` shuts
every open connection down, so no client (idle, slow or streaming) holds the server past it.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import InvalidArgumentError
from ..factory import ensure_logger
from ..logs import SafeLog
from ..output.discovery import TraceFile, discover_trace_files
from ..output.lines import open_regular
from ..output.reader import ReadStats
from .follow import follow_records
from .html import LiveData, page_security_policy, render_page
from .text import json_text

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LiveServer"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_CONTENT_TYPES = {"jsonl": "application/x-ndjson", "gz": "application/gzip"}
_JOIN_SECONDS = 1.5  # close() returns within about this, whatever the clients do
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class _State:
    """The published snapshot, its version, and the condition clients wait on."""

    __slots__ = ("changed", "data", "encoded", "stopping", "version")

    def __init__(self, data: dict[str, Any]) -> None:
        self.changed = threading.Condition()
        self.version = 0
        data["version"] = 0
        self.data = data
        self.encoded = _encode(data)
        self.stopping = False

    def publish(self, data: dict[str, Any]) -> None:
        with self.changed:
            self.version += 1
            data["version"] = self.version
            self.data = data
            self.encoded = _encode(data)
            self.changed.notify_all()

    def current(self) -> tuple[int, dict[str, Any], bytes]:
        with self.changed:
            return self.version, self.data, self.encoded


def _encode(data: dict[str, Any]) -> bytes:
    return json_text(data).encode()


class LiveServer:
    """The live page for the traces under ``path``: ``start()``, then ``url``; ``close()`` to stop.

    ``host`` defaults to 127.0.0.1 and ``port`` 0 picks a free port. Usable as a context manager.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        poll_interval: float = 0.2,
        publish_interval: float = 0.5,
        keepalive: float = 15.0,
        logger: Any = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"path must be a str or os.PathLike, not {path!r}")
        if not isinstance(host, str) or not host:
            raise InvalidArgumentError(f"host must be a non-empty str, not {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgumentError(f"port must be an int from 0 to 65535, not {port!r}")
        for name, value in (
            ("poll_interval", poll_interval),
            ("publish_interval", publish_interval),
            ("keepalive", keepalive),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidArgumentError(f"{name} must be a positive number, not {value!r}")
        self.path = os.fspath(path)
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self.publish_interval = publish_interval
        self.keepalive = keepalive
        self.logger = SafeLog(ensure_logger(logger, "logger"))
        self._live = LiveData(self.path)
        self._stats = ReadStats()
        self._state = _State(self._live.data(live=True, extra=self._stats.counts()))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: _Server | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LiveServer:
        """Bind, then serve and follow on background threads; returns ``self``."""
        if self._server is not None:
            raise InvalidArgumentError("LiveServer already started")
        self._server = _Server(self)
        self._threads = [
            threading.Thread(target=self._follow, name="actiontrace-serve-follow", daemon=True),
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="actiontrace-serve-http",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8765/``."""
        if self._server is None:
            raise InvalidArgumentError("LiveServer not started")
        host, port = self._server.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def close(self) -> None:
        """Stop: end every event stream, stop serving, join the threads. Idempotent."""
        self._stop.set()
        with self._state.changed:
            self._state.stopping = True
            self._state.changed.notify_all()
        server = self._server
        if server is not None:
            if self._threads and self._threads[1].is_alive():
                server.shutdown()
            server.close_connections()  # a slow or idle client's read ends now
            server.server_close()  # joins the request threads
        for thread in self._threads:
            thread.join(timeout=_JOIN_SECONDS)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- following --------------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except Exception as error:
                self.logger("error", "actiontrace serve: following %s failed", self.path, exc=error)
                # Start afresh (a new reading counts everything again, nothing twice).
                self._live = LiveData(self.path)
                self._stats = ReadStats()
                self._stop.wait(max(self.poll_interval, 1.0))

    def _follow_once(self) -> None:
        live, state, stats = self._live, self._state, self._stats
        dirty = True  # the first round publishes even an empty folder
        last = 0.0
        seen = stats.counts()
        for record in follow_records(
            self.path, poll_interval=self.poll_interval, stop=self._stop, stats=stats
        ):
            if record is not None:
                live.add(record)
                dirty = True
                continue
            counts = stats.counts()
            if counts != seen:  # new damage is news too
                dirty, seen = True, counts
            if dirty and time.monotonic() - last >= self.publish_interval:
                state.publish(live.data(live=True, extra=counts))
                dirty = False
                last = time.monotonic()

    # -- what the handler serves ------------------------------------------------------------------

    def _discovered(self) -> list[TraceFile]:
        try:
            return discover_trace_files(self.path).files
        except OSError:
            return []

    def trace_files(self) -> list[str]:
        """List the trace files under ``path``, relative to it (a file: its own name).

        Exactly the files the read path reads (``discover_trace_files``), in its order.
        """
        return [found.relative for found in self._discovered()]

    def trace_file(self, relative: str) -> TraceFile | None:
        """Return the trace file listed as ``relative``; ``None`` for anything else.

        Only names ``trace_files()`` lists are served: nothing outside ``path``, no hidden
        folder, no FIFO or device, no link leading out.
        """
        for found in self._discovered():
            if found.relative == relative:
                return found
        return None


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that joins its request threads on close and knows its app."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, app: LiveServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in app.host:
            self.address_family = socket.AF_INET6
        super().__init__((app.host, app.port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection down: a handler blocked reading returns at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback on stderr; a client going away is not news.
        self.app.logger.debug("actiontrace serve: request from %s failed", client_address)


def _not_allowed(handler: _Handler) -> Callable[[], None]:
    def answer() -> None:
        handler.send_plain(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: GET and HEAD only")

    return answer


class _Handler(BaseHTTPRequestHandler):
    """One request: the page, ``/data``, ``/events``, ``/traces/...``; nothing else."""

    server: _Server
    server_version = "actiontrace"
    sys_version = ""
    timeout = 10  # a stalled client cannot hold a thread (or the shutdown) for long

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches to ``do_<METHOD>``: every method but GET and HEAD gets a 405.
        if name.startswith("do_"):
            return _not_allowed(self)
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.app.logger.debug("actiontrace serve: " + format, *args)

    def do_GET(self) -> None:
        """Answer a GET."""
        self.route(head=False)

    def do_HEAD(self) -> None:
        """Answer a HEAD."""
        self.route(head=True)

    # -- routing ----------------------------------------------------------------------------------

    def route(self, *, head: bool) -> None:
        """Serve the page, data, events or a trace file; everything else is a 404."""
        if not self.host_allowed():
            self.send_plain(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return
        path = _clean_path(self.path)
        app = self.server.app
        if path in ("/", "/index.html"):
            _, data, _ = app._state.current()
            self.send_body(render_page(data).encode(), "text/html; charset=utf-8", head)
        elif path == "/data":
            _, _, encoded = app._state.current()
            self.send_body(encoded, "application/json", head)
        elif path == "/events":
            self.stream_events(head)
        elif path == "/traces/":
            listing = json_text(app.trace_files()).encode()
            self.send_body(listing, "application/json", head)
        elif path is not None and path.startswith("/traces/"):
            target = app.trace_file(path[len("/traces/") :])
            if target is None:
                self.send_plain(HTTPStatus.NOT_FOUND, "not found")
            else:
                self.send_file(target, head)
        else:
            self.send_plain(HTTPStatus.NOT_FOUND, "not found")

    def host_allowed(self) -> bool:
        """On a loopback address, only requests naming a loopback host (DNS rebinding)."""
        if self.server.app.host not in _LOOPBACK_NAMES:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOOPBACK_NAMES

    # -- answers ----------------------------------------------------------------------------------

    def common_headers(self, content_type: str) -> None:
        """Headers of every answer: type, no caching, no sniffing, no framing, the page's CSP."""
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header(
            "Content-Security-Policy", page_security_policy() + "; frame-ancestors 'none'"
        )

    def send_plain(self, status: HTTPStatus, text: str) -> None:
        """Send a short text answer (errors)."""
        body = f"{int(status)} {status.phrase}: {text}\n".encode()
        self.send_response(status)
        self.common_headers("text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if self.command != "HEAD":
            self.write_quietly(body)

    def send_body(self, body: bytes, content_type: str, head: bool) -> None:
        """Send a 200 with ``body`` (headers only for HEAD)."""
        self.send_response(HTTPStatus.OK)
        self.common_headers(content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.write_quietly(body)

    def send_file(self, target: TraceFile, head: bool) -> None:
        """Stream a trace file (a regular file only, checked on the open descriptor)."""
        try:
            handle = open_regular(target.path)
        except OSError:
            handle = None
        if handle is None:
            self.send_plain(HTTPStatus.NOT_FOUND, "not found")
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.common_headers(_CONTENT_TYPES.get(target.kind, "application/json"))
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if head:
                return
            try:
                remaining = size
                while remaining > 0:
                    chunk = handle.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except _CLIENT_GONE:
                self.close_connection = True

    def write_quietly(self, data: bytes) -> bool:
        """Write ``data``; ``False`` (and nothing raised) when the client has gone."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except _CLIENT_GONE:
            self.close_connection = True
            return False
        return True

    def stream_events(self, head: bool) -> None:
        """Server-Sent Events: a ``snapshot`` event for every version newer than ``since``."""
        self.send_response(HTTPStatus.OK)
        self.common_headers("text/event-stream; charset=utf-8")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        app = self.server.app
        state = app._state
        sent = _since(self.path)
        if not self.write_quietly(b"retry: 2000\n\n"):
            return
        last_write = time.monotonic()
        while True:
            with state.changed:
                if state.version <= sent and not state.stopping:
                    state.changed.wait(timeout=min(1.0, app.keepalive))
                if state.stopping:
                    return
                version, encoded = state.version, state.encoded
            if version > sent:
                message = b"event: snapshot\ndata: " + encoded + b"\n\n"
                if not self.write_quietly(message):
                    return
                sent = version
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= app.keepalive:
                if not self.write_quietly(b": keepalive\n\n"):
                    return
                last_write = time.monotonic()
            if self.client_gone():
                return

    def client_gone(self) -> bool:
        """Whether the client closed its end (readable, and reading gives nothing)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except (OSError, ValueError):
            return True


def _clean_path(raw: str) -> str | None:
    r"""Decode the request path; ``None`` when it tries to leave (``..``, ``\``, NUL, ``//``).

    Only origin-form targets (``/...``) are accepted; a query string is ignored.
    """
    if not raw.startswith("/") or raw.startswith("//"):
        return None
    path = raw.split("?", 1)[0].split("#", 1)[0]
    try:
        decoded = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or "\x00" in decoded or "//" in decoded:
        return None
    if any(part in (".", "..") for part in decoded.split("/")):
        return None
    return decoded


def _since(raw: str) -> int:
    query = urllib.parse.urlsplit(raw).query
    values = urllib.parse.parse_qs(query).get("since", [])
    try:
        return int(values[0]) if values else -1
    except ValueError:
        return -1
