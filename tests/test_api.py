"""The HTTP API (engine/api) through FastAPI's TestClient, on a copy of the scored test warehouse.

Keys of each role act like people logged into the app: a CSM key sees its own book (another
book's account is a 404, like an unknown id), scopes gate every route, errors are problem
documents, and the AI routes write the audit log under the key's identity.
"""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine import ai
from engine import scenarios as plans
from engine.api import ratelimit
from engine.api.app import create_app
from engine.api.errors import PROBLEM_JSON
from engine.auth import keys, users
from engine.churn import features as feats
from engine.churn import registry, scoring
from engine.core import store
from engine.core.access import Viewer
from engine.core.contracts import plain
from engine.core.errors import WarehouseLockedError
from engine.data import health, warehouse

PASSWORD = "tide-lantern-42"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_data(scored_dir, tmp_path_factory):
    """A private copy of the scored warehouse with users for two CSM books and a key per role."""
    data = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(scored_dir, data)
    wh = warehouse.get_warehouse(data, read_only=True)
    as_of = health.latest_scoring_date(wh)
    owners = [
        row[0]
        for row in wh.rows(
            "SELECT c.csm_owner FROM predictions p JOIN customers c USING (customer_id) WHERE p.as_of = ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2",
            [as_of],
        )
    ]
    warehouse.close_all()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        users.add_user("admin", PASSWORD, "admin", data_dir=data)
        for owner in owners:
            users.add_user(owner, PASSWORD, "csm", data_dir=data)
    secrets = {}
    for name, role, owner, scopes in (
        ("admin-key", "admin", None, None),
        ("analyst-key", "analyst", None, None),
        ("exec-key", "executive", None, None),
        ("csm-key", "csm", owners[0], None),
        ("scores-only", "analyst", None, ["scores:read"]),
        ("revoked-key", "admin", None, None),
    ):
        secrets[name] = keys.create_key(name, role, owner=owner, scopes=scopes, created_by="tests", data_dir=data)[1]
    keys.revoke_key("revoked-key", data)
    yield {"dir": data, "as_of": as_of, "owners": owners, "keys": secrets}
    store.dispose_all()


@pytest.fixture(scope="module")
def client(api_data):
    """One app for the module, with a rate limit no test reaches and no Groq key (offline AI)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ratelimit.RATE_LIMIT_ENV, "100000")
        mp.delenv("GROQ_API_KEY", raising=False)
        with TestClient(create_app(api_data["dir"]), raise_server_exceptions=False) as test_client:
            yield test_client


def auth(api_data, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_data['keys'][name]}"}


def scored_ids(api_data, owner: str | None = None) -> list[str]:
    """Accounts scored at the latest date (of one CSM's book), highest probability first."""
    wh = warehouse.get_warehouse(api_data["dir"], read_only=True)
    where, params = ("AND c.csm_owner = ?", [owner]) if owner else ("", [])
    rows = wh.rows(
        "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        f"WHERE p.as_of = ? {where} ORDER BY p.churn_probability DESC, p.customer_id",
        [api_data["as_of"], *params],
    )
    return [r[0] for r in rows]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status and body["type"].startswith("urn:customer-radar:problem:")
    assert body["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    return body


# -- probes and docs ---------------------------------------------------------------------------
def test_health_and_ready_need_no_key(client, api_data):
    assert client.get("/v1/health").json()["status"] == "ok"
    ready = client.get("/v1/ready")
    assert ready.status_code == 200
    body = ready.json()
    production = registry.production("churn", api_data["dir"])
    assert production is not None and body["model_version"] == production.version
    assert body["scored_as_of"] == api_data["as_of"].isoformat() and body["data_as_of"]


def test_an_empty_predictions_page_says_there_is_no_model_yet(data_dir_copy):
    _, secret = keys.create_key("crm", "executive", created_by="tests", data_dir=data_dir_copy)
    with TestClient(create_app(data_dir_copy)) as unscored:
        page = unscored.get("/v1/predictions", headers={"Authorization": f"Bearer {secret}"}).json()
    assert page["items"] == [] and page["as_of"] is None
    assert page["note"].startswith("No production churn model yet") and "engine train" in page["note"]
    store.dispose_all()


def test_ready_is_a_503_problem_without_a_warehouse_or_data(tmp_path, empty_dir):
    with TestClient(create_app(tmp_path / "nothing-here")) as empty:
        body = assert_problem(empty.get("/v1/ready"), 503)
        assert body["reason"] == "no_warehouse" and "engine demo" in body["detail"]
        assert empty.get("/v1/health").status_code == 200
    with TestClient(create_app(empty_dir)) as no_data:
        assert assert_problem(no_data.get("/v1/ready"), 503)["reason"] == "no_data"


def test_openapi_documents_every_route_and_problem_responses(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Customer Radar API" and spec["info"]["version"]
    for path in (
        "/v1/customers/{customer_id}/churn",
        "/v1/customers/{customer_id}/risk-score",
        "/v1/customers/{customer_id}/360",
        "/v1/customers/{customer_id}/ltv",
        "/v1/customers/{customer_id}/summary",
        "/v1/customers/{customer_id}/ask",
        "/v1/customers/{customer_id}/draft",
        "/v1/customers/{customer_id}/actions",
        "/v1/predictions",
        "/v1/predictions/export",
        "/v1/portfolio/kpis",
        "/v1/portfolio/ask",
        "/v1/portfolio/briefing",
        "/v1/predict",
        "/v1/forecasts/{series}",
        "/v1/scenarios/run",
        "/v1/scenarios",
        "/v1/models",
        "/v1/drift",
        "/v1/health",
        "/v1/ready",
    ):
        assert path in spec["paths"], path
    churn = spec["paths"]["/v1/customers/{customer_id}/churn"]["get"]
    assert set(churn["responses"]) >= {"200", "401", "403", "404", "429"}
    assert list(churn["responses"]["404"]["content"]) == [PROBLEM_JSON]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


# -- auth, scopes, rate limit ------------------------------------------------------------------
def test_missing_bad_and_revoked_keys_are_401_problems(client, api_data):
    cid = scored_ids(api_data)[0]
    path = f"/v1/customers/{cid}/churn"
    for headers in (
        {},
        {"Authorization": "Basic YWRtaW46eA=="},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer rk_" + "x" * 43},
        auth(api_data, "revoked-key"),
    ):
        response = client.get(path, headers=headers)
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert api_data["keys"]["revoked-key"] not in body["detail"]
    assert "revoked" in client.get(path, headers=auth(api_data, "revoked-key")).json()["detail"]


def test_a_key_without_the_scope_gets_403(client, api_data):
    cid = scored_ids(api_data)[0]
    narrow = auth(api_data, "scores-only")
    assert client.get(f"/v1/customers/{cid}/churn", headers=narrow).status_code == 200
    body = assert_problem(client.get(f"/v1/customers/{cid}/360", headers=narrow), 403)
    assert "customers:read" in body["detail"]
    assert_problem(client.post(f"/v1/customers/{cid}/summary", headers=narrow, json={}), 403)
    assert_problem(client.get("/v1/models", headers=narrow), 403)
    # An executive key cannot hold scenarios:write, so running a plan is refused by scope.
    assert_problem(client.post("/v1/scenarios/run", headers=auth(api_data, "exec-key"), json={}), 403)


def test_over_the_rate_limit_is_429_with_retry_after(api_data, monkeypatch):
    monkeypatch.setenv(ratelimit.RATE_LIMIT_ENV, "3")
    with TestClient(create_app(api_data["dir"])) as limited:
        headers = auth(api_data, "admin-key")
        assert [limited.get("/v1/models", headers=headers).status_code for _ in range(3)] == [200] * 3
        response = limited.get("/v1/models", headers=headers)
        assert_problem(response, 429)
        assert int(response.headers["retry-after"]) >= 1
        # Buckets are per key: another key still gets through.
        assert limited.get("/v1/models", headers=auth(api_data, "analyst-key")).status_code == 200


def test_the_token_bucket_refills_over_the_minute():
    now = [0.0]
    limiter = ratelimit.RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == 1  # one token a second
    now[0] += 1.0
    assert limiter.take("k") == 0 and limiter.take("k") >= 1
    assert limiter.take("other") == 0


def test_a_bad_rate_limit_setting_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(ratelimit.RATE_LIMIT_ENV, "lots")
    with pytest.raises(Exception, match=ratelimit.RATE_LIMIT_ENV):
        create_app(tmp_path)


# -- one account -------------------------------------------------------------------------------
def test_churn_is_the_stored_prediction_with_the_contract_fields(client, api_data):
    cid = scored_ids(api_data)[0]
    body = client.get(f"/v1/customers/{cid}/churn", headers=auth(api_data, "admin-key")).json()
    for field in (
        "churn_probability",
        "confidence_interval",
        "top_shap_features",
        "recommended_action",
        "model_version",
        "scored_at",
        "risk_tier",
    ):
        assert body[field] not in (None, "", []), field
    assert body["confidence_interval"]["lower"] <= body["churn_probability"] <= body["confidence_interval"]["upper"]
    assert {"feature", "value", "shap_impact"} <= set(body["top_shap_features"][0])
    wh = warehouse.get_warehouse(api_data["dir"], read_only=True)
    stored = wh.scalar(
        "SELECT churn_probability FROM predictions WHERE customer_id = ? AND as_of = ?", [cid, api_data["as_of"]]
    )
    assert body["churn_probability"] == pytest.approx(stored)


def test_risk_score_has_score_tier_and_components(client, api_data):
    cid = scored_ids(api_data)[0]
    body = client.get(f"/v1/customers/{cid}/risk-score", headers=auth(api_data, "admin-key")).json()
    assert set(body) == {"customer_id", "risk_score", "risk_tier", "components", "churned_on"}
    assert body["churned_on"] is None  # an active account's score is current
    assert body["risk_tier"] in ("low", "medium", "high", "critical") and 0 <= body["risk_score"] <= 1
    assert set(body["components"]) == {"compliance_gap_score", "vendor_risk_flags", "usage_decay_score"}


def test_customer_360_and_ltv(client, api_data):
    cid = scored_ids(api_data)[0]
    headers = auth(api_data, "admin-key")
    view = client.get(f"/v1/customers/{cid}/360", headers=headers).json()
    for field in ("profile", "prediction", "usage_weekly", "tickets", "mrr_history", "ltv", "churn_probability"):
        assert field in view, field
    assert view["customer_id"] == cid and isinstance(view["usage_weekly"], list)
    two_years = client.get(f"/v1/customers/{cid}/ltv", params={"horizon_months": 24}, headers=headers).json()
    in_360 = next(v for v in view["ltv"] if v["horizon_months"] == 24)
    assert two_years["forecasted_ltv"] == pytest.approx(in_360["forecasted_ltv"])
    assert two_years["confidence_interval"]["lower"] <= two_years["forecasted_ltv"]
    six = client.get(f"/v1/customers/{cid}/ltv", params={"horizon_months": 6}, headers=headers).json()
    assert six["incremental_ltv"] < two_years["incremental_ltv"]
    for bad in (0, 121, "soon"):
        assert_problem(client.get(f"/v1/customers/{cid}/ltv", params={"horizon_months": bad}, headers=headers), 422)


def test_an_unknown_id_is_a_404_problem(client, api_data):
    body = assert_problem(client.get("/v1/customers/no-such-id/churn", headers=auth(api_data, "admin-key")), 404)
    assert "no-such-id" in body["detail"]


def test_a_csm_key_gets_404_for_another_book_exactly_as_for_an_unknown_id(client, api_data):
    mine, theirs = api_data["owners"]
    own_id, other_id = scored_ids(api_data, mine)[0], scored_ids(api_data, theirs)[0]
    headers = auth(api_data, "csm-key")
    assert client.get(f"/v1/customers/{own_id}/churn", headers=headers).status_code == 200
    for route in ("churn", "risk-score", "360", "ltv", "actions"):
        other = assert_problem(client.get(f"/v1/customers/{other_id}/{route}", headers=headers), 404)
        unknown = assert_problem(client.get(f"/v1/customers/zz-unknown/{route}", headers=headers), 404)
        assert other["detail"].replace(other_id, "ID") == unknown["detail"].replace("zz-unknown", "ID"), route
    assert_problem(client.post(f"/v1/customers/{other_id}/summary", headers=headers, json={}), 404)


# -- the book: pages and exports ---------------------------------------------------------------
def test_predictions_page_through_every_score_in_a_stable_order(client, api_data):
    headers = auth(api_data, "admin-key")
    first = client.get("/v1/predictions", params={"page_size": 50}, headers=headers).json()
    assert {"items", "page", "page_size", "total"} <= set(first)
    seen = []
    for page in range(1, first["pages"] + 1):
        body = client.get("/v1/predictions", params={"page": page, "page_size": 50}, headers=headers).json()
        assert body["page"] == page and body["total"] == first["total"]
        seen += body["items"]
    assert [row["customer_id"] for row in seen] == scored_ids(api_data)
    assert len({row["customer_id"] for row in seen}) == first["total"]
    again = client.get("/v1/predictions", params={"page": 2, "page_size": 50}, headers=headers).json()
    assert again["items"] == seen[50:100]
    past_the_end = client.get(
        "/v1/predictions", params={"page": first["pages"] + 1, "page_size": 50}, headers=headers
    ).json()
    assert past_the_end["items"] == [] and past_the_end["total"] == first["total"]
    assert past_the_end["note"] == f"Page {first['pages'] + 1} is past the last page ({first['pages']})."
    assert first["note"] is None
    assert {"churn_probability", "ci_low", "ci_high", "risk_tier", "model_version", "csm_owner"} <= set(seen[0])


def test_predictions_filters_and_limits(client, api_data):
    headers = auth(api_data, "admin-key")
    high = client.get("/v1/predictions", params={"tier": "critical", "page_size": 1000}, headers=headers).json()
    assert all(row["risk_tier"] == "critical" for row in high["items"])
    owner = api_data["owners"][1]
    theirs = client.get("/v1/predictions", params={"owner": owner, "page_size": 1000}, headers=headers).json()
    assert theirs["total"] == len(scored_ids(api_data, owner))
    body = assert_problem(client.get("/v1/predictions", params={"page_size": 1001}, headers=headers), 422)
    assert body["errors"][0]["field"] == "query.page_size"
    assert_problem(client.get("/v1/predictions", params={"page": 0}, headers=headers), 422)
    assert_problem(client.get("/v1/predictions", params={"tier": "purple"}, headers=headers), 422)


def test_a_csm_key_pages_and_exports_only_its_book(client, api_data):
    mine, theirs = api_data["owners"]
    headers = auth(api_data, "csm-key")
    page = client.get("/v1/predictions", params={"page_size": 1000}, headers=headers).json()
    assert [row["customer_id"] for row in page["items"]] == scored_ids(api_data, mine)
    assert {row["csm_owner"] for row in page["items"]} == {mine}
    other_book = client.get("/v1/predictions", params={"owner": theirs}, headers=headers).json()
    assert (
        other_book["total"] == 0 and other_book["note"] == f"No account in the latest scores matches owner {theirs!r}."
    )
    exported = pd.read_csv(io.StringIO(client.get("/v1/predictions/export", headers=headers).text))
    assert exported["customer_id"].tolist() == scored_ids(api_data, mine)
    assert set(exported["csm_owner"]) == {mine}


def test_export_streams_csv_and_parquet_with_the_same_rows(client, api_data):
    headers = auth(api_data, "admin-key")
    csv = client.get("/v1/predictions/export", params={"format": "csv"}, headers=headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    as_csv = pd.read_csv(io.StringIO(csv.text))
    parquet = client.get("/v1/predictions/export", params={"format": "parquet"}, headers=headers)
    assert parquet.status_code == 200
    as_parquet = pd.read_parquet(io.BytesIO(parquet.content))
    assert as_csv["customer_id"].tolist() == as_parquet["customer_id"].tolist() == scored_ids(api_data)
    assert as_parquet["churn_probability"].to_numpy() == pytest.approx(as_csv["churn_probability"].to_numpy())
    assert int(csv.headers["x-total-count"]) == len(as_csv)
    assert_problem(client.get("/v1/predictions/export", params={"format": "xlsx"}, headers=headers), 422)


# -- one prediction from features --------------------------------------------------------------
def stored_feature_row(api_data, customer_id: str) -> tuple[dict, float]:
    """The features the latest scoring run scored the customer on (rebuilt as of its date), and its stored probability."""
    wh = warehouse.get_warehouse(api_data["dir"], read_only=True)
    _, model = registry.load_production("churn", api_data["dir"])
    row = feats.features_as_of(wh, api_data["as_of"], customer_id, scoring.scoring_features(model))
    values = {name: plain(row[name].iloc[0]) for name in model.features}
    stored = wh.scalar(
        "SELECT churn_probability FROM predictions WHERE customer_id = ? AND as_of = ?",
        [customer_id, api_data["as_of"]],
    )
    return values, float(stored)


def test_predict_with_an_unchanged_feature_row_gives_the_stored_probability(client, api_data):
    headers = auth(api_data, "admin-key")
    for cid in scored_ids(api_data)[:3]:
        values, stored = stored_feature_row(api_data, cid)
        body = client.post("/v1/predict", json={"features": values}, headers=headers).json()
        assert body["churn_probability"] == pytest.approx(stored, abs=1e-9)
        assert body["model_version"] == registry.production("churn", api_data["dir"]).version
        interval = body["confidence_interval"]
        assert interval["lower"] <= body["churn_probability"] <= interval["upper"]
        assert body["top_shap_features"] and {"feature", "shap_impact"} <= set(body["top_shap_features"][0])


def test_predict_refuses_unknown_features_and_wrong_types_and_accepts_missing_ones(client, api_data):
    headers = auth(api_data, "admin-key")
    schema = client.get("/v1/predict/schema", headers=headers).json()
    numeric = next(f["name"] for f in schema["features"] if f["kind"] == "numeric")
    body = assert_problem(
        client.post("/v1/predict", json={"features": {"shoe_size": 42, "zodiac": "leo", numeric: 1}}, headers=headers),
        422,
    )
    assert body["unknown_features"] == ["shoe_size", "zodiac"]
    assert "shoe_size" in body["detail"] and "zodiac" in body["detail"]
    wrong = assert_problem(client.post("/v1/predict", json={"features": {numeric: "many"}}, headers=headers), 422)
    assert wrong["errors"][0]["field"] == f"body.features.{numeric}"
    assert_problem(client.post("/v1/predict", json={"rows": []}, headers=headers), 422)
    bad_json = client.post("/v1/predict", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert_problem(bad_json, 400)
    nothing = client.post("/v1/predict", json={"features": {}}, headers=headers).json()
    assert 0 < nothing["churn_probability"] < 1
    assert nothing["missing_features"] == [f["name"] for f in schema["features"]]


# -- AI ----------------------------------------------------------------------------------------
def test_ai_routes_answer_offline_and_write_the_audit_log_as_the_key(client, api_data):
    cid = scored_ids(api_data)[0]
    headers = auth(api_data, "analyst-key")
    calls = {
        "summary": client.post(f"/v1/customers/{cid}/summary", json={"audience": "executive"}, headers=headers),
        "ask": client.post(f"/v1/customers/{cid}/ask", json={"question": "Why is the risk high?"}, headers=headers),
        "draft": client.post(
            f"/v1/customers/{cid}/draft",
            json={"goal": "win_back", "channel": "email", "tone": "formal"},
            headers=headers,
        ),
        "actions": client.get(f"/v1/customers/{cid}/actions", headers=headers),
    }
    texts = {"summary": "summary", "ask": "answer", "draft": "message", "actions": "narrative"}
    rows = {r.id: r for r in ai.recent_ai_outputs(api_data["dir"], 50)}
    for kind, response in calls.items():
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["llm_provider"] == "offline" and body["customer_id"] == cid
        assert body[texts[kind]].rstrip().endswith(ai.DISCLAIMER)
        assert {"confidence_score", "guardrail_flags", "needs_review"} <= set(body)
        row = rows[body["audit_id"]]
        assert (row.username, row.role, row.kind, row.customer_id) == ("api:analyst-key", "analyst", kind, cid)


def test_a_csm_keys_ai_output_is_audited_as_that_csm(client, api_data):
    mine = api_data["owners"][0]
    cid = scored_ids(api_data, mine)[0]
    body = client.post(f"/v1/customers/{cid}/summary", json={}, headers=auth(api_data, "csm-key")).json()
    row = next(r for r in ai.recent_ai_outputs(api_data["dir"], 50) if r.id == body["audit_id"])
    assert (row.username, row.role) == (mine, "csm")


def test_ai_requests_are_checked(client, api_data):
    cid = scored_ids(api_data)[0]
    headers = auth(api_data, "admin-key")
    assert_problem(client.post(f"/v1/customers/{cid}/summary", json={"audience": "board"}, headers=headers), 422)
    assert_problem(client.post(f"/v1/customers/{cid}/ask", json={}, headers=headers), 422)
    assert_problem(client.post(f"/v1/customers/{cid}/ask", json={"question": "x" * 600}, headers=headers), 422)
    assert_problem(client.post(f"/v1/customers/{cid}/draft", json={"channel": "fax"}, headers=headers), 422)


# -- leaders: forecasts, scenarios, models, drift ----------------------------------------------
def test_forecasts_for_leaders(client, api_data):
    body = client.get("/v1/forecasts/mrr_total", params={"horizon": 3}, headers=auth(api_data, "exec-key")).json()
    assert body["series"] == "mrr_total" and body["horizon"] == 3 and len(body["forecast"]) == 3
    assert {"unique_id", "ds", "forecast", "lo_80", "hi_95"} <= set(body["forecast"][0])
    headers = auth(api_data, "analyst-key")
    assert_problem(client.get("/v1/forecasts/weather", headers=headers), 404)
    assert_problem(client.get("/v1/forecasts/mrr_total", params={"model": "crystal_ball"}, headers=headers), 422)
    assert_problem(client.get("/v1/forecasts/mrr_total", params={"horizon": 0}, headers=headers), 422)


def test_a_role_without_the_page_gets_403(api_data, monkeypatch, client):
    """Keys of a role never hold scopes beyond it, so the app's page check is a second guard: a
    key whose scopes were widened by hand still cannot read what its role cannot open."""
    widened = keys.ApiKey.model_validate(
        {**keys.authenticate(api_data["keys"]["csm-key"], api_data["dir"]).model_dump(), "scopes": tuple(keys.SCOPES)}
    )
    monkeypatch.setattr(keys, "authenticate", lambda secret, data_dir=None: widened)
    headers = auth(api_data, "csm-key")
    for path in ("/v1/forecasts/mrr_total", "/v1/models", "/v1/drift", "/v1/scenarios"):
        assert_problem(client.get(path, headers=headers), 403)
    assert_problem(client.post("/v1/scenarios/run", json={}, headers=headers), 403)


def test_scenarios_run_and_saved_plans(client, api_data):
    headers = auth(api_data, "analyst-key")
    plan = {"outreach": {"top_n": 20, "churn_reduction": 20, "cost_per_account": 100}}
    result = client.post("/v1/scenarios/run", json=plan, headers=headers).json()
    assert result["plan"]["outreach"]["top_n"] == 20
    assert result["scenario"]["expected_churned"] < result["baseline"]["expected_churned"]
    assert {"revenue_retained", "cost", "roi", "readout", "levers"} <= set(result)
    assert_problem(client.post("/v1/scenarios/run", json={"outreach": {"top_n": -1}}, headers=headers), 422)
    assert_problem(client.post("/v1/scenarios/run", json={"lottery": {}}, headers=headers), 422)

    analyst = Viewer("analyst", "analyst")
    wh = warehouse.get_warehouse(api_data["dir"], read_only=True)
    saved = plans.save(
        "API test plan",
        plans.simulate(wh, plans.plan_from_dict(plan), analyst, api_data["dir"]),
        analyst,
        ("api",),
        api_data["dir"],
    )
    listed = client.get("/v1/scenarios", params={"tag": "api"}, headers=auth(api_data, "exec-key")).json()
    assert [s["name"] for s in listed] == ["API test plan"] and listed[0]["result"] is None
    opened = client.get(f"/v1/scenarios/{saved.id}", headers=auth(api_data, "exec-key")).json()
    assert opened["result"]["plan"]["outreach"]["top_n"] == 20
    assert_problem(client.get("/v1/scenarios/999999", headers=headers), 404)


def test_models_and_drift(client, api_data):
    headers = auth(api_data, "exec-key")
    production = registry.production("churn", api_data["dir"])
    versions = client.get("/v1/models", headers=headers).json()
    assert any(v["stage"] == "production" and v["version"] == production.version for v in versions)
    drift = client.get("/v1/drift", headers=headers).json()
    assert drift["model_version"] == production.version
    assert drift["features"] and {"feature", "psi", "status"} <= set(drift["features"][0])
    assert set(drift["counts"]) >= {"stable", "watch", "act"}


# -- failures ----------------------------------------------------------------------------------
def test_a_busy_warehouse_is_a_503_with_retry_after(client, api_data, monkeypatch):
    def busy(*_args, **_kwargs):
        raise WarehouseLockedError("The warehouse is in use by process 4242.")

    monkeypatch.setattr("engine.api.auth.serving_reader", busy)
    response = client.get("/v1/predictions", headers=auth(api_data, "admin-key"))
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0


def test_an_unexpected_error_is_a_generic_500_without_the_traceback(client, api_data, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals: /srv/radar/warehouse.duckdb")

    monkeypatch.setattr("engine.api.routers.predictions._sorted_board", broken)
    response = client.get("/v1/predictions", headers=auth(api_data, "admin-key"))
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text and "RuntimeError" not in response.text
    assert body["title"] == "Internal server error"
    assert "secret internals" in caplog.text  # the server log has it


def test_unknown_routes_and_methods_are_problems(client, api_data):
    assert_problem(client.get("/v1/nothing-here"), 404)
    assert_problem(client.delete("/v1/health"), 405)


def test_predictions_pages_follow_a_new_publication(scored_copy):
    """Sorted scores are kept per published snapshot: a write that publishes new scores is
    served at the next request, without a restart."""
    _, secret = keys.create_key("sync", "analyst", created_by="tests", data_dir=scored_copy)
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(scored_copy), raise_server_exceptions=False) as test_client:
        before = test_client.get("/v1/predictions", params={"page_size": 5}, headers=headers).json()["items"]
        last = before[-1]["customer_id"]
        with warehouse.writing(scored_copy, "tests") as wh:
            wh.execute(
                "UPDATE predictions SET churn_probability = 0.9999 WHERE customer_id = ? "
                "AND as_of = (SELECT max(as_of) FROM predictions)",
                [last],
            )
        after = test_client.get("/v1/predictions", params={"page_size": 5}, headers=headers).json()["items"]
    store.dispose_all()
    assert after[0]["customer_id"] == last and after[0]["churn_probability"] == 0.9999


# -- the book: headline figures and portfolio questions ------------------------------------------
def test_the_books_figures_and_a_portfolio_question_for_the_keys_book(client, api_data):
    """The Overview's figures and Ask AI's portfolio tab had no route: a BI tool or a CSM's
    own script could read neither. A CSM key gets its own book's, as in the app."""
    from engine.core.access import SYSTEM, Viewer
    from engine.data.warehouse import get_warehouse
    from engine.portfolio.kpis import portfolio_kpis

    wh = get_warehouse(api_data["dir"], read_only=True)
    book = client.get("/v1/portfolio/kpis", headers=auth(api_data, "exec-key"))
    assert book.status_code == 200, book.text
    whole = portfolio_kpis(wh, None, SYSTEM)
    body = book.json()
    assert body["active_customers"] == whole.active_customers and body["as_of"] == whole.as_of.isoformat()
    assert body["net_revenue_retention_12m"] == pytest.approx(whole.net_revenue_retention_12m)
    assert body["previous"]["as_of"] == whole.previous.as_of.isoformat()
    mine = client.get("/v1/portfolio/kpis", headers=auth(api_data, "csm-key")).json()
    owner = api_data["owners"][0]
    assert mine["active_customers"] == portfolio_kpis(wh, None, Viewer(owner, "csm")).active_customers
    assert 0 < mine["active_customers"] < body["active_customers"]
    earlier = client.get("/v1/portfolio/kpis", params={"as_of": "2020-01-01"}, headers=auth(api_data, "exec-key"))
    assert earlier.json()["active_customers"] <= body["active_customers"]
    assert_problem(client.get("/v1/portfolio/kpis", params={"as_of": "soon"}, headers=auth(api_data, "exec-key")), 422)

    listed = client.post(
        "/v1/portfolio/ask", json={"question": "Top 5 accounts by revenue at risk"}, headers=auth(api_data, "csm-key")
    )
    assert listed.status_code == 200, listed.text
    answer = listed.json()
    assert answer["row_count"] == 5 and {r["csm_owner"] for r in answer["rows"]} == {owner}
    assert answer["sql"] and answer["answer"].rstrip().endswith(ai.DISCLAIMER)
    row = next(r for r in ai.recent_ai_outputs(api_data["dir"], 50) if r.id == answer["audit_id"])
    assert (row.username, row.role, row.kind) == (owner, "csm", "portfolio")
    nrr = client.post("/v1/portfolio/ask", json={"question": "What is our NRR?"}, headers=auth(api_data, "csm-key"))
    assert nrr.json()["rows"][0]["cohort_customers"] == mine["customers_12m_ago"]
    refused = client.post(
        "/v1/portfolio/ask", json={"question": "What is our NPS?"}, headers=auth(api_data, "exec-key")
    )
    assert refused.status_code == 200 and refused.json()["scope_exceeded"]
    briefing = client.post("/v1/portfolio/briefing", headers=auth(api_data, "csm-key"))
    assert briefing.status_code == 200, briefing.text
    said = briefing.json()
    assert said["briefing"].startswith(f"As of {said['as_of']}, your book") and said["guardrail_flags"] == []
    row = next(r for r in ai.recent_ai_outputs(api_data["dir"], 50) if r.id == said["audit_id"])
    assert (row.username, row.kind) == (owner, "briefing")
    assert_problem(client.post("/v1/portfolio/ask", json={}, headers=auth(api_data, "exec-key")), 422)
    assert_problem(client.post("/v1/portfolio/ask", json={"question": "q"}, headers=auth(api_data, "revoked-key")), 401)
