"""The sinks behind the output service (actiontrace.output.sinks)."""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from actiontrace import ActionExecutionTrace, read_traces
from actiontrace.output import sinks
from actiontrace.output.names import is_safe_name
from actiontrace.output.sinks import JsonFileSink, JsonLinesSink, TraceFile

LOG = logging.getLogger("test.sinks")


class Plain:
    """A trace-like object with only to_dict()."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def to_dict(self) -> Any:
        return self.data


class WithJson(Plain):
    def __init__(self, data: Any, text: Any) -> None:
        super().__init__(data)
        self.text = text

    def to_json(self) -> Any:
        if isinstance(self.text, Exception):
            raise self.text
        return self.text


def doc(n: int, **extra: Any) -> dict[str, Any]:
    meta = {"actionId": "core:go", "actorId": "p1", "n": n, "traceType": "execution"}
    return {"metadata": meta, **extra}


def real_trace() -> ActionExecutionTrace:
    t = ActionExecutionTrace(
        action_id="core:go", actor_id="p1", turn_action={"actionDefinitionId": "core:go"}
    )
    t.capture_dispatch_start()
    t.capture_dispatch_result({"success": True})
    return t


def lines_sink(path: Path, **options: Any) -> JsonLinesSink:
    settings: dict[str, Any] = {
        "max_file_bytes": 1 << 20,
        "max_files": None,
        "compress": False,
        "logger": LOG,
    }
    settings.update(options)
    return JsonLinesSink(path, **settings)


def write_all(sink: Any, entries: list[Any]) -> None:
    index = 0
    while index < len(entries):
        end = sink.write(entries, index)
        assert end > index
        index = end


def jsonl_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- encoding -------------------------------------------------------------------------------------


def test_jsonl_encode_uses_the_traces_own_compact_to_json() -> None:
    t = real_trace()
    line = lines_sink(Path("unused")).encode(t)
    assert line == (t.to_json() + "\n").encode()
    assert json.loads(line) == t.to_dict()


@pytest.mark.parametrize(
    "text", ['{"metadata": {},\n"x": 1}', "[1]", "", None, 5, ValueError("boom"), '{"a": 1']
)
def test_jsonl_encode_falls_back_to_to_dict_when_to_json_is_not_one_object_line(
    text: Any,
) -> None:
    line = lines_sink(Path("unused")).encode(WithJson(doc(1), text))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == doc(1)


def test_jsonl_encode_of_a_plain_object_is_compact_json_of_to_dict() -> None:
    line = lines_sink(Path("unused")).encode(Plain(doc(1, text="héllo\nworld")))
    assert (
        line
        == json.dumps(
            doc(1, text="héllo\nworld"), separators=(",", ":"), ensure_ascii=False
        ).encode()
        + b"\n"
    )


def test_jsonl_encode_keeps_lone_surrogates_as_valid_json_escapes() -> None:
    line = lines_sink(Path("unused")).encode(Plain(doc(1, text="a\udc80b")))
    assert json.loads(line)["text"] == "a\udc80b"


@pytest.mark.parametrize("data", [[1], "text", None, 3])
def test_encode_rejects_a_to_dict_that_is_not_a_dict(data: Any) -> None:
    with pytest.raises(TypeError, match="not a dict"):
        lines_sink(Path("unused")).encode(Plain(data))
    with pytest.raises(TypeError, match="not a dict"):
        JsonFileSink(Path("unused"), max_files=None, logger=LOG).encode(Plain(data))


def test_encode_rejects_values_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        lines_sink(Path("unused")).encode(Plain(doc(1, x=float("nan"))))
    with pytest.raises(TypeError):
        lines_sink(Path("unused")).encode(Plain(doc(1, x={1, 2})))


# -- JSON Lines files -----------------------------------------------------------------------------


def test_jsonl_sink_creates_its_folder_and_one_safe_named_file(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    sink = lines_sink(folder)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(3)])
    sink.close()
    (name,) = jsonl_files(folder)
    assert is_safe_name(name)
    assert name.startswith("traces_") and name.endswith(f"_p{os.getpid()}_000001.jsonl")
    assert [t["metadata"]["n"] for t in read_traces(folder)] == [0, 1, 2]
    assert sink.files == [folder / name]


def test_jsonl_sink_rotates_before_a_file_would_pass_the_limit(tmp_path: Path) -> None:
    size = len(lines_sink(tmp_path).encode(Plain(doc(0))))
    limit = 2 * size + size // 2  # two lines fit, three do not
    sink = lines_sink(tmp_path, max_file_bytes=limit)
    entries = [sink.encode(Plain(doc(i))) for i in range(10)]
    assert {len(entry) for entry in entries} == {size}
    write_all(sink, entries)
    sink.close()
    files = jsonl_files(tmp_path)
    assert len(files) == 5
    assert all((tmp_path / name).stat().st_size == 2 * size for name in files)
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == list(range(10))


def test_a_trace_larger_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    sink = lines_sink(tmp_path, max_file_bytes=10)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(3)])
    sink.close()
    assert len(jsonl_files(tmp_path)) == 3
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [0, 1, 2]


def test_jsonl_sink_keeps_at_most_max_files_deleting_the_oldest(tmp_path: Path) -> None:
    other = tmp_path / "traces_00000000T000000000000Z_p1_000001.jsonl"
    other.write_text(json.dumps(doc(-1)) + "\n")  # another process's file: not ours to count
    sink = lines_sink(tmp_path, max_file_bytes=10, max_files=2)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(5)])
    sink.close()
    assert other.exists()
    assert len(jsonl_files(tmp_path)) == 3
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [-1, 3, 4]


def disk_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def test_jsonl_sink_keeps_at_most_max_total_bytes_deleting_the_oldest(tmp_path: Path) -> None:
    size = len(lines_sink(tmp_path).encode(Plain(doc(10))))  # n = 10..20: all the same size
    # Files of two lines; 5 lines' worth in all: two whole files and the one being written.
    sink = lines_sink(tmp_path, max_file_bytes=2 * size, max_total_bytes=5 * size)
    for i in range(10, 21):
        write_all(sink, [sink.encode(Plain(doc(i)))])
        assert disk_bytes(tmp_path) <= 5 * size
    sink.close()
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [16, 17, 18, 19, 20]
    assert sink.files == [tmp_path / name for name in jsonl_files(tmp_path)]


def test_max_total_bytes_never_deletes_the_file_being_written(tmp_path: Path) -> None:
    other = tmp_path / "traces_00000000T000000000000Z_p1_000001.jsonl"
    other.write_text(json.dumps(doc(-1)) + "\n" * 1000)  # another process's: never counted
    sink = lines_sink(tmp_path, max_file_bytes=1 << 20, max_total_bytes=10)
    entries = [sink.encode(Plain(doc(i))) for i in range(3)]
    write_all(sink, entries)
    write_all(sink, [sink.encode(Plain(doc(3)))])
    sink.close()
    assert other.exists()
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [-1, 0, 1, 2, 3]


def test_max_total_bytes_counts_rotated_files_at_their_compressed_size(tmp_path: Path) -> None:
    entry = lines_sink(tmp_path).encode(Plain(doc(0, padding="x" * 2000)))
    size = len(entry)
    # Plain, four finished files would pass the budget; gzipped (a few % of it), all fit.
    sink = lines_sink(tmp_path, max_file_bytes=size, max_total_bytes=3 * size, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i, padding="x" * 2000))) for i in range(5)])
    sink.close()
    files = jsonl_files(tmp_path)
    assert len(files) == 5 and sum(name.endswith(".gz") for name in files) == 4
    assert disk_bytes(tmp_path) <= 3 * size
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == list(range(5))


def test_max_files_and_max_total_bytes_together_keep_to_the_tighter(tmp_path: Path) -> None:
    size = len(lines_sink(tmp_path).encode(Plain(doc(0))))
    sink = lines_sink(tmp_path, max_file_bytes=size, max_files=4, max_total_bytes=2 * size)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(6)])
    assert len(jsonl_files(tmp_path)) == 2
    sink.close()
    sink = lines_sink(tmp_path / "b", max_file_bytes=size, max_files=2, max_total_bytes=9 * size)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(6)])
    assert len(jsonl_files(tmp_path / "b")) == 2
    sink.close()


def test_rotated_files_are_gzipped_and_the_current_one_is_left_plain(tmp_path: Path) -> None:
    size = len(lines_sink(tmp_path).encode(Plain(doc(0))))
    sink = lines_sink(tmp_path, max_file_bytes=2 * size, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(6)])
    sink.close()
    files = jsonl_files(tmp_path)
    assert [name.rsplit("_", 1)[1] for name in files] == [
        "000001.jsonl.gz",
        "000002.jsonl.gz",
        "000003.jsonl",
    ]
    first = gzip.decompress((tmp_path / files[0]).read_bytes()).decode()
    assert [json.loads(line)["metadata"]["n"] for line in first.splitlines()] == [0, 1]
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == list(range(6))
    assert sink.files == [tmp_path / name for name in files]


def test_gzip_is_written_under_a_name_no_reader_reads_then_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    real_rename = os.rename

    def spy(src: Any, dst: Any) -> None:
        seen.append((Path(src).name, Path(dst).name))
        real_rename(src, dst)

    monkeypatch.setattr(sinks.os, "rename", spy)
    sink = lines_sink(tmp_path, max_file_bytes=60, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(2)])
    ((partial, final),) = seen
    assert final.endswith(".jsonl.gz") and partial == final + ".partial"
    assert not partial.endswith((".jsonl", ".json", ".gz"))
    sink.close()


def test_compression_with_max_files_skips_files_already_deleted(tmp_path: Path) -> None:
    sink = lines_sink(tmp_path, max_file_bytes=10, max_files=1, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(3)])
    sink.close()
    (name,) = jsonl_files(tmp_path)
    assert name.endswith("000003.jsonl")


def test_a_failed_compression_is_logged_and_leaves_the_plain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks.shutil, "copyfileobj", full)
    sink = lines_sink(tmp_path, max_file_bytes=60, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(2)])
    sink.close()
    assert all(name.endswith(".jsonl") for name in jsonl_files(tmp_path))
    assert len(jsonl_files(tmp_path)) == 2  # no .partial left behind
    assert "could not compress" in caplog.text
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [0, 1]


def test_a_compressed_file_that_cannot_be_deleted_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_unlink = os.unlink

    def refuse(path: Any) -> None:
        if str(path).endswith(".jsonl"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_unlink(path)

    monkeypatch.setattr(sinks.os, "unlink", refuse)
    sink = lines_sink(tmp_path, max_file_bytes=60, compress=True)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(2)])
    sink.close()
    assert "could not delete compressed" in caplog.text


def test_an_old_file_that_cannot_be_deleted_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(sinks.os, "unlink", refuse)
    sink = lines_sink(tmp_path, max_file_bytes=10, max_files=1)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(2)])
    sink.close()
    assert "could not delete old trace file" in caplog.text
    assert len(sink.files) == 1


def test_a_file_deleted_behind_the_sinks_back_is_replaced_by_a_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = lines_sink(tmp_path)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    (first,) = tmp_path.iterdir()
    first.unlink()
    write_all(sink, [sink.encode(Plain(doc(1)))])
    sink.close()
    (second,) = tmp_path.iterdir()
    assert second != first
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [1]
    assert "removed or replaced" in caplog.text
    assert sink.files == [second]


def test_a_removed_folder_is_recreated(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    sink = lines_sink(folder)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    write_all(sink, [sink.encode(Plain(doc(1)))])
    sink.close()
    assert [t["metadata"]["n"] for t in read_traces(folder)] == [1]


def test_a_folder_replaced_by_a_file_raises_oserror_with_nothing_written(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    sink = lines_sink(folder)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("in the way")
    with pytest.raises(OSError):
        sink.write([sink.encode(Plain(doc(1)))], 0)
    sink.close()
    assert folder.read_text() == "in the way"


def test_a_failed_write_leaves_only_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = lines_sink(tmp_path)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 20:
            return real_write(fd, bytes(data[:20]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks.os, "write", half_then_full)
    with pytest.raises(OSError) as caught:
        sink.write([sink.encode(Plain(doc(1)))], 0)
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.setattr(sinks.os, "write", real_write)
    write_all(sink, [sink.encode(Plain(doc(2)))])
    sink.close()
    (only,) = tmp_path.iterdir()
    assert [json.loads(line)["metadata"]["n"] for line in only.read_text().splitlines()] == [0, 2]


def test_whole_lines_that_made_it_before_a_fault_are_kept_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = lines_sink(tmp_path)
    entries = [sink.encode(Plain(doc(i))) for i in range(3)]
    real_write = os.write
    calls = []

    def one_and_a_half(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(entries[0]) + 5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks.os, "write", one_and_a_half)
    assert sink.write(entries, 0) == 1  # the first line is written; the fault comes back next
    with pytest.raises(OSError):
        sink.write(entries, 1)
    monkeypatch.setattr(sinks.os, "write", real_write)
    assert sink.write(entries, 1) == 3
    sink.close()
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [0, 1, 2]


def test_a_partial_line_that_cannot_be_cut_makes_the_sink_start_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = lines_sink(tmp_path)
    real_write = os.write
    calls: list[int] = []

    def half_then_fail(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:  # 20 bytes of the line, then the disk fails
            return real_write(fd, bytes(data[:20]))
        raise OSError(errno.EIO, "Input/output error")

    def no_truncate(fd: int, size: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sinks.os, "write", half_then_fail)
    monkeypatch.setattr(sinks.os, "ftruncate", no_truncate)
    with pytest.raises(OSError):
        sink.write([sink.encode(Plain(doc(0)))], 0)
    monkeypatch.setattr(sinks.os, "write", real_write)
    write_all(sink, [sink.encode(Plain(doc(1)))])
    sink.close()
    assert len(jsonl_files(tmp_path)) == 2
    stats_traces = [t["metadata"]["n"] for t in read_traces(tmp_path)]
    assert stats_traces == [1]  # the torn first file is skipped, the new one read


def test_the_sink_never_appends_to_a_file_it_did_not_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks.time, "time_ns", lambda: 0)
    taken = tmp_path / f"traces_19700101T000000000000Z_p{os.getpid()}_000001.jsonl"
    taken.write_text("someone else's\n")
    sink = lines_sink(tmp_path)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    sink.close()
    assert taken.read_text() == "someone else's\n"
    assert sink.files == [tmp_path / taken.name.replace("000001", "000002")]


def test_the_sink_gives_up_when_no_name_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks, "_NAME_ATTEMPTS", 2)
    monkeypatch.setattr(sinks.time, "time_ns", lambda: 0)
    for counter in (1, 2):
        (tmp_path / f"traces_19700101T000000000000Z_p{os.getpid()}_{counter:06d}.jsonl").touch()
        (tmp_path / f"trace_19700101T000000000000Z_p{os.getpid()}_{counter:06d}_a_b.json").touch()
    with pytest.raises(FileExistsError):
        lines_sink(tmp_path).write([b"{}\n"], 0)
    json_sink = JsonFileSink(tmp_path, max_files=None, logger=LOG)
    with pytest.raises(FileExistsError):
        json_sink.write(
            [json_sink.encode(Plain({"metadata": {"actionId": "a", "actorId": "b"}}))], 0
        )


def test_close_twice_is_harmless_and_a_closed_sink_reopens(tmp_path: Path) -> None:
    sink = lines_sink(tmp_path)
    sink.close()
    sink.close()
    write_all(sink, [sink.encode(Plain(doc(0)))])
    sink.close()
    write_all(sink, [sink.encode(Plain(doc(1)))])
    sink.close()
    assert len(jsonl_files(tmp_path)) == 2


def test_trace_file_repr_names_the_path() -> None:
    assert repr(TraceFile(Path("a.jsonl"))) == "TraceFile('a.jsonl')"


# -- one JSON file per trace ----------------------------------------------------------------------


def test_json_sink_writes_one_pretty_file_per_trace_named_after_its_ids(tmp_path: Path) -> None:
    sink = JsonFileSink(tmp_path, max_files=None, logger=LOG)
    t = real_trace()
    write_all(sink, [sink.encode(t), sink.encode(Plain(doc(1)))])
    names = jsonl_files(tmp_path)
    assert len(names) == 2
    assert all(is_safe_name(name) and name.endswith("_core_go_p1.json") for name in names)
    text = (tmp_path / names[0]).read_text()
    assert text.startswith("{\n  ") and text.endswith("}\n")
    assert json.loads(text) == t.to_dict()
    assert sink.files == [tmp_path / name for name in names]


@pytest.mark.parametrize(
    ("metadata", "suffix"),
    [
        ({"traceType": "structured", "traceId": "x"}, "_structured_none.json"),
        ({"actionId": "", "actorId": 5}, "_trace_none.json"),
        ("not a dict", "_trace_none.json"),
        ({"actionId": "../../etc", "actorId": "CON"}, "_etc__CON.json"),
    ],
)
def test_json_sink_names_traces_without_usable_ids_safely(
    tmp_path: Path, metadata: Any, suffix: str
) -> None:
    sink = JsonFileSink(tmp_path, max_files=None, logger=LOG)
    write_all(sink, [sink.encode(Plain({"metadata": metadata}))])
    (path,) = tmp_path.iterdir()
    assert path.name.endswith(suffix)
    assert is_safe_name(path.name)


def test_json_sink_keeps_at_most_max_files(tmp_path: Path) -> None:
    sink = JsonFileSink(tmp_path, max_files=2, logger=LOG)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(5)])
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [3, 4]


def test_json_sink_keeps_at_most_max_total_bytes(tmp_path: Path) -> None:
    sink = JsonFileSink(tmp_path, max_files=None, logger=LOG, max_total_bytes=1)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(3)])
    assert [t["metadata"]["n"] for t in read_traces(tmp_path)] == [2]  # the newest always stays
    size = disk_bytes(tmp_path)
    sink = JsonFileSink(tmp_path / "b", max_files=None, logger=LOG, max_total_bytes=3 * size)
    write_all(sink, [sink.encode(Plain(doc(i))) for i in range(7)])
    assert [t["metadata"]["n"] for t in read_traces(tmp_path / "b")] == [4, 5, 6]


def test_json_sink_recreates_a_removed_folder(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    sink = JsonFileSink(folder, max_files=None, logger=LOG)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    write_all(sink, [sink.encode(Plain(doc(1)))])
    sink.close()
    assert [t["metadata"]["n"] for t in read_traces(folder)] == [1]


def test_json_sink_leaves_no_partial_file_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks.os, "write", full)
    sink = JsonFileSink(tmp_path, max_files=None, logger=LOG)
    with pytest.raises(OSError):
        sink.write([sink.encode(Plain(doc(0)))], 0)
    assert list(tmp_path.iterdir()) == []
    assert sink.files == []


def test_json_sink_skips_a_name_already_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks.time, "time_ns", lambda: 0)
    stem = f"trace_19700101T000000000000Z_p{os.getpid()}"
    (tmp_path / f"{stem}_000001_core_go_p1.json").write_text("theirs")
    (tmp_path / f"{stem}_000002_core_go_p1.json.partial").write_text("theirs")
    sink = JsonFileSink(tmp_path, max_files=None, logger=LOG)
    write_all(sink, [sink.encode(Plain(doc(0)))])
    assert sink.files == [tmp_path / f"{stem}_000003_core_go_p1.json"]
    assert (tmp_path / f"{stem}_000001_core_go_p1.json").read_text() == "theirs"
