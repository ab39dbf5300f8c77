"""A company the project did not generate, loaded with the documented commands only.

fightchurn's ChurnSim (tests/foreign/churnsim.py) writes what a SaaS company exports:
accounts.csv (id, signup date and attributes such as channel, country, date of birth),
subscriptions.csv (one row per product and billing term) and events.parquet (a raw
event log). A column of random labels is added to the accounts, as a company's
meaningless field would be. Then, as a new user following the README would:
`ingest customers`, `ingest subscriptions`, `ingest events`, `train`, `evaluate`,
`score`, `info` — and the results must be usable: everything loads, the serving model
is at least as good out of time as the obvious baselines (tests/foreign/baselines.py,
computed here independently of the engine), tiers separate accounts, and the random
column is not what the model tells people to look at.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from engine.core import formatting as fmt
from tests.foreign import baselines, churnsim

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS, MONTHS, SEED = 250, 14, 11
NOISE = "noise_segment"


@pytest.fixture(scope="module")
def company(request, tmp_path_factory) -> dict[str, Path]:
    """The simulated exports. Deterministic per seed, so they are cached between runs
    (keyed by size, seed and the generator's source); the first run takes ~15 s."""
    source = hashlib.sha256(Path(churnsim.__file__).read_bytes()).hexdigest()[:10]
    key = f"foreign-churnsim-{ACCOUNTS}-{MONTHS}-{SEED}-{source}"
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    folder = Path(cache.mkdir(key)) if cache is not None else tmp_path_factory.mktemp(key)
    paths = {
        name: folder / file for name, file in zip(("accounts", "subscriptions", "events"), churnsim.FILES, strict=True)
    }
    if not all(p.exists() for p in paths.values()):
        paths = churnsim.generate(folder, ACCOUNTS, MONTHS, SEED)
    # A field the company keeps that has nothing to do with churn.
    accounts = pd.read_csv(paths["accounts"])
    rng = np.random.default_rng(SEED)
    accounts[NOISE] = rng.choice(["north", "south", "east", "west", "central"], size=len(accounts))
    work = tmp_path_factory.mktemp("exports")
    accounts.to_csv(work / "accounts.csv", index=False)
    return {**paths, "accounts": work / "accounts.csv"}


def engine(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GROQ_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{' '.join(result.args[3:])} failed:\n{result.stderr[-3000:]}"
    return result


class ReadOnly:
    """The two warehouse helpers tests/foreign/baselines.py reads with, over a read-only
    connection (the CLI processes hold no lock between commands)."""

    def __init__(self, path: Path):
        self.con = duckdb.connect(str(path), read_only=True)

    def df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchone()[0]

    def __enter__(self) -> ReadOnly:
        return self

    def __exit__(self, *exc) -> None:
        self.con.close()  # a later CLI command needs the file unlocked


@pytest.fixture(scope="module")
def loaded(company, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("foreign-data")
    ok(engine(data, "ingest", "customers", str(company["accounts"])))
    ok(engine(data, "ingest", "subscriptions", str(company["subscriptions"])))
    ok(engine(data, "ingest", "events", str(company["events"])))
    return data


def closed_month_end(data: Path) -> date:
    """The latest month end whose 90-day outcome the data already holds."""
    info = json.loads(ok(engine(data, "info", "--json")).stdout)
    last = date.fromisoformat(info["data_as_of"])
    return baselines.month_ends(last - timedelta(days=130), last - timedelta(days=baselines.HORIZON))[-1]


def test_the_exports_load_with_the_documented_commands(company, loaded):
    accounts = pd.read_csv(company["accounts"])
    subs = pd.read_csv(company["subscriptions"])
    events = pd.read_parquet(company["events"])
    info = {t["table"]: t for t in json.loads(ok(engine(loaded, "info", "--json")).stdout)["tables"]}
    assert info["customers"]["rows"] == len(accounts)
    assert info["usage_daily"]["rows"] > 0
    assert info["mrr_history"]["rows"] > 0, "mrr_history is derived from the subscriptions"
    with ReadOnly(loaded / "warehouse.duckdb") as wh:
        stored_subs = wh.scalar("SELECT count(*) FROM subscriptions")
        stored_events = wh.scalar("SELECT sum(events) FROM usage_daily")
        stored_values = wh.scalar("SELECT coalesce(sum(value), 0) FROM usage_daily")
        kinds = dict(wh.df("SELECT DISTINCT attribute, kind FROM customer_attributes").itertuples(index=False))
        data_end = pd.Timestamp(wh.scalar("SELECT max(date) FROM usage_daily"))
        churned = wh.scalar("SELECT count(*) FROM customers WHERE churn_date IS NOT NULL")
    assert stored_subs == len(subs)
    assert stored_events == len(events), "every event is counted once"
    valued = events.dropna(subset=["value"])
    assert stored_values == pytest.approx(valued["value"].sum(), rel=1e-9)
    assert kinds == {"channel": "category", "country": "category", "date_of_birth": "date", NOISE: "category"}
    # Churn comes from the subscriptions: an account whose last term ended before the data end left then.
    last_end = pd.to_datetime(subs.groupby("customer_id")["end_date"].max())
    assert churned == int((last_end <= data_end).sum())


@pytest.fixture(scope="module")
def trained(loaded) -> date:
    """Trained with labels closed by the last month end whose outcome is known; returns that date."""
    as_of = closed_month_end(loaded)
    result = json.loads(ok(engine(loaded, "train", "--cutoff", str(as_of), "--json")).stdout)
    assert result["promoted"], result["reason"]
    return as_of


def paired_auc_gaps(y: np.ndarray, mine: np.ndarray, theirs: np.ndarray, fits: int = 1000) -> np.ndarray:
    """AUC(mine) - AUC(theirs) on bootstrap resamples of the rows (churners and the others
    resampled separately, so every resample holds both): the noise of the gap on these rows."""
    rng = np.random.default_rng(0)
    churned, kept = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    gaps = []
    for _ in range(fits):
        rows = np.concatenate([rng.choice(churned, len(churned)), rng.choice(kept, len(kept))])
        gaps.append(baselines.auc(y[rows], mine[rows]) - baselines.auc(y[rows], theirs[rows]))
    return np.array(gaps)


def test_the_serving_model_is_not_worse_than_the_obvious_baselines(loaded, trained):
    """Out of time, the serving model's AUC is at least the best baseline's, up to the
    bootstrap noise of the gap: on a small company a few churners decide an AUC, so a
    shortfall counts only when the resampled gaps lie mostly below zero."""
    as_of = trained
    judged = json.loads(ok(engine(loaded, "evaluate", "--as-of", str(as_of), "--json")).stdout)
    ok(engine(loaded, "score", "--as-of", str(as_of)))
    with ReadOnly(loaded / "warehouse.duckdb") as wh:
        test = baselines.snapshots(wh, [as_of])
        scores = baselines.baseline_scores(wh, as_of, test)
        served = wh.df("SELECT customer_id, churn_probability FROM predictions WHERE as_of = ?", [as_of])
    assert judged["metrics"]["rows"] == len(test), "the engine and the baselines judge the same accounts"
    y = test["churned"].to_numpy()
    assert 0 < y.sum() < len(y)
    mine = test[["customer_id"]].merge(served, on="customer_id", how="left", validate="one_to_one")
    mine = mine["churn_probability"].to_numpy(dtype=float)
    assert not np.isnan(mine).any(), "every judged account has a stored score"
    serving = baselines.auc(y, mine)
    assert serving == pytest.approx(judged["metrics"]["auc"]), "evaluate reports the stored scores' AUC"
    name, best = max(((n, baselines.auc(y, p)) for n, p in scores.items()), key=lambda t: t[1])
    gaps = paired_auc_gaps(y, mine, scores[name])
    assert serving >= best or np.quantile(gaps, 0.95) >= 0, (
        f"serving AUC {serving:.3f} < {name} baseline {best:.3f} on {as_of} "
        f"beyond the noise (95 % of resampled gaps below {np.quantile(gaps, 0.95):+.3f})"
    )
    assert serving > 0.6, f"serving AUC {serving:.3f}: no better than chance on {y.sum()} churners"


def test_scores_tiers_and_drivers_make_sense(loaded, trained):
    ok(engine(loaded, "score"))
    info = json.loads(ok(engine(loaded, "info", "--json")).stdout)
    assert info["scores"]["customers"] > 0
    with ReadOnly(loaded / "warehouse.duckdb") as wh:
        latest = wh.df(
            "SELECT risk_tier, top_driver FROM predictions "
            "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY as_of DESC, scored_at DESC) = 1"
        )
    assert latest["risk_tier"].nunique() >= 2, f"every account has tier {latest['risk_tier'].iloc[0]!r}"
    noise = latest["top_driver"].fillna("").str.lower().str.replace(" ", "_").str.contains(NOISE)
    assert noise.mean() < 0.10, f"the random column is the top driver for {noise.mean():.0%} of accounts"


def test_the_pages_speak_of_what_the_company_loaded(company, loaded, trained, monkeypatch):
    """No plan tiers, industries, owners, tickets or opportunities were loaded: the overview
    splits by the company's own columns (not one "no plan x unknown" cell) and has no Plans
    benchmark; Customer 360 says tickets and opportunities are not loaded instead of "0"."""
    from tests.apptest import open_page, shown

    ok(engine(loaded, "score"))
    overview = open_page("overview", "executive", data=loaded, monkeypatch=monkeypatch)
    headings = [shown(m.value) for m in overview.markdown if m.value.startswith("####")]
    assert "#### MRR by channel" in headings, headings
    assert not any("plan tier" in h for h in headings), headings
    assert not overview.tabs  # one grouping (segments) needs no tab
    assert "#### Segments vs the whole book and last quarter" in headings
    top = next(m.value for m in overview.markdown if "data-radar-table='top-at-risk'" in m.value)
    assert ">Top driver<" in top and ">Plan<" not in top and ">Owner<" not in top  # neither was loaded
    ask = open_page("ai_qa", "executive", data=loaded, monkeypatch=monkeypatch)
    # the subscriptions' billing periods give each account its renewal date; the company's own columns follow
    assert (
        "Ask about accounts by risk tier, churn probability, renewal date, MRR/ARR, channel, country, noise segment "
        "or revenue at risk, or about the book's net revenue retention and churn."
    ) in [m.value for m in ask.markdown]
    next(t for t in ask.text_input if t.label == "Question").input("Top 5 accounts by revenue at risk")
    ask.button(key="ask_portfolio").click().run()
    assert not ask.exception and not ask.error
    listed = ask.dataframe[0].value
    assert len(listed) == 5 and "name" in listed and "customer_id" not in listed  # names are the ids: one column
    # Ask AI's list of accounts: no column of "None" for what was never loaded, no "0 open tickets".
    answer = json.loads(ok(engine(loaded, "ask-portfolio", "Top 5 accounts by revenue at risk", "--json")).stdout)
    assert answer["row_count"] == 5 and {"revenue_at_risk", "churn_probability", "mrr"} <= set(answer["columns"])
    assert not {"plan_tier", "industry", "region", "seats", "open_tickets"} & set(answer["columns"])
    with ReadOnly(loaded / "warehouse.duckdb") as wh:
        customer_id = wh.scalar("SELECT customer_id FROM predictions ORDER BY churn_probability DESC LIMIT 1")
    page = open_page("customer_360", "admin", data=loaded, monkeypatch=monkeypatch, query={"customer_id": customer_id})
    captions = " ".join(shown(c.value) for c in page.caption)
    assert "Support tickets are not loaded for any account" in captions
    assert "Opportunities are not loaded for any account" in captions
    assert "no plan" not in captions and "industry unknown" not in captions
    # What it pays for: the subscriptions running on the data date, as exported.
    as_of = date.fromisoformat(json.loads(ok(engine(loaded, "info", "--json")).stdout)["data_as_of"])
    subs = pd.read_csv(company["subscriptions"], parse_dates=["start_date", "end_date"])
    subs = subs[subs["customer_id"].astype(str) == str(customer_id)]
    day = pd.Timestamp(as_of)
    running = subs[(subs["start_date"] <= day) & (subs["end_date"].isna() | (subs["end_date"] > day))]
    assert len(running) >= 1
    assert "#### Subscriptions" in [m.value for m in page.markdown]
    html = " ".join(m.value for m in page.markdown if "<table" in m.value)
    for product in running["product"]:
        assert f">{product}<" in html, product
    assert f"Current term ends **{fmt.day(running['end_date'].min().date())}**" in captions


def test_a_young_accounts_risk_score_is_not_a_zero(loaded, trained):
    """This company loaded a usage log alone, so usage decay is its risk score's one part; an
    account younger than the 60 days decay compares had 0.00, read as "no risk". Its score and
    decay are now absent, older accounts keep theirs, and the API says why."""
    from fastapi.testclient import TestClient

    from engine.api.app import create_app
    from engine.auth import keys

    ok(engine(loaded, "score"))
    with ReadOnly(loaded / "warehouse.duckdb") as wh:
        latest = wh.df(
            "SELECT p.customer_id, p.risk_score, p.usage_decay_score, date_diff('day', c.signup_date, p.as_of) AS age "
            "FROM predictions p JOIN customers c USING (customer_id) "
            "QUALIFY row_number() OVER (PARTITION BY p.customer_id ORDER BY p.as_of DESC, p.scored_at DESC) = 1"
        )
    young, grown = latest[latest["age"] < 60], latest[latest["age"] >= 60]
    assert len(young) and len(grown), "the fixture scores both young and grown accounts"
    assert young["risk_score"].isna().all() and young["usage_decay_score"].isna().all()
    assert grown["risk_score"].notna().all() and grown["usage_decay_score"].notna().all()
    _, secret = keys.create_key("crm", "executive", created_by="tests", data_dir=loaded)
    headers = {"Authorization": f"Bearer {secret}"}
    account = young.sort_values("age").iloc[-1]
    with TestClient(create_app(loaded), raise_server_exceptions=False) as client:
        refused = client.get(f"/v1/customers/{account.customer_id}/risk-score", headers=headers)
        assert refused.status_code == 409, refused.text
        assert f"the account is {account.age} days old" in refused.json()["detail"]
        scored = client.get(f"/v1/customers/{account.customer_id}/churn", headers=headers)
        assert scored.status_code == 200 and scored.json()["risk_score"] is None
        older = client.get(f"/v1/customers/{grown.iloc[0].customer_id}/risk-score", headers=headers).json()
        assert older["risk_score"] == pytest.approx(grown.iloc[0].risk_score)


def test_the_support_lever_names_the_missing_tickets(loaded, trained, monkeypatch):
    """A company with no support tickets was told the serving model reads none of the lever's
    features, as if the model were at fault: the cause is the data, and it is said so."""
    from tests.apptest import open_page

    ok(engine(loaded, "score"))
    page = open_page("scenarios", "analyst", data=loaded, monkeypatch=monkeypatch)
    said = [c.value for c in page.caption]
    assert "No support tickets are loaded, so there is nothing for this lever to change. The lever is off." in said
    assert not any("serving model reads none" in c for c in said)
