"""The obvious baselines a churn model has to beat, computed independently of the engine.

From what any loaded warehouse holds (customers' signup and churn dates, daily usage per
event type, MRR), on month-end snapshots: "tenure alone" and "tenure + per-event-type
counts over the last 90 days + MRR", both scikit-learn logistic regressions trained on
every month end whose 90-day label closed by the evaluation date. The test and
bench/foreign.py judge the engine's model against these, so the comparison does not
depend on the engine reporting its own baselines.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HORIZON = 90
MIN_HISTORY = 60


def month_ends(first: date, last: date) -> list[date]:
    out, cur = [], date(first.year, first.month, 1)
    while True:
        nxt = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
        end = nxt - timedelta(days=1)
        if end > last:
            return out
        if end >= first:
            out.append(end)
        cur = nxt


def snapshots(wh, as_of: list[date]) -> pd.DataFrame:
    """One row per account active at each date: tenure, 90-day counts per event type,
    MRR, and `churned` = churned in (D, D + 90]. Only data dated on or before D feeds a row."""
    days = [str(d) for d in as_of]
    base = wh.df(
        "SELECT c.customer_id, d::DATE AS as_of, date_diff('day', c.signup_date, d::DATE) AS tenure_days, "
        "CASE WHEN c.churn_date > d::DATE AND c.churn_date <= d::DATE + ? THEN 1 ELSE 0 END AS churned "
        "FROM customers c, unnest(?::DATE[]) AS t(d) "
        "WHERE c.signup_date <= d::DATE AND (c.churn_date IS NULL OR c.churn_date > d::DATE)",
        [HORIZON, days],
    )
    usage = wh.df(
        "SELECT u.customer_id, d::DATE AS as_of, u.event_type, sum(u.events) AS n "
        "FROM usage_daily u, unnest(?::DATE[]) AS t(d) "
        "WHERE u.date <= d::DATE AND u.date > d::DATE - 90 GROUP BY ALL",
        [days],
    )
    wide = usage.pivot_table(index=["customer_id", "as_of"], columns="event_type", values="n", aggfunc="sum")
    wide.columns = [f"n90_{c}" for c in wide.columns]
    mrr = wh.df(
        "SELECT m.customer_id, d::DATE AS as_of, arg_max(m.mrr, m.month) AS mrr "
        "FROM mrr_history m, unnest(?::DATE[]) AS t(d) WHERE m.month <= d::DATE GROUP BY ALL",
        [days],
    )
    out = base.merge(wide.reset_index(), on=["customer_id", "as_of"], how="left")
    out = out.merge(mrr, on=["customer_id", "as_of"], how="left")
    count_cols = [c for c in out.columns if c.startswith("n90_")]
    out[count_cols] = out[count_cols].fillna(0.0)
    out["mrr"] = out["mrr"].astype(float).fillna(0.0)
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _design(frame: pd.DataFrame, kind: str, columns: list[str] | None = None) -> np.ndarray:
    if kind == "tenure":
        return frame[["tenure_days"]].to_numpy(dtype=float)
    cols = columns or []
    usage = np.log1p(frame.reindex(columns=cols, fill_value=0.0).to_numpy(dtype=float))
    return np.column_stack([frame["tenure_days"].to_numpy(dtype=float), usage, np.log1p(frame["mrr"].to_numpy())])


def train_dates(wh, evaluate_on: date) -> list[date]:
    first = wh.scalar("SELECT min(signup_date) FROM customers")
    return month_ends(first + timedelta(days=MIN_HISTORY), evaluate_on - timedelta(days=HORIZON))


def baseline_scores(wh, evaluate_on: date, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Churn scores of both baselines for the rows of `test` (snapshots at `evaluate_on`),
    trained on the month ends whose labels closed by then."""
    train = snapshots(wh, train_dates(wh, evaluate_on))
    counts = sorted(c for c in train.columns if c.startswith("n90_"))
    scores = {}
    for kind in ("tenure", "tenure_usage_mrr"):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(_design(train, kind, counts), train["churned"].to_numpy())
        scores[kind] = model.predict_proba(_design(test, kind, counts))[:, 1]
    return scores


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
