"""Customer 360: everything about one account a CSM needs, scoped to the viewer's book.

The figures describe the account "today", i.e. on the warehouse's latest data date; the
churn score, drivers and action are the latest stored prediction (what the risk board shows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine.accounts import ltv
from engine.churn import features as feats
from engine.churn import risk
from engine.core.access import Viewer
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health
from engine.data.warehouse import Warehouse

USAGE_DAYS = 180
RECENT_TICKETS = 25


class NotInBookError(NotFoundError):
    """Not an account of the viewer's book: another CSM's, or no account at all (a CSM is
    told the same either way, so ids of other books are not confirmed)."""


NOT_IN_BOOK_MESSAGE = (
    "This account is not in your book, or there is no account with this id. "
    "Check the link, or open the account from your risk board."
)


@dataclass(frozen=True)
class Customer360:
    customer_id: str
    as_of: date
    profile: dict
    prediction: dict | None  # None when the account has not been scored (e.g. churned, or no model yet)
    drivers: list[dict]
    components: dict
    usage_weekly: pd.DataFrame  # week, event_type, events
    velocity: dict
    tickets: pd.DataFrame
    support: dict
    opportunities: pd.DataFrame
    mrr_history: pd.DataFrame
    ltv: list[dict] = field(default_factory=list)  # the LTV contract for 12 and 24 months
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The Customer 360 contract of DESIGN.md."""
        p = self.prediction or {}
        return {
            **self.profile,
            "churn_probability": p.get("churn_probability"),
            "confidence_interval": [p.get("ci_low"), p.get("ci_high")] if p else None,
            "risk_tier": p.get("risk_tier"),
            "risk_score": p.get("risk_score"),
            "recommended_action": p.get("recommended_action"),
            "model_version": p.get("model_version"),
            "latest_prediction_at": p.get("scored_at"),
            "top_shap_features": self.drivers,
            "components": self.components,
            "events_last_30d": self.velocity.get("events_last_30d"),
            "open_ticket_count": self.support.get("open_tickets"),
            "ltv": self.ltv,
        }


def clean_customer_id(customer_id) -> str:
    text = str(customer_id or "").strip()
    if not text:
        raise BadInputError("Give a customer id (open an account from the risk board, or paste its id).")
    if len(text) > 200 or any(ord(ch) < 32 for ch in text):
        raise BadInputError("That does not look like a customer id; copy it from the risk board.")
    return text


def check_access(wh: Warehouse, viewer: Viewer, customer_id: str) -> str:
    """The cleaned id when the viewer may see the account; otherwise a not-found / not-in-book error."""
    customer_id = clean_customer_id(customer_id)
    found = wh.rows("SELECT csm_owner FROM customers WHERE customer_id = ?", [customer_id])
    if not viewer.sees_everyone and (not found or not viewer.owns(found[0][0])):
        # One message for "no such id" and "another CSM's account": a CSM cannot probe for ids.
        raise NotInBookError(NOT_IN_BOOK_MESSAGE)
    if not found:
        raise NotFoundError(
            f"No customer with id '{customer_id}'. Check the link, or find the account on the risk board."
        )
    return customer_id


def customer_360(wh: Warehouse, viewer: Viewer, customer_id: str) -> Customer360:
    customer_id = check_access(wh, viewer, customer_id)
    as_of = health.data_as_of(wh)
    profile = _profile(wh, customer_id, as_of)
    prediction, drivers = _prediction(wh, customer_id)
    components = _components(wh, customer_id, as_of, prediction)
    notes = []
    if prediction is None:
        notes.append(
            "No churn score for this account yet: it is not active, or scoring has not run since it was added "
            "(an admin can run `.venv/bin/python -m engine score`)."
        )
    usage = _usage_weekly(wh, customer_id, as_of)
    history = wh.df(
        "SELECT month, mrr, change_type FROM mrr_history WHERE customer_id = ? ORDER BY month", [customer_id]
    )
    value = []
    if prediction is not None and profile["status"] == "active":
        to_date = float(history.loc[history["month"] <= pd.Timestamp(as_of), "mrr"].sum())
        value = [
            ltv.customer_ltv(
                customer_id,
                profile["mrr"],
                prediction["churn_probability"],
                prediction["ci_low"],
                prediction["ci_high"],
                to_date,
                months,
            ).as_dict()
            for months in ltv.HORIZONS
        ]
    return Customer360(
        customer_id=customer_id,
        as_of=as_of,
        profile=profile,
        prediction=prediction,
        drivers=drivers,
        components=components,
        usage_weekly=usage,
        velocity=_velocity(wh, customer_id, as_of),
        tickets=_tickets(wh, customer_id),
        support=_support(wh, customer_id, as_of),
        opportunities=_opportunities(wh, customer_id),
        mrr_history=history,
        ltv=value,
        notes=notes,
    )


def _profile(wh: Warehouse, customer_id: str, as_of: date) -> dict:
    row = wh.df(
        """
        SELECT c.*, (SELECT arg_max(mrr, month) FROM mrr_history m WHERE m.customer_id = c.customer_id
                     AND m.month <= ?) AS mrr
        FROM customers c WHERE c.customer_id = ?
        """,
        [as_of, customer_id],
    ).iloc[0]
    end = row["churn_date"] if pd.notna(row["churn_date"]) else pd.Timestamp(as_of)
    mrr = float(row["mrr"]) if pd.notna(row["mrr"]) and row["status"] == "active" else 0.0
    renewal = _next_renewal(wh, customer_id, row["status"], as_of)
    return {
        "customer_id": customer_id,
        "name": row["name"],
        "plan_tier": row["plan_tier"],
        "billing_cycle": _text(row.get("billing_cycle")),
        "industry": _text(row["industry"]),
        "region": _text(row["region"]),
        "seats": int(row["seats"]) if pd.notna(row["seats"]) else None,
        "csm_owner": _text(row["csm_owner"]),
        "gtm_stage": _text(row["gtm_stage"]),
        "status": row["status"],
        "signup_date": pd.Timestamp(row["signup_date"]).date(),
        "churn_date": pd.Timestamp(row["churn_date"]).date() if pd.notna(row["churn_date"]) else None,
        "tenure_days": int((pd.Timestamp(end) - pd.Timestamp(row["signup_date"])).days),
        "mrr": mrr,
        "arr": mrr * 12,
        "renewal_date": renewal,
        "days_to_renewal": (renewal - as_of).days if renewal else None,
    }


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or pd.isna(value) else str(value)


def _next_renewal(wh: Warehouse, customer_id: str, status: str, as_of: date) -> date | None:
    """The next renewal after `as_of` by the one renewal rule (`features.renewal_date_sql`)."""
    if status != "active":
        return None
    found = feats.renewal_dates(wh, as_of, customer_id)
    return found["renewal_date"].iloc[0] if len(found) else None


def _components(wh: Warehouse, customer_id: str, as_of: date | None, prediction: dict | None) -> dict:
    """The risk score's components: those stored with the score, so the parts add up to the
    score shown; for older scores (or none), computed from today's features."""
    if (
        prediction is not None
        and prediction.get("components")
        and len(prediction["components"]) == len(risk.COMPONENTS)
    ):
        return dict(prediction["components"])
    frame = feats.features_as_of(wh, as_of, customer_id)
    if frame.empty:
        return {}
    c = risk.risk_components(frame).iloc[0]
    return {k: float(c[k]) for k in risk.COMPONENTS}


def _prediction(wh: Warehouse, customer_id: str) -> tuple[dict | None, list[dict]]:
    rows = wh.df(
        "SELECT * FROM predictions WHERE customer_id = ? ORDER BY as_of DESC, scored_at DESC LIMIT 1", [customer_id]
    )
    if rows.empty:
        return None, []
    r = rows.iloc[0]
    prediction = {
        "churn_probability": float(r["churn_probability"]),
        "ci_low": float(r["ci_low"]),
        "ci_high": float(r["ci_high"]),
        "risk_tier": r["risk_tier"],
        "risk_score": float(r["risk_score"]) if pd.notna(r["risk_score"]) else None,
        "recommended_action": r["recommended_action"],
        "model_version": r["model_version"],
        "as_of": pd.Timestamp(r["as_of"]).date(),
        "scored_at": pd.Timestamp(r["scored_at"]).to_pydatetime(),
        "revenue_at_risk": float(r["churn_probability"]) * float(r["mrr"] or 0) * 12 if pd.notna(r["mrr"]) else None,
        # The parts behind this risk_score, as scored (None for scores written before they were kept).
        "components": {k: float(r[k]) for k in risk.COMPONENTS if k in r and pd.notna(r[k])} or None,
    }
    drivers = json.loads(r["drivers"]) if isinstance(r["drivers"], str) and r["drivers"] else []
    for d in drivers:
        d.setdefault("label", feats.LABELS.get(d.get("feature"), str(d.get("feature"))))
    return prediction, drivers


def _usage_weekly(wh: Warehouse, customer_id: str, as_of: date) -> pd.DataFrame:
    return wh.df(
        """
        SELECT date_trunc('week', date)::DATE AS week, event_type, sum(events)::BIGINT AS events,
               max(active_users) AS peak_active_users
        FROM usage_daily WHERE customer_id = ? AND date > ? AND date <= ?
        GROUP BY ALL ORDER BY week, event_type
        """,
        [customer_id, as_of - timedelta(days=USAGE_DAYS), as_of],
    )


def _velocity(wh: Warehouse, customer_id: str, as_of: date) -> dict:
    """Recent activity and how fast it is changing."""
    e30, prev30, last_day = wh.rows(
        """
        SELECT coalesce(sum(events) FILTER (WHERE date > CAST(? AS DATE) - 30), 0),
               coalesce(sum(events) FILTER (WHERE date <= CAST(? AS DATE) - 30 AND date > CAST(? AS DATE) - 60), 0),
               max(date)
        FROM usage_daily WHERE customer_id = ? AND date <= ?
        """,
        [as_of, as_of, as_of, customer_id, as_of],
    )[0]
    change = (e30 - prev30) / prev30 if prev30 else None
    return {
        "events_last_30d": int(e30),
        "events_prev_30d": int(prev30),
        "change_30d": change,  # fraction: -0.4 means 40 % fewer events than the 30 days before
        "usage_decay_score": max(0.0, 1 - e30 / prev30) if prev30 else 0.0,
        "last_active": last_day,
        "days_since_last_event": (as_of - last_day).days if last_day else None,
    }


def _tickets(wh: Warehouse, customer_id: str) -> pd.DataFrame:
    return wh.df(
        """
        SELECT ticket_id, opened_at, closed_at, priority, topic, status, csat, subject
        FROM support_tickets WHERE customer_id = ? ORDER BY opened_at DESC LIMIT ?
        """,
        [customer_id, RECENT_TICKETS],
    )


def _support(wh: Warehouse, customer_id: str, as_of: date) -> dict:
    open_now, high_open, t90, hours, csat = wh.rows(
        """
        SELECT count(*) FILTER (WHERE closed_at IS NULL),
               count(*) FILTER (WHERE closed_at IS NULL AND priority IN ('high', 'urgent')),
               count(*) FILTER (WHERE opened_at > CAST(? AS DATE) - 90),
               avg(epoch(closed_at - opened_at) / 3600.0) FILTER (WHERE closed_at > CAST(? AS DATE) - 90),
               avg(csat) FILTER (WHERE closed_at > CAST(? AS DATE) - 90)
        FROM support_tickets WHERE customer_id = ?
        """,
        [as_of, as_of, as_of, customer_id],
    )[0]
    return {
        "open_tickets": int(open_now),
        "open_high_priority": int(high_open),
        "tickets_90d": int(t90),
        "avg_resolution_hours_90d": float(hours) if hours is not None else None,
        "csat_avg_90d": float(csat) if csat is not None else None,
    }


def _opportunities(wh: Warehouse, customer_id: str) -> pd.DataFrame:
    return wh.df(
        """
        SELECT opportunity_id, opportunity_type, stage, amount, created_date, close_date, owner
        FROM gtm_opportunities WHERE customer_id = ? ORDER BY close_date DESC NULLS LAST
        """,
        [customer_id],
    )


def search_customers(wh: Warehouse, viewer: Viewer, text: str, limit: int = 20) -> pd.DataFrame:
    """Accounts in the viewer's book whose name or id contains `text` (for a picker)."""
    scope, params = viewer.owner_filter("csm_owner")
    pattern = "%" + str(text or "").strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return wh.df(
        f"SELECT customer_id, name, plan_tier, status FROM customers WHERE {scope} "  # noqa: S608 - engine-written scope
        "AND (lower(name) LIKE ? ESCAPE '\\' OR lower(customer_id) LIKE ? ESCAPE '\\') "
        "ORDER BY status, name LIMIT ?",
        [*params, pattern, pattern, int(limit)],
    )
