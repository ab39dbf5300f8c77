"""End to end in a real browser: `streamlit run app.py` on a free port, driven by Debian's
headless Chromium through Playwright (no browser download).

A CSM logs in, lands on their risk board, opens an account's Customer 360 by selecting a
row, checks its content, is refused another CSM's account by deep link; an executive logs
in and reads the overview. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import load
from engine.auth import users
from engine.data import warehouse

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def app_url(scored_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("e2e") / "data"
    shutil.copytree(scored_dir, data)
    wh = warehouse.get_warehouse(data)
    users.create_demo_users(wh, data)
    accounts = _accounts(wh)
    warehouse.close_all()  # the app process opens the warehouse itself (and holds its lock)
    port = load.free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")  # noqa: SIM115 - closed below
    try:
        proc = load.start_server(data, port, log=log, drop_env=("GROQ_API_KEY",))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    url = f"http://127.0.0.1:{port}"
    yield url, accounts
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make test`, which installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _settle(page) -> None:
    """Wait until the app has finished its current run (Streamlit's running indicator is gone)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)


def _log_in(page, url: str, username: str, password: str, path: str = "", navigate: bool = True) -> None:
    """Log in through the form; `navigate=False` uses the login form already on the page."""
    if navigate:
        page.goto(f"{url}/{path}")
    try:
        page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
        _settle(page)  # the cookie reader's first answer reruns the script; a click during it is lost
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for(timeout=60_000)
    except Exception:
        _shot(page, f"failed-login-{username}")
        raise


def _accounts(wh) -> dict[str, str]:
    """A CSM with scored accounts, one account of theirs, and one account of another CSM."""
    owner = wh.scalar(
        "SELECT c.csm_owner FROM predictions p JOIN customers c USING (customer_id) "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    mine, mine_name = wh.rows(
        "SELECT customer_id, name FROM customers WHERE csm_owner = ? AND status = 'active' LIMIT 1", [owner]
    )[0]
    other, other_name = wh.rows("SELECT customer_id, name FROM customers WHERE csm_owner <> ? LIMIT 1", [owner])[0]
    return {"owner": owner, "mine": mine, "mine_name": mine_name, "other": other, "other_name": other_name}


def test_csm_and_executive_journeys(app_url, browser):
    url, accounts = app_url
    owner, other_id, other_name = accounts["owner"], accounts["other"], accounts["other_name"]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()

    # A CSM logs in and lands on their risk board (they may not open the overview).
    _log_in(page, url, owner, users.DEMO_PASSWORDS["csm"])
    page.get_by_role("heading", name="Risk board").wait_for(timeout=30_000)
    page.get_by_text("scored accounts in your book").wait_for()
    assert page.get_by_role("link", name="Portfolio overview").count() == 0
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    _shot(page, "1-csm-risk-board")

    # Select the first row (the row-marker column), then open its Customer 360.
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 18)
    open_button = page.get_by_role("button", name="Open Customer 360")
    open_button.wait_for(timeout=15_000)
    account = open_button.inner_text().split(":", 1)[1].strip()
    open_button.click()
    page.get_by_role("heading", name=account).wait_for(timeout=30_000)
    assert "customer_id=" in page.url
    for text in (
        "Churn risk (next 90 days)",
        "Recommended action",
        "Why: the drivers behind the score",
        "Product usage (last 26 weeks)",
        "Support health",
        "Revenue and lifetime value",
        "AI summary",
    ):
        page.get_by_text(text).first.wait_for()
    charts = page.locator("[data-radar-chart]")
    charts.first.wait_for(timeout=30_000)
    assert charts.count() >= 2
    _shot(page, "2-csm-customer-360")

    # A deep link to another CSM's account says so and shows nothing of it.
    page.goto(f"{url}/customer_360?customer_id={other_id}")
    page.get_by_text("not in your book").wait_for(timeout=30_000)
    assert other_name not in page.content()
    _shot(page, "3-csm-not-in-book")

    # Log out; the executive logs in and reads the overview.
    # Logging out removes the login cookie: opening the app again shows the login form.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username").first.wait_for(timeout=30_000)
    _settle(page)
    page.goto(url)
    page.get_by_role("textbox", name="Username").first.wait_for(timeout=30_000)
    _settle(page)
    assert page.get_by_role("button", name="Log out").count() == 0
    _log_in(page, url, "exec", users.DEMO_PASSWORDS["executive"], navigate=False)
    page.get_by_role("heading", name="Portfolio overview").wait_for(timeout=30_000)
    page.get_by_text("ARR at risk").first.wait_for(timeout=30_000)
    page.get_by_text("Top 10 accounts by ARR at risk").wait_for()
    page.wait_for_timeout(1500)  # let the charts draw before the screenshot
    _shot(page, "4-executive-overview")
    # The top accounts' "Open" link goes to that account's Customer 360 (a new page load).
    first = page.locator("[data-radar-table='top-at-risk'] tbody tr").first
    name = first.locator("td").nth(1).inner_text()
    page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    first.get_by_role("link", name="Open").click()
    page.get_by_role("heading", name=name).wait_for(timeout=30_000)
    assert "customer_360?customer_id=" in page.url
    context.close()


def test_deep_link_survives_login(app_url, browser):
    url, accounts = app_url
    owner, mine, name = accounts["owner"], accounts["mine"], accounts["mine_name"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, url, owner, users.DEMO_PASSWORDS["csm"], path=f"customer_360?customer_id={mine}")
    page.get_by_role("heading", name=name).wait_for(timeout=30_000)
    # The login cookie is written by a browser-side component just after the login run.
    page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    page.reload()  # the login cookie carries over a refresh
    try:
        page.get_by_role("heading", name=name).wait_for(timeout=30_000)
    except Exception:
        _shot(page, "failed-refresh")
        raise
    context.close()


def test_nothing_of_the_admin_is_shown_to_the_csm_who_logs_in_next(app_url, browser):
    """Issue 12: AI answers survived a logout and were shown to the next user of the tab."""
    url, accounts = app_url
    owner, other = accounts["owner"], accounts["other"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    forms = page.locator('[data-testid="stForm"]')
    chat = page.locator('[data-testid="stChatMessage"]')
    tables = page.locator('[data-testid="stDataFrame"]')
    account_question = "Why is this account at risk right now?"
    portfolio_question = "Which accounts have churn above 20 %?"

    # The admin asks about another CSM's account and about the whole portfolio.
    _log_in(page, url, "admin", users.DEMO_PASSWORDS["admin"], path=f"ai_qa?customer_id={other}")
    page.get_by_role("heading", name="Ask AI").wait_for(timeout=30_000)
    page.get_by_role("textbox", name="Your question").fill(account_question)
    forms.filter(has=page.get_by_role("textbox", name="Your question")).get_by_role("button", name="Ask").click()
    chat.nth(1).wait_for(timeout=60_000)
    _settle(page)
    page.get_by_role("tab", name="Ask about the portfolio").click()
    page.get_by_role("textbox", name="Question", exact=True).fill(portfolio_question)
    forms.filter(has=page.get_by_role("textbox", name="Question", exact=True)).get_by_role("button", name="Ask").click()
    tables.first.wait_for(timeout=60_000)
    _settle(page)
    assert chat.count() >= 2 and tables.count() >= 1
    _shot(page, "5-admin-ask-ai")

    # Log out in the same tab (same Streamlit session, same link); a CSM logs in right there.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username").wait_for(timeout=30_000)
    page.wait_for_function("name => !document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    _settle(page)
    assert chat.count() == 0 and tables.count() == 0
    assert page.url == f"{url}/ai_qa?customer_id={other}"
    _log_in(page, url, owner, users.DEMO_PASSWORDS["csm"], navigate=False)
    page.get_by_text(f"{owner} · Customer success manager").wait_for(timeout=30_000)
    page.get_by_role("heading", name="Ask AI").wait_for(timeout=30_000)
    _settle(page)
    page.get_by_role("tab", name="Ask about the portfolio").click()
    _settle(page)
    _shot(page, "6-csm-after-admin-logout")
    assert chat.count() == 0  # no chat about another CSM's account
    assert tables.count() == 0  # no portfolio table with every owner's accounts
    body = page.content()
    assert account_question not in body and portfolio_question not in body
    context.close()


# Every page URL the app has served since its first version, with the heading it must show.
PAGE_URLS = (
    ("overview", "Portfolio overview"),
    ("risk_board", "Risk board"),
    ("customer_360?customer_id={mine}", "{mine_name}"),
    ("ai_qa", "Ask AI"),
    ("forecasts", "Forecasts"),
    ("scenarios", "Scenarios"),
    ("model_data", "Model & data"),
    ("data", "Data"),
    ("users", "Users"),
)


@pytest.mark.parametrize("width", [1280, 1440])
def test_every_page_url_opens_its_page(app_url, browser, width):
    """The URLs from before views/ replaced pages/ still open the same pages, and "/" forwards
    to the role's home page."""
    url, accounts = app_url
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    _log_in(page, url, "admin", users.DEMO_PASSWORDS["admin"])
    page.get_by_role("heading", name="Portfolio overview").wait_for(timeout=30_000)  # "/" lands on the home page
    # Each goto below is a new session that logs in from the cookie, which the browser-side
    # component writes just after the login run.
    page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    for path, heading in PAGE_URLS:
        page.goto(f"{url}/{path.format(**accounts)}")
        try:
            page.get_by_role("heading", name=heading.format(**accounts)).first.wait_for(timeout=30_000)
            _settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_text("Page not found").count() == 0
            assert page.url.startswith(f"{url}/{path.split('?')[0].format(**accounts)}")
        except Exception:
            _shot(page, f"failed-url-{path.split('?')[0]}-{width}")
            raise
        _shot(page, f"url-{path.split('?')[0]}-{width}")
    context.close()
