"""`.venv/bin/python -m engine.core.migrations "what changed"`: draft the next app-state migration."""

from __future__ import annotations

import sys

from engine.core.migrations import draft

if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        sys.exit('usage: .venv/bin/python -m engine.core.migrations "what changed"')
    print(f"Drafted {draft(sys.argv[1])}: review it, then commit it.")
