"""The command registry every package's cli.py adds its commands to, and their shared helpers.

`python -m engine COMMAND` (engine/cli.py) builds its parser from COMMANDS. A package declares
a command next to its capability:

    @command("score", "score every active customer", score_args)
    def score(args): ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import BaseModel

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]
COMMANDS: dict[str, tuple[Handler, Arguments, str]] = {}


def command(name: str, help_text: str, arguments: Arguments = lambda p: None) -> Callable[[Handler], Handler]:
    """Register a sub-command: its handler, its arguments and its one-line help."""

    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"two commands are named {name!r}")
        COMMANDS[name] = (handler, arguments, help_text)
        return handler

    return register


def parse_date(text: str) -> date:
    """An argparse type: YYYY-MM-DD, with a message a person can act on."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD, e.g. 2026-06-30") from None


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


def print_json(payload: Any) -> None:
    """`--json` output: a contract model (or a list of them) as its JSON, anything else via json."""
    if isinstance(payload, BaseModel):
        print(payload.model_dump_json(indent=2))
    elif isinstance(payload, list) and payload and all(isinstance(p, BaseModel) for p in payload):
        print(json.dumps([p.model_dump(mode="json") for p in payload], indent=2))
    else:
        print(json.dumps(payload, indent=2, default=str))


def say(message: str) -> None:
    """Progress and warnings on stderr, so stdout stays the result."""
    print(f"... {message}", file=sys.stderr, flush=True)


def progress(fraction: float, message: str) -> None:
    say(f"{fraction * 100:3.0f}% {message}")
