"""Opening a page the way the app does: app.py logs a test viewer in, then switches to the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(
    page: str,
    role: str,
    *,
    data: Path | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
    query: dict[str, Any] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> AppTest:
    """Run views/<page>.py through app.py as `role`; with `data`, on that data folder.

    `check` fails the test when the page raised; pass False to look at the exception."""
    if data is not None:
        assert monkeypatch is not None, "a data folder is set through monkeypatch"
        monkeypatch.setenv("RADAR_DATA_DIR", str(data))
    at = AppTest.from_file(APP, default_timeout=timeout)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    at.switch_page(f"views/{page}.py")
    at.query_params.update(query or {})
    at.run()
    if check:
        assert not at.exception, at.exception
    return at


def shown(markdown: str) -> str:
    """What a person reads in a markdown element: pages escape file names and values
    (`components.shared.markdown.plain`) so markdown leaves them alone."""
    return re.sub(r"\\(.)", r"\1", markdown)


def log_in_with_form(at: AppTest, username: str, password: str) -> AppTest:
    """Fill the app's login form and press "Log in" (the streamlit-authenticator form)."""
    fields = {t.label: t for t in at.text_input}
    fields["Username"].input(username)
    fields["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()
