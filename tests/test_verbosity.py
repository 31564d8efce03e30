"""Verbosity levels and stage-data reduction (reference §10)."""

from __future__ import annotations

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.verbosity import DETAILED_ITEMS, Verbosity, parse_verbosity, reduce_stage_data

DATA = {
    "passed": True,
    "success": False,
    "error": "blocked",
    "target": "door",
    "candidates": ["a", "b", "c"],
    "scores": {"a": 1, "b": 2},
    "many": list(range(25)),
}


def test_verbosity_values_are_lower_case() -> None:
    assert [v.value for v in Verbosity] == ["minimal", "standard", "detailed", "verbose"]


def test_parse_verbosity_accepts_names_case_insensitively_and_rejects_others() -> None:
    assert parse_verbosity("DETAILED") is Verbosity.DETAILED
    assert parse_verbosity(Verbosity.MINIMAL) is Verbosity.MINIMAL
    with pytest.raises(InvalidArgumentError, match="verbosity must be one of"):
        parse_verbosity("loud")
    with pytest.raises(InvalidArgumentError, match="level must be"):
        parse_verbosity(3, "level")


def test_minimal_keeps_only_scalar_passed_success_and_error() -> None:
    assert reduce_stage_data(DATA, Verbosity.MINIMAL) == {
        "passed": True,
        "success": False,
        "error": "blocked",
    }
    assert reduce_stage_data({"error": {"nested": 1}}, Verbosity.MINIMAL) == {}


def test_standard_keeps_scalars_and_replaces_containers_by_their_length() -> None:
    reduced = reduce_stage_data(DATA, Verbosity.STANDARD)
    assert reduced["target"] == "door"
    assert reduced["candidatesCount"] == 3
    assert reduced["scoresCount"] == 2
    assert "candidates" not in reduced and "scores" not in reduced


def test_detailed_clips_every_container_to_ten_items_with_a_marker() -> None:
    reduced = reduce_stage_data(DATA, Verbosity.DETAILED)
    assert reduced["many"][:DETAILED_ITEMS] == list(range(DETAILED_ITEMS))
    assert reduced["many"][-1] == "[Truncated: 15 more items]"
    big = {f"k{i}": i for i in range(12)}
    clipped = reduce_stage_data(big, Verbosity.DETAILED)
    assert len(clipped) == DETAILED_ITEMS + 1 and clipped["[Truncated]"] == "2 more keys"


def test_verbose_keeps_everything_and_non_mappings_are_wrapped() -> None:
    assert reduce_stage_data(DATA, Verbosity.VERBOSE) is DATA
    assert reduce_stage_data(7, Verbosity.STANDARD) == {"value": 7}
