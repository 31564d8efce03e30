"""``actiontrace demo``: a small simulated text-adventure session, traced end to end.

Several actors take turns in a tiny world (a few rooms, items, a gatekeeper and an oracle). Each
action goes through the real pipeline: ``CommandProcessor`` -> ``EventDispatchService`` ->
``EventBus`` -> rule handlers that change the world, with ``ActionTraceFilter``,
``ActionExecutionTraceFactory`` and ``ActionTraceOutputService`` (JSON Lines) tracing every action.

Outcomes are realistic rather than scripted:

* a rule that refuses an action (no exit that way, no such item, target not here) raises
  ``RuleRefused`` in its handler, which the rules engine's dispatch service reports as ``False``
  (a refusal, not a crash): a ``failed`` trace;
* the "chaos" spell crashes the rules engine itself, which raises through the dispatch service:
  an ``error`` trace with a cause chain;
* some turn actions carry a password or a bearer token, so the redaction shows in the traces.

The traces are linked: a successful attack dispatches a ``core:damage`` reaction from
inside its handler, and damage that brings the target to zero health dispatches ``core:defeated``,
so the three share one trace id and nest (``actiontrace show traces --tree``). Every action also
gets a structured trace of its steps: the processor's ``dispatch_action`` / ``create_payload`` /
``dispatch_event`` spans, with the rule handler's own steps (``resolve_target``,
``apply_damage``…, opened with ``actiontrace.span``) nested under ``dispatch_event``. Each execution
trace carries custom metadata: the build, the turn number and the scene (the room the action
happens in), so ``actiontrace report traces --by scene`` splits the figures by room.

Every choice comes from ``random.Random(seed)``, so a seed replays the same session (only the
timings differ). The report at the end is built by reading the written files back, so its counts
are the files' counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from .analysis.report import Report, add_read_stats, build_report
from .errors import InvalidArgumentError
from .factory import ActionExecutionTraceFactory
from .output.reader import TRACE_SUFFIXES, ReadStats, scan_traces
from .output.service import ActionTraceOutputService
from .pipeline import (
    ATTEMPT_ACTION_ID,
    ActionTraceFilter,
    CommandProcessor,
    EventBus,
    EventDispatchService,
)
from .structured import ActionAwareStructuredTrace, span

__all__ = ["BUILD", "DEFAULT_ACTORS", "DEFAULT_OUT", "DEFAULT_TURNS", "DemoResult", "run_demo"]

DEFAULT_OUT = "traces"
"""Where ``actiontrace demo`` writes its traces unless told otherwise."""

DEFAULT_ACTORS = 4
DEFAULT_TURNS = 25
BUILD = "demo-1.0"
"""The ``build`` custom metadata of every demo trace."""

_HEALTH = 10
_DAMAGE = 5  # two hits defeat anyone

_NAMES = ("aria", "bram", "cora", "dax", "elin", "fenn", "gwen", "hale")

# room -> {direction: room}
_MAP: dict[str, dict[str, str]] = {
    "hall": {"north": "library", "east": "garden", "down": "cellar"},
    "library": {"south": "hall"},
    "garden": {"west": "hall", "north": "tower"},
    "tower": {"south": "garden"},
    "cellar": {"up": "hall"},
}
_DIRECTIONS = ("north", "south", "east", "west", "up", "down")
_ITEMS = {
    "hall": ["lamp"],
    "library": ["scroll", "book"],
    "garden": ["herb", "key"],
    "tower": ["crystal"],
    "cellar": ["rope", "wine"],
}
_ALL_ITEMS = ("lamp", "scroll", "book", "herb", "key", "crystal", "rope", "wine", "sword")
_SPELLS = ("light", "heal", "fireball", "scry", "chaos")
_ACTIONS = ("core:go", "core:take", "core:talk", "core:attack", "core:look", "magic:cast")
_WEIGHTS = (26, 16, 12, 22, 12, 12)


class RuleRefused(Exception):
    """A game rule refuses the action (no exit, no item, target not here, no mana)."""


class RulesEngineError(RuntimeError):
    """The rules engine itself crashed: raised through the dispatch service."""


class _QuietLogger:
    """Counts what the pipeline logs instead of printing it: the demo's failures are on purpose."""

    __slots__ = ("logged",)

    def __init__(self) -> None:
        self.logged = 0

    def debug(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Ignore debug messages."""

    info = debug

    def error(self, msg: str, /, *args: Any, **kwargs: Any) -> None:
        """Count a warning or an error."""
        self.logged += 1

    warning = error


class _World:
    """The tiny game state the rule handlers change."""

    __slots__ = ("health", "inventory", "items", "mana", "position", "unlocked")

    def __init__(self, actors: list[str]) -> None:
        self.position = dict.fromkeys(actors, "hall")
        self.health = dict.fromkeys(actors, _HEALTH)
        self.mana = dict.fromkeys(actors, 6)
        self.inventory: dict[str, list[str]] = {actor: [] for actor in actors}
        self.items = {room: list(items) for room, items in _ITEMS.items()}
        self.unlocked: set[str] = set()

    # Each rule reads the attempt-action payload; raising RuleRefused refuses the action.

    def go(self, actor: str, direction: str) -> None:
        room = self.position[actor]
        destination = _MAP[room].get(direction)
        if destination is None:
            raise RuleRefused(f"there is no exit {direction} from the {room}")
        if destination == "tower" and actor not in self.unlocked:
            raise RuleRefused("the tower door is locked: the gatekeeper wants the password")
        self.position[actor] = destination

    def take(self, actor: str, item: str) -> None:
        here = self.items[self.position[actor]]
        if item not in here:
            raise RuleRefused(f"there is no {item} in the {self.position[actor]}")
        here.remove(item)
        self.inventory[actor].append(item)

    def talk(self, actor: str, target: str) -> None:
        if target == "gatekeeper":
            self.unlocked.add(actor)

    def check_attack(self, actor: str, target: str) -> None:
        if target not in self.position or target == actor:
            raise RuleRefused(f"{target} is not someone you can attack")
        if self.position[target] != self.position[actor]:
            raise RuleRefused(f"{target} is not in the {self.position[actor]}")

    def hurt(self, actor: str, amount: int) -> int:
        self.health[actor] = max(0, self.health[actor] - amount)
        return self.health[actor]

    def respawn(self, actor: str) -> None:
        self.health[actor] = _HEALTH
        self.position[actor] = "hall"

    def cast(self, actor: str, spell: str) -> None:
        if self.mana[actor] < 2:
            raise RuleRefused(f"not enough mana to cast {spell}")
        self.mana[actor] -= 2
        if spell == "heal":
            self.health[actor] = min(_HEALTH, self.health[actor] + 3)


@contextlib.contextmanager
def _step(operation: str, **attributes: Any) -> Iterator[None]:
    """Run a handler step in a span; a rule's refusal ends it as ``failure``, not ``error``."""
    refused: RuleRefused | None = None
    with span(operation, **attributes) as step:
        try:
            yield
        except RuleRefused as error:
            step.set_status("failure")
            step.set_attribute("refused", str(error))
            refused = error
    if refused is not None:
        raise refused


class _Game:
    """The session: the world, the processor, what was dispatched, and the current scene."""

    __slots__ = ("actor", "dispatched", "processor", "reactions", "succeeded", "turn", "world")

    def __init__(self, world: _World) -> None:
        self.world = world
        self.processor: CommandProcessor | None = None
        self.dispatched = self.succeeded = self.reactions = 0
        self.turn = 0
        self.actor = next(iter(world.position))

    async def dispatch(self, actor: str, turn_action: Mapping[str, Any]) -> None:
        assert self.processor is not None  # set before the session starts
        result = await self.processor.dispatch_action({"id": actor}, turn_action)
        self.dispatched += 1
        self.succeeded += bool(result["success"])

    async def react(self, actor: str, turn_action: Mapping[str, Any]) -> None:
        """Dispatch a reaction from inside a handler: its trace becomes the cause's child."""
        self.reactions += 1
        await self.dispatch(actor, turn_action)

    def scene(self) -> dict[str, Any]:
        """Return the custom metadata of a new trace: the turn and the current actor's room."""
        return {"turn": self.turn, "scene": self.world.position[self.actor]}


class _StepTraces:
    """The structured trace factory: one ``ActionAwareStructuredTrace`` per action."""

    __slots__ = ()

    def create_trace(self, action_id: str, actor_id: str) -> ActionAwareStructuredTrace:
        """Return a structured trace for ``actor_id``'s action."""
        return ActionAwareStructuredTrace(actor_id=actor_id)


def _rules(game: _Game) -> Any:
    """Build the handler that applies the game rules to each attempted action."""
    world = game.world

    async def rules(payload: Mapping[str, Any]) -> None:
        actor = str(payload["actorId"])
        action = payload["actionId"]
        words = str(payload["originalInput"]).split()
        target = str(payload.get("targetId"))
        if action == "core:go":
            with _step("find_exit", direction=words[-1]):
                world.go(actor, words[-1])
        elif action == "core:take":
            with _step("find_item", item=words[-1]):
                world.take(actor, words[-1])
        elif action == "core:talk":
            with _step("converse", target=target):
                await asyncio.sleep(0)  # a conversation yields to the loop
                world.talk(actor, target)
        elif action == "core:attack":
            with _step("resolve_target", target=target):
                world.check_attack(actor, target)
            with _step("apply_damage", target=target, amount=_DAMAGE):
                damage = {
                    "actionDefinitionId": "core:damage",
                    "commandString": f"suffer {_DAMAGE} damage from {actor}",
                    "targetId": actor,
                }
                await game.react(target, damage)
        elif action == "core:damage":
            with _step("reduce_health", amount=int(words[1])):
                left = world.hurt(actor, int(words[1]))
            if not left:
                with _step("announce_defeat"):
                    defeated = {
                        "actionDefinitionId": "core:defeated",
                        "commandString": f"fall, defeated by {target}",
                        "targetId": target,
                    }
                    await game.react(actor, defeated)
        elif action == "core:defeated":
            with _step("respawn", room="hall"):
                world.respawn(actor)
        elif action == "core:look":
            with _step("describe_room", room=world.position[actor]):
                pass
        else:  # magic:cast, the last of _ACTIONS
            with _step("check_mana"):
                world.cast(actor, words[1])
            with _step("channel_spell", spell=words[1]):
                await asyncio.sleep(0.001)  # spells take a moment: visible in the latencies

    return rules


def _narrator(log: list[str]) -> Any:
    """Build a second, synchronous handler that keeps the session's log."""

    def narrate(payload: Mapping[str, Any]) -> None:
        log.append(f"{payload['actorId']}: {payload['originalInput']}")

    return narrate


class _RulesEngineService(EventDispatchService):
    """The dispatch service of a rules engine whose "chaos" spell crashes the engine itself."""

    __slots__ = ()

    async def dispatch_with_error_handling(
        self, event_name: str, payload: Any, context: str
    ) -> bool:
        """Dispatch; a rule's refusal is ``False``; the chaos spell raises ``RulesEngineError``."""
        if payload.get("actionId") == "magic:cast" and "chaos" in str(payload["originalInput"]):
            try:
                _ = 1 / 0  # the engine's probability table for chaos is empty
            except ZeroDivisionError as error:
                raise RulesEngineError("the rules engine crashed evaluating 'chaos'") from error
        try:
            await self.event_bus.dispatch(event_name, payload)
        except RuleRefused as refused:
            # The action failed and nothing broke: logged, but not handed over as an error.
            self._report(event_name, context, refused)
            return False
        return True


def _turn_action(rng: random.Random, actor: str, world: _World) -> dict[str, Any]:
    """Choose an actor's turn action (every choice from ``rng``; mostly sensible ones)."""
    action = rng.choices(_ACTIONS, _WEIGHTS)[0]
    room = world.position[actor]
    if action == "core:go":
        exits = sorted(_MAP[room])
        direction = rng.choice(exits if rng.random() < 0.8 else _DIRECTIONS)
        return {"actionDefinitionId": action, "commandString": f"go {direction}"}
    if action == "core:take":
        here = world.items[room]
        item = rng.choice(here if here and rng.random() < 0.7 else _ALL_ITEMS)
        return {"actionDefinitionId": action, "commandString": f"take {item}"}
    if action == "core:talk":
        if rng.random() < 0.5:
            # The password travels as a parameter: the trace shows the key, never the value.
            return {
                "actionDefinitionId": action,
                "commandString": "whisper the password to the gatekeeper",
                "parameters": {"targetId": "gatekeeper", "password": "open-sesame"},
            }
        token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))
        # A bearer token inside free text: redacted by value, whatever the key.
        return {
            "actionDefinitionId": action,
            "commandString": f"ask the oracle, authorised by Bearer {token}",
            "parameters": {"targetId": "oracle", "session": {"authToken": token}},
        }
    if action == "core:attack":
        nearby = sorted(a for a, r in world.position.items() if r == room and a != actor)
        everyone = sorted(world.position)
        target = rng.choice(nearby if nearby and rng.random() < 0.85 else everyone)
        return {
            "actionDefinitionId": action,
            "commandString": f"attack {target}",
            "targetId": target,
        }
    if action == "core:look":
        return {"actionDefinitionId": action, "commandString": "look"}
    spell = rng.choice(_SPELLS)
    return {"actionDefinitionId": action, "commandString": f"cast {spell}"}


@dataclasses.dataclass(frozen=True, slots=True)
class DemoResult:
    """What a demo run did: the report read back from its files, and the session's figures.

    ``dispatched`` and ``succeeded`` count every action, the reactions dispatched from inside
    handlers (``reactions`` of them) included: one execution trace each.
    """

    report: Report
    files: tuple[Path, ...]
    dispatched: int
    succeeded: int
    output_stats: Mapping[str, int]
    seed: int
    errors_logged: int
    reactions: int = 0


def _trace_files(folder: Path) -> set[Path]:
    if not folder.is_dir():
        return set()
    return {
        path for path in folder.rglob("*") if path.name.endswith(TRACE_SUFFIXES) and path.is_file()
    }


class _Progress:
    """A one-line progress bar on a terminal stream; nothing at all without one."""

    __slots__ = ("shown", "stream", "total")

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream = stream
        self.total = total
        self.shown = -1

    def update(self, done: int) -> None:
        stream = self.stream
        if stream is None:
            return
        width = 30
        filled = width * done // self.total
        if filled == self.shown and done != self.total:
            return
        self.shown = filled
        bar = "#" * filled + "." * (width - filled)
        stream.write(f"\r[{bar}] {done}/{self.total} actions")
        if done == self.total:
            stream.write("\n")
        stream.flush()


_CHAOS: Final = {"actionDefinitionId": "magic:cast", "commandString": "cast chaos"}


async def _session(game: _Game, turns: int, rng: random.Random, bar: _Progress) -> None:
    actors = list(game.world.position)
    total, done, crashed = turns * len(actors), 0, False
    for turn in range(1, turns + 1):
        game.turn = turn
        for actor in actors:
            game.actor = actor
            turn_action = _turn_action(rng, actor, game.world)
            crashed = crashed or turn_action == _CHAOS
            if done == total - 1 and not crashed:
                # Every session shows an error: the last actor casts chaos when nobody has yet.
                turn_action = dict(_CHAOS)
            await game.dispatch(actor, turn_action)
            done += 1
            bar.update(done)


def run_demo(
    out: str | Path = DEFAULT_OUT,
    *,
    actors: int = DEFAULT_ACTORS,
    turns: int = DEFAULT_TURNS,
    seed: int | None = None,
    progress: TextIO | None = None,
) -> DemoResult:
    """Play a session of ``actors`` x ``turns`` actions, trace it into ``out``, report on it.

    ``seed`` (``None``: a random one, recorded in the result) makes the session replayable.
    ``progress``, a terminal stream, gets a progress bar. The report covers the files this run
    created (traces already in ``out`` are left alone and not counted).
    """
    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise InvalidArgumentError(f"actors must be an int >= 1, got {actors!r}")
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise InvalidArgumentError(f"turns must be an int >= 1, got {turns!r}")
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    rng = random.Random(seed)
    names = [
        _NAMES[i] if i < len(_NAMES) else f"{_NAMES[i % len(_NAMES)]}-{i}" for i in range(actors)
    ]
    folder = Path(out)
    before = _trace_files(folder)
    game = _Game(_World(names))
    narration: list[str] = []
    bus = EventBus()
    bus.subscribe(ATTEMPT_ACTION_ID, _rules(game))
    bus.subscribe(ATTEMPT_ACTION_ID, _narrator(narration))
    logger = _QuietLogger()
    output = ActionTraceOutputService(folder, format="jsonl")
    try:
        game.processor = CommandProcessor(
            _RulesEngineService(bus, logger),
            logger,
            trace_filter=ActionTraceFilter(),
            trace_factory=ActionExecutionTraceFactory(
                logger, metadata={"build": BUILD}, metadata_providers=(game.scene,)
            ),
            trace_output_service=output,
            structured_trace_factory=_StepTraces(),
        )
        asyncio.run(_session(game, turns, rng, _Progress(progress, actors * turns)))
    finally:
        output.close()
    files = tuple(sorted(_trace_files(folder) - before))
    stats = ReadStats()
    report = build_report(record for file in files for record in scan_traces(file, stats))
    add_read_stats(report, stats)
    return DemoResult(
        report=report,
        files=files,
        dispatched=game.dispatched,
        succeeded=game.succeeded,
        reactions=game.reactions,
        output_stats=dict(output.stats),
        seed=seed,
        errors_logged=logger.logged,
    )
