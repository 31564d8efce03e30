"""ActionTraceFilter and the pattern helpers: matching, exclusion, sampling, validation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.pipeline import ActionPatterns, ActionTraceFilter, action_matches


@pytest.mark.parametrize(
    ("pattern", "action_id", "expected"),
    [
        ("*", "core:go", True),
        ("*", "", True),
        ("core:*", "core:go", True),
        ("core:*", "core:", True),
        ("core:*", "core:sub:deep", True),
        ("core:*", "core:multi\nline", True),
        ("core:*", "Core:go", False),  # case-sensitive
        ("core:*", "xcore:go", False),  # whole id
        ("*:go", "core:go", True),
        ("*:go", "mod:sub:go", True),
        ("*:go", "core:gone", False),
        ("core:go", "core:go", True),
        ("core:go", "core:go2", False),
        ("a*b*c", "a--b--c", True),
        ("a*b*c", "a--c--b", False),
        ("a**b", "ab", True),
        # Nothing but * is special: regex and glob metacharacters are literal.
        ("core.go", "core.go", True),
        ("core.go", "corexgo", False),
        ("a+b", "a+b", True),
        ("a+b", "aab", False),
        ("go?", "go?", True),
        ("go?", "go", False),
        ("[x]", "[x]", True),
        ("[x]", "x", False),
        ("(a|b)", "a", False),
        ("(a|b)", "(a|b)", True),
        ("a\\d", "a\\d", True),
        ("a\\d", "a1", False),
        ("^core$", "^core$", True),
        ("x*.y", "xAB.y", True),
        ("x*.y", "xABzy", False),
    ],
)
def test_action_matches_star_only_whole_id_case_sensitive(
    pattern: str, action_id: str, expected: bool
) -> None:
    assert action_matches(pattern, action_id) is expected
    assert ActionPatterns([pattern]).matches(action_id) is expected
    assert ActionTraceFilter(traced_actions=[pattern]).should_trace(action_id) is expected


def test_action_patterns_mixes_exact_and_wildcard_patterns() -> None:
    patterns = ActionPatterns(["core:go", "mod:*", "*:look"])
    assert patterns.patterns == ("core:go", "mod:*", "*:look")
    assert [patterns.matches(a) for a in ("core:go", "mod:x", "a:look", "core:take")] == [
        True,
        True,
        True,
        False,
    ]
    assert repr(patterns) == "ActionPatterns(['core:go', 'mod:*', '*:look'])"


def test_action_patterns_exact_only_and_empty() -> None:
    exact = ActionPatterns(("core:go", "core:take"))
    assert exact.matches("core:take") and not exact.matches("core:")
    empty = ActionPatterns(())
    assert not empty.matches("anything")


def test_action_patterns_takes_a_bare_str_as_one_pattern() -> None:
    assert ActionPatterns("core:*").patterns == ("core:*",)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (5, r"my_arg must be a str or an iterable of str, got int"),
        ([1], r"my_arg\[0\] must be a non-empty str"),
        (["ok", ""], r"my_arg\[1\] must be a non-empty str"),
        ([None], r"my_arg\[0\]"),
    ],
)
def test_action_patterns_validation_names_the_argument(patterns: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ActionPatterns(patterns, argument="my_arg")


@pytest.mark.parametrize(
    ("pattern", "action_id", "argument"),
    [("", "x", "pattern"), (3, "x", "pattern"), ("x", 3, "action_id"), ("x", None, "action_id")],
)
def test_action_matches_validates_its_arguments(
    pattern: Any, action_id: Any, argument: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        action_matches(pattern, action_id)


def test_default_filter_traces_everything() -> None:
    trace_filter = ActionTraceFilter()
    assert all(trace_filter.should_trace(a) for a in ("core:go", "x", "mod:a:b"))
    assert trace_filter.enabled is True
    assert trace_filter.traced_actions == ("*",)
    assert trace_filter.excluded_actions == ()
    assert trace_filter.sample_rate == 1.0
    assert trace_filter.seed == 0


def test_exclusion_wins_over_inclusion() -> None:
    trace_filter = ActionTraceFilter(
        traced_actions=["core:*", "debug:ping"], excluded_actions=["core:wait", "*:ping"]
    )
    assert trace_filter.should_trace("core:go")
    assert not trace_filter.should_trace("core:wait")
    assert not trace_filter.should_trace("debug:ping")  # included by name, excluded by pattern
    assert not trace_filter.should_trace("mod:go")  # not included at all
    assert trace_filter.excluded_actions == ("core:wait", "*:ping")


def test_disabled_filter_traces_nothing() -> None:
    trace_filter = ActionTraceFilter(enabled=False)
    assert not any(trace_filter.should_trace(a) for a in ("core:go", "x", "core:go"))


def test_empty_traced_actions_traces_nothing() -> None:
    assert not ActionTraceFilter(traced_actions=()).should_trace("core:go")


def test_repeated_decisions_are_stable_without_sampling() -> None:
    trace_filter = ActionTraceFilter(traced_actions=["core:*"])
    assert [trace_filter.should_trace("core:go") for _ in range(5)] == [True] * 5
    assert [trace_filter.should_trace("mod:go") for _ in range(5)] == [False] * 5


def test_rate_zero_traces_nothing_and_rate_one_everything() -> None:
    never = ActionTraceFilter(sample_rate=0)
    always = ActionTraceFilter(sample_rate=1)
    assert not any(never.should_trace("core:go") for _ in range(200))
    assert all(always.should_trace("core:go") for _ in range(200))
    assert isinstance(never.sample_rate, float)


def decisions(trace_filter: ActionTraceFilter, ids: list[str], rounds: int) -> list[bool]:
    return [trace_filter.should_trace(i) for _ in range(rounds) for i in ids]


def test_sampling_is_deterministic_for_the_same_seed() -> None:
    ids = ["core:go", "core:take", "mod:talk"]
    first = decisions(ActionTraceFilter(sample_rate=0.3, seed=7), ids, 200)
    second = decisions(ActionTraceFilter(sample_rate=0.3, seed=7), ids, 200)
    other_seed = decisions(ActionTraceFilter(sample_rate=0.3, seed=8), ids, 200)
    assert first == second
    assert first != other_seed


def test_nth_decision_for_an_id_does_not_depend_on_other_ids() -> None:
    alone = ActionTraceFilter(sample_rate=0.5, seed=1)
    mixed = ActionTraceFilter(sample_rate=0.5, seed=1)
    only_go = [alone.should_trace("core:go") for _ in range(100)]
    interleaved = []
    for index in range(100):
        interleaved.append(mixed.should_trace("core:go"))
        for _ in range(index % 3):
            mixed.should_trace("core:take")
    assert only_go == interleaved


CHILD = """
import json, sys
from actiontrace.pipeline import ActionTraceFilter
f = ActionTraceFilter(sample_rate=0.3, seed=7, excluded_actions=["mod:*"])
ids = ["core:go", "core:take", "mod:talk", "caf\\u00e9:\\ud800"]
print(json.dumps([f.should_trace(i) for _ in range(200) for i in ids]))
"""


def test_sampling_decides_the_same_in_a_fresh_process_with_another_hash_seed() -> None:
    here = ActionTraceFilter(sample_rate=0.3, seed=7, excluded_actions=["mod:*"])
    expected = decisions(here, ["core:go", "core:take", "mod:talk", "caf\u00e9:\ud800"], 200)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == expected


@pytest.mark.parametrize("rate", [0.05, 0.25, 0.5, 0.9])
def test_each_action_is_traced_at_about_the_rate(rate: float) -> None:
    trace_filter = ActionTraceFilter(sample_rate=rate, seed=3)
    count = 4000
    for action_id in ("core:go", "core:take", "mod:talk", "x"):
        traced = sum(trace_filter.should_trace(action_id) for _ in range(count))
        # Independent draws: 5 standard deviations of a binomial, at most 0.04.
        tolerance = min(0.04, 5 * math.sqrt(rate * (1 - rate) / count))
        assert abs(traced / count - rate) <= tolerance, (action_id, traced)


def test_sampling_has_no_stride_that_would_alias_alternating_actors() -> None:
    # Two actors taking turns at one action: at rate 0.5 both must be traced about half the time
    # (a fixed stride of 2 would trace one actor always and the other never).
    trace_filter = ActionTraceFilter(sample_rate=0.5, seed=0)
    made = [trace_filter.should_trace("core:go") for _ in range(4000)]
    even, odd = made[0::2], made[1::2]
    assert 0.45 <= sum(even) / len(even) <= 0.55
    assert 0.45 <= sum(odd) / len(odd) <= 0.55


def test_sampling_counters_are_thread_safe() -> None:
    rate, per_thread, threads = 0.3, 2000, 4
    reference = ActionTraceFilter(sample_rate=rate, seed=5)
    expected = sum(reference.should_trace("core:go") for _ in range(per_thread * threads))
    shared = ActionTraceFilter(sample_rate=rate, seed=5)
    counts: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        traced = sum(shared.should_trace("core:go") for _ in range(per_thread))
        with lock:
            counts.append(traced)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # Every n in 0..7999 is decided exactly once, whichever thread got it: the same total.
    assert sum(counts) == expected


def test_many_distinct_ids_keep_correct_decisions_and_bounded_memory() -> None:
    trace_filter = ActionTraceFilter(traced_actions=["keep:*"])
    for index in range(10_000):
        assert trace_filter.should_trace(f"keep:{index}")
        assert not trace_filter.should_trace(f"drop:{index}")
    assert len(trace_filter._verdicts) <= 4096


@pytest.mark.parametrize("rate", [1.0, 0.5])
@pytest.mark.parametrize("action_id", [None, 5, b"core:go"])
def test_should_trace_rejects_a_non_str_action_id(action_id: Any, rate: float) -> None:
    with pytest.raises(InvalidArgumentError, match="action_id must be a str"):
        ActionTraceFilter(sample_rate=rate).should_trace(action_id)


def test_should_trace_of_an_unhashable_id_is_a_type_error() -> None:
    # The price of a plain dict lookup on the hot path, documented on the class.
    with pytest.raises(TypeError, match="unhashable"):
        ActionTraceFilter().should_trace(["core:go"])  # type: ignore[arg-type]


def test_should_trace_of_a_filter_is_a_plain_lookup_without_sampling() -> None:
    trace_filter = ActionTraceFilter(traced_actions=["core:*"])
    assert trace_filter.should_trace("core:go") is True
    assert trace_filter.should_trace("mod:go") is False
    assert trace_filter._verdicts == {"core:go": True, "mod:go": False}


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"sample_rate": -0.1}, "sample_rate"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"sample_rate": math.nan}, "sample_rate"),
        ({"sample_rate": math.inf}, "sample_rate"),
        ({"sample_rate": "high"}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"traced_actions": [1]}, r"traced_actions\[0\]"),
        ({"traced_actions": 3}, "traced_actions"),
        ({"excluded_actions": [""]}, r"excluded_actions\[0\]"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        ActionTraceFilter(**kwargs)


def test_repr_shows_the_settings() -> None:
    text = repr(ActionTraceFilter(traced_actions="core:*", sample_rate=0.5, seed=2))
    assert text == (
        "ActionTraceFilter(enabled=True, traced_actions=['core:*'], excluded_actions=[], "
        "sample_rate=0.5, seed=2, verbosity='standard')"
    )


def test_verbosity_for_uses_the_first_matching_override_else_the_default() -> None:
    from actiontrace import Verbosity

    trace_filter = ActionTraceFilter(
        verbosity="minimal",
        verbosity_overrides={"combat:*": "verbose", "*:attack": "detailed"},
    )
    assert trace_filter.verbosity is Verbosity.MINIMAL
    assert trace_filter.verbosity_for("core:go") is Verbosity.MINIMAL
    assert trace_filter.verbosity_for("combat:attack") is Verbosity.VERBOSE
    assert trace_filter.verbosity_for("core:attack") is Verbosity.DETAILED
    assert trace_filter.verbosity_for("core:attack") is Verbosity.DETAILED  # cached answer
    assert trace_filter.verbosity_overrides == {
        "combat:*": Verbosity.VERBOSE,
        "*:attack": Verbosity.DETAILED,
    }
    assert ActionTraceFilter().verbosity_for("x") is Verbosity.STANDARD


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"verbosity": "loud"}, "verbosity"),
        ({"verbosity_overrides": ["core:*"]}, "verbosity_overrides"),
        ({"verbosity_overrides": {"core:*": "loud"}}, r"verbosity_overrides\['core:\*'\]"),
        ({"verbosity_overrides": {"": "minimal"}}, "verbosity_overrides"),
    ],
)
def test_invalid_verbosity_arguments_raise_naming_the_argument(
    kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        ActionTraceFilter(**kwargs)
