"""Hostile trace folders against every consumer of the read path.

Each case is a folder holding one kind of trouble next to good traces. Every consumer -
``read_traces``, ``scan_traces``, the follower (``tail``'s engine), ``report`` (text, ``--json``,
``--html``), ``show`` (and ``--tree``), ``tail`` (and ``--json``), ``export --to chrome`` and
``serve``'s data - reads it without crashing or hanging, prints only safe text and strict JSON,
and counts the same traces, damaged lines and skipped files. The memory cases run in a child
process under ``RLIMIT_AS``; ``serve`` is stopped with real signals while real clients hang on.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, StructuredTrace, read_traces
from actiontrace.analysis import follow as follow_module
from actiontrace.analysis.follow import follow_records
from actiontrace.analysis.html import page_data
from actiontrace.analysis.serve import LiveServer
from actiontrace.cli import main
from actiontrace.output.lines import MAX_LINE_BYTES
from actiontrace.output.reader import ReadStats, scan_traces

CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from actiontrace.cli import main; sys.exit(main(sys.argv[1:]))"
)
# What no output may hold raw: C0 (but newline and tab in text), C1, bidi controls, separators.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MEMORY_LIMIT = 384 * 1024 * 1024
"""Address space a child reading a hostile file may use: far below what reading it whole takes."""


def good_line(n: int, *, action: str = "core:go", status: str = "success") -> bytes:
    trace = ActionExecutionTrace(
        action_id=action, actor_id=f"actor-{n}", turn_action={"actionDefinitionId": action}
    )
    trace.capture_dispatch_start()
    trace.capture_event_payload({"n": n})
    if status == "error":
        trace.capture_error(RuntimeError(f"boom {n}"))
    else:
        trace.capture_dispatch_result({"success": status == "success"})
    return trace.to_json().encode() + b"\n"


def structured_line() -> bytes:
    steps = StructuredTrace()
    with steps.span("turn"), steps.span("move"):
        pass
    return steps.to_json().encode() + b"\n"


def raw_trace(**fields: Any) -> str:
    """A hand-written execution trace line (JSON text, so it may hold what dumps refuses)."""
    meta = {"actionId": "core:go", "actorId": "p", "traceType": "execution"}
    body = {"metadata": meta, "execution": {"status": "success", "duration": 1.0}}
    text = json.dumps(body)[:-1]
    for key, value in fields.items():
        text += f', "{key}": {value}'
    return text + "}\n"


@dataclass(frozen=True)
class Expect:
    """What every consumer must count: traces (execution ones), damaged lines, skipped files."""

    traces: int
    damaged: int = 0
    skipped: int = 0
    executions: int | None = None

    @property
    def total(self) -> int:
        return self.traces if self.executions is None else self.executions


Case = Callable[[Path], Expect]


def case_deep_nesting(folder: Path) -> Expect:
    deep = b"[" * 100_000 + b"]" * 100_000
    line = raw_trace(eventPayload=deep.decode()).encode()
    (folder / "deep.jsonl").write_bytes(good_line(1) + line + good_line(2))
    return Expect(traces=2, damaged=1)


def case_nan_and_infinity(folder: Path) -> Expect:
    lines = [raw_trace(eventPayload="NaN"), raw_trace(eventPayload="[-Infinity]")]
    lines.append(raw_trace(eventPayload="1e999"))
    (folder / "nan.jsonl").write_bytes(good_line(1) + "".join(lines).encode())
    return Expect(traces=1, damaged=3)


def case_huge_duration(folder: Path) -> Expect:
    line = raw_trace().replace('"duration": 1.0', '"duration": 1e308')
    start = '"startEpochNs": 99999999999999999999999999'
    odd = raw_trace().replace('"duration": 1.0', f'"duration": 1e300, {start}')
    (folder / "huge.jsonl").write_text(line + odd)
    return Expect(traces=2)


def case_lone_surrogate(folder: Path) -> Expect:
    line = raw_trace(eventPayload='"\\ud800"') + raw_trace(note='{"\\udfff": 1}')
    (folder / "surrogate.jsonl").write_bytes(good_line(1) + line.encode())
    return Expect(traces=1, damaged=2)


def case_non_utf8_file_name(folder: Path) -> Expect:
    with open(os.fsencode(folder) + b"/bad-\xff\xfe.jsonl", "wb") as handle:
        handle.write(good_line(1) + b"garbage\n")
    return Expect(traces=1, damaged=1)


def case_gzip_bomb(folder: Path) -> Expect:
    # 64 MiB of one line, a few dozen KB on disk; then a good line after it.
    with gzip.open(folder / "bomb.jsonl.gz", "wb", compresslevel=9) as out:
        out.write(b'{"metadata": {"traceType": "execution"}, "x": "')
        block = b"A" * (1 << 20)
        for _ in range(64):
            out.write(block)
        out.write(b'"}\n' + good_line(1))
    return Expect(traces=1, damaged=1)


def case_sparse_line(folder: Path) -> Expect:
    path = folder / "sparse.jsonl"
    path.write_bytes(good_line(1))
    with path.open("r+b") as handle:
        handle.truncate(64 * 1024 * 1024)  # a hole of zeros: one 64 MiB line, no newline
    return Expect(traces=1, damaged=1)


def case_dev_zero_link(folder: Path) -> Expect:
    (folder / "x.json").symlink_to("/dev/zero")
    (folder / "y.jsonl").symlink_to("/dev/zero")
    (folder / "ok.jsonl").write_bytes(good_line(1))
    return Expect(traces=1, skipped=2)


def case_fifo(folder: Path) -> Expect:
    os.mkfifo(folder / "pipe.jsonl")
    (folder / "ok.jsonl").write_bytes(good_line(1))
    return Expect(traces=1, skipped=1)


def case_link_outside(folder: Path) -> Expect:
    outside = folder.parent / "secret.jsonl"
    outside.write_bytes(good_line(9) * 3)
    (folder / "leak.jsonl").symlink_to(outside)
    (folder / "ok.jsonl").write_bytes(good_line(1))
    (folder / "inside.jsonl").symlink_to(folder / "ok.jsonl")
    return Expect(traces=2, skipped=1)


def case_control_and_bidi(folder: Path) -> Expect:
    evil = ActionExecutionTrace(
        action_id="core:\x85go\u202e\x1b[2J",
        actor_id="\u2066actor\x07\u2028",
        turn_action={"actionDefinitionId": "x", "commandString": "\x9b31m"},
    )
    evil.capture_dispatch_start()
    evil.capture_error(ValueError("\u202egnp.exe\x85"))
    (folder / "evil.jsonl").write_bytes(evil.to_json().encode() + b"\n")
    return Expect(traces=1)


def case_venv_under_path(folder: Path) -> Expect:
    lib = folder / ".venv" / "lib"
    lib.mkdir(parents=True)
    (lib / "package.json").write_text(json.dumps({"metadata": {"traceType": "npm"}}))
    (folder / ".git").mkdir()
    (folder / ".git" / "x.jsonl").write_bytes(good_line(5))
    (folder / "ok.jsonl").write_bytes(good_line(1))
    return Expect(traces=1)


def case_truncated_gzip(folder: Path) -> Expect:
    data = gzip.compress(b"".join(good_line(n) for n in range(50)))
    (folder / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    (folder / "ok.jsonl").write_bytes(good_line(99))
    stats = ReadStats()
    found = sum(1 for _ in scan_traces(folder, stats))  # how many the cut leaves is zlib's say
    return Expect(traces=found, damaged=1)


def case_invalid_utf8_mid_line(folder: Path) -> Expect:
    broken = raw_trace(note='"caf\xff\xfe"').encode("latin-1")
    (folder / "utf8.jsonl").write_bytes(good_line(1) + broken + good_line(2))
    return Expect(traces=2, damaged=1)


def case_whitespace_lines(folder: Path) -> Expect:
    (folder / "blank.jsonl").write_bytes(b"   \n\t\r\n" + good_line(1) + b"\n \n")
    return Expect(traces=1)


def case_duplicate_keys(folder: Path) -> Expect:
    line = raw_trace().replace('"status": "success"', '"status": "failed", "status": "error"')
    (folder / "dup.jsonl").write_text(line)
    return Expect(traces=1)


def case_wrong_shapes(folder: Path) -> Expect:
    odd = (
        '{"metadata": {"traceType": "execution", "actionId": ["x"], "traceId": 7}, '
        '"execution": [], "error": 5, "result": "yes", "turnAction": 3, "customMetadata": []}\n'
        '{"metadata": {"traceType": "structured"}, "spans": {"a": 1}, "summary": 2}\n'
        '{"metadata": {"traceType": "structured"}, "spans": [1, {"status": 3}, {"parentId": []}]}\n'
        '{"metadata": {"traceType": "mystery"}}\n'
    )
    not_traces = '[{"metadata": {}}]\n"text"\n{"metadata": {"traceType": null}}\n{"metadata": 1}\n'
    (folder / "odd.jsonl").write_text(odd + not_traces)
    (folder / "list.json").write_text('[{"metadata": {"traceType": "execution"}}, 5]')
    return Expect(traces=5, damaged=5, executions=2)


def case_mixed_types(folder: Path) -> Expect:
    (folder / "a.jsonl").write_bytes(
        good_line(1) + good_line(2, status="failed") + good_line(3, status="error")
    )
    (folder / "b.jsonl").write_bytes(structured_line())
    return Expect(traces=4, executions=3)


CASES: dict[str, Case] = {
    name.removeprefix("case_"): value
    for name, value in dict(globals()).items()
    if name.startswith("case_") and callable(value)
}


@pytest.fixture(params=sorted(CASES))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Expect]:
    folder = tmp_path / "traces"
    folder.mkdir()
    expect = CASES[request.param](folder)
    return folder, expect


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in output")

    return json.loads(text, parse_constant=refuse)


def assert_safe(text: str) -> None:
    assert not UNSAFE.search(text), UNSAFE.search(text)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert_safe(out.replace("\n", "").replace("\t", ""))
    assert_safe(err.replace("\n", ""))
    return code, out, err


# -- the library -----------------------------------------------------------------------------------


def test_scan_traces_counts_what_each_case_holds(hostile: tuple[Path, Expect]) -> None:
    folder, expect = hostile
    stats = ReadStats()
    records = list(scan_traces(folder, stats))
    assert (len(records), stats.damaged_lines, stats.skipped_files) == (
        expect.traces,
        expect.damaged,
        expect.skipped,
    )
    for record in records:  # every record is strict JSON and encodes
        strict_json(json.dumps(record.trace, allow_nan=False))
        record.file.encode("utf-8")
    # The fast parser agrees on every record (it may read an integer past 64 bits as a float).
    fast = [r[1:] for r in scan_traces(folder, fast=True)]
    assert fast == [r[1:] for r in records]


def test_read_traces_yields_the_same_traces(hostile: tuple[Path, Expect]) -> None:
    folder, expect = hostile
    assert len(list(read_traces(folder))) == expect.traces


def test_the_follower_counts_the_same_in_one_round(hostile: tuple[Path, Expect]) -> None:
    folder, expect = hostile
    stats = ReadStats()
    records = follow_records(folder, poll_interval=0.01, stats=stats)
    found = []
    try:
        for record in records:
            if record is None:
                break
            found.append(record)
    finally:
        records.close()
    torn_tail = 1 if expect is not None and (folder / "sparse.jsonl").exists() else 0
    # A follower waits for an unfinished last line (the sparse one) instead of calling it torn.
    assert (len(found), stats.damaged_lines + torn_tail, stats.skipped_files) == (
        expect.traces,
        expect.damaged,
        expect.skipped,
    )


def test_page_data_counts_the_same(hostile: tuple[Path, Expect]) -> None:
    folder, expect = hostile
    data = page_data(folder)
    report = data["report"]
    assert (report["total"], report["damagedLines"], report["skippedFiles"]) == (
        expect.total,
        expect.damaged,
        expect.skipped,
    )
    assert data["page"]["timeline"]["total"] == expect.total
    json.dumps(data, allow_nan=False).encode("utf-8")


# -- the command line ------------------------------------------------------------------------------


def test_report_json_counts_the_same_and_is_strict_and_escaped(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, expect = hostile
    code, out, _ = run(capsys, "report", str(folder), "--json")
    assert code == 0
    report = strict_json(out)
    assert sum(report["traceTypes"].values()) == expect.traces
    assert (report["total"], report["damagedLines"], report["skippedFiles"]) == (
        expect.total,
        expect.damaged,
        expect.skipped,
    )


def test_report_text_shows_the_damage(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, expect = hostile
    code, out, _ = run(capsys, "report", str(folder))
    assert code == 0
    assert f"{expect.total} execution traces" in out
    assert f"Skipped: {expect.damaged} damaged lines" in out
    assert f"{expect.skipped} files not read" in out


def test_report_html_embeds_the_same_counts(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, expect = hostile
    page = tmp_path / "page.html"
    code, _, _ = run(capsys, "report", str(folder), "--html", str(page))
    assert code == 0
    html = page.read_text(encoding="utf-8")
    block = html.split('<script type="application/json" id="data">', 1)[1].split("</script>")[0]
    report = strict_json(block)["report"]
    assert (report["total"], report["damagedLines"], report["skippedFiles"]) == (
        expect.total,
        expect.damaged,
        expect.skipped,
    )
    assert_safe(block)


@pytest.mark.parametrize("tree", [False, True], ids=["show", "show-tree"])
def test_show_prints_every_trace_safely(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str], tree: bool
) -> None:
    folder, expect = hostile
    code, out, _ = run(capsys, "show", str(folder), *(["--tree"] if tree else []))
    assert code == 0
    if not tree:
        assert out.count("── ") == expect.traces


@pytest.mark.parametrize("as_json", [False, True], ids=["tail", "tail-json"])
def test_tail_prints_a_line_per_trace(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    folder, expect = hostile
    code, out, _ = run(capsys, "tail", str(folder), "--interval", "0.01", *(["--json"] * as_json))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == expect.traces
    if as_json:
        for line in lines:
            strict_json(line)


def test_export_chrome_is_strict_and_counts_the_damage(
    hostile: tuple[Path, Expect], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, expect = hostile
    out = tmp_path / "chrome.json"
    code, _, err = run(capsys, "export", str(folder), "--to", "chrome", "--out", str(out))
    assert code == 0
    strict_json(out.read_text(encoding="utf-8"))
    if expect.damaged or expect.skipped:
        assert f"skipped {expect.damaged} damaged lines and {expect.skipped} files not read" in err
    else:
        assert "skipped" not in err.replace("malformed skipped", "")


def test_serve_data_counts_the_same(hostile: tuple[Path, Expect]) -> None:
    folder, expect = hostile
    with LiveServer(folder, port=0, poll_interval=0.01, publish_interval=0.01) as live:
        host, port = live.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        deadline = time.monotonic() + 60
        while True:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", "/data")
            data = strict_json(connection.getresponse().read().decode("utf-8"))
            connection.close()
            report = data["report"]
            sparse = 1 if (folder / "sparse.jsonl").exists() else 0  # still "being written"
            got = (report["total"], report["damagedLines"] + sparse, report["skippedFiles"])
            if got == (expect.total, expect.damaged, expect.skipped):
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.02)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/")
        page = connection.getresponse()
        assert page.status == 200
        page.read()
        connection.close()


# -- specific behaviours ---------------------------------------------------------------------------


def test_a_folder_changing_while_read_never_breaks_the_reading(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    (folder / "sub").mkdir(parents=True)
    for n in range(5):
        (folder / f"{n}.jsonl").write_bytes(good_line(n) * 3)
    (folder / "sub" / "z.jsonl").write_bytes(good_line(9))
    stats = ReadStats()
    seen = 0
    for record in scan_traces(folder, stats):
        seen += 1
        if seen == 1:
            (folder / "3.jsonl").unlink()  # deleted before it is opened
            (folder / "4.jsonl").write_bytes(b"")  # emptied
            (folder / "sub" / "z.jsonl").unlink()
            (folder / "sub").rmdir()
            (folder / "new.jsonl").write_bytes(good_line(7))  # listed already? no: not read
        assert record.file.encode()
    assert seen == 3 + 3 + 3  # 0, 1, 2 whole; 3 gone; 4 empty
    assert stats.damaged_lines == 0 and stats.skipped_files == 0


def test_a_path_that_is_a_fifo_or_device_is_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    for argv in (
        ["report", str(tmp_path / "pipe.jsonl")],
        ["show", str(tmp_path / "pipe.jsonl")],
        ["tail", str(tmp_path / "pipe.jsonl")],
        ["report", "/dev/zero"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert "no traces found" in err and "1 damaged lines or" in err.replace("skipped", "")


def test_tail_and_show_without_traces_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk.jsonl").write_text("junk\n")
    for command in ("tail", "show"):
        code, out, err = run(capsys, command, str(tmp_path))
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "no traces found" in err and "(1 damaged" in err


def test_an_unfinished_long_line_is_read_once_not_on_every_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "growing.jsonl"
    path.write_bytes(good_line(1) + b'{"metadata": {"traceType": "execution"}, "x": "')
    read: list[int] = []
    real = follow_module.read_chunks

    def counted(stream: Any, size: int | None = None) -> Iterator[bytes]:
        for chunk in real(stream, size):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(follow_module, "read_chunks", counted)
    stats = ReadStats()
    records = follow_records(path, poll_interval=0.001, stats=stats)
    try:

        def one_round() -> int:
            found: list[object] = []
            for record in records:
                if record is None:
                    return len(found)
                found.append(record)
            raise AssertionError("the follower ended")  # pragma: no cover

        assert one_round() == 1
        first = sum(read)
        assert first == path.stat().st_size
        for _ in range(5):
            with path.open("ab") as handle:
                handle.write(b"y" * 1_000_000)  # still no newline
            read.clear()
            assert one_round() == 0
            assert sum(read) == 1_000_000  # only the new bytes: the old part is not read again
        read.clear()
        assert one_round() == 0 and sum(read) == 0  # nothing new: nothing read
        with path.open("ab") as handle:
            handle.write(b'"}\n' + good_line(2))
        assert one_round() == 2
    finally:
        records.close()
    assert stats.damaged_lines == 0


def test_an_overlong_unfinished_line_is_dropped_as_it_grows_and_counted_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_bytes(b"")
    stats = ReadStats()
    records = follow_records(path, poll_interval=0.001, stats=stats)
    try:
        assert next(records) is None
        with path.open("ab") as handle:
            for _ in range(MAX_LINE_BYTES // (1 << 20) + 2):
                handle.write(b"z" * (1 << 20))
                handle.flush()
                assert next(records) is None
            handle.write(b"\n" + good_line(1))
        found = [next(records)]
        assert found[0] is not None and found[0].line == 2
        assert next(records) is None
    finally:
        records.close()
    assert stats.corrupt == 1


# -- memory: children under RLIMIT_AS --------------------------------------------------------------


def limited(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child whose address space is capped at ``MEMORY_LIMIT``."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap,
        check=False,
    )


def test_the_memory_cap_is_real() -> None:
    done = limited("x = bytearray(1024 * 1024 * 1024)")
    assert done.returncode != 0 and "MemoryError" in done.stderr


def test_a_gzip_bomb_of_one_gibibyte_line_reads_in_bounded_memory(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "bomb.jsonl.gz", "wb", compresslevel=9) as out:
        block = b"B" * (8 << 20)
        for _ in range(128):  # 1 GiB of text on one line, about 1 MB on disk
            out.write(block)
        out.write(b"\n" + good_line(1))
    assert (tmp_path / "bomb.jsonl.gz").stat().st_size < 4 << 20
    code = (
        "import json, sys\n"
        "from actiontrace.analysis.report import report_path\n"
        "r = report_path(sys.argv[1])\n"
        "print(json.dumps([r['total'], r['damagedLines'], r['skippedFiles']]))\n"
    )
    done = limited(code, str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [1, 1, 0]


def test_a_sparse_one_gibibyte_line_and_dev_zero_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "sparse.jsonl"
    with path.open("wb") as handle:
        handle.write(good_line(1))
        handle.truncate(1 << 30)
        handle.seek(1 << 30)
        handle.write(b"\n" + good_line(2))
    (tmp_path / "x.json").symlink_to("/dev/zero")
    code = (
        "import sys\n"
        "from actiontrace.output.reader import ReadStats, scan_traces\n"
        "stats = ReadStats()\n"
        "n = sum(1 for _ in scan_traces(sys.argv[1], stats))\n"
        "print(n, stats.damaged_lines, stats.skipped_files)\n"
    )
    done = limited(code, str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "1", "1"]


def test_tail_follow_holds_a_growing_unfinished_line_in_bounded_memory(tmp_path: Path) -> None:
    # 192 MiB written in 1 MiB appends with no newline, followed all along; then a trace.
    path = tmp_path / "growing.jsonl"
    path.write_bytes(b"")
    code = (
        "import sys\n"
        "from actiontrace.analysis.follow import follow_records\n"
        "from actiontrace.output.reader import ReadStats\n"
        "stats = ReadStats()\n"
        "records = follow_records(sys.argv[1], poll_interval=0.001, stats=stats)\n"
        "assert next(records) is None\n"
        "with open(sys.argv[1], 'ab') as out:\n"
        "    for _ in range(192):\n"
        "        out.write(b'q' * (1 << 20)); out.flush()\n"
        "        assert next(records) is None\n"
        f"    out.write(b'\\n' + {good_line(1)!r})\n"
        "record = next(records)\n"
        "print(record.line, stats.corrupt)\n"
    )
    done = limited(code, str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "1"]


# -- serve: any content, and a prompt stop with slow and idle clients -----------------------------


def start_serve(folder: Path) -> tuple[subprocess.Popen[str], str, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "serve", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    url = line.split(" at ", 1)[1].split()[0]
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return child, host, int(port)


class SlowClient:
    """A client that sends one header byte at a time, forever, until told to stop."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.stop = threading.Event()
        self.sent = threading.Event()
        self.thread = threading.Thread(target=self.dribble, daemon=True)
        self.thread.start()

    def dribble(self) -> None:
        for byte in b"GET /data HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000:
            try:
                self.sock.send(bytes([byte]))
            except OSError:
                return
            self.sent.set()
            if self.stop.wait(0.2):
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stops_within_two_seconds_with_slow_and_idle_clients(
    tmp_path: Path, sig: signal.Signals
) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    case_control_and_bidi(folder)
    case_deep_nesting(folder)
    case_nan_and_infinity(folder)
    child, host, port = start_serve(folder)
    clients: list[Any] = []
    try:
        slow = SlowClient(host, port)
        clients.append(slow)
        assert slow.sent.wait(10)
        idle = socket.create_connection((host, port), timeout=10)  # connects, says nothing
        clients.append(idle)
        events = socket.create_connection((host, port), timeout=10)
        clients.append(events)
        events.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert events.recv(12) == b"HTTP/1.0 200"  # streaming now
        child.send_signal(sig)
        began = time.monotonic()
        assert child.wait(timeout=2.0) == 0
        assert time.monotonic() - began < 2.0
    finally:
        if child.poll() is None:  # pragma: no cover - only when the test already failed
            child.kill()
            child.wait()
        for client in clients:
            client.close()
    assert child.stderr is not None
    assert "Traceback" not in child.stderr.read()


def test_a_path_that_is_not_utf8_prints_safely(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path) + b"/traces-\xff"
    os.mkdir(folder)
    with open(folder + b"/a.jsonl", "wb") as handle:
        handle.write(good_line(1))
    for argv in (["report"], ["report", "--json"], ["show"], ["tail"]):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, argv[0], os.fsdecode(folder), *argv[1:]],
            capture_output=True,
            check=False,
            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"},
        )
        assert done.returncode == 0, done.stderr
        assert b"Traceback" not in done.stderr
        done.stdout.decode("utf-8")
