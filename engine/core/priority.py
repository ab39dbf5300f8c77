"""Batch commands yield the CPU to the people the app and the API are serving.

On a small host a nightly `score` would otherwise take both cores from the app and the API
while people wait on them (the API's p99 rose 7x during a score at equal priority). A batch
command run as its own process lowers its priority before it imports anything heavy (the
imports alone are two seconds of CPU); it still gets every cycle nobody else wants.
"""

from __future__ import annotations

import os
import sys

# Heavy batch work a scheduler runs beside the app and the API.
BATCH_COMMANDS = frozenset({"generate", "ingest", "demo", "train", "score", "train-table", "predict-table"})
BATCH_NICE_ENV = "RADAR_BATCH_NICE"
_OPTIONS_WITH_VALUES = frozenset({"--data-dir"})


def command_of(argv: list[str]) -> str | None:
    """The command of an `engine` command line (`--data-dir DIR score ...` -> `score`)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _OPTIONS_WITH_VALUES:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def yield_cpu_to_serving(command: str | None) -> None:
    """Run a batch command at a lower CPU priority: nice 10, or RADAR_BATCH_NICE (0 keeps it)."""
    if command not in BATCH_COMMANDS or not hasattr(os, "nice"):
        return
    raw = os.environ.get(BATCH_NICE_ENV, "10").strip() or "10"
    try:
        os.nice(max(0, min(19, int(raw))))
    except (ValueError, OSError) as exc:
        print(f"warning: {BATCH_NICE_ENV}={raw!r} not applied ({exc}); running at normal priority", file=sys.stderr)
