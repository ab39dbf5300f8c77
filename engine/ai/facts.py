"""The fact sheet of one customer: everything an AI text about them may say.

Every figure comes from the warehouse (the Customer 360 figures and the latest
prediction), for one customer only, as of the data's latest day. The account's behavioural
segment (its archetype and the archetype's playbook, `engine.segments`) is a fact too. Prompts carry these
facts and nothing else; guardrails check every number of a generated text against them.

Ticket subjects are written by customers. They are kept apart (`TicketFact.subject`),
sent to a model only inside a delimited block marked untrusted, and never quoted by
the offline writer when they read like instructions.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from engine.accounts.customer import not_loaded
from engine.churn.features import renewal_dates
from engine.churn.risk import decay_measured
from engine.core.access import Viewer
from engine.core.contracts import plain
from engine.core.errors import NotFoundError, RadarError
from engine.core.renewal import billing_cycle_text
from engine.data import health
from engine.data.warehouse import Warehouse
from engine.segments import archetypes as segment_rules
from engine.segments import book as segment_book

RECENT_TICKETS = 5
HIGH_PRIORITIES = ("high", "urgent")


@dataclass(frozen=True)
class Prediction:
    """The latest stored churn prediction (see engine.churn.scoring)."""

    churn_probability: float
    ci_low: float
    ci_high: float
    risk_tier: str
    risk_score: float | None
    model_version: str
    predicted_as_of: date
    recommended_action: str | None
    arr_at_risk: float  # churn_probability x ARR: the yearly revenue the model expects to lose
    mrr_at_risk: float  # churn_probability x MRR


@dataclass(frozen=True)
class UsageFacts:
    events_last_30d: int
    events_prev_30d: int
    # Both None for an account younger than risk.DECAY_DAYS (its previous 30 days were partly before it).
    usage_change: float | None  # events_last_30d / events_prev_30d - 1; None without a previous month
    usage_decay_score: float | None  # max(0, 1 - events_last_30d / events_prev_30d), the risk component
    active_users_30d: float  # average daily active users over the last 30 days
    last_activity_date: date | None
    days_since_last_activity: int | None


@dataclass(frozen=True)
class TicketFact:
    ticket_id: str
    opened_on: date
    priority: str
    topic: str | None
    status: str
    subject: str | None  # customer-written: untrusted


@dataclass(frozen=True)
class TicketFacts:
    open_tickets: int
    open_high_priority: int
    tickets_90d: int
    high_priority_90d: int
    csat_avg_90d: float | None
    csat_responses_90d: int
    open_topics: tuple[str, ...]
    recent: tuple[TicketFact, ...]


@dataclass(frozen=True)
class OpportunityFact:
    opportunity_id: str
    opportunity_type: str
    stage: str
    amount: float | None
    close_date: date | None
    is_open: bool


@dataclass(frozen=True)
class SegmentFact:
    """The account's behavioural segment at `as_of` and what the playbook says to do with it."""

    archetype: str
    description: str  # generated from the archetype's rule (engine.segments.archetypes)
    motion: str  # the playbook's recommended motion
    channel: str
    talking_points: tuple[str, ...]
    as_of: date


@dataclass(frozen=True)
class FactSheet:
    """One customer's facts as of `as_of` (the data's latest day). See `load_facts`."""

    customer_id: str
    as_of: date
    name: str
    plan_tier: str | None
    industry: str | None
    region: str | None
    seats: int | None
    billing_cycle: str | None
    csm_owner: str | None
    gtm_stage: str | None
    status: str
    churn_date: date | None
    signup_date: date
    tenure_days: int
    renewal_date: date | None
    days_to_renewal: int | None
    mrr: float
    arr: float
    compliance_gap_score: float | None
    vendor_risk_flags: int | None
    prediction: Prediction | None
    drivers: tuple[dict, ...]  # {feature, value, shap_impact, reason}, strongest first
    usage: UsageFacts
    tickets: TicketFacts
    opportunities: tuple[OpportunityFact, ...] = field(default_factory=tuple)
    segment: SegmentFact | None = None  # None when not active, or too little data for segments
    # What the company never loaded for any account (engine.accounts.customer.NOT_LOADED keys):
    # "no tickets are loaded" is not "0 tickets open".
    not_loaded: tuple[str, ...] = ()

    @property
    def tenure_years(self) -> float:
        return round(self.tenure_days / 365.25, 1)

    @property
    def open_pipeline(self) -> float:
        """Sum of the amounts of open opportunities."""
        return float(sum(o.amount or 0 for o in self.opportunities if o.is_open))

    @property
    def risk_raising_drivers(self) -> tuple[dict, ...]:
        return tuple(d for d in self.drivers if (d.get("shap_impact") or 0) > 0)

    @property
    def risk_lowering_drivers(self) -> tuple[dict, ...]:
        return tuple(d for d in self.drivers if (d.get("shap_impact") or 0) < 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (dates as ISO strings), including the derived figures."""
        data: dict[str, Any] = plain(asdict(self))
        if self.segment is None:
            # Sheets without a segment keep the shape (and the audit hash) they always had.
            del data["segment"]
        if not self.not_loaded:  # likewise a book that loaded every table
            del data["not_loaded"]
        data["tenure_years"] = self.tenure_years
        data["open_pipeline"] = self.open_pipeline
        return data

    def facts_hash(self) -> str:
        """sha256 of the canonical JSON of the facts: the audit log records which facts a text saw."""
        payload = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def _day(value: date | datetime) -> date:
    """The day of a DATE or TIMESTAMP value."""
    return value.date() if isinstance(value, datetime) else value


def _day_or_none(value: date | datetime | None) -> date | None:
    return None if value is None else _day(value)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# -- loading ---------------------------------------------------------------------------
_CUSTOMER_SQL = """
SELECT c.customer_id, c.name, c.plan_tier, c.industry, c.region, c.seats, c.billing_cycle, c.csm_owner,
       c.gtm_stage, c.status, c.churn_date, c.signup_date, c.contract_end_date,
       (SELECT arg_max(m.mrr, m.month) FROM mrr_history m WHERE m.customer_id = c.customer_id AND m.month <= ?) AS mrr,
       (SELECT arg_max(r.compliance_gap_score, r.as_of) FROM risk_signals r
         WHERE r.customer_id = c.customer_id AND r.as_of <= ?) AS compliance_gap_score,
       (SELECT arg_max(r.vendor_risk_flags, r.as_of) FROM risk_signals r
         WHERE r.customer_id = c.customer_id AND r.as_of <= ?) AS vendor_risk_flags
FROM customers c
WHERE c.customer_id = ?
"""

_PREDICTION_SQL = """
SELECT churn_probability, ci_low, ci_high, risk_tier, risk_score, model_version, as_of, recommended_action,
       CAST(drivers AS VARCHAR) AS drivers
FROM predictions
WHERE customer_id = ?
ORDER BY as_of DESC, scored_at DESC
LIMIT 1
"""

# Windows match engine.churn.features: the last 30 days are (D-30, D], the previous 30 (D-60, D-30].
_USAGE_SQL = """
WITH days AS (
    SELECT date, sum(events) AS events, max(active_users) AS users
    FROM usage_daily
    WHERE customer_id = ? AND date <= ? AND date > CAST(? AS DATE) - 60
    GROUP BY date
)
SELECT coalesce(sum(events) FILTER (WHERE date > CAST(? AS DATE) - 30), 0) AS e30,
       coalesce(sum(events) FILTER (WHERE date <= CAST(? AS DATE) - 30), 0) AS e_prev30,
       coalesce(sum(users) FILTER (WHERE date > CAST(? AS DATE) - 30), 0) / 30.0 AS dau30,
       (SELECT max(date) FROM usage_daily WHERE customer_id = ? AND date <= ? AND events > 0) AS last_date
FROM days
"""

_TICKETS_SQL = """
SELECT ticket_id, opened_at, closed_at, priority, topic, status, csat, subject
FROM support_tickets
WHERE customer_id = ? AND opened_at < CAST(? AS DATE) + 1
ORDER BY opened_at DESC
"""

_OPPORTUNITIES_SQL = """
SELECT opportunity_id, opportunity_type, stage, amount, close_date
FROM gtm_opportunities
WHERE customer_id = ? AND coalesce(created_date, close_date) <= ?
ORDER BY close_date DESC NULLS LAST
"""

OPEN_STAGES_EXCLUDED = ("closed_won", "closed_lost")


def not_in_book_error(customer_id: str, viewer: Viewer | None) -> NotFoundError:
    """The same message whether the customer is missing or belongs to another CSM: a CSM learns nothing."""
    if viewer is not None and not viewer.sees_everyone:
        return NotFoundError(f"Customer '{customer_id}' is not in your book of accounts.")
    return NotFoundError(f"Customer '{customer_id}' does not exist. Check the ID on the Risk board.")


def load_facts(wh: Warehouse, customer_id: str, viewer: Viewer, as_of: date | None = None) -> FactSheet:
    """The fact sheet of `customer_id` as of `as_of` (default: the data's latest day).

    `viewer` is required (scoping is never opt-in): pass `engine.core.access.SYSTEM` for a
    batch job that may read every account. Raises NotFoundError when the customer does
    not exist or is outside the viewer's book (a CSM sees only accounts where csm_owner is them); the message names neither
    the account nor its figures.
    """
    customer_id = str(customer_id).strip()
    as_of = as_of or health.data_as_of(wh)
    if as_of is None:
        raise NotFoundError("The warehouse has no data yet. Run `.venv/bin/python -m engine demo` or load data first.")
    with wh.cursor() as cur:
        row = cur.execute(_CUSTOMER_SQL, [as_of, as_of, as_of, customer_id]).fetchall()
        if not row or not viewer.owns(row[0][7]):
            raise not_in_book_error(customer_id, viewer)
        cust = row[0]
        pred_rows = cur.execute(_PREDICTION_SQL, [customer_id]).fetchall()
        usage_row = cur.execute(
            _USAGE_SQL, [customer_id, as_of, as_of, as_of, as_of, as_of, customer_id, as_of]
        ).fetchall()[0]
        ticket_rows = cur.execute(_TICKETS_SQL, [customer_id, as_of]).fetchall()
        opp_rows = cur.execute(_OPPORTUNITIES_SQL, [customer_id, as_of]).fetchall()

    (cid, name, plan, industry, region, seats, billing, owner, stage, status, churn_date, signup, renewal) = cust[:13]
    mrr = _num(cust[13]) or 0.0
    signup = _day(signup)
    # The one renewal rule (features, board, Customer 360 and the portfolio view use it too).
    found = renewal_dates(wh, as_of, cid) if status == "active" else None
    renewal = found["renewal_date"].iloc[0] if found is not None and len(found) else None
    if found is not None and len(found) and found["billing_months"].iloc[0] is not None:
        billing = found["billing_months"].iloc[0]  # the subscription's cycle the renewal follows
    churn_date = _day_or_none(churn_date)
    prediction, drivers = _prediction(pred_rows, mrr)
    return FactSheet(
        customer_id=cid,
        as_of=as_of,
        name=name,
        plan_tier=plan,
        industry=industry,
        region=region,
        seats=int(seats) if seats is not None else None,
        billing_cycle=billing_cycle_text(billing),
        csm_owner=owner,
        gtm_stage=stage,
        status=status,
        churn_date=churn_date,
        signup_date=signup,
        tenure_days=max(0, ((churn_date or as_of) - signup).days),
        renewal_date=renewal if status == "active" else None,
        days_to_renewal=(renewal - as_of).days if renewal and status == "active" else None,
        mrr=mrr if status == "active" else 0.0,
        arr=12 * mrr if status == "active" else 0.0,
        compliance_gap_score=_num(cust[14]),
        vendor_risk_flags=int(cust[15]) if cust[15] is not None else None,
        prediction=prediction if status == "active" else None,
        drivers=drivers if status == "active" else (),
        usage=_usage(usage_row, as_of, (as_of - signup).days),
        tickets=_tickets(ticket_rows, as_of),
        opportunities=tuple(_opportunity(r, as_of) for r in opp_rows),
        segment=_segment(wh, viewer, cid, as_of) if status == "active" else None,
        # The writers speak of tickets, opportunities, owners and the profile, not of subscriptions.
        not_loaded=tuple(k for k in not_loaded(wh) if k != "subscriptions"),
    )


def _segment(wh: Warehouse, viewer: Viewer, customer_id: str, as_of: date) -> SegmentFact | None:
    """The account's archetype at `as_of`, read with the book's cuts of that date (the same
    classification the risk board and Customer 360 show); None when the book has no segments
    then (no dated activity), so a text never waits on, or fails for, a missing segment."""
    try:
        found = segment_book.segment_of_accounts(wh, viewer, as_of)
    except RadarError:
        return None
    row = found.loc[found["customer_id"] == customer_id, "archetype"]
    archetype = segment_rules.BY_NAME.get(str(row.iloc[0])) if len(row) else None
    if archetype is None:
        return None
    return SegmentFact(
        archetype=archetype.name,
        description=archetype.description,
        motion=archetype.playbook.motion,
        channel=archetype.playbook.channel,
        talking_points=archetype.playbook.talking_points,
        as_of=as_of,
    )


def _prediction(rows: list[tuple], mrr: float) -> tuple[Prediction | None, tuple[dict, ...]]:
    if not rows:
        return None, ()
    p, lo, hi, tier, score, version, as_of, action, drivers_json = rows[0]
    p = float(p)
    drivers = tuple(json.loads(drivers_json)) if drivers_json else ()
    prediction = Prediction(
        churn_probability=p,
        ci_low=float(lo),
        ci_high=float(hi),
        risk_tier=tier,
        risk_score=_num(score),
        model_version=version,
        predicted_as_of=_day(as_of),
        recommended_action=action,
        arr_at_risk=round(p * 12 * mrr, 2),
        mrr_at_risk=round(p * mrr, 2),
    )
    return prediction, drivers


def _usage(row: tuple, as_of: date, tenure_days: int) -> UsageFacts:
    e30, prev, dau, last = int(row[0]), int(row[1]), float(row[2]), _day_or_none(row[3])
    compared = decay_measured(tenure_days)
    return UsageFacts(
        events_last_30d=e30,
        events_prev_30d=prev,
        usage_change=(e30 / prev - 1) if prev and compared else None,
        usage_decay_score=(max(0.0, 1 - e30 / prev) if prev else 0.0) if compared else None,
        active_users_30d=round(dau, 1),
        last_activity_date=last,
        days_since_last_activity=(as_of - last).days if last else None,
    )


def _tickets(rows: list[tuple], as_of: date) -> TicketFacts:
    open_rows, recent_90, csats = [], [], []
    for ticket in rows:
        _tid, opened, closed, priority, _topic, _status, csat, _subject = ticket
        opened_day = _day(opened)
        if closed is None or _day(closed) > as_of:
            open_rows.append(ticket)
        if (as_of - opened_day).days < 90:
            recent_90.append(ticket)
        if csat is not None and closed is not None and 0 <= (as_of - _day(closed)).days < 90:
            csats.append(float(csat))
    topics = sorted({t[4] for t in open_rows if t[4]})
    return TicketFacts(
        open_tickets=len(open_rows),
        open_high_priority=sum(1 for t in open_rows if t[3] in HIGH_PRIORITIES),
        tickets_90d=len(recent_90),
        high_priority_90d=sum(1 for t in recent_90 if t[3] in HIGH_PRIORITIES),
        csat_avg_90d=round(sum(csats) / len(csats), 1) if csats else None,
        csat_responses_90d=len(csats),
        open_topics=tuple(topics),
        recent=tuple(
            TicketFact(
                ticket_id=t[0],
                opened_on=_day(t[1]),
                priority=t[3],
                topic=t[4],
                status="open" if t in open_rows else "closed",
                subject=t[7],
            )
            for t in rows[:RECENT_TICKETS]
        ),
    )


def _opportunity(row: tuple, as_of: date) -> OpportunityFact:
    oid, kind, stage, amount, close = row
    close = _day_or_none(close)
    return OpportunityFact(
        opportunity_id=oid,
        opportunity_type=kind,
        stage=stage,
        amount=_num(amount),
        close_date=close,
        is_open=stage not in OPEN_STAGES_EXCLUDED and (close is None or close > as_of),
    )
