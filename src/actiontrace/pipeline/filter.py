"""``ActionTraceFilter``: which actions get traced, and the action-id pattern helpers.

Patterns are matched case-sensitively against the whole action id; ``*`` matches any run of
characters (``:`` included) and nothing else is special, so ``core:*``, ``*:go`` and ``*`` work and
``core.go`` matches only ``core.go``.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Final

from ..errors import InvalidArgumentError
from ..verbosity import Verbosity, parse_verbosity

__all__ = ["ActionPatterns", "ActionTraceFilter", "action_matches"]

_MASK64: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_VERDICT_CACHE_LIMIT: Final = 4096


def _pattern_tuple(patterns: object, argument: str) -> tuple[str, ...]:
    """Validate a pattern list; a bare str is taken as one pattern (a common slip otherwise)."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    elif not isinstance(patterns, Iterable):
        raise InvalidArgumentError(
            f"{argument} must be a str or an iterable of str, got {type(patterns).__name__}"
        )
    result = tuple(patterns)
    for index, pattern in enumerate(result):
        if not isinstance(pattern, str) or not pattern:
            raise InvalidArgumentError(
                f"{argument}[{index}] must be a non-empty str, got {pattern!r}"
            )
    return result


def _regex_source(pattern: str) -> str:
    return ".*".join(re.escape(part) for part in pattern.split("*"))


def _never(action_id: str) -> bool:
    return False


def _always(action_id: str) -> bool:
    return True


class ActionPatterns:
    """A compiled set of action-id patterns; ``matches(action_id)`` is true when any one matches.

    Patterns without ``*`` are looked up in a set; the others share one compiled regular
    expression, so matching costs about the same however many patterns there are.
    """

    __slots__ = ("_exact", "_patterns", "_regex", "matches")

    _exact: frozenset[str]
    _patterns: tuple[str, ...]
    _regex: re.Pattern[str] | None
    matches: Callable[[str], bool]

    def __init__(self, patterns: Iterable[str] | str, *, argument: str = "patterns") -> None:
        self._patterns = _pattern_tuple(patterns, argument)
        self._exact = frozenset(p for p in self._patterns if "*" not in p)
        wild = [p for p in self._patterns if "*" in p]
        self._regex = (
            re.compile("|".join(f"(?:{_regex_source(p)})" for p in wild), re.DOTALL)
            if wild
            else None
        )
        if "*" in self._patterns:
            self.matches = _always
        elif not self._patterns:
            self.matches = _never
        elif self._regex is None:
            self.matches = self._exact.__contains__
        else:
            self.matches = self._match_any

    def _match_any(self, action_id: str) -> bool:
        if action_id in self._exact:
            return True
        regex = self._regex
        return regex is not None and regex.fullmatch(action_id) is not None

    @property
    def patterns(self) -> tuple[str, ...]:
        """The patterns, in the order given."""
        return self._patterns

    def __repr__(self) -> str:
        return f"ActionPatterns({list(self._patterns)!r})"


@lru_cache(maxsize=256)
def _single(pattern: str) -> ActionPatterns:
    return ActionPatterns((pattern,), argument="pattern")


def action_matches(pattern: str, action_id: str) -> bool:
    """Whether ``pattern`` (``*`` = any run of characters) matches the whole ``action_id``."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidArgumentError(f"pattern must be a non-empty str, got {pattern!r}")
    if not isinstance(action_id, str):
        raise InvalidArgumentError(f"action_id must be a str, got {type(action_id).__name__}")
    return _single(pattern).matches(action_id)


def _id_key(seed: int, action_id: str) -> int:
    """Return a stable 64-bit key for (seed, action id), the same in every process."""
    data = f"{seed}\x00{action_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _mix(key: int, n: int) -> int:
    """Return SplitMix64 of step n from ``key``: an independent-looking draw per decision."""
    z = (key + (n + 1) * _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class _Verdicts(dict[str, bool]):
    """Action id -> selected by the patterns; a miss is judged once, then a plain dict hit.

    Bounded: a flood of distinct ids clears it rather than growing memory without end (verdicts
    are cheap to recompute; sampling counters live elsewhere and are kept).
    """

    __slots__ = ("_judge",)

    def __init__(self, judge: Callable[[object], bool]) -> None:
        super().__init__()
        self._judge = judge

    def __missing__(self, action_id: str) -> bool:
        verdict = self._judge(action_id)
        if len(self) >= _VERDICT_CACHE_LIMIT:
            self.clear()
        self[action_id] = verdict
        return verdict


class ActionTraceFilter:
    """Decides, per action id, whether to trace it: patterns, exclusions, and sampling.

    ``should_trace(action_id) -> bool`` is false when disabled or when an ``excluded_actions``
    pattern matches (exclusion wins); otherwise true when a ``traced_actions`` pattern matches,
    and then, below ``sample_rate`` 1, for about that fraction of the calls. A non-str action id
    raises ``InvalidArgumentError`` (an unhashable one, ``TypeError``).

    The n-th decision for an action id depends only on ``(seed, action_id, n)`` through a stable
    hash, so the same sequence of calls decides the same way in every process and run. Each
    decision is an independent draw rather than a fixed stride, so actors taking turns at one
    action are not aliased (with a stride of 2, two alternating actors would see one always
    traced and one never).

    Without sampling, ``should_trace`` is a bound dict lookup: a filter that says no costs the
    game about as little as no filter. Thread-safe. A filter keeps one small counter per sampled
    action id it has seen.
    """

    __slots__ = (
        "_enabled",
        "_excluded",
        "_levels",
        "_lock",
        "_overrides",
        "_sample_rate",
        "_samplers",
        "_seed",
        "_threshold",
        "_traced",
        "_verbosity",
        "_verdicts",
        "should_trace",
    )

    should_trace: Callable[[str], bool]

    def __init__(
        self,
        *,
        enabled: bool = True,
        traced_actions: Iterable[str] | str = ("*",),
        excluded_actions: Iterable[str] | str = (),
        sample_rate: float = 1.0,
        seed: int = 0,
        verbosity: Verbosity | str = Verbosity.STANDARD,
        verbosity_overrides: Mapping[str, Verbosity | str] | None = None,
    ) -> None:
        if not isinstance(enabled, bool):
            raise InvalidArgumentError(f"enabled must be a bool, got {type(enabled).__name__}")
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, (int, float))
            or not math.isfinite(sample_rate)
            or not 0 <= sample_rate <= 1
        ):
            raise InvalidArgumentError(
                f"sample_rate must be a number between 0 and 1, got {sample_rate!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidArgumentError(f"seed must be an int, got {type(seed).__name__}")
        self._enabled = enabled
        self._traced = ActionPatterns(traced_actions, argument="traced_actions")
        self._excluded = ActionPatterns(excluded_actions, argument="excluded_actions")
        self._sample_rate = float(sample_rate)
        self._seed = seed
        # Decision n is traced when its 64-bit draw falls below rate * 2**64.
        self._threshold = int(self._sample_rate * (1 << 64))
        self._verdicts = _Verdicts(self._judge)
        self._samplers: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        sampling = 0.0 < self._sample_rate < 1.0
        self.should_trace = self._sampled if sampling else self._verdicts.__getitem__
        self._verbosity = parse_verbosity(verbosity)
        if verbosity_overrides is None:
            verbosity_overrides = {}
        if not isinstance(verbosity_overrides, Mapping):
            raise InvalidArgumentError("verbosity_overrides must be a mapping of pattern to level")
        self._overrides = tuple(
            (
                ActionPatterns((pattern,), argument="verbosity_overrides"),
                parse_verbosity(level, f"verbosity_overrides[{pattern!r}]"),
            )
            for pattern, level in verbosity_overrides.items()
        )
        self._levels: dict[str, Verbosity] = {}

    def _judge(self, action_id: object) -> bool:
        if not isinstance(action_id, str):
            raise InvalidArgumentError(f"action_id must be a str, got {type(action_id).__name__}")
        return (
            self._enabled
            and self._sample_rate > 0.0
            and not self._excluded.matches(action_id)
            and self._traced.matches(action_id)
        )

    def _sampled(self, action_id: str) -> bool:
        if not self._verdicts[action_id]:
            return False
        with self._lock:
            state = self._samplers.get(action_id)
            if state is None:
                state = self._samplers[action_id] = [_id_key(self._seed, action_id), 0]
            n = state[1]
            state[1] = n + 1
        return _mix(state[0], n) < self._threshold

    def verbosity_for(self, action_id: str) -> Verbosity:
        """Return one action's verbosity: the first matching override, else the default."""
        level = self._levels.get(action_id)
        if level is None:
            level = self._verbosity
            for patterns, override in self._overrides:
                if patterns.matches(action_id):
                    level = override
                    break
            if len(self._levels) >= 4096:
                self._levels.clear()
            self._levels[action_id] = level
        return level

    @property
    def verbosity(self) -> Verbosity:
        """The default verbosity of traced actions."""
        return self._verbosity

    @property
    def verbosity_overrides(self) -> dict[str, Verbosity]:
        """Per-pattern verbosity levels, first match wins (a fresh dict)."""
        return {patterns.patterns[0]: level for patterns, level in self._overrides}

    @property
    def enabled(self) -> bool:
        """Whether the filter can select anything at all."""
        return self._enabled

    @property
    def traced_actions(self) -> tuple[str, ...]:
        """Patterns of the actions to trace."""
        return self._traced.patterns

    @property
    def excluded_actions(self) -> tuple[str, ...]:
        """Patterns of the actions never to trace (they win over ``traced_actions``)."""
        return self._excluded.patterns

    @property
    def sample_rate(self) -> float:
        """Fraction of the selected actions' calls that are traced."""
        return self._sample_rate

    @property
    def seed(self) -> int:
        """Seed of the sampling hash."""
        return self._seed

    def __repr__(self) -> str:
        return (
            f"ActionTraceFilter(enabled={self._enabled}, "
            f"traced_actions={list(self.traced_actions)!r}, "
            f"excluded_actions={list(self.excluded_actions)!r}, "
            f"sample_rate={self._sample_rate!r}, seed={self._seed!r}, "
            f"verbosity={self._verbosity.value!r})"
        )
