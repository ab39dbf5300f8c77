"""Customer 360's segment panel, "vs peers" strip and what-if panel, through the app (AppTest)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import account_tools, segment_view
from components.shared import auth, cache
from components.shared import format as fmt
from engine import segments
from engine.accounts import customer, peers, whatif
from engine.core.access import Viewer
from engine.data import warehouse
from tests.apptest import open_page

CSM = auth.TEST_VIEWERS["csm"].username


@pytest.fixture(scope="module")
def book(scored_dir):
    """An active, scored account of the test CSM, one of another CSM, one with too little
    history, and what the engine says of the first."""
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    admin, csm = Viewer("admin", "admin"), Viewer(CSM, "csm")
    mine = wh.scalar(
        "SELECT c.customer_id FROM customers c JOIN predictions p USING (customer_id) "
        "WHERE c.csm_owner = ? AND c.status = 'active' ORDER BY c.customer_id LIMIT 1",
        [CSM],
    )
    theirs = wh.scalar("SELECT customer_id FROM customers WHERE csm_owner <> ? ORDER BY customer_id LIMIT 1", [CSM])
    classes = segments.segment_of_accounts(wh, admin)
    young = classes.loc[classes["archetype"] == "Not enough data", "customer_id"].sort_values().iloc[0]
    found = {
        "mine": mine,
        "theirs": theirs,
        "young": young,
        "segment": segments.account_segment(wh, csm, mine),
        "position": peers.account_position(wh, csm, mine),
        "levers": {lever.name: lever for lever in whatif.levers(wh, csm, mine)},
        "stored": customer.latest_prediction(wh, csm, mine),
    }
    # A lever at one end of its range that moves the shown score (which one does depends on the model).
    shown = fmt.percent(found["stored"].churn_probability)
    found["moving"] = next(
        (name, value)
        for name, lever in found["levers"].items()
        for value in (int(lever.low), int(lever.high))
        if fmt.percent(whatif.simulate(wh, csm, mine, {name: value}).churn_probability) != shown
    )
    warehouse.close_all()
    return found


def _page(data: Path, role: str, customer_id: str, monkeypatch) -> AppTest:
    return open_page("customer_360", role, data=data, monkeypatch=monkeypatch, query={"customer_id": customer_id})


def _what_if(at: AppTest, customer_id: str) -> AppTest:
    """Open the what-if panel (it runs only once opened)."""
    at.session_state[f"whatif_open:{customer_id}"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def _input(at: AppTest, lever: str):
    return next(n for n in at.number_input if str(n.key).endswith(f":{lever}"))


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# -- segment ------------------------------------------------------------------------------------
def test_segment_panel_shows_the_archetype_its_playbook_axes_and_history(scored_dir, book, monkeypatch):
    seg = book["segment"]
    at = _page(scored_dir, "csm", book["mine"], monkeypatch)
    markdown = [m.value for m in at.markdown]
    assert any(m.startswith("#### Segment: ") and seg.archetype.split()[0] in m for m in markdown)
    assert any(m.startswith("**Recommended motion:**") for m in markdown)
    assert any("Channel:" in c.value for c in at.caption)
    axes = next(t.value for t in at.table if "Cut-offs" in t.value.columns)
    assert 1 <= len(axes) <= 8
    assert axes["Axis"].tolist() == [r.label for r in seg.axes]
    assert all(level.split(" (")[0] in {r.word for r in seg.axes} | {"—"} for level in axes["Level"])
    assert all("≤" in cut or cut.startswith("no ") for cut in axes["Cut-offs"] if cut != "—")
    history = next(t.value for t in at.table if "Levels that changed" in t.value.columns)
    assert len(history) == len(seg.history) + 1
    assert history["Archetype"].iloc[-1] == seg.archetype


def test_too_little_history_says_not_enough_data_and_why(scored_dir, book, monkeypatch):
    at = _page(scored_dir, "admin", book["young"], monkeypatch)
    assert any(m.value == "#### Segment: Not enough data" for m in at.markdown)
    why = " ".join(i.value for i in at.info)
    assert "Not enough data" in why and ("days old" in why or "No product usage" in why)


def test_axis_values_read_as_people_say_them():
    assert (
        segment_view.axis_value("seat_utilisation", 0.25) == "25% over 12 weeks"
    )  # its window, next to 30-day drivers
    assert segment_view.axis_value("seat_utilisation", 0.25, unit=False) == "25%"
    assert segment_view.axis_value("engagement_trend", 0.0) == "+0%"
    assert segment_view.axis_value("engagement_trend", math.log(1355)) == "1,355× the 8 weeks before"
    assert segment_view.axis_value("sentiment", None) == "no value"
    assert segment_view.cut_text("adoption_depth", (4.5, 10.5, 700)) == "shallow ≤ 4.5 · deep > 10.5"
    assert segment_view.cut_text("support_intensity", (None, 0.7, 700)) == "no light level · heavy > 0.7"


# -- vs peers -----------------------------------------------------------------------------------
def test_peers_strip_shows_the_group_its_size_and_each_metric(scored_dir, book, monkeypatch):
    position = book["position"]
    at = _page(scored_dir, "csm", book["mine"], monkeypatch)
    caption = next(c.value for c in at.caption if c.value.startswith("Peer group"))
    assert f"n = {fmt.count(position.group.n)}" in caption
    assert position.group.level.split()[0] in caption
    if position.group.fallback_level:
        assert "widened" in caption
    cells = [m.value for m in at.markdown if "data-peer-standing" in m.value]
    assert len(cells) == len(position.metrics)
    for cell, metric in zip(cells, position.metrics, strict=True):
        words, colour = account_tools.standing(metric)
        assert words in cell and colour in cell


def test_peer_standing_is_turned_the_right_way_round():
    def metric(direction: str, percentile: float) -> peers.PeerMetric:
        better = percentile if direction == "good" else 1 - percentile
        return peers.PeerMetric(
            metric="m",
            label="m",
            unit="tickets",
            direction=direction,
            value=1.0,
            peer_median=1.0,
            percentile=percentile,
            better_than=better,
            peers_with_value=30,
        )

    assert account_tools.standing(metric("bad", 0.9)) == ("Worse than 90% of peers", account_tools.BAD)
    assert account_tools.standing(metric("good", 0.9)) == ("Better than 90% of peers", account_tools.GOOD)
    assert account_tools.standing(metric("bad", 0.5))[1] == account_tools.TYPICAL
    assert account_tools.standing(metric("bad", 1.0)) == ("Worst of its peers", account_tools.BAD)
    assert account_tools.standing(metric("good", 0.999)) == ("Best of its peers", account_tools.GOOD)


# -- what if ------------------------------------------------------------------------------------
def test_what_if_with_no_change_gives_the_stored_score(scored_dir, book, monkeypatch):
    at = _what_if(_page(scored_dir, "csm", book["mine"], monkeypatch), book["mine"])
    inputs = {str(n.key).rsplit(":", 1)[1] for n in at.number_input}
    assert inputs == set(book["levers"]), "exactly the levers the engine offers"
    for name, lever in book["levers"].items():
        box = _input(at, name)
        assert box.min <= lever.low + 1 and box.max >= lever.high - 1
    assert not [m for m in at.metric if m.label == "Re-scored"], "nothing is computed before a click"
    _button(at, "Re-score").click().run()
    assert not at.exception and not at.error
    stored = fmt.percent(book["stored"].churn_probability)
    assert _metric(at, "Re-scored") == _metric(at, "Stored score") == stored
    assert any("exactly the stored score" in c.value for c in at.caption)


def test_a_changed_lever_re_scores_and_reset_returns_the_stored_score(scored_dir, book, monkeypatch):
    name, value = book["moving"]
    lever = book["levers"][name]
    at = _what_if(_page(scored_dir, "csm", book["mine"], monkeypatch), book["mine"])
    _input(at, name).set_value(value)
    _button(at, "Re-score").click().run()
    assert not at.exception and not at.error
    stored = fmt.percent(book["stored"].churn_probability)
    assert _metric(at, "Stored score") == stored
    assert _metric(at, "Re-scored") != stored
    first_word = lever.label.split(":")[0].split()[0]
    assert any(c.value.startswith(f"Changed: {first_word}") for c in at.caption)
    assert any("Driver" in d.value.columns for d in at.dataframe)

    _button(at, "Reset").click().run()
    assert not at.exception and not at.error
    assert _input(at, name).value == round(lever.value)
    assert _metric(at, "After reset") == stored
    assert any("exactly the stored score" in c.value for c in at.caption)


def test_an_out_of_range_value_is_refused_with_the_range(scored_dir, book, monkeypatch):
    tickets = book["levers"]["open_tickets"]
    at = _what_if(_page(scored_dir, "csm", book["mine"], monkeypatch), book["mine"])
    box = _input(at, "open_tickets")
    assert (box.min, box.max) == (int(tickets.low), int(tickets.high))  # the input stops at the range
    box.set_value(int(tickets.high) + 50)
    _button(at, "Re-score").click().run()
    assert not at.exception and not at.error
    assert _input(at, "open_tickets").value == round(tickets.value), "the out-of-range value was not taken"
    assert _metric(at, "Re-scored") == fmt.percent(book["stored"].churn_probability)


def test_a_value_the_engine_refuses_is_shown_with_its_range(scored_dir, book, monkeypatch):
    """Should an input ever let through a value outside the range the model learnt from, the
    engine's refusal (with the range) is what the page shows, and nothing is re-scored."""
    tickets = book["levers"]["open_tickets"]
    real = whatif.levers

    def wider(*args, **kwargs):
        return [
            lv.model_copy(update={"high": lv.high + 100}) if lv.name == "open_tickets" else lv
            for lv in real(*args, **kwargs)
        ]

    monkeypatch.setattr(whatif, "levers", wider)
    cache.whatif_levers.clear()
    try:
        at = _what_if(_page(scored_dir, "csm", book["mine"], monkeypatch), book["mine"])
        _input(at, "open_tickets").set_value(int(tickets.high) + 50)
        _button(at, "Re-score").click().run()
    finally:
        cache.whatif_levers.clear()
    assert not at.exception
    refused = at.error[0].value
    assert "outside the range" in refused and f"{tickets.high:,.4g}" in refused
    assert not [m for m in at.metric if m.label == "Re-scored"]


@pytest.mark.parametrize("role", ["executive", "analyst", "admin"])
def test_what_if_is_for_csms_analysts_and_admins_only(scored_dir, book, role, monkeypatch):
    at = _page(scored_dir, role, book["mine"], monkeypatch)
    assert any(m.value == "#### vs peers" for m in at.markdown)
    assert any(m.value.startswith("#### Segment") for m in at.markdown)
    offered = [e for e in at.expander if e.label.startswith("What if")]
    if role == "executive":
        at.session_state[f"whatif_open:{book['mine']}"] = True
        at.run()
        assert not offered and not at.number_input
        assert not [b for b in at.button if b.label in ("Re-score", "Reset")]
    else:
        assert len(offered) == 1
        assert len(_what_if(at, book["mine"]).number_input) == len(book["levers"])


def test_a_csm_cannot_open_another_books_account(scored_dir, book, monkeypatch):
    at = _page(scored_dir, "csm", book["theirs"], monkeypatch)
    assert "not in your book" in at.error[0].value
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("vs peers" in s or "Segment" in s or "Peer group" in s for s in shown)
    assert not at.expander and not at.number_input and not at.dataframe and not at.table
