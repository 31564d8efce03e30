"""The read path's rarer turns: races with the writer, faults, odd values, stops."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import follow as follow_module
from actiontrace.analysis.follow import follow_records
from actiontrace.analysis.html import STACK_CHARS, PageData
from actiontrace.analysis.serve import LiveServer
from actiontrace.analysis.tree import waterfall
from actiontrace.cli import main
from actiontrace.output import discovery, lines, reader
from actiontrace.output.reader import ReadStats, scan_traces
from actiontrace.output.records import make_record


def trace(n: int) -> dict[str, Any]:
    return {"metadata": {"traceType": "execution", "actionId": f"a{n}"}, "n": n}


def text(*numbers: int) -> str:
    return "".join(json.dumps(trace(n)) + "\n" for n in numbers)


def drain(records: Iterator[Any]) -> list[Any]:
    """One round of a follower: the records until its "caught up" mark."""
    found = []
    for record in records:
        if record is None:
            return found
        found.append(record)
    raise AssertionError("the follower ended")  # pragma: no cover


# -- discovery -------------------------------------------------------------------------------------


def test_a_dangling_link_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    stats = ReadStats()
    assert list(scan_traces(tmp_path, stats)) == []
    assert stats.skipped == 1


def test_a_sub_folder_that_cannot_be_listed_is_skipped_and_the_root_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "ok.jsonl").write_text(text(1))
    real = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(discovery.os, "scandir", scandir)
    found = discovery.discover_trace_files(tmp_path)
    assert [f.relative for f in found.files] == ["ok.jsonl"]
    assert found.skipped == [str(tmp_path / "locked")]
    with pytest.raises(PermissionError):
        discovery.discover_trace_files(tmp_path / "locked")


def test_an_entry_that_cannot_be_examined_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "odd.jsonl").write_text(text(1))

    class Entry:
        name = "odd.jsonl"
        path = str(tmp_path / "odd.jsonl")

        def is_dir(self, follow_symlinks: bool = True) -> bool:
            raise PermissionError(13, "Permission denied")

    class Listing:
        def __enter__(self) -> list[Entry]:
            return [Entry()]

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(discovery.os, "scandir", lambda path: Listing())
    found = discovery.discover_trace_files(tmp_path)
    assert found.files == [] and len(found.skipped) == 1


def test_open_regular_closes_what_it_opened_when_checking_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("x")
    opened: list[int] = []
    real_open = os.open

    def record_open(*args: Any) -> int:
        opened.append(real_open(*args))
        return opened[-1]

    class Stat:
        @staticmethod
        def S_ISREG(mode: int) -> bool:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(lines.os, "open", record_open)
    monkeypatch.setattr(lines, "stat", Stat)
    with pytest.raises(OSError):
        lines.open_regular(str(path))
    monkeypatch.undo()
    with pytest.raises(OSError):  # the descriptor was closed
        os.fstat(opened[0])


# -- scan_traces racing the writer -----------------------------------------------------------------


def test_an_explicit_file_listed_then_gone_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(text(1))
    listed = discovery.discover_trace_files(path)
    path.unlink()
    path.mkdir()  # the path exists again, as a folder: the listing still names the file
    monkeypatch.setattr(reader, "discover_trace_files", lambda root: listed)
    monkeypatch.setattr(reader.os.path, "isdir", lambda p: False)
    path.rmdir()
    path.write_text("")
    path.unlink()
    with pytest.raises(FileNotFoundError):
        list(reader._records(str(path), ReadStats(), False))


def test_a_listed_file_replaced_by_a_fifo_is_skipped_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_text(text(1))
    (tmp_path / "b.jsonl").write_text(text(2))
    listed = discovery.discover_trace_files(tmp_path)
    (tmp_path / "a.jsonl").unlink()
    os.mkfifo(tmp_path / "a.jsonl")
    monkeypatch.setattr(reader, "discover_trace_files", lambda root: listed)
    stats = ReadStats()
    assert [r.trace["n"] for r in scan_traces(tmp_path, stats)] == [2]
    assert stats.skipped == 1


# -- the follower's rarer paths --------------------------------------------------------------------


def test_a_followed_single_file_is_read_on_from_its_twin(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(text(1, 2))
    records = follow_records(path, poll_interval=0.001)
    try:
        assert [r.trace["n"] for r in drain(records)] == [1, 2]
        with path.open("a") as handle:
            handle.write(text(3))
        with gzip.open(str(path) + ".gz", "wt") as out:  # rotated: compressed, then deleted
            out.write(text(1, 2, 3))
        path.unlink()
        assert [r.trace["n"] for r in drain(records)] == [3]
        assert drain(records) == []
    finally:
        records.close()


def test_the_follower_skips_non_regular_gz_and_json_files_and_counts_bad_gzip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip at all\n")
    (tmp_path / "ok.json").write_text(json.dumps(trace(1)))
    (tmp_path / "gone.jsonl.gz").write_bytes(gzip.compress(text(2).encode()))
    (tmp_path / "fifo.json").write_text(json.dumps(trace(3)))
    real = follow_module.open_regular

    def opener(path: str) -> Any:
        if path.endswith("gone.jsonl.gz"):
            raise PermissionError(13, "Permission denied", path)
        if path.endswith("fifo.json"):
            return None  # swapped for a FIFO after it was listed
        return real(path)

    monkeypatch.setattr(follow_module, "open_regular", opener)
    stats = ReadStats()
    records = follow_records(tmp_path, poll_interval=0.001, stats=stats)
    try:
        assert [r.trace["n"] for r in drain(records)] == [1]
    finally:
        records.close()
    assert stats.unreadable == 2  # bad.jsonl.gz (not gzip) and gone.jsonl.gz (denied)


def test_a_gz_twin_shorter_than_the_offset_yields_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(text(1, 2, 3))
    records = follow_records(tmp_path, poll_interval=0.001)
    try:
        assert len(drain(records)) == 3
        follow_module_tail = path  # closed by the follower only when it vanishes
        with gzip.open(str(path) + ".gz", "wt") as out:
            out.write(text(1))  # a twin that holds less than was read: nothing to add
        follow_module_tail.unlink()
        assert drain(records) == []
    finally:
        records.close()


def test_a_json_file_fixed_after_being_damaged_is_no_longer_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"metadata": ')
    stats = ReadStats()
    records = follow_records(tmp_path, poll_interval=0.001, stats=stats)
    try:
        assert drain(records) == []
        assert stats.corrupt == 1
        assert drain(records) == []  # unchanged: not read, not counted again
        assert stats.corrupt == 1
        path.write_text(json.dumps([trace(1), 5]))
        assert [r.line for r in drain(records)] == [1]
        assert stats.corrupt == 1  # the file counts no more; its item 2 does
    finally:
        records.close()


def test_a_set_stop_ends_a_read_between_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 64)
    (tmp_path / "a.jsonl").write_text(text(*range(50)))
    stop = threading.Event()
    records = follow_records(tmp_path, poll_interval=0.001, stop=stop)
    first = next(records)
    assert first is not None
    stop.set()
    rest = list(records)  # ends at the next chunk: not the whole file, no "caught up" mark
    assert None not in rest and len(rest) < 49


def test_follow_records_checks_its_stats_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="stats"):
        next(follow_records(tmp_path, stats={}))  # type: ignore[arg-type]


# -- consumers -------------------------------------------------------------------------------------


def test_serve_lists_nothing_for_a_path_gone_since_it_started(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    live = LiveServer(folder, port=0)
    folder.rmdir()
    assert live.trace_files() == []


def test_show_reports_a_fault_met_while_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any) -> Iterator[Any]:
        raise PermissionError(13, "Permission denied")
        yield  # pragma: no cover

    monkeypatch.setattr("actiontrace.cli.scan_traces", failing)
    for extra in ([], ["--tree"]):
        assert main(["show", str(tmp_path), *extra]) == 2
        err = capsys.readouterr().err
        assert err == f"actiontrace: error: cannot read {tmp_path}: Permission denied\n"


def test_a_long_stack_is_embedded_by_its_end() -> None:
    stack = "Traceback\n" + "x" * (STACK_CHARS * 2) + "\nValueError: the end"
    record = make_record(
        {
            "metadata": {"traceType": "execution"},
            "error": {"type": "ValueError", "message": "m", "stack": stack},
        },
        "f",
        1,
    )
    page = PageData()
    page.add(record)
    (bar,) = page.snapshot()["examples"].values()
    shown = bar["errors"][0]["stack"]
    assert shown.startswith("…") and shown.endswith("ValueError: the end")
    assert len(shown) == STACK_CHARS + 1


def test_a_waterfall_of_something_that_is_not_a_trace_is_empty() -> None:
    assert waterfall({"no": "metadata"}) == ["steps of 0 spans · 0.00 ms"]


def test_integer_times_and_odd_sampling_values_are_read() -> None:
    record = make_record(
        {
            "metadata": {"traceType": "execution"},
            "execution": {"startTime": 5, "duration": 2},
            "sampling": "rate",
        },
        "f",
        1,
    )
    assert record is not None
    assert (record.start_ms, record.duration) == (5.0, 2.0)
    assert (record.sampling_reason, record.sampling_rate) == (None, None)


def test_serve_follows_again_after_a_failure_and_counts_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actiontrace.analysis import serve as serve_module

    (tmp_path / "a.jsonl").write_text(text(1, 2))
    real = serve_module.follow_records
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Iterator[Any]:
        calls.append(1)
        records = real(*args, **kwargs)
        if len(calls) == 1:
            yield next(records)  # one trace counted, then the disk "fails"
            raise OSError(5, "Input/output error")
        yield from records

    monkeypatch.setattr(serve_module, "follow_records", flaky)
    with LiveServer(tmp_path, port=0, poll_interval=0.01, publish_interval=0.01) as live:
        for _ in range(500):
            report = live._state.current()[1]["report"]
            if report["total"] == 2:
                break
            threading.Event().wait(0.02)
        assert report["total"] == 2 and len(calls) == 2
