"""The Cellar: a small text adventure on adventurelib, traced with actiontrace's Tracer.

    python examples/cellar.py                  # play
    python examples/cellar.py --trace traces   # play, with one trace per typed command
    actiontrace report traces                  # then read what happened

adventurelib dispatches each typed command through its own ``_handle_command``; the game wraps it
twice: once so that a bug in one command does not end the game (``keep_playing``), and, when asked,
once so that every command is one traced action (``traced_commands``, the few lines that are the
whole integration). The game prints exactly the same with tracing on or off.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import adventurelib
from adventurelib import Bag, Item, Room, say, when

from actiontrace import ActionTraceOutputService, Tracer

# -- tracing: the whole integration ----------------------------------------------------------------


def command_action(command: str) -> tuple[str, dict[str, str] | None]:
    """Name the action a typed command runs (its adventurelib pattern) and its parameters."""
    words = command.lower().split()
    for pattern, _handler, _kwargs in adventurelib._available_commands():
        matched = pattern.match(words)
        if matched is not None:
            return pattern.orig_pattern, matched
    return "unknown", None


def traced_commands(handle: Callable[[str], None], tracer: Tracer) -> Callable[[str], None]:
    """Wrap adventurelib's dispatcher: each typed command becomes one traced action."""

    def handle_traced(command: str) -> None:
        action_id, parameters = command_action(command)
        with tracer.action(
            action_id, actor_id="player", command=command, parameters=parameters
        ) as act:
            handle(command)
            if parameters is None:  # adventurelib said it did not understand
                act.set_result(False, understood=False)

    return handle_traced


# -- the game --------------------------------------------------------------------------------------

Room.add_direction("up", "down")

hall = Room("You are in a draughty hall. Stairs lead down; a kitchen lies to the east.")
kitchen = Room("A cold kitchen. Something scurries behind the stove.")
cellar = Room("The cellar smells of damp stone. A humming terminal glows to the north.")
study = Room("A cramped study around a terminal. A steel vault door stands to the east.")
vault = Room("The vault: shelves of dusty ledgers, and a small chest.")
hall.east = kitchen
hall.down = cellar
cellar.north = study

for room, names in [
    (hall, [("lamp", "lantern")]),
    (kitchen, [("knife",), ("bread", "loaf")]),
    (cellar, [("scroll", "parchment")]),
    (vault, [("coin", "gold coin")]),
]:
    room.items = Bag(Item(*aliases) for aliases in names)
study.items = Bag()

ACCOUNTS = {"admin": "s3cr3t-cellar"}
RUNES = {"ka": "fire", "lo": "water", "mi": "earth"}  # the scroll also holds "zh": a known bug
SCROLL_TEXT = "ka lo zh mi"

current = hall
inventory = Bag()
moves = 0


def describe() -> None:
    """Say where the player is and what lies here."""
    say(current)
    if current.items:
        say("You see: " + ", ".join(sorted(item.name for item in current.items)) + ".")
    exits = current.exits()
    if exits:
        say("Exits: " + ", ".join(exits) + ".")


@when("look")
def look() -> None:
    """Describe the room again."""
    describe()


@when("go DIRECTION")
@when("north", direction="north")
@when("south", direction="south")
@when("east", direction="east")
@when("west", direction="west")
@when("up", direction="up")
@when("down", direction="down")
def go(direction: str) -> None:
    """Walk through an exit."""
    global current, moves
    if direction not in Room._directions:
        say(f"'{direction}' is not a direction.")
        return
    room = current.exit(direction)
    if room is None:
        say("You cannot go that way.")
        return
    current = room
    moves += 1
    describe()


@when("take ITEM")
def take(item: str) -> None:
    """Pick an item up."""
    found = current.items.take(item)
    if found is None:
        say(f"There is no {item} here.")
        return
    inventory.add(found)
    say(f"You take the {found}.")


@when("drop ITEM")
def drop(item: str) -> None:
    """Put an item down."""
    found = inventory.take(item)
    if found is None:
        say(f"You have no {item}.")
        return
    current.items.add(found)
    say(f"You drop the {found}.")


@when("inventory")
@when("i")
def show_inventory() -> None:
    """List what the player carries."""
    if not inventory:
        say("You carry nothing.")
        return
    say("You carry: " + ", ".join(sorted(item.name for item in inventory)) + ".")


@when("read ITEM")
def read(item: str) -> None:
    """Read what is written on an item."""
    if item not in inventory:
        say(f"You have no {item} to read.")
        return
    if item not in ("scroll", "parchment"):
        say(f"There is nothing written on the {item}.")
        return
    # The game's bug: the scroll holds a rune the table lacks, so this raises KeyError.
    say("The runes read: " + " ".join(RUNES[rune] for rune in SCROLL_TEXT.split()) + ".")


@when("login USER PASSWORD")
def login(user: str, password: str) -> None:
    """Log in at the study's terminal (it opens the vault)."""
    if current is not study:
        say("There is nothing to log in to here.")
        return
    if ACCOUNTS.get(user) != password:
        say("ACCESS DENIED.")
        return
    study.east = vault
    say(f"Welcome, {user}. The vault door swings open to the east.")


@when("score")
def score() -> None:
    """Count moves and coins."""
    coins = "coin" in inventory
    say(f"{moves} moves, {'one coin' if coins else 'no coins'}.")


def keep_playing(handle: Callable[[str], None]) -> Callable[[str], None]:
    """Print an apology for a bug in one command instead of ending the game."""

    def guarded(command: str) -> None:
        try:
            handle(command)
        except Exception as error:
            print(f"Something went wrong ({type(error).__name__}); the game goes on.\n")

    return guarded


def main(argv: list[str] | None = None) -> None:
    """Play The Cellar on standard input; ``--trace DIR`` writes one trace per command there."""
    parser = argparse.ArgumentParser(description="The Cellar, a small text adventure.")
    parser.add_argument("--trace", metavar="DIR", help="write a trace of every command to DIR")
    args = parser.parse_args(argv)
    handle: Any = adventurelib._handle_command
    output = None
    if args.trace:
        output = ActionTraceOutputService(args.trace)
        handle = traced_commands(handle, Tracer(output=output))
    adventurelib._handle_command = keep_playing(handle)
    if not sys.stdin.isatty():
        adventurelib.prompt = lambda: ""  # no prompts in a piped session's transcript
    describe()
    try:
        adventurelib.start(help=True)
    finally:  # `quit` raises SystemExit: every trace is written before the game exits
        if output is not None:
            output.close()


if __name__ == "__main__":
    sys.exit(main())
