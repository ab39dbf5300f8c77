"""The app's pages in one table, and the navigation each role gets from it.

Adding a page is one line in PAGES (its key must be in engine.core.access.PAGE_ROLES). A page
whose file does not exist yet is left out, so the app runs while pages are being written.
Order matters: within a role, the first page it may open is its home page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from engine.core.access import PAGE_ROLES, Viewer

ROOT = Path(__file__).resolve().parents[2]
HOME_URL_PATH = "home"


@dataclass(frozen=True)
class NavPage:
    key: str  # the page key in engine.core.access.PAGE_ROLES
    path: str  # relative to the app root
    title: str
    icon: str
    section: str


PAGES: tuple[NavPage, ...] = (
    NavPage("overview", "views/overview.py", "Portfolio overview", ":material/monitoring:", "Portfolio"),
    NavPage("risk_board", "views/risk_board.py", "Risk board", ":material/crisis_alert:", "Accounts"),
    NavPage("customer_360", "views/customer_360.py", "Customer 360", ":material/person_search:", "Accounts"),
    NavPage("ai_qa", "views/ai_qa.py", "Ask AI", ":material/forum:", "Accounts"),
    NavPage("forecasts", "views/forecasts.py", "Forecasts", ":material/trending_up:", "Planning"),
    NavPage("scenarios", "views/scenarios.py", "Scenarios", ":material/tune:", "Planning"),
    NavPage("model_data", "views/model_data.py", "Model & data", ":material/model_training:", "Model"),
    NavPage("data", "views/data.py", "Data", ":material/database:", "Admin"),
    NavPage("users", "views/users.py", "Users", ":material/manage_accounts:", "Admin"),
)


def available_pages() -> list[NavPage]:
    """Every page in PAGES; a listed page whose file is missing is a broken install, said loudly."""
    missing = [p.path for p in PAGES if not (ROOT / p.path).is_file()]
    if missing:
        raise FileNotFoundError(f"Customer Radar is missing its page files: {', '.join(missing)}. Reinstall the app.")
    return list(PAGES)


def pages_for(role: str) -> list[NavPage]:
    """The existing pages this role may open, in menu order."""
    return [p for p in available_pages() if role in PAGE_ROLES.get(p.key, frozenset())]


def _st_page(page: NavPage, default: bool = False, hidden: bool = False) -> st.Page:
    return st.Page(
        str(ROOT / page.path),
        title=page.title,
        icon=page.icon,
        url_path=page.key,
        default=default,
        visibility="hidden" if hidden else "visible",
    )


def navigation(viewer: Viewer):
    """The menu of the pages this viewer may open, grouped by section; returns the current page.

    The other pages are registered hidden: a URL for one (a deep link, an old bookmark) opens
    it, and its own guard says the role cannot open it and whom to ask. Unregistered, Streamlit
    answered "Page not found: the page does not seem to exist", which was not true. The page's
    guard is the access control; this is the menu.
    """
    allowed = pages_for(viewer.role)
    if not allowed:
        st.error(f"No page is available to the {viewer.role} role yet. Ask an admin.", icon=":material/block:")
        st.stop()
    sections: dict[str, list[st.Page]] = {}
    for page in allowed:
        sections.setdefault(page.section, []).append(_st_page(page))
    first = next(iter(sections.values()))
    first.insert(0, _home(first[0]))
    first.extend(_st_page(page, hidden=True) for page in available_pages() if page not in allowed)
    return st.navigation(sections, position="sidebar")


def _home(landing: st.Page) -> st.Page:
    """The hidden page at "/" that forwards to the role's first page.

    Streamlit serves its default page at "/" only, so were the first real page the default,
    its own link (/overview, shared or bookmarked) would answer "Page not found".
    """

    def forward() -> None:
        st.switch_page(landing)

    return st.Page(forward, title=landing.title, url_path=HOME_URL_PATH, default=True, visibility="hidden")


def navigation_before_login():
    """Register every page without showing a menu, so the URL (a deep link like
    /customer_360?customer_id=...) and its query parameters survive the login screen.

    Nothing runs: the caller shows the login form instead of the page.
    """
    pages = [_st_page(p) for p in available_pages()]
    return st.navigation([_home(pages[0]), *pages], position="hidden")
