"""follow_traces / follow_records: existing, then new traces; rotations; torn lines."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import follow as follow_module
from actiontrace.analysis.follow import FollowedTrace, follow_records, follow_traces
from actiontrace.output import lines as lines_module


def trace(n: int, action: str = "core:go") -> dict[str, Any]:
    meta = {"actionId": action, "actorId": "p1", "traceType": "execution"}
    return {"metadata": meta, "eventPayload": {"n": n}}


def line(n: int) -> str:
    return json.dumps(trace(n)) + "\n"


def numbers(records: list[FollowedTrace]) -> list[int]:
    return [r.trace["eventPayload"]["n"] for r in records]


def one_round(records: Generator[FollowedTrace | None, None, None]) -> list[FollowedTrace]:
    """Everything the follower yields until it reports it has caught up (one full poll)."""
    found: list[FollowedTrace] = []
    for record in records:
        if record is None:
            return found
        found.append(record)
    raise AssertionError("follower ended")  # pragma: no cover


@pytest.fixture
def follow(tmp_path: Path) -> Generator[Any, None, None]:
    opened: list[Generator[FollowedTrace | None, None, None]] = []

    def start(path: Path | str = tmp_path) -> Generator[FollowedTrace | None, None, None]:
        records = follow_records(path, poll_interval=0.001)
        opened.append(records)
        return records

    yield start
    for records in opened:
        records.close()


def test_existing_traces_come_first_in_name_order_recursively(tmp_path: Path, follow: Any) -> None:
    (tmp_path / "b.jsonl").write_text(line(3) + line(4))
    (tmp_path / "a.jsonl").write_text(line(1) + line(2))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text(json.dumps(trace(5), indent=2))
    with gzip.open(tmp_path / "sub" / "d.jsonl.gz", "wt") as handle:
        handle.write(line(6))
    (tmp_path / "notes.txt").write_text(line(99))
    found = one_round(follow())
    assert numbers(found) == [1, 2, 3, 4, 5, 6]
    assert [(Path(r.file).name, r.line) for r in found[:3]] == [
        ("a.jsonl", 1),
        ("a.jsonl", 2),
        ("b.jsonl", 1),
    ]


def test_new_lines_and_new_files_are_yielded_once(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    (tmp_path / "b.jsonl").write_text(line(3))
    assert numbers(one_round(records)) == [2, 3]
    assert one_round(records) == []


def test_torn_last_line_is_waited_for_not_reported(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    text = line(2)
    active.write_text(line(1) + text[:10])
    records = follow()
    assert numbers(one_round(records)) == [1]
    assert one_round(records) == []
    with active.open("a") as handle:
        handle.write(text[10:])
    found = one_round(records)
    assert numbers(found) == [2]
    assert found[0].line == 2


def test_long_lines_span_read_chunks(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines_module, "CHUNK_BYTES", 7)
    (tmp_path / "a.jsonl").write_text(line(1) + line(2) + line(3))
    assert numbers(one_round(follow())) == [1, 2, 3]


def test_corrupt_and_non_object_lines_are_skipped(tmp_path: Path, follow: Any) -> None:
    (tmp_path / "a.jsonl").write_bytes(
        (line(1) + "{not json\n" + "[1, 2]\n" + '{"no": "metadata"}\n' + "\n" + line(2)).encode()
        + b"\xff\xfe\n"
    )
    found = one_round(follow())
    assert numbers(found) == [1, 2]
    assert [r.line for r in found] == [1, 6]


def test_json_file_with_a_list_yields_each_trace_with_its_position(
    tmp_path: Path, follow: Any
) -> None:
    (tmp_path / "list.JSON").write_text(json.dumps([trace(1), {"x": 1}, trace(2)]))
    found = one_round(follow())
    assert numbers(found) == [1, 2]
    assert [r.line for r in found] == [1, 3]


def test_byte_order_mark_on_the_first_line_is_accepted(tmp_path: Path, follow: Any) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + (line(1) + line(2)).encode())
    assert numbers(one_round(follow())) == [1, 2]


def test_crlf_lines_keep_offsets_exact(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_bytes(line(1).replace("\n", "\r\n").encode())
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    assert numbers(one_round(records)) == [2]


def test_json_file_being_written_is_retried_until_valid(tmp_path: Path, follow: Any) -> None:
    target = tmp_path / "t.json"
    full = json.dumps(trace(7), indent=2)
    target.write_text(full[:15])
    records = follow()
    assert one_round(records) == []
    assert one_round(records) == []  # unchanged: not re-read
    target.write_text(full)
    assert numbers(one_round(records)) == [7]
    assert one_round(records) == []


def test_unreadable_json_file_is_skipped(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.json").write_text(json.dumps(trace(1)))
    real_open = follow_module.open_regular

    def deny(path: str) -> Any:
        if path.endswith("t.json"):
            raise PermissionError(13, "denied")
        return real_open(path)

    monkeypatch.setattr(follow_module, "open_regular", deny)
    records = follow()
    assert one_round(records) == []
    monkeypatch.undo()
    assert numbers(one_round(records)) == [1]


def test_file_deleted_while_open_is_drained_without_error(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2) + line(3).rstrip("\n"))  # the last line never gets its newline
    active.unlink()
    assert numbers(one_round(records)) == [2, 3]
    assert one_round(records) == []


def test_torn_garbage_at_the_end_of_a_deleted_file_is_dropped(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1) + '{"metadata": {"actionId"')
    records = follow()
    assert numbers(one_round(records)) == [1]
    active.unlink()
    assert one_round(records) == []


def test_file_deleted_before_it_was_opened_is_ignored(tmp_path: Path, follow: Any) -> None:
    records = follow()
    assert one_round(records) == []
    (tmp_path / "a.jsonl").write_text(line(1))
    (tmp_path / "a.jsonl").unlink()
    (tmp_path / "b.jsonl").write_text(line(2))
    assert numbers(one_round(records)) == [2]


def gzip_twin(path: Path) -> None:
    """Rotate like the output service: compress under a temporary name, rename, delete."""
    temporary = path.with_name(path.name + ".tmp-gz")
    with path.open("rb") as source, gzip.open(temporary, "wb") as target:
        target.write(source.read())
    temporary.rename(path.with_name(path.name + ".gz"))
    path.unlink()


def test_rotated_file_is_not_read_again_from_its_gzip_twin(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    gzip_twin(active)
    (tmp_path / "b.jsonl").write_text(line(3))
    assert numbers(one_round(records)) == [2, 3]
    assert one_round(records) == []


def test_twin_seen_while_original_still_listed(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write(line(1) + line(2))
    assert numbers(one_round(records)) == [2]
    with active.open("a") as handle:
        handle.write(line(9))  # too late: the twin says the file was finished
    assert one_round(records) == []
    active.unlink()
    assert one_round(records) == []


def test_twin_of_a_closed_file_is_read_from_the_offset(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow_module, "_MAX_OPEN", 1)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(line(1))
    second.write_text(line(2))
    records = follow()
    assert numbers(one_round(records)) == [1, 2]  # a.jsonl's handle was closed to open b.jsonl
    with first.open("a") as handle:
        handle.write(line(3))
    gzip_twin(first)
    found = one_round(records)
    assert numbers(found) == [3]
    assert (Path(found[0].file).name, found[0].line) == ("a.jsonl.gz", 2)


def test_twin_of_a_closed_file_appearing_later_is_read_from_the_offset(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow_module, "_MAX_OPEN", 1)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(line(1))
    second.write_text(line(2))
    records = follow()
    assert numbers(one_round(records)) == [1, 2]
    content = first.read_bytes() + line(3).encode()
    first.unlink()
    assert one_round(records) == []  # vanished while closed: nothing to drain yet
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as handle:
        handle.write(content)
    assert numbers(one_round(records)) == [3]


def test_gzip_of_a_drained_file_is_skipped(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    content = active.read_bytes()
    active.unlink()
    assert one_round(records) == []
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as handle:
        handle.write(content)
    assert one_round(records) == []


def test_unknown_gzip_is_read_whole_and_damaged_one_partly(tmp_path: Path, follow: Any) -> None:
    records = follow()
    assert one_round(records) == []
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write(line(1) + "garbage\n" + line(2))
    whole = gzip.compress((line(3) * 2000).encode())
    (tmp_path / "b.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    found = one_round(records)
    assert numbers(found[:2]) == [1, 2]
    assert 0 < len(found) - 2 < 2000
    assert set(numbers(found[2:])) == {3}
    assert one_round(records) == []


def test_file_replaced_under_same_name_starts_over(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1) + line(2))
    records = follow()
    assert numbers(one_round(records)) == [1, 2]
    replacement = tmp_path / "new.tmp"
    replacement.write_text(line(3))
    replacement.replace(active)
    assert numbers(one_round(records)) == [3]
    with active.open("a") as handle:
        handle.write(line(4))
    assert numbers(one_round(records)) == [4]


def test_file_truncated_in_place_is_read_from_the_start(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1) + line(2))
    records = follow()
    assert numbers(one_round(records)) == [1, 2]
    active.write_text(line(3))
    assert numbers(one_round(records)) == [3]


def test_renamed_file_keeps_its_offset(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    records = follow()
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    active.rename(tmp_path / "z.jsonl")
    assert numbers(one_round(records)) == [2]


def test_single_file_is_followed_through_its_rotation(tmp_path: Path, follow: Any) -> None:
    active = tmp_path / "only.jsonl"
    (tmp_path / "other.jsonl").write_text(line(50))
    active.write_text(line(1))
    records = follow(active)
    assert numbers(one_round(records)) == [1]
    with active.open("a") as handle:
        handle.write(line(2))
    gzip_twin(active)
    assert numbers(one_round(records)) == [2]
    assert one_round(records) == []


def test_single_file_with_any_name_is_read_as_json_lines(tmp_path: Path, follow: Any) -> None:
    target = tmp_path / "traces.log"
    target.write_text(line(1))
    assert numbers(one_round(follow(target))) == [1]


def test_missing_path_is_waited_for(tmp_path: Path, follow: Any) -> None:
    folder = tmp_path / "later"
    records = follow(folder)
    assert one_round(records) == []
    folder.mkdir()
    (folder / "a.jsonl").write_text(line(1))
    assert numbers(one_round(records)) == [1]


def test_stat_failure_between_listing_and_reading_skips_for_now(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_text(line(1))
    real_stat = os.stat
    calls = {"n": 0}

    def flaky(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("a.jsonl") and calls["n"] == 0:
            calls["n"] += 1
            raise FileNotFoundError(2, "gone")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(follow_module.os, "stat", flaky)
    records = follow()
    assert one_round(records) == []
    assert numbers(one_round(records)) == [1]


def test_open_failure_is_retried(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_text(line(1))
    real_open = follow_module.open_regular
    failures = {"left": 1}

    def flaky(path: str) -> Any:
        if path.endswith("a.jsonl") and failures["left"]:
            failures["left"] -= 1
            raise PermissionError(13, "denied")
        return real_open(path)

    monkeypatch.setattr(follow_module, "open_regular", flaky)
    records = follow()
    assert one_round(records) == []
    assert numbers(one_round(records)) == [1]


def test_file_swapped_between_stat_and_open_is_not_misread(
    tmp_path: Path, follow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1))
    real_stat = os.stat
    swapped = {"done": False}

    def swap_after_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_stat(path, *args, **kwargs)
        if str(path).endswith("a.jsonl") and not swapped["done"]:
            swapped["done"] = True
            other = tmp_path / "x.tmp"
            other.write_text(line(2))
            other.replace(active)
        return result

    monkeypatch.setattr(follow_module.os, "stat", swap_after_stat)
    records = follow()
    assert one_round(records) == []  # what it stat-ed is gone; the new file is read next round
    assert numbers(one_round(records)) == [2]


def test_follow_traces_yields_dicts_then_new_ones_and_closes_its_files(tmp_path: Path) -> None:
    active = tmp_path / "a.jsonl"
    active.write_text(line(1) + line(2))
    fds_before = len(os.listdir("/proc/self/fd"))
    traces = follow_traces(tmp_path, poll_interval=0.001)
    assert [next(traces)["eventPayload"]["n"] for _ in range(2)] == [1, 2]
    with active.open("a") as handle:
        handle.write(line(3))
    assert next(traces) == trace(3)
    (tmp_path / "b.jsonl").write_text(line(4))  # found by a later round
    assert next(traces) == trace(4)
    traces.close()
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_stop_event_ends_follow_records(tmp_path: Path) -> None:
    stop = threading.Event()
    records = follow_records(tmp_path, poll_interval=30, stop=stop)
    assert next(records) is None
    stop.set()
    assert list(records) == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"path": 3}, "path"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"poll_interval": True}, "poll_interval"),
        ({"poll_interval": "1"}, "poll_interval"),
    ],
)
def test_invalid_arguments_name_the_argument(
    tmp_path: Path, kwargs: dict[str, Any], name: str
) -> None:
    arguments: dict[str, Any] = {"path": tmp_path, **kwargs}
    with pytest.raises(InvalidArgumentError, match=name):
        next(follow_traces(arguments.pop("path"), **arguments))


def test_follower_sees_every_trace_once_while_the_service_rotates_and_gzips(
    tmp_path: Path,
) -> None:
    from actiontrace import ActionExecutionTrace, ActionTraceOutputService

    total = 5000
    service = ActionTraceOutputService(
        tmp_path, max_file_bytes=150_000, compress_rotated=True, max_queue_size=total
    )

    def write() -> None:
        for n in range(total):
            item = ActionExecutionTrace(
                action_id="core:go", actor_id="p1", turn_action={"actionDefinitionId": "core:go"}
            )
            item.capture_dispatch_start()
            item.capture_event_payload({"counter": n})
            item.capture_dispatch_result({"success": True})
            service.write_trace(item)
            if n % 250 == 0:
                service.flush()
        service.close()

    writer = threading.Thread(target=write)
    seen: list[FollowedTrace] = []
    records = follow_records(tmp_path, poll_interval=0.005)
    writer.start()
    try:
        for record in records:
            if record is not None:
                seen.append(record)
            elif not writer.is_alive():
                # Everything is on disk now: one more full round must find the rest.
                seen.extend(one_round(records))
                break
    finally:
        records.close()
        writer.join()
    counters = [r.trace["eventPayload"]["counter"] for r in seen]
    assert sorted(counters) == list(range(total))  # exactly the 5,000: none twice, none skipped
    assert len(list(tmp_path.glob("*.jsonl.gz"))) >= 5  # it really rotated several times
    by_file: dict[str, list[int]] = {}
    for record in seen:
        by_file.setdefault(record.file.removesuffix(".gz"), []).append(
            record.trace["eventPayload"]["counter"]
        )
    for values in by_file.values():
        assert values == sorted(values)
    assert service.stats["written"] == total
