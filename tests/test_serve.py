"""``actiontrace serve``: the live page over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import serve as serve_module
from actiontrace.analysis.serve import LiveServer

CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from actiontrace.cli import main; sys.exit(main(sys.argv[1:]))"
)


def trace(n: int, action: str = "core:go") -> dict[str, Any]:
    return {
        "metadata": {"actionId": action, "actorId": "aria", "traceType": "execution"},
        "execution": {"status": "success", "duration": 1.0, "startEpochNs": 10**18 + n},
        "eventPayload": {"n": n},
    }


def append(path: Path, *traces: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write("".join(json.dumps(t) + "\n" for t in traces))


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    folder = tmp_path / "traces"
    (folder / "sub").mkdir(parents=True)
    append(folder / "a.jsonl", trace(0), trace(1))
    append(folder / "sub" / "b.jsonl", trace(2))
    (folder / "notes.txt").write_text("not a trace file")
    (tmp_path / "secret.jsonl").write_text("outside\n")
    (folder / "out.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (folder / "in.jsonl").symlink_to(folder / "a.jsonl")
    return folder


@pytest.fixture
def server(traces: Path) -> Iterator[LiveServer]:
    with LiveServer(traces, port=0, poll_interval=0.05, publish_interval=0.05) as live:
        wait_for_total(live, 3)
        yield live


def address(live: LiveServer) -> tuple[str, int]:
    host, port = live.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


def request(
    live: LiveServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*address(live), timeout=10)
    try:
        connection.putrequest(method, path, skip_host=bool(headers and "Host" in headers))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def wait_for_total(live: LiveServer, total: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, _, body = request(live, "GET", "/data")
        if json.loads(body)["report"]["total"] >= total:
            return
        time.sleep(0.02)
    raise AssertionError(f"total never reached {total}")  # pragma: no cover


def open_events(live: LiveServer, since: int) -> tuple[socket.socket, Any]:
    sock = socket.create_connection(address(live), timeout=10)
    sock.sendall(f"GET /events?since={since} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    stream = sock.makefile("rb")
    assert stream.readline().startswith(b"HTTP/1.0 200")
    while stream.readline() not in (b"\r\n", b""):
        pass
    return sock, stream


def next_event(stream: Any) -> tuple[str, str]:
    kind, data = "", ""
    while True:
        line = stream.readline().decode()
        if line == "":
            raise AssertionError("stream closed")
        if line == "\n":
            if data:
                return kind, data
            continue
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:].strip()


def current_version(live: LiveServer) -> int:
    return int(json.loads(request(live, "GET", "/data")[2])["version"])


def test_page_data_and_trace_files_are_served(server: LiveServer, traces: Path) -> None:
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'"live":true' in body
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert request(server, "GET", "/index.html?x=1")[0] == 200
    status, _, body = request(server, "GET", "/data")
    # in.jsonl links to a.jsonl inside the folder: read as a file of its own, as report reads it.
    assert status == 200 and json.loads(body)["report"]["total"] == 5
    status, _, body = request(server, "GET", "/traces/")
    # out.jsonl links out of the folder: not a file the read path reads, not listed.
    assert json.loads(body) == ["a.jsonl", "in.jsonl", "sub/b.jsonl"]
    status, headers, body = request(server, "GET", "/traces/sub/b.jsonl")
    assert status == 200 and body == (traces / "sub" / "b.jsonl").read_bytes()
    assert headers["Content-Type"] == "application/x-ndjson"
    assert request(server, "GET", "/traces/in.jsonl")[2] == (traces / "a.jsonl").read_bytes()
    status, headers, body = request(server, "HEAD", "/traces/a.jsonl")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == (traces / "a.jsonl").stat().st_size
    status, headers, body = request(server, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.jsonl",
        "/traces/../secret.jsonl",
        "/traces/..%2fsecret.jsonl",
        "/traces/%2e%2e%2fsecret.jsonl",
        "/traces/%2E%2E/secret.jsonl",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/traces//etc/passwd",
        "/traces/%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/traces/out.jsonl",
        "/traces/notes.txt",
        "/traces/sub",
        "/traces/..%5c..%5csecret.jsonl",
        "/traces/a.jsonl%00.txt",
        "/traces/%ff.jsonl",
        "/traces/./a.jsonl",
        "http://127.0.0.1/data",
        "/favicon.ico",
    ],
)
def test_anything_outside_page_data_and_traces_is_404(server: LiveServer, path: str) -> None:
    status, _, body = request(server, "GET", path)
    assert status == 404
    assert b"outside" not in body and b"root:" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FROB"])
def test_only_get_and_head_are_allowed(server: LiveServer, method: str) -> None:
    status, headers, _ = request(server, method, "/data")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_requests_naming_another_host_are_refused(server: LiveServer) -> None:
    assert request(server, "GET", "/data", {"Host": "evil.example:80"})[0] == 403
    assert request(server, "GET", "/data", {"Host": "localhost:1"})[0] == 200
    assert request(server, "GET", "/data", {"Host": "[::1]"})[0] == 200


def test_host_check_is_off_when_bound_elsewhere(traces: Path) -> None:
    with LiveServer(traces, host="127.0.0.2", port=0) as live:
        assert request(live, "GET", "/data", {"Host": "anything.example"})[0] == 200


def test_a_new_trace_reaches_event_clients_within_2_seconds(
    server: LiveServer, traces: Path
) -> None:
    sock, stream = open_events(server, current_version(server))
    try:
        written = time.monotonic()
        append(traces / "sub" / "b.jsonl", trace(3, "core:late"))
        kind, data = next_event(stream)
        elapsed = time.monotonic() - written
        assert kind == "snapshot"
        assert json.loads(data)["report"]["actions"]["core:late"]["count"] == 1
        assert elapsed < 2.0
    finally:
        stream.close()
        sock.close()


def test_twenty_clients_all_receive_the_update(server: LiveServer, traces: Path) -> None:
    version = current_version(server)
    clients = [open_events(server, version) for _ in range(20)]
    try:
        append(traces / "sub" / "b.jsonl", trace(4, "core:crowd"))
        for _, stream in clients:
            _, data = next_event(stream)
            assert "core:crowd" in json.loads(data)["report"]["actions"]
    finally:
        for sock, stream in clients:
            stream.close()
            sock.close()


def handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if "process_request" in t.name)


def settle(count: int) -> int:
    """Wait (up to 5 s) until ``count`` request threads remain; return how many there are."""
    deadline = time.monotonic() + 5
    while handler_threads() != count and time.monotonic() < deadline:
        time.sleep(0.01)
    return handler_threads()


def test_client_leaving_mid_stream_ends_its_thread_quietly(
    server: LiveServer, caplog: pytest.LogCaptureFixture, capfd: Any
) -> None:
    assert settle(0) == 0  # the requests of the fixture have finished
    sock, stream = open_events(server, -1)
    next_event(stream)  # the current snapshot, sent at once
    assert handler_threads() == 1
    stream.close()
    sock.close()
    assert settle(0) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in capfd.readouterr().err


def test_keepalive_comments_flow_while_nothing_changes(traces: Path) -> None:
    with LiveServer(traces, port=0, keepalive=0.1) as live:
        sock, stream = open_events(live, 10**9)
        try:
            assert stream.readline() == b"retry: 2000\n"
            assert stream.readline() == b"\n"
            assert stream.readline() == b": keepalive\n"
        finally:
            stream.close()
            sock.close()


def test_head_on_events_sends_headers_only(server: LiveServer) -> None:
    status, headers, body = request(server, "HEAD", "/events")
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert body == b""


def test_close_ends_streams_and_every_thread(traces: Path) -> None:
    before = set(threading.enumerate())
    live = LiveServer(traces, port=0).start()
    sock, stream = open_events(live, 10**9)
    live.close()
    assert stream.read() in (b"retry: 2000\n\n", b"")
    stream.close()
    sock.close()
    assert set(threading.enumerate()) <= before
    live.close()  # twice is fine


def test_a_single_file_path_serves_only_that_file(traces: Path) -> None:
    with LiveServer(traces / "a.jsonl", port=0) as live:
        assert json.loads(request(live, "GET", "/traces/")[2]) == ["a.jsonl"]
        assert request(live, "GET", "/traces/a.jsonl")[0] == 200
        assert request(live, "GET", "/traces/b.jsonl")[0] == 404


def test_a_trace_file_gone_before_it_is_opened_is_404(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: str) -> Any:
        raise FileNotFoundError(2, "gone")

    monkeypatch.setattr(serve_module, "open_regular", refuse)
    assert request(server, "GET", "/traces/a.jsonl")[0] == 404


def test_follow_failure_is_logged(traces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Iterator[None]:
        raise OSError("disk on fire")
        yield None  # pragma: no cover

    monkeypatch.setattr(serve_module, "follow_records", broken)
    messages: list[str] = []

    class Logger:
        def debug(self, *args: Any, **kwargs: Any) -> None:
            pass

        info = warning = debug

        def error(self, message: str, *args: Any, **kwargs: Any) -> None:
            messages.append(message % args)

    with LiveServer(traces, port=0, logger=Logger()) as live:
        assert request(live, "GET", "/data")[0] == 200
    # One finished (redacted) message: the line, then the traceback the library formatted itself.
    [message] = messages
    first, *rest = message.splitlines()
    assert first == f"actiontrace serve: following {traces} failed"
    assert rest and rest[-1] == "OSError: disk on fire"


def test_ipv6_loopback_works_when_available(traces: Path) -> None:
    if not socket.has_ipv6:  # pragma: no cover - depends on the machine
        pytest.skip("no IPv6")
    try:
        live = LiveServer(traces, host="::1", port=0).start()
    except OSError:  # pragma: no cover - depends on the machine
        pytest.skip("no IPv6 loopback")
    try:
        assert live.url.startswith("http://[::1]:")
        connection = http.client.HTTPConnection("::1", int(live.url.rsplit(":", 1)[1][:-1]))
        connection.request("GET", "/data")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        live.close()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"path": 3}, "path"),
        ({"host": ""}, "host"),
        ({"port": -1}, "port"),
        ({"port": True}, "port"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"publish_interval": float("inf")}, "publish_interval"),
        ({"keepalive": "1"}, "keepalive"),
    ],
)
def test_invalid_arguments_name_the_argument(
    traces: Path, kwargs: dict[str, Any], name: str
) -> None:
    arguments: dict[str, Any] = {"path": traces, **kwargs}
    with pytest.raises(InvalidArgumentError, match=name):
        LiveServer(arguments.pop("path"), **arguments)


def test_url_and_start_are_checked(traces: Path) -> None:
    live = LiveServer(traces, port=0)
    with pytest.raises(InvalidArgumentError, match="not started"):
        _ = live.url
    with live:
        with pytest.raises(InvalidArgumentError, match="already started"):
            live.start()


# -- the command -------------------------------------------------------------------------------


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_command_prints_its_url_and_ctrl_c_exits_0(traces: Path) -> None:
    child = start_cli(str(traces), "--port", "0")
    assert child.stdout is not None and child.stderr is not None
    try:
        line = child.stdout.readline()
        assert line.startswith(f"actiontrace: serving {traces} at http://127.0.0.1:")
        url = line.split(" at ", 1)[1].split()[0]
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/data")
        assert connection.getresponse().status == 200
        connection.close()
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:  # pragma: no cover - only when the test already failed
            child.kill()
            child.wait()
    assert "Traceback" not in child.stderr.read()


def test_serve_command_stops_on_sigterm_and_warns_off_loopback(traces: Path) -> None:
    child = start_cli(str(traces), "--port", "0", "--host", "127.0.0.2")
    assert child.stdout is not None and child.stderr is not None
    try:
        assert "http://127.0.0.2:" in child.stdout.readline()
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:  # pragma: no cover
            child.kill()
            child.wait()
    assert "warning: not bound to 127.0.0.1" in child.stderr.read()


def test_serve_command_errors(traces: Path, capsys: Any) -> None:
    from actiontrace.cli import main

    assert main(["serve", str(traces / "missing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve", str(traces), "--port", port]) == 1
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", str(traces), "--port", "70000"])
    with pytest.raises(SystemExit):
        main(["serve", str(traces), "--port", "x"])


# -- a client that goes away: nothing raised, the thread simply ends ------------------------------


class Gone:
    """A client connection whose writes start failing after ``allowed`` of them."""

    def __init__(self, allowed: int = 0) -> None:
        self.allowed = allowed
        self.data = b""

    def write(self, data: bytes) -> int:
        if self.allowed <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.allowed -= 1
        self.data += bytes(data)
        return len(data)

    def flush(self) -> None:
        pass


def bare_handler(live: LiveServer, wfile: Gone, path: str = "/events") -> Any:
    handler = serve_module._Handler.__new__(serve_module._Handler)
    handler.server = type("S", (), {"app": live})()
    handler.wfile = wfile
    handler.path = path
    handler.command = "GET"
    handler.request_version = "HTTP/1.0"
    handler.requestline = f"GET {path} HTTP/1.0"
    handler.client_address = ("127.0.0.1", 1)
    handler.close_connection = False
    handler.connection = socket.socket()
    return handler


@pytest.mark.parametrize(("allowed", "since"), [(1, -1), (2, -1), (2, 10**9)])
def test_event_stream_ends_quietly_when_a_write_fails(
    traces: Path, allowed: int, since: int
) -> None:
    # Writes: 1 = headers, 2 = "retry", 3 = the snapshot (since=-1) or a keepalive comment.
    live = LiveServer(traces, port=0, keepalive=0.01)
    handler = bare_handler(live, Gone(allowed), f"/events?since={since}")
    try:
        handler.stream_events(head=False)  # returns instead of raising
    finally:
        handler.connection.close()
    assert handler.close_connection is True
    assert handler.wfile.data.count(b"\r\n\r\n") == 1


def test_closed_connection_counts_as_gone(traces: Path) -> None:
    handler = bare_handler(LiveServer(traces, port=0), Gone())
    handler.connection.close()
    assert handler.client_gone() is True


def test_trace_file_download_stops_when_the_client_goes_or_the_file_shrinks(
    traces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = LiveServer(traces, port=0)
    target = live.trace_file("a.jsonl")
    assert target is not None
    handler = bare_handler(live, Gone(1), "/traces/a.jsonl")
    handler.send_file(target, head=False)
    assert handler.close_connection is True
    real_fstat = os.fstat

    class Bigger:
        def __init__(self, fd: int) -> None:
            self.st_mode = real_fstat(fd).st_mode
            self.st_size = real_fstat(fd).st_size + 100

    monkeypatch.setattr(serve_module.os, "fstat", Bigger)
    handler = bare_handler(live, Gone(10), "/traces/a.jsonl")
    handler.send_file(target, head=False)
    assert handler.wfile.data.endswith((traces / "a.jsonl").read_bytes())
    handler.connection.close()


def test_server_logs_a_failed_request_at_debug_level(traces: Path) -> None:
    seen: list[str] = []

    class Logger:
        def debug(self, message: str, *args: Any) -> None:
            seen.append(message % args)

        info = warning = error = debug

    with LiveServer(traces, port=0, logger=Logger()) as live:
        assert live._server is not None
        live._server.handle_error(None, ("127.0.0.1", 9))
    assert "actiontrace serve: request from ('127.0.0.1', 9) failed" in seen


def test_head_of_a_missing_page_has_no_body_and_bad_since_means_everything(
    server: LiveServer,
) -> None:
    status, _, body = request(server, "HEAD", "/nope")
    assert status == 404 and body == b""
    sock, stream = open_events(server, 0)
    stream.close()
    sock.close()
    sock = socket.create_connection(address(server), timeout=10)
    sock.sendall(b"GET /events?since=abc HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    stream = sock.makefile("rb")
    try:
        assert next_event(stream)[0] == "snapshot"
    finally:
        stream.close()
        sock.close()


def test_closing_a_server_that_never_started_is_harmless(traces: Path) -> None:
    LiveServer(traces, port=0).close()
