"""What if, for one account: the account's real scoring row re-scored through the model.

No change gives the stored score exactly; a lever moves the features that follow from it and
the score through the same model POST /v1/predict serves; unknown levers and values outside
the training range are refused with the range shown; CSMs stay in their book; the CLI and
the API routes carry the contract.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine import cli
from engine.accounts import whatif
from engine.accounts.customer import NOT_IN_BOOK_MESSAGE
from engine.api import ratelimit
from engine.api.app import create_app
from engine.auth import keys, users
from engine.churn import explain, registry, scoring, serving
from engine.churn import features as feats
from engine.core import store
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import plain
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health, warehouse

LEVERS = {"events_last_30d", "seat_utilization", "open_tickets", "csat_avg_90d", "discount"}


def _reader(data_dir) -> warehouse.Warehouse:
    return warehouse.get_warehouse(data_dir, read_only=True)


def _stored(wh, customer_id: str) -> pd.Series:
    return wh.df(
        "SELECT * FROM predictions WHERE customer_id = ? ORDER BY as_of DESC, scored_at DESC LIMIT 1", [customer_id]
    ).iloc[0]


def _scored_ids(wh, owner: str | None = None) -> list[str]:
    where, params = ("AND c.csm_owner = ?", [owner]) if owner else ("", [])
    return [
        r[0]
        for r in wh.rows(
            "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
            f"WHERE p.as_of = ? {where} ORDER BY p.churn_probability DESC, p.customer_id",
            [health.latest_scoring_date(wh), *params],
        )
    ]


def _spread(ids: list[str], k: int = 8) -> list[str]:
    """k accounts from the riskiest to the safest."""
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, k)]


def _owners(wh) -> list[str]:
    return [
        r[0]
        for r in wh.rows(
            "SELECT c.csm_owner FROM predictions p JOIN customers c USING (customer_id) WHERE p.as_of = ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2",
            [health.latest_scoring_date(wh)],
        )
    ]


# -- no change ------------------------------------------------------------------------------------
def test_no_change_gives_the_stored_score_exactly(scored_dir):
    wh = _reader(scored_dir)
    for cid in _spread(_scored_ids(wh)):
        stored = _stored(wh, cid)
        result = whatif.simulate(wh, SYSTEM, cid)
        assert result.churn_probability == stored["churn_probability"]
        assert result.confidence_interval.lower == stored["ci_low"]
        assert result.confidence_interval.upper == stored["ci_high"]
        assert result.stored_churn_probability == stored["churn_probability"]
        assert result.risk_tier == stored["risk_tier"] == result.stored_risk_tier
        assert result.recommended_action == stored["recommended_action"]
        assert explain.drivers_json(result.top_shap_features) == stored["drivers"]
        assert result.change_pp == 0 and result.feature_changes == () and result.moved_drivers == ()
        assert result.model_version == stored["model_version"] and result.as_of == stored["as_of"].date()


def test_the_row_re_scored_is_the_row_batch_scoring_built(scored_dir):
    wh = _reader(scored_dir)
    version, model = serving.production_model(scored_dir)
    as_of = health.latest_scoring_date(wh)
    batch = feats.features_as_of(wh, as_of, feature_set=scoring.scoring_features(model)).set_index("customer_id")
    for cid in _spread(_scored_ids(wh), 5):
        row = whatif._account(wh, SYSTEM, cid).row.set_index("customer_id")
        pd.testing.assert_frame_equal(row, batch.loc[[cid]], check_exact=True)


def test_the_row_scoring_kept_is_read_not_rebuilt(scored_dir, monkeypatch):
    """`score` keeps the rows it scored, so an account's first what-if is a lookup, not a pass
    over its usage history (bench/account_tools.py); back-scoring after it does not replace them."""
    wh = _reader(scored_dir)
    whatif._rows.clear()

    def rebuilt(*_args, **_kwargs):
        raise AssertionError("the row was rebuilt from the warehouse")

    monkeypatch.setattr(whatif.feats, "features_as_of", rebuilt)
    for cid in _spread(_scored_ids(wh), 3):
        assert whatif.simulate(wh, SYSTEM, cid).churn_probability == _stored(wh, cid)["churn_probability"]


def test_without_kept_rows_the_row_is_rebuilt_and_scores_the_same(scored_copy):
    with warehouse.writing(scored_copy, "a warehouse scored before rows were kept") as wh:
        wh.execute(f"DROP TABLE {scoring.ROWS_TABLE}")
    wh = _reader(scored_copy)
    whatif._rows.clear()
    for cid in _spread(_scored_ids(wh), 3):
        assert whatif.simulate(wh, SYSTEM, cid).churn_probability == _stored(wh, cid)["churn_probability"]


# -- levers ---------------------------------------------------------------------------------------
def test_levers_are_what_a_csm_can_change_within_the_training_range(scored_dir):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh)[0]
    _version, model = serving.production_model(scored_dir)
    ranges = model.feature_ranges_
    row = whatif._account(wh, SYSTEM, cid).row.iloc[0]
    offered = whatif.levers(wh, SYSTEM, cid)
    assert {lever.name for lever in offered} == LEVERS
    for lever in offered:
        assert lever.feature in model.features or set(lever.moves) & set(model.features)
        assert set(lever.moves) <= set(model.features)
        if lever.name == "discount":
            assert lever.feature == "mrr" and lever.value == 0 and lever.low == 0
            assert row["mrr"] * (1 - lever.high / 100) == pytest.approx(ranges["mrr"][0])
        else:
            assert (lever.low, lever.high) == ranges[lever.feature]
            stored = row[lever.feature]
            assert lever.value == stored or (lever.value is None and math.isnan(stored))


def test_a_lever_the_model_does_not_read_is_not_offered():
    row = {"open_tickets": 2.0, "csat_avg_90d": 3.0, "csat_responses_90d": 1.0, "mrr": 100.0}
    ranges = {"open_tickets": (0.0, 9.0), "csat_avg_90d": (1.0, 5.0), "mrr": (10.0, 900.0)}
    model = SimpleNamespace(features=["open_tickets", "tenure_days"], categorical=[])
    offered = [whatif._lever(spec, row, model, ranges) for spec in whatif.SPECS]
    assert [lever.name for lever in offered if lever is not None] == ["open_tickets"]
    unknown_range = whatif._lever(whatif.SPEC_BY_NAME["open_tickets"], row, model, {})
    assert unknown_range is None


def test_values_outside_the_training_range_are_refused_with_the_range(scored_dir):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh)[0]
    offered = {lever.name: lever for lever in whatif.levers(wh, SYSTEM, cid)}
    tickets, csat = offered["open_tickets"], offered["csat_avg_90d"]
    for name, value, lever in (("open_tickets", tickets.high + 1, tickets), ("csat_avg_90d", 0.2, csat)):
        with pytest.raises(BadInputError) as refused:
            whatif.simulate(wh, SYSTEM, cid, {name: value})
        message = str(refused.value)
        assert f"{lever.low:,.4g} to {lever.high:,.4g}" in message and name in message
    with pytest.raises(BadInputError, match="outside the range"):
        whatif.simulate(wh, SYSTEM, cid, {"discount": 100.5})
    assert whatif.simulate(wh, SYSTEM, cid, {"open_tickets": tickets.high}).customer_id == cid


def test_unknown_levers_are_refused_with_the_levers_listed(scored_dir):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh)[0]
    for name in ("shoe_size", "tenure_days", "plan_tier"):
        with pytest.raises(BadInputError) as refused:
            whatif.simulate(wh, SYSTEM, cid, {name: 1.0})
        assert f"'{name}'" in str(refused.value) and "events_last_30d" in str(refused.value)
    with pytest.raises(BadInputError, match="must be a number"):
        whatif.simulate(wh, SYSTEM, cid, {"open_tickets": math.nan})


# -- a change -------------------------------------------------------------------------------------
def test_a_change_re_scores_through_the_model_the_api_serves(scored_dir):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh)[0]  # the riskiest account: more usage should help
    account = whatif._account(wh, SYSTEM, cid)
    usage = next(lever for lever in whatif.levers(wh, SYSTEM, cid) if lever.name == "events_last_30d")
    target = min(usage.high, 4 * (usage.value or 0) + 500)
    result = whatif.simulate(wh, SYSTEM, cid, {"events_last_30d": target, "discount": 10})
    assert result.churn_probability != result.stored_churn_probability
    assert result.change_pp == pytest.approx((result.churn_probability - result.stored_churn_probability) * 100)
    changed = {c.feature: c for c in result.feature_changes}
    assert changed["events_last_30d"].after == target
    assert changed["mrr"].after == pytest.approx(changed["mrr"].before * 0.9)
    if "events_per_seat_30d" in changed:  # per seat follows the events
        assert changed["events_per_seat_30d"].after == pytest.approx(
            changed["events_per_seat_30d"].before * target / usage.value
        )
    assert set(changed) <= set(account.model.features)
    # The same changed row through POST /v1/predict's engine call gives the same score, bit for bit.
    values = {name: plain(account.row[name].iloc[0]) for name in account.model.features}
    values.update({name: c.after for name, c in changed.items()})
    predicted = serving.predict(account.version, account.model, values)
    assert predicted.churn_probability == result.churn_probability
    assert predicted.confidence_interval == result.confidence_interval
    moved = [abs(m.change_pp) for m in result.moved_drivers]
    assert moved and moved == sorted(moved, reverse=True)
    assert "usage_level" in {m.group for m in result.moved_drivers}


def test_a_csm_can_only_re_score_accounts_of_their_book(scored_dir):
    wh = _reader(scored_dir)
    owner, other = _owners(wh)
    csm = Viewer(owner, "csm")
    mine, theirs = _scored_ids(wh, owner)[0], _scored_ids(wh, other)[0]
    assert whatif.simulate(wh, csm, mine).customer_id == mine
    assert whatif.levers(wh, csm, mine)
    for call in (lambda: whatif.simulate(wh, csm, theirs), lambda: whatif.levers(wh, csm, theirs)):
        with pytest.raises(NotFoundError) as refused:
            call()
        assert str(refused.value) == NOT_IN_BOOK_MESSAGE


def test_an_account_without_a_score_cannot_be_re_scored(scored_dir):
    wh = _reader(scored_dir)
    unscored = wh.scalar(
        "SELECT customer_id FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM predictions) LIMIT 1"
    )
    with pytest.raises(NotFoundError, match="no churn score"):
        whatif.simulate(wh, SYSTEM, unscored)


def test_models_trained_before_ranges_were_kept_read_them_from_their_trees(scored_dir):
    _version, model = serving.production_model(scored_dir)
    stored = model.feature_ranges_
    older = registry.load(registry.production("churn", scored_dir), scored_dir)
    del older.feature_ranges_
    read = serving.training_ranges(older)
    numeric = [f for f in older.features if f not in older.categorical]
    assert read and set(read) <= set(numeric)
    for name, (low, high) in read.items():  # each member learnt from a resample of the training rows
        assert stored[name][0] <= low <= high <= stored[name][1]
    assert serving.training_ranges(SimpleNamespace(features=["x"], categorical=[])) == {}


# -- CLI ------------------------------------------------------------------------------------------
def test_the_whatif_command_prints_the_score_beside_the_stored_one(scored_dir, capsys):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh)[0]
    stored = _stored(wh, cid)
    warehouse.close_all()
    assert cli.main(["--data-dir", str(scored_dir), "whatif", cid, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    for name in ("churn_probability", "confidence_interval", "top_shap_features"):
        assert body[name] == body[f"stored_{name}"]
    assert body["churn_probability"] == stored["churn_probability"]
    assert {"lower", "upper", "level"} <= set(body["confidence_interval"])
    assert {"feature", "value", "shap_impact"} <= set(body["top_shap_features"][0])
    assert {lever["name"] for lever in body["levers"]} == LEVERS
    assert cli.main(["--data-dir", str(scored_dir), "whatif", cid, "--set", "open_tickets=0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == {"open_tickets": 0.0}
    assert cli.main(["--data-dir", str(scored_dir), "whatif", cid, "--set", "csat_avg_90d=4"]) == 0
    assert "what-if" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(scored_dir), "whatif", cid, "--set", "open_tickets=100000"]) == 2
    assert "outside the range the model learnt from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--data-dir", str(scored_dir), "whatif", cid, "--set", "open_tickets"])


# -- API ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(scored_dir, tmp_path_factory):
    """A copy of the scored warehouse served by the API, with an admin key, a CSM key and a key
    holding scores:read only."""
    data = tmp_path_factory.mktemp("whatif-api") / "data"
    shutil.copytree(scored_dir, data)
    wh = _reader(data)
    owners = _owners(wh)
    mine, theirs = _scored_ids(wh, owners[0])[0], _scored_ids(wh, owners[1])[0]
    warehouse.close_all()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        users.add_user(owners[0], "tide-lantern-42", "csm", data_dir=data)
    secrets = {
        name: keys.create_key(name, role, owner=owner, scopes=scopes, created_by="tests", data_dir=data)[1]
        for name, role, owner, scopes in (
            ("admin-key", "admin", None, None),
            ("csm-key", "csm", owners[0], None),
            ("scores-only", "analyst", None, ["scores:read"]),
        )
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ratelimit.RATE_LIMIT_ENV, "100000")
        with TestClient(create_app(data), raise_server_exceptions=False) as client:
            yield SimpleNamespace(client=client, keys=secrets, mine=mine, theirs=theirs)
    store.dispose_all()


def _as(api, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[key]}"}


def test_api_whatif_without_changes_is_the_stored_churn_score(api):
    admin = _as(api, "admin-key")
    stored = api.client.get(f"/v1/customers/{api.mine}/churn", headers=admin).json()
    body = api.client.post(f"/v1/customers/{api.mine}/whatif", json={}, headers=admin).json()
    assert body["churn_probability"] == stored["churn_probability"] == body["stored_churn_probability"]
    assert body["confidence_interval"] == stored["confidence_interval"]
    assert body["top_shap_features"] == stored["top_shap_features"]


def test_api_whatif_changes_and_refusals(api):
    admin = _as(api, "admin-key")
    url = f"/v1/customers/{api.mine}/whatif"
    changed = api.client.post(url, json={"changes": {"discount": 5}}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["changes"] == {"discount": 5.0}
    tickets = next(lever for lever in changed.json()["levers"] if lever["name"] == "open_tickets")
    out_of_range = api.client.post(url, json={"changes": {"open_tickets": tickets["high"] + 50}}, headers=admin)
    assert out_of_range.status_code == 422 and "outside the range" in out_of_range.json()["detail"]
    assert f"{tickets['low']:,.4g} to {tickets['high']:,.4g}" in out_of_range.json()["detail"]
    unknown = api.client.post(url, json={"changes": {"shoe_size": 42}}, headers=admin)
    assert unknown.status_code == 422 and "shoe_size" in unknown.json()["detail"]
    not_a_number = api.client.post(url, json={"changes": {"open_tickets": "many"}}, headers=admin)
    assert not_a_number.status_code == 422
    assert api.client.post("/v1/customers/no-such-id/whatif", json={}, headers=admin).status_code == 404


def test_api_peers_position(api):
    body = api.client.get(f"/v1/customers/{api.mine}/peers", headers=_as(api, "admin-key")).json()
    assert body["customer_id"] == api.mine and body["group"]["n"] >= 1 and body["metrics"]
    profile = api.client.get(f"/v1/customers/{api.mine}/360", headers=_as(api, "admin-key")).json()["profile"]
    day = max(date.fromisoformat(profile["signup_date"]), date.fromisoformat(body["as_of"]) - timedelta(days=30))
    earlier = api.client.get(
        f"/v1/customers/{api.mine}/peers", params={"as_of": day.isoformat()}, headers=_as(api, "admin-key")
    ).json()
    assert earlier["as_of"] == day.isoformat()


def test_api_csm_keys_stay_in_their_book_and_scopes_hold(api):
    csm = _as(api, "csm-key")
    assert api.client.post(f"/v1/customers/{api.mine}/whatif", json={}, headers=csm).status_code == 200
    assert api.client.get(f"/v1/customers/{api.mine}/peers", headers=csm).status_code == 200
    other_whatif = api.client.post(f"/v1/customers/{api.theirs}/whatif", json={}, headers=csm)
    other_peers = api.client.get(f"/v1/customers/{api.theirs}/peers", headers=csm)
    unknown = api.client.get("/v1/customers/no-such-id/peers", headers=csm)
    assert other_whatif.status_code == other_peers.status_code == unknown.status_code == 404
    assert other_peers.json()["detail"] == unknown.json()["detail"]
    scores_only = _as(api, "scores-only")
    assert api.client.post(f"/v1/customers/{api.mine}/whatif", json={}, headers=scores_only).status_code == 200
    assert api.client.get(f"/v1/customers/{api.mine}/peers", headers=scores_only).status_code == 403
