"""Customer 360's segment, "vs peers" and what-if sections in a real browser, at 1280 and 1440 px.

Reuses the end-to-end test's server and browser fixtures (`streamlit run app.py` on a copy of
the scored test warehouse with the demo users; Debian's headless Chromium). A CSM opens one of
their accounts: the three sections show, without an exception and without overlapping one
another; the what-if panel re-scores a changed lever and Reset returns the stored score. An
executive sees the segment and the peers but no what-if. Full-page screenshots go to
test-artifacts/c360-*.png.
"""

from __future__ import annotations

import pytest
from test_browser_e2e import ARTIFACTS, _log_in, _settle, app_url, browser  # noqa: F401 - fixtures

from engine.auth import users

pytestmark = pytest.mark.browser

USAGE = "Usage level: product events in the last 30 days (events)"
# The bounding boxes of the page's bordered sections and of the peer cells, for overlap checks.
BOXES = """sel => [...document.querySelectorAll(sel)].map(el => {
  const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, text: el.innerText.slice(0, 40)};
})"""


def _overlaps(boxes: list[dict]) -> list[str]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if (
                a["left"] < b["right"] - 1
                and b["left"] < a["right"] - 1
                and a["top"] < b["bottom"] - 1
                and b["top"] < a["bottom"] - 1
            ):
                found.append(f"{a['text']!r} overlaps {b['text']!r}")
    return found


def _box(page, heading: str):
    """The innermost bordered container holding the heading."""
    wrappers = page.locator('[data-testid="stVerticalBlock"]')
    return wrappers.filter(has=page.get_by_role("heading", name=heading)).last


def _full_page(page, name: str, width: int) -> None:
    """Streamlit scrolls inside the app, so a tall viewport is what shows the whole page."""
    page.set_viewport_size({"width": width, "height": 4400})
    page.wait_for_timeout(1200)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))
    page.set_viewport_size({"width": width, "height": 900})


@pytest.mark.parametrize("width", [1280, 1440])
def test_csm_reads_segment_peers_and_plays_what_if(app_url, browser, width):  # noqa: F811 - fixtures
    url, accounts = app_url
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    path = f"customer_360?customer_id={accounts['mine']}"
    _log_in(page, url, accounts["owner"], users.DEMO_PASSWORDS["csm"], path=path)
    try:
        page.get_by_role("heading", name=accounts["mine_name"]).wait_for(timeout=30_000)
        page.get_by_role("heading", name="vs peers").wait_for(timeout=30_000)
        page.get_by_role("heading", name="Segment:").wait_for()
        page.get_by_text("Peer group").first.wait_for()
        page.get_by_text("Behaviour on each axis").wait_for()
        page.get_by_text("What if: change what a CSM can influence").wait_for()
        _settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator("[data-peer-standing]").count() >= 1
        sections = [_box(page, "vs peers"), _box(page, "Segment:"), page.locator('[data-testid="stExpander"]').last]
        boxes = [b.bounding_box() for b in sections]
        assert all(a["y"] + a["height"] <= b["y"] + 1 for a, b in zip(boxes, boxes[1:], strict=False)), boxes
        assert not _overlaps(page.evaluate(BOXES, "div:has(> [data-peer-standing])"))
        _full_page(page, "c360-csm", width)

        # What if: nothing runs until the panel is opened; a change re-scores, Reset gives the stored score.
        page.get_by_text("What if: change what a CSM can influence").click()
        usage = page.get_by_role("spinbutton", name=USAGE)
        usage.wait_for(timeout=30_000)
        _settle(page)
        stored = usage.input_value()
        usage.fill("0")
        usage.press("Tab")
        page.get_by_role("button", name="Re-score").click()
        page.get_by_text("Drivers that moved").wait_for(timeout=30_000)
        page.get_by_text("Changed: Usage level").wait_for()
        _settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        _full_page(page, "c360-csm-whatif", width)
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("exactly the stored score").wait_for(timeout=30_000)
        _settle(page)
        assert usage.input_value() == stored
        values = page.locator('[data-testid="stExpander"] [data-testid="stMetricValue"]').all_inner_texts()
        assert len(values) == 2 and values[0] == values[1], f"after Reset the two scores differ: {values}"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"failed-c360-{width}.png"))
        raise
    finally:
        context.close()


def test_executive_sees_segment_and_peers_but_no_what_if(app_url, browser):  # noqa: F811 - fixtures
    url, accounts = app_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, url, "exec", users.DEMO_PASSWORDS["executive"], path=f"customer_360?customer_id={accounts['mine']}")
    try:
        page.get_by_role("heading", name=accounts["mine_name"]).wait_for(timeout=30_000)
        page.get_by_role("heading", name="vs peers").wait_for(timeout=30_000)
        page.get_by_role("heading", name="Segment:").wait_for()
        _settle(page)
        assert page.get_by_text("What if").count() == 0
        assert page.get_by_role("button", name="Re-score").count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failed-c360-executive.png"))
        raise
    finally:
        context.close()
