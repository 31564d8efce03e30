"""Reading trace files back: read_traces and scan_traces (actiontrace.output.reader)."""

from __future__ import annotations

import ast
import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, InvalidArgumentError, read_traces
from actiontrace.output import discovery, reader
from actiontrace.output import records as record_model
from actiontrace.output.reader import MAX_LOCATIONS, ReadStats, TraceRecord, scan_traces


def trace(n: int, kind: str = "execution") -> dict[str, Any]:
    return {"metadata": {"actionId": f"core:a{n}", "traceType": kind}, "n": n}


def jsonl(path: Path, traces: list[dict[str, Any]], tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(t) + "\n" for t in traces) + tail, encoding="utf-8")
    return path


def numbers(path: Path, stats: ReadStats | None = None) -> list[int]:
    return [record.trace["n"] for record in scan_traces(path, stats)]


def test_reads_a_jsonl_file_in_line_order(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [trace(i) for i in range(5)])
    assert [t["n"] for t in read_traces(path)] == [0, 1, 2, 3, 4]
    assert list(read_traces(str(path))) == [trace(i) for i in range(5)]


def test_reads_real_execution_traces_back_equal_to_their_dicts(tmp_path: Path) -> None:
    made = []
    for ok in (True, False):
        t = ActionExecutionTrace(
            action_id="core:go", actor_id="p1", turn_action={"actionDefinitionId": "core:go"}
        )
        t.capture_dispatch_start()
        t.capture_event_payload({"to": "north", "password": "x"})
        t.capture_dispatch_result({"success": ok})
        made.append(t)
    (tmp_path / "t.jsonl").write_text("".join(t.to_json() + "\n" for t in made))
    assert list(read_traces(tmp_path)) == [t.to_dict() for t in made]


def test_scan_names_the_file_and_line_of_each_trace(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [trace(0)], tail="\n" + json.dumps(trace(1)) + "\n")
    records = list(scan_traces(path))
    assert [(r.trace, r.file, r.line) for r in records] == [
        (trace(0), str(path), 1),
        (trace(1), str(path), 3),
    ]
    assert all(isinstance(r, TraceRecord) for r in records)
    assert records[1].file == str(path) and records[1].line == 3


def test_a_folder_is_read_recursively_in_name_order_and_other_files_are_ignored(
    tmp_path: Path,
) -> None:
    jsonl(tmp_path / "b.jsonl", [trace(3)])
    jsonl(tmp_path / "a.jsonl", [trace(1), trace(2)])
    jsonl(tmp_path / "sub" / "deeper" / "x.jsonl", [trace(6)])
    jsonl(tmp_path / "sub" / "a.jsonl", [trace(5)])
    jsonl(tmp_path / "c_sub" / "z.jsonl", [trace(4)])
    (tmp_path / "notes.txt").write_text(json.dumps(trace(99)) + "\n")
    (tmp_path / "x.jsonl.gz.partial").write_text(json.dumps(trace(98)) + "\n")
    (tmp_path / "y.json.partial").write_text(json.dumps(trace(97)))
    (tmp_path / "log.jsonl.bak").write_text(json.dumps(trace(96)) + "\n")
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [1, 2, 3, 4, 5, 6]
    assert stats.files == 5 and stats.traces == 6 and stats.corrupt == 0


def test_gzipped_jsonl_and_json_files_are_read(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write(json.dumps(trace(2)) + "\n" + json.dumps(trace(3)) + "\n")
    (tmp_path / "a.json").write_text(json.dumps(trace(1), indent=2))
    (tmp_path / "c.json").write_text(json.dumps([trace(4), trace(5)], indent=2))
    (tmp_path / "UPPER.JSONL").write_text(json.dumps(trace(6)) + "\n")
    stats = ReadStats()
    assert sorted(numbers(tmp_path, stats)) == [1, 2, 3, 4, 5, 6]
    records = list(scan_traces(tmp_path / "c.json"))
    assert [(r.trace["n"], r.line) for r in records] == [(4, 1), (5, 2)]


def test_a_torn_last_line_is_skipped_and_counted_as_torn(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [trace(0), trace(1)], tail='{"metadata": {"actio')
    stats = ReadStats()
    assert numbers(path, stats) == [0, 1]
    assert (stats.torn, stats.corrupt, stats.problems) == (1, 0, [(str(path), 3)])


def test_a_complete_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [trace(0)], tail=json.dumps(trace(1)))
    stats = ReadStats()
    assert numbers(path, stats) == [0, 1]
    assert stats.torn == 0


def test_corrupt_lines_are_skipped_counted_and_located_never_raised(tmp_path: Path) -> None:
    lines = [
        json.dumps(trace(0)).encode(),
        b"not json at all",
        json.dumps([1, 2]).encode(),
        json.dumps({"no": "metadata"}).encode(),
        json.dumps({"metadata": "not an object"}).encode(),
        b'{"metadata": {"actionId": "\xff invalid utf-8"}}',
        b"   ",
        json.dumps(trace(1)).encode(),
    ]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    stats = ReadStats()
    assert numbers(path, stats) == [0, 1]
    assert stats.corrupt == 5
    assert [line for _, line in stats.problems] == [2, 3, 4, 5, 6]


def test_problem_locations_are_capped_while_counts_go_on(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("garbage\n" * (MAX_LOCATIONS + 5))
    stats = ReadStats()
    assert numbers(path, stats) == []
    assert stats.corrupt == MAX_LOCATIONS + 5
    assert len(stats.problems) == MAX_LOCATIONS


def test_a_utf8_bom_at_the_start_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(trace(0)).encode() + b"\n")
    assert numbers(path) == [0]


def test_every_trace_type_with_metadata_is_accepted(tmp_path: Path) -> None:
    kinds = ["execution", "structured", "action_aware_structured", "something_new"]
    jsonl(tmp_path / "a.jsonl", [trace(i, kind) for i, kind in enumerate(kinds)])
    assert [t["metadata"]["traceType"] for t in read_traces(tmp_path)] == kinds


def test_a_corrupt_json_file_and_non_trace_items_are_counted(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"metadata": {')
    (tmp_path / "b.json").write_text(json.dumps([trace(1), 5, {"x": 1}]))
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [1]
    assert stats.corrupt == 3
    assert stats.problems == [
        (str(tmp_path / "a.json"), 0),
        (str(tmp_path / "b.json"), 2),
        (str(tmp_path / "b.json"), 3),
    ]


def test_a_truncated_gzip_file_yields_what_came_before_the_cut(tmp_path: Path) -> None:
    data = gzip.compress(("".join(json.dumps(trace(i)) + "\n" for i in range(200))).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    stats = ReadStats()
    got = numbers(path, stats)
    assert got == list(range(len(got)))
    assert stats.torn == 1


def test_a_file_named_gz_that_is_not_gzip_is_counted_unreadable(tmp_path: Path) -> None:
    (tmp_path / "fake.jsonl.gz").write_text(json.dumps(trace(1)) + "\n")
    jsonl(tmp_path / "real.jsonl", [trace(2)])
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [2]
    assert stats.unreadable == 1
    assert stats.problems == [(str(tmp_path / "fake.jsonl.gz"), 0)]


def test_when_a_jsonl_and_its_gz_both_exist_only_the_gz_is_read(tmp_path: Path) -> None:
    jsonl(tmp_path / "r.jsonl", [trace(1), trace(2)])
    with gzip.open(tmp_path / "r.jsonl.gz", "wt") as out:
        out.write(json.dumps(trace(1)) + "\n" + json.dumps(trace(2)) + "\n")
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [1, 2]
    assert stats.files == 1


def test_a_listed_file_compressed_before_it_is_opened_is_read_from_its_gz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jsonl(tmp_path / "a.jsonl", [trace(1)])
    jsonl(tmp_path / "b.jsonl", [trace(2)])
    listed = discovery.discover_trace_files(tmp_path)
    # Now the writer compresses a.jsonl and deletes b.jsonl (max_files) behind the reader's back.
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as out:
        out.write(json.dumps(trace(1)) + "\n")
    (tmp_path / "a.jsonl").unlink()
    (tmp_path / "b.jsonl").unlink()
    monkeypatch.setattr(reader, "discover_trace_files", lambda root: listed)
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [1]
    assert stats.files == 1 and stats.unreadable == 0


def test_a_folder_file_that_cannot_be_opened_is_counted_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jsonl(tmp_path / "a.jsonl", [trace(1)])
    jsonl(tmp_path / "b.jsonl", [trace(2)])
    real_open = reader.open_regular

    def deny(path: str) -> Any:
        if path.endswith("a.jsonl"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path)

    monkeypatch.setattr(reader, "open_regular", deny)
    stats = ReadStats()
    assert numbers(tmp_path, stats) == [2]
    assert stats.unreadable == 1 and stats.problems == [(str(tmp_path / "a.jsonl"), 0)]
    with pytest.raises(PermissionError):
        list(read_traces(tmp_path / "a.jsonl"))


def test_an_explicit_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "exported.log", [trace(7)])
    assert numbers(path) == [7]


def test_a_missing_path_raises_file_not_found_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        read_traces(tmp_path / "nope")
    assert caught.value.filename == str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        scan_traces(tmp_path / "nope.jsonl")


def test_an_explicit_file_vanishing_before_it_is_read_raises(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "a.jsonl", [trace(1)])
    records = scan_traces(path)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        next(records)


@pytest.mark.parametrize("bad", ["", None, 5, b"dir"])
def test_a_bad_path_argument_is_rejected_naming_it(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="path"):
        scan_traces(bad)


def test_a_bad_stats_argument_is_rejected_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="stats"):
        scan_traces(tmp_path, stats={})  # type: ignore[arg-type]


def test_an_empty_folder_yields_nothing(tmp_path: Path) -> None:
    stats = ReadStats()
    assert list(scan_traces(tmp_path, stats)) == []
    assert stats == ReadStats()


def test_reading_streams_memory_does_not_grow_with_the_number_of_traces(tmp_path: Path) -> None:
    line = json.dumps(trace(0) | {"payload": "x" * 200}) + "\n"
    small = tmp_path / "small"
    big = tmp_path / "big"
    small.mkdir()
    big.mkdir()
    (small / "t.jsonl").write_text(line * 1_000)
    (big / "a.jsonl").write_text(line * 25_000)
    with gzip.open(big / "b.jsonl.gz", "wt") as out:
        out.write(line * 25_000)

    def peak(path: Path) -> tuple[int, int]:
        tracemalloc.start()
        try:
            count = sum(1 for _ in read_traces(path))
            return count, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_count, small_peak = peak(small)
    big_count, big_peak = peak(big)
    assert (small_count, big_count) == (1_000, 50_000)
    # 50,000 traces of ~300 bytes held at once would take well over 15 MB.
    assert big_peak < 2 * 1024 * 1024
    assert big_peak < small_peak + 1024 * 1024


def test_the_reader_does_not_import_the_writer() -> None:
    source = Path(reader.__file__).read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not any(name and ("service" in name or "sinks" in name) for name in imported)


def test_lines_orjson_refuses_are_still_read_with_the_standard_parser(tmp_path: Path) -> None:
    # Integers past 64 bits are valid for json.loads, not for orjson; NaN is damage for both.
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"metadata": {"actionId": "a", "traceType": "execution"},'
        ' "eventPayload": {"big": 123456789012345678901234567890}}\n'
        '{"metadata": {"actionId": "b", "traceType": "execution"}, "eventPayload": {"x": NaN}}\n',
        encoding="utf-8",
    )
    traces = list(read_traces(path))  # exact: the standard parser
    assert traces[0]["eventPayload"]["big"] == 123456789012345678901234567890
    assert len(traces) == 1
    stats = ReadStats()
    fast = [record.trace for record in scan_traces(path, stats, fast=True)]
    assert [t["metadata"]["actionId"] for t in fast] == ["a"]  # orjson: the big int as a float
    assert stats.corrupt == 1


def test_the_reader_works_without_orjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"metadata": {"actionId": "a", "traceType": "execution"}}\n{torn', encoding="utf-8"
    )
    monkeypatch.setattr(record_model, "_fast_loads", None)
    stats = ReadStats()
    records = scan_traces(path, stats, fast=True)
    assert [r.trace["metadata"]["actionId"] for r in records] == ["a"]
    assert stats.torn == 1
    # And the module imports cleanly where orjson is not installed at all.
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from actiontrace.output import reader, records\n"
        "assert records._fast_loads is None\n"
        f"print(sum(1 for _ in reader.scan_traces({str(path)!r}, fast=True)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
