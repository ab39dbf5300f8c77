"""The page table: every listed page has its file, and a missing one is said loudly."""

from __future__ import annotations

import pytest

from components.shared import nav
from engine.core.access import PAGE_ROLES


def test_every_page_has_its_file_and_its_url_is_its_key():
    pages = nav.available_pages()
    assert [p.key for p in pages] == [p.key for p in nav.PAGES]
    assert all(p.path.startswith("views/") for p in pages)
    assert {p.key for p in pages} <= set(PAGE_ROLES)


def test_a_missing_page_file_is_an_error_not_a_shorter_menu(monkeypatch):
    broken = (*nav.PAGES, nav.NavPage("ghost", "views/ghost.py", "Ghost", ":material/help:", "Admin"))
    monkeypatch.setattr(nav, "PAGES", broken)
    with pytest.raises(FileNotFoundError, match="views/ghost.py"):
        nav.available_pages()


def test_the_cli_lists_every_capabilitys_commands():
    """engine/cli.py imports each package's cli.py; none may silently drop out."""
    from engine.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # argparse has no public listing
    expected = {"generate", "ingest", "info", "demo", "train", "score", "drift", "train-table", "forecast"}
    expected |= {"scenario", "summarize", "ask-portfolio", "users"}
    assert expected <= commands


def test_a_command_imports_only_the_module_that_declares_it():
    """`python -m engine score` imports the churn commands, not the AI layer's or the API's;
    the map it goes by names, for every registered command, the module that registered it."""
    import subprocess
    import sys

    from engine.cli import COMMAND_MODULES, build_parser
    from engine.core.commands import COMMANDS

    build_parser()
    assert {name: handler.__module__ for name, (handler, _a, _h) in COMMANDS.items()} == COMMAND_MODULES
    probe = (
        "import sys, engine.cli as c; c.load_commands('score'); "
        "print(sorted(m for m in sys.modules if m.endswith('.cli')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "engine.churn.cli" in loaded and "engine.ai.cli" not in loaded and "engine.api.cli" not in loaded
