"""Customer 360: everything about one account a CSM needs, scoped to the viewer's book.

The figures describe the account "today", i.e. on the warehouse's latest data date; the
churn score, drivers and action are the latest stored prediction (what the risk board shows).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import Field, computed_field

from engine.accounts import ltv
from engine.accounts.ltv import Ltv
from engine.churn import features as feats
from engine.churn import risk
from engine.churn.explain import Driver, drivers_from_json
from engine.core import formatting
from engine.core.access import Viewer
from engine.core.contracts import ConfidenceInterval, Contract, RiskComponents, Table
from engine.core.errors import BadInputError, NotFoundError
from engine.core.renewal import billing_cycle_text, renewal_sources_sql
from engine.data import health
from engine.data.attributes import attributes_of
from engine.data.warehouse import Warehouse

USAGE_WEEKS = 26  # the usage chart: whole weeks ending on the data date
RECENT_TICKETS = 25
CHURN_INTERVAL_LEVEL = 0.9  # the stored churn interval (ci_low, ci_high) is a 90% interval


class NotInBookError(NotFoundError):
    """Not an account of the viewer's book: another CSM's, or no account at all (a CSM is
    told the same either way, so ids of other books are not confirmed)."""


NOT_IN_BOOK_MESSAGE = (
    "This account is not in your book, or there is no account with this id. "
    "Check the link, or open the account from your risk board."
)


class CustomerProfile(Contract):
    """Who the account is, today: the customer row plus MRR, tenure and the next renewal."""

    customer_id: str
    name: str | None
    plan_tier: str | None
    billing_cycle: str | None
    industry: str | None
    region: str | None
    seats: int | None
    csm_owner: str | None
    gtm_stage: str | None
    status: str
    signup_date: date
    churn_date: date | None
    tenure_days: int
    mrr: float  # 0 once the account churned
    arr: float
    renewal_date: date | None  # None for churned accounts, or when no renewal rule applies
    days_to_renewal: int | None


class AccountPrediction(Contract):
    """The account's latest stored churn prediction (the churn prediction contract), as scored."""

    customer_id: str
    churn_probability: float
    confidence_interval: ConfidenceInterval
    risk_tier: str
    risk_score: float | None
    components: RiskComponents | None  # the parts behind risk_score; None for scores stored before they were kept
    top_shap_features: tuple[Driver, ...]
    recommended_action: str | None
    model_version: str
    as_of: date
    scored_at: datetime
    revenue_at_risk: float | None  # churn probability x MRR x 12, on the MRR scored
    # Set when the account has churned since this score (by the data's latest day): the score
    # and its action are then a record of what the model said, not a current risk or a task.
    churned_on: date | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ci_low(self) -> float:
        return self.confidence_interval.lower

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ci_high(self) -> float:
        return self.confidence_interval.upper


class UsageVelocity(Contract):
    """Recent product activity and how fast it is changing."""

    events_last_30d: int
    events_prev_30d: int
    # Both None for an account younger than risk.DECAY_DAYS: its "30 days before" were partly
    # before it signed up (a 45-day-old account read "+100%", and 0.00 decay read as "no decay").
    change_30d: float | None  # fraction: -0.4 means 40% fewer events than the 30 days before
    usage_decay_score: float | None  # max(0, 1 - last 30 days / previous 30 days)
    last_active: date | None
    days_since_last_event: int | None


class SupportHealth(Contract):
    """Open tickets now and the last 90 days of support."""

    open_tickets: int
    open_high_priority: int
    tickets_90d: int
    avg_resolution_hours_90d: float | None
    csat_avg_90d: float | None


class Customer360(Contract):
    """The Customer 360 contract: profile, latest prediction, risk components, usage, support,
    opportunities, MRR history and LTV; plus, flat, the seed contract's keys for it (mrr, tenure_days, churn_probability, ...)."""

    customer_id: str
    as_of: date
    profile: CustomerProfile
    prediction: AccountPrediction | None  # None when not scored (e.g. churned, or no model yet)
    components: RiskComponents | None  # as scored, else from today's features; None without features
    usage_weekly: Table  # week, event_type, events, peak_active_users
    velocity: UsageVelocity
    tickets: Table
    support: SupportHealth
    opportunities: Table
    mrr_history: Table  # month, mrr, change_type
    # What it pays for on the data date: product, mrr, quantity, bill_period_months, discount,
    # start_date, end_date (the running subscriptions, largest first; empty when none loaded).
    subscriptions: Table = Field(default_factory=pd.DataFrame)
    ltv: tuple[Ltv, ...] = ()  # the LTV contract for 12 and 24 months (scored, active accounts)
    attributes: dict[str, float | str | date | None] = {}  # the company's own account columns, as loaded
    notes: tuple[str, ...] = ()
    # What the company never loaded for any account (of NOT_LOADED): shown as not loaded, not as
    # "0 tickets" or "industry unknown", which would claim something about this account.
    not_loaded: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score_is_history(self) -> bool:
        """Whether the account churned after its latest score: the score and its recommended
        action are a record of what the model said then, not a current risk or a task."""
        return self.prediction is not None and self.prediction.churned_on is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mrr(self) -> float:
        return self.profile.mrr

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tenure_days(self) -> int:
        return self.profile.tenure_days

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gtm_stage(self) -> str | None:
        return self.profile.gtm_stage

    @computed_field  # type: ignore[prop-decorator]
    @property
    def churn_probability(self) -> float | None:
        return self.prediction.churn_probability if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confidence_interval(self) -> ConfidenceInterval | None:
        return self.prediction.confidence_interval if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def risk_tier(self) -> str | None:
        return self.prediction.risk_tier if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def risk_score(self) -> float | None:
        return self.prediction.risk_score if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recommended_action(self) -> str | None:
        return self.prediction.recommended_action if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model_version(self) -> str | None:
        return self.prediction.model_version if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def latest_prediction_at(self) -> datetime | None:
        return self.prediction.scored_at if self.prediction else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def top_shap_features(self) -> tuple[Driver, ...]:
        return self.prediction.top_shap_features if self.prediction else ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def events_last_30d(self) -> int:
        return self.velocity.events_last_30d

    @computed_field  # type: ignore[prop-decorator]
    @property
    def open_ticket_count(self) -> int:
        return self.support.open_tickets


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
    if as_of is None:
        raise NotFoundError("The warehouse has no dated activity yet, so there is no 'today' to describe the account.")
    profile = _profile(wh, customer_id, as_of)
    prediction = _prediction(wh, customer_id, as_of)
    notes = []
    if prediction is None:
        if profile.churn_date is not None and profile.churn_date <= as_of:
            notes.append("Churn scores are for active accounts, so this churned account has none.")
        elif health.has_scores(wh):  # no scores at all: the page says why
            notes.append("No churn score for this account yet: it gets one at the next scoring run after it was added.")
    elif prediction.churned_on is not None:  # the same test as `score_is_history`
        notes.append(
            f"Its churn score is the last one, from {formatting.day(prediction.as_of)}, before it churned on "
            f"{formatting.day(prediction.churned_on)}: a record of what the model said then, not a current risk or a task."
        )
    # months up to the data's day: a renewal term starting the 1st after it is not yet history
    history = wh.df(
        "SELECT month, mrr, change_type FROM mrr_history WHERE customer_id = ? AND month <= ? ORDER BY month",
        [customer_id, as_of],
    )
    return Customer360(
        customer_id=customer_id,
        as_of=as_of,
        profile=profile,
        prediction=prediction,
        components=_components(wh, customer_id, as_of, prediction),
        usage_weekly=_usage_weekly(wh, customer_id, as_of),
        velocity=_velocity(wh, customer_id, as_of, profile.signup_date),
        tickets=_tickets(wh, customer_id),
        support=_support(wh, customer_id, as_of),
        opportunities=_opportunities(wh, customer_id),
        mrr_history=history,
        subscriptions=_running_subscriptions(wh, customer_id, as_of),
        ltv=_lifetime_value(profile, prediction, history, as_of),
        attributes=attributes_of(wh, customer_id),
        notes=tuple(notes),
        not_loaded=not_loaded(wh),
    )


# What a company may not have loaded at all: a profile column no account has, or a whole table.
NOT_LOADED = {
    "plan_tier": "SELECT count(plan_tier) FROM customers",
    "industry": "SELECT count(industry) FROM customers",
    "region": "SELECT count(region) FROM customers",
    "csm_owner": "SELECT count(csm_owner) FROM customers",
    "seats": "SELECT count(seats) FROM customers",
    "renewal": renewal_sources_sql(),
    "support_tickets": "SELECT count(*) FROM (SELECT 1 FROM support_tickets LIMIT 1)",
    "gtm_opportunities": "SELECT count(*) FROM (SELECT 1 FROM gtm_opportunities LIMIT 1)",
    "subscriptions": "SELECT count(*) FROM (SELECT 1 FROM subscriptions LIMIT 1)",
}


def not_loaded(wh: Warehouse) -> tuple[str, ...]:
    """The keys of NOT_LOADED that hold nothing for any account."""
    counts = wh.rows("SELECT " + ", ".join(f"({sql})" for sql in NOT_LOADED.values()))[0]
    return tuple(key for key, n in zip(NOT_LOADED, counts, strict=True) if not n)


def _lifetime_value(
    profile: CustomerProfile, prediction: AccountPrediction | None, history: pd.DataFrame, as_of: date
) -> tuple[Ltv, ...]:
    """LTV at each horizon for a scored, active account (none otherwise)."""
    if prediction is None or profile.status != "active":
        return ()
    to_date = float(history.loc[history["month"] <= pd.Timestamp(as_of), "mrr"].sum())
    band = prediction.confidence_interval
    return tuple(
        ltv.customer_ltv(
            profile.customer_id, profile.mrr, prediction.churn_probability, band.lower, band.upper, to_date, months
        )
        for months in ltv.HORIZONS
    )


def _profile(wh: Warehouse, customer_id: str, as_of: date) -> CustomerProfile:
    row = wh.df(
        """
        SELECT c.*, coalesce(
            (SELECT arg_max(mrr, month) FROM mrr_history m WHERE m.customer_id = c.customer_id AND m.month <= $1),
            -- no month row yet (it starts on the 1st): what its running subscriptions bill, as scoring reads it
            (SELECT sum(s.mrr) FROM subscriptions s WHERE s.customer_id = c.customer_id
                AND s.start_date <= $1 AND (s.end_date IS NULL OR s.end_date > $1))
        ) AS mrr
        FROM customers c WHERE c.customer_id = $2
        """,
        [as_of, customer_id],
    ).iloc[0]
    end = row["churn_date"] if pd.notna(row["churn_date"]) else pd.Timestamp(as_of)
    mrr = float(row["mrr"]) if pd.notna(row["mrr"]) and row["status"] == "active" else 0.0
    renewal, cycle = _next_renewal(wh, customer_id, row["status"], as_of)
    return CustomerProfile(
        customer_id=customer_id,
        name=_text(row["name"]),
        plan_tier=_text(row["plan_tier"]),
        billing_cycle=billing_cycle_text(cycle if cycle is not None else row.get("billing_cycle")),
        industry=_text(row["industry"]),
        region=_text(row["region"]),
        seats=int(row["seats"]) if pd.notna(row["seats"]) else None,
        csm_owner=_text(row["csm_owner"]),
        gtm_stage=_text(row["gtm_stage"]),
        status=str(row["status"]),
        signup_date=pd.Timestamp(row["signup_date"]).date(),
        churn_date=pd.Timestamp(row["churn_date"]).date() if pd.notna(row["churn_date"]) else None,
        tenure_days=int((pd.Timestamp(end) - pd.Timestamp(row["signup_date"])).days),
        mrr=mrr,
        arr=mrr * 12,
        renewal_date=renewal,
        days_to_renewal=(renewal - as_of).days if renewal else None,
    )


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _next_renewal(wh: Warehouse, customer_id: str, status: str, as_of: date) -> tuple[date | None, int | None]:
    """The next renewal after `as_of` by the one renewal rule (`engine.core.renewal.renewal_date_sql`)
    and the billing cycle in months it follows (a subscription's, else the customers file's)."""
    if status != "active":
        return None, None
    found = feats.renewal_dates(wh, as_of, customer_id)
    return (found["renewal_date"].iloc[0], found["billing_months"].iloc[0]) if len(found) else (None, None)


def _components(
    wh: Warehouse, customer_id: str, as_of: date, prediction: AccountPrediction | None
) -> RiskComponents | None:
    """The risk score's components: those stored with the score, so the parts add up to the
    score shown; for older scores (or none), computed from today's features."""
    if prediction is not None and prediction.components is not None:
        return prediction.components
    frame = feats.features_as_of(wh, as_of, customer_id)
    if frame.empty:
        return None
    return _components_of(risk.risk_components(frame).iloc[0])


def _components_of(row: pd.Series | dict[str, Any]) -> RiskComponents | None:
    """RiskComponents from a row holding the parts (a part is None when its source was never
    loaded); None when the row has none of them (a score stored before they were kept)."""
    if not all(k in row for k in risk.COMPONENTS) or all(pd.isna(row[k]) for k in risk.COMPONENTS):
        return None
    return risk.components_of(row)


def latest_prediction(wh: Warehouse, viewer: Viewer, customer_id: str) -> AccountPrediction | None:
    """The account's latest stored churn score alone (None when it has none), scoped like the 360:
    an account outside the viewer's book is 'not found'."""
    return _prediction(wh, check_access(wh, viewer, customer_id))


def _prediction(wh: Warehouse, customer_id: str, today: date | None = None) -> AccountPrediction | None:
    """The latest stored score; `today` is the data's latest day when the caller has read it."""
    # All the account's rows (a handful, one per scoring date), the latest picked here: with
    # `ORDER BY ... LIMIT 1` DuckDB plans a top-N over the whole table and the lookup behind every
    # API churn call took about 6x as long.
    with wh.cursor() as cur:
        # The account's status and churn date ride along: both sides filtered, one round trip.
        found = cur.execute(
            "SELECT p.*, c.status AS account_status, c.churn_date AS account_churn_date "
            "FROM predictions p, customers c WHERE p.customer_id = ? AND c.customer_id = ?",
            [customer_id, customer_id],
        )
        names = [d[0] for d in found.description]
        rows: list[tuple[Any, ...]] = found.fetchall()
    if not rows:
        return None
    when, scored = names.index("as_of"), names.index("scored_at")
    latest: tuple[Any, ...] = max(rows, key=lambda row: (row[when], row[scored]))
    r = dict(zip(names, latest, strict=True))
    churned_on = r["account_churn_date"] if r["account_status"] != "active" else None
    # A cancellation dated past the data's latest day is still ahead (read only then: a scan).
    if churned_on is not None and churned_on > (today or health.data_as_of(wh) or churned_on):
        churned_on = None
    probability = float(r["churn_probability"])
    return AccountPrediction(
        customer_id=customer_id,
        churn_probability=probability,
        confidence_interval=ConfidenceInterval(
            lower=float(r["ci_low"]), upper=float(r["ci_high"]), level=CHURN_INTERVAL_LEVEL
        ),
        risk_tier=str(r["risk_tier"]),
        risk_score=float(r["risk_score"]) if pd.notna(r["risk_score"]) else None,
        components=_components_of(r),
        top_shap_features=_drivers(r["drivers"]),
        recommended_action=_text(r["recommended_action"]),
        model_version=str(r["model_version"]),
        as_of=pd.Timestamp(r["as_of"]).date(),
        scored_at=pd.Timestamp(r["scored_at"]).to_pydatetime(),
        revenue_at_risk=probability * float(r["mrr"] or 0) * 12 if pd.notna(r["mrr"]) else None,
        churned_on=churned_on,
    )


def _drivers(stored: Any) -> tuple[Driver, ...]:
    """The drivers stored with a score (any version's JSON), each with a label for people."""
    if not isinstance(stored, str) or not stored:
        return ()
    return tuple(
        d if d.label else d.model_copy(update={"label": feats.LABELS.get(d.feature, d.feature)})
        for d in drivers_from_json(stored)
    )


def _usage_weekly(wh: Warehouse, customer_id: str, as_of: date) -> pd.DataFrame:
    """Whole 7-day weeks ending on the data date (`week` is each one's first day): calendar weeks
    cut the last and first ones short, and the chart fell off a cliff on every data date but a Sunday."""
    return wh.df(
        """
        SELECT CAST($as_of AS DATE) - CAST(7 * (date_diff('day', date, CAST($as_of AS DATE)) // 7) + 6 AS INTEGER) AS week,
               event_type, sum(events)::BIGINT AS events, max(active_users) AS peak_active_users
        FROM usage_daily WHERE customer_id = $customer AND date > $start AND date <= $as_of
        GROUP BY ALL ORDER BY week, event_type
        """,
        {"customer": customer_id, "start": as_of - timedelta(days=USAGE_WEEKS * 7), "as_of": as_of},
    )


def _velocity(wh: Warehouse, customer_id: str, as_of: date, signup: date) -> UsageVelocity:
    e30, prev30, last_day = wh.rows(
        """
        SELECT coalesce(sum(events) FILTER (WHERE date > CAST(? AS DATE) - 30), 0),
               coalesce(sum(events) FILTER (WHERE date <= CAST(? AS DATE) - 30 AND date > CAST(? AS DATE) - 60), 0),
               max(date)
        FROM usage_daily WHERE customer_id = ? AND date <= ?
        """,
        [as_of, as_of, as_of, customer_id, as_of],
    )[0]
    compared = risk.decay_measured((as_of - signup).days)
    return UsageVelocity(
        events_last_30d=int(e30),
        events_prev_30d=int(prev30),
        change_30d=(e30 - prev30) / prev30 if prev30 and compared else None,
        usage_decay_score=(max(0.0, 1 - e30 / prev30) if prev30 else 0.0) if compared else None,
        last_active=last_day,
        days_since_last_event=(as_of - last_day).days if last_day else None,
    )


def _tickets(wh: Warehouse, customer_id: str) -> pd.DataFrame:
    return wh.df(
        """
        SELECT ticket_id, opened_at, closed_at, priority, topic, status, csat, subject
        FROM support_tickets WHERE customer_id = ? ORDER BY opened_at DESC LIMIT ?
        """,
        [customer_id, RECENT_TICKETS],
    )


def _support(wh: Warehouse, customer_id: str, as_of: date) -> SupportHealth:
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
    return SupportHealth(
        open_tickets=int(open_now),
        open_high_priority=int(high_open),
        tickets_90d=int(t90),
        avg_resolution_hours_90d=float(hours) if hours is not None else None,
        csat_avg_90d=float(csat) if csat is not None else None,
    )


def _running_subscriptions(wh: Warehouse, customer_id: str, as_of: date) -> pd.DataFrame:
    """Subscriptions running on `as_of` (start <= day < end, as MRR is derived), largest first."""
    return wh.df(
        """
        SELECT product, mrr, quantity, bill_period_months, discount, start_date, end_date
        FROM subscriptions
        WHERE customer_id = ? AND start_date <= ? AND (end_date IS NULL OR end_date > ?)
        ORDER BY mrr DESC, product
        """,
        [customer_id, as_of, as_of],
    )


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
