"""Addresses in a company's data show as text, never as links, in a real browser.

Streamlit renders captions, titles and markdown as GitHub-flavoured markdown, whose "autolink
literals" turn a bare `https://…`, `www.…` or `name@host` into a link. They are found after
backslash escapes are undone, so escaping alone left an owner's e-mail address a mailto link
and a URL in an account's name a link to wherever it points. Here an account carries all
three in its name, industry, region and owner; an admin opens its Customer 360, the risk
board and the overview, and no element on them links to those addresses.
"""

from __future__ import annotations

import shutil

import pytest
from test_browser_e2e import _log_in, _settle, _shot, browser  # noqa: F401 - fixtures

from bench import load
from engine.auth import users
from engine.data import warehouse

pytestmark = pytest.mark.browser

ADDRESSES = "see https://evil.example/login, www.evil.example or write to boss@evil.example"
# Every link on the page whose target came from the data (none may exist).
DATA_LINKS = 'a[href*="evil.example"], a[href^="mailto:"]'


@pytest.fixture(scope="module")
def app_with_addresses(scored_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("autolinks") / "data"
    shutil.copytree(scored_dir, data)
    wh = warehouse.get_warehouse(data)
    users.create_demo_users(wh, data)
    customer_id = wh.scalar(
        "SELECT customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE c.status = 'active' ORDER BY p.churn_probability DESC LIMIT 1"
    )
    with wh.transaction() as con:
        con.execute(
            "UPDATE customers SET name = ?, industry = ?, region = ? WHERE customer_id = ?",
            [f"Acme ({ADDRESSES})", ADDRESSES, ADDRESSES, customer_id],
        )
    warehouse.close_all()  # the app process opens the warehouse itself
    port = load.free_port()
    proc = load.start_server(data, port, drop_env=("GROQ_API_KEY",))
    yield f"http://127.0.0.1:{port}", str(customer_id)
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.parametrize("path", ["customer_360?customer_id={id}", "risk_board", "overview"])
def test_addresses_in_the_data_are_not_links(app_with_addresses, browser, path):  # noqa: F811 - fixture
    url, customer_id = app_with_addresses
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    _log_in(page, url, "admin", users.DEMO_PASSWORDS["admin"], path=path.format(id=customer_id))
    _settle(page)
    main = page.locator('[data-testid="stMain"]')
    if path.startswith("customer_360"):
        page.get_by_role("heading", name="Acme").first.wait_for(timeout=30_000)
        assert "https://evil.example/login" in main.inner_text().replace("\u2060", ""), "the name shows as written"
    links = page.locator(DATA_LINKS)
    if links.count():
        _shot(page, f"failed-autolinks-{path.split('?')[0]}")
    assert links.count() == 0, [links.nth(i).get_attribute("href") for i in range(links.count())]
    context.close()
