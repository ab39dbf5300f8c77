"""Every headline number fully visible at 1280 px and 1440 px wide, in a real browser
(issue 12, item 17), and no request to any host but the app's own at load (item 18).

Reuses the end-to-end test's server and browser fixtures (`streamlit run app.py` on a copy
of the scored test warehouse with the demo users; Debian's headless Chromium). For each
width and role it opens the pages that role reads and checks each `st.metric`: its value
(and its label) is not wider than its box and shows no ellipsis. Screenshots go to
test-artifacts/layout-*.png.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from test_browser_e2e import ARTIFACTS, _log_in, _settle, app_url, browser  # noqa: F401 - fixtures

from engine.auth import users

pytestmark = pytest.mark.browser

WIDTHS = (1280, 1440)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# (role, username, page path, text that shows when the page has drawn, KPI cards expected at least)
VISITS = {
    "executive": (
        ("overview", "Top 10 accounts by ARR at risk", 10),  # its own link, not only "/"
        ("risk_board", "scored accounts in the portfolio", 4),
        ("customer_360?customer_id={mine}", "Recommended action", 0),
        ("forecasts", "Churn-adjusted MRR outlook", 4),
        ("model_data", "Serving model", 4),
    ),
    "analyst": (("model_data", "Serving model", 4),),
}
USERNAMES = {"executive": "exec", "analyst": "analyst"}

# For each metric value and label: wider than its box (text cut) or showing an ellipsis.
CUT_OFF = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')].map(el => {
  const parts = [el, ...el.querySelectorAll('*')];
  const cut = parts.some(p => p.scrollWidth > p.clientWidth + 1 && p.clientWidth > 0);
  return {kind: el.dataset.testid, text: el.innerText.trim(), cut: cut || el.innerText.includes('…')};
})"""


def _cards(page, minimum: int) -> list[dict]:
    if minimum:
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= n", arg=minimum, timeout=90_000
        )
    _settle(page)
    page.wait_for_timeout(500)  # fonts and column widths settle after the run
    return page.evaluate(CUT_OFF)


def _check(page, where: str, minimum: int, problems: list[str]) -> None:
    cards = _cards(page, minimum)
    assert sum(c["kind"] == "stMetricValue" for c in cards) >= minimum, where
    problems += [f"{where}: {c['kind']} {c['text']!r} is cut off" for c in cards if c["cut"]]
    page.screenshot(path=str(ARTIFACTS / f"layout-{where.replace(' ', '-').replace('/', '_')}.png"))


def _outside_requests(page) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: (
            seen.append(r.url) if r.url.startswith("http") and urlparse(r.url).hostname not in LOCAL_HOSTS else None
        ),
    )
    return seen


@pytest.mark.parametrize("width", WIDTHS)
def test_headline_numbers_are_never_cut_off(app_url, browser, width):  # noqa: F811 - fixtures
    url, accounts = app_url
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    outside: list[str] = []
    for role, visits in VISITS.items():
        context = browser.new_context(viewport={"width": width, "height": 1000})
        page = context.new_page()
        outside_for_role = _outside_requests(page)
        _log_in(page, url, USERNAMES[role], users.DEMO_PASSWORDS[role])
        # The login cookie is written just after the login run; going to another URL before it is there logs out.
        page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
        for path, marker, minimum in visits:
            page.goto(f"{url}/{path.format(mine=accounts['mine'])}")
            try:
                page.get_by_text(marker).first.wait_for(timeout=90_000)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "layout-failed.png"))
                raise
            if page.get_by_text("Page not found").count():  # Streamlit's answer to an unknown URL
                problems.append(f"{width} {role} /{path}: Page not found")
            _check(page, f"{width} {role} {path.split('?')[0] or 'overview'}", minimum, problems)
        if role == "analyst":  # run a plan: six result cards (cost, ROI, ARR lost ...)
            page.goto(f"{url}/scenarios")
            page.get_by_role("button", name="Run scenario").wait_for(timeout=60_000)
            _settle(page)
            page.get_by_label("Accounts to contact").first.fill("50")
            page.get_by_label("Cost per account ($)").first.fill("400")
            page.get_by_label("Cost per account ($)").first.press("Tab")
            page.get_by_role("button", name="Run scenario").click()
            page.get_by_text("Save this plan").wait_for(timeout=90_000)
            _check(page, f"{width} analyst scenarios", 6, problems)
        outside += outside_for_role
        context.close()
    assert not problems, problems
    # The page icon is a file of the app (a material-symbol icon was fetched from a font host).
    assert not outside, outside
