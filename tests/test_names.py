"""Safe trace file names (actiontrace.output.names)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actiontrace import InvalidArgumentError
from actiontrace.output.names import (
    MAX_NAME_BYTES,
    is_safe_name,
    jsonl_file_name,
    safe_component,
    timestamp_text,
    trace_file_name,
)

ALLOWED = re.compile(r"[A-Za-z0-9._-]+")
RESERVED = ["CON", "PRN", "AUX", "NUL", "COM1", "COM9", "LPT1", "LPT0", "con", "nul", "Com3"]
EPOCH_NS = 1_795_687_200_123_456_789  # 2026-11-26T10:00:00.123456789Z

any_text = st.text(alphabet=st.characters(codec=None), max_size=400)


def assert_safe(name: str) -> None:
    assert ALLOWED.fullmatch(name), name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name not in {".", ".."}
    assert ".." not in name
    assert not name.startswith((".", "-"))
    assert not name.endswith((".", " "))
    assert name.split(".", 1)[0].upper() not in {r.upper() for r in RESERVED}
    assert is_safe_name(name)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_safe_component_of_any_text_is_a_safe_non_empty_name(text: str) -> None:
    component = safe_component(text)
    assert component
    assert len(component) <= 64
    assert_safe(component)


@settings(max_examples=200, deadline=None)
@given(any_text, any_text, st.integers(0, 2**63), st.integers(1, 2**22), st.integers(0, 10**9))
def test_trace_file_name_of_any_ids_is_safe_and_stays_in_its_folder(
    action: str, actor: str, when: int, pid: int, counter: int
) -> None:
    name = trace_file_name(action, actor, when, pid, counter)
    assert_safe(name)
    assert name.endswith(".json")
    folder = Path("/some/trace/folder")
    assert Path(os.path.normpath(folder / name)).parent == folder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("core:go", "core_go"),
        ("player-1", "player-1"),
        ("Zoë Ångström", "Zoe_Angstrom"),
        ("../../etc/passwd", "etc_passwd"),
        ("..\\..\\Windows\\System32", "Windows_System32"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("name.", "name"),
        ("name...txt", "name_txt"),
        ("v1.2-beta_3", "v1.2-beta_3"),
        ("__init__", "init_"),
        ("trailing space ", "trailing_space_"),
        ("-rf", "rf"),
        (".hidden", "hidden"),
        ("tab\there\nnew", "tab_here_new"),
        ("a\x00b", "a_b"),
    ],
)
def test_safe_component_keeps_readable_text_and_removes_what_is_unsafe(
    text: str, expected: str
) -> None:
    assert safe_component(text) == expected


@pytest.mark.parametrize("name", RESERVED)
@pytest.mark.parametrize("extension", ["", ".txt", ".tar.gz"])
def test_reserved_windows_device_names_are_prefixed(name: str, extension: str) -> None:
    component = safe_component(name + extension)
    assert component == "_" + name + extension
    assert_safe(component)


@pytest.mark.parametrize("text", ["", ".", "..", "...", "---", "勇者", "🙂", "\u200b"])
def test_text_with_nothing_usable_becomes_a_hash_name(text: str) -> None:
    component = safe_component(text)
    assert re.fullmatch(r"h[0-9a-f]{8}", component)
    assert_safe(component)


def test_different_unusable_texts_get_different_names() -> None:
    assert safe_component("勇者") != safe_component("魔王")


def test_long_text_is_clipped_to_the_limit_without_a_trailing_dot() -> None:
    assert safe_component("a" * 500) == "a" * 64
    assert safe_component("a" * 20 + ".b", max_chars=21) == "a" * 20
    assert len(safe_component("é" * 500, max_chars=30)) == 30


def test_reserved_name_prefix_respects_the_limit() -> None:
    component = safe_component("COM1." + "x" * 100, max_chars=9)
    assert component == "_COM1.xxx"
    assert len(component) == 9


def test_a_max_chars_too_small_for_a_hash_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="max_chars"):
        safe_component("x", max_chars=8)


def test_timestamp_text_is_fixed_width_utc_to_the_microsecond() -> None:
    assert timestamp_text(EPOCH_NS) == "20261126T100000123456Z"
    assert timestamp_text(0) == "19700101T000000000000Z"


def test_timestamps_sort_in_time_order() -> None:
    times = [0, 999, 1_000_000, EPOCH_NS, EPOCH_NS + 1000, EPOCH_NS * 2]
    texts = [timestamp_text(t) for t in times]
    assert texts == sorted(texts)


def test_jsonl_file_name_carries_time_pid_and_counter() -> None:
    assert jsonl_file_name(EPOCH_NS, 4242, 7) == "traces_20261126T100000123456Z_p4242_000007.jsonl"
    assert_safe(jsonl_file_name(EPOCH_NS, 4242, 7))


def test_trace_file_name_puts_time_first_and_ids_last() -> None:
    name = trace_file_name("core:go", "player 1", EPOCH_NS, 12, 3)
    assert name == "trace_20261126T100000123456Z_p12_000003_core_go_player_1.json"


def test_trace_file_names_sort_by_time_then_counter() -> None:
    names = [
        trace_file_name("zzz", "a", EPOCH_NS, 1, 2),
        trace_file_name("aaa", "a", EPOCH_NS, 1, 1),
        trace_file_name("mmm", "a", EPOCH_NS + 1000, 1, 3),
    ]
    assert sorted(names) == [names[1], names[0], names[2]]


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", ".x", "a..b", "a.", "CON", "nul.txt", "a/b", "a b", "é", "x" * 256],
)
def test_is_safe_name_rejects_unsafe_names(name: str) -> None:
    assert not is_safe_name(name)


@settings(max_examples=100, deadline=None)
@given(any_text, any_text)
def test_every_generated_name_can_be_created_on_this_file_system(action: str, actor: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / trace_file_name(action, actor, EPOCH_NS, 1, 1)
        path.write_text("{}")
        assert [p.name for p in Path(folder).iterdir()] == [path.name]
