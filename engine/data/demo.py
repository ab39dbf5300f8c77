"""Synthetic B2B SaaS company with ground truth, deterministic per seed.

How the world works (the generator's own truth):

* Every account has a latent health `h` that moves month by month: an AR(1) process
  around the account's own base health, with occasional shocks (a champion leaves).
  Health for month k is fixed at the start of month k.
* What the warehouse sees is driven by health, with noise: daily usage by event type
  (weekly seasonality, ramp-up after signup), support tickets (volume, priority,
  resolution time, CSAT), monthly compliance-gap scores and vendor-risk flags,
  expansion opportunities and the MRR changes they bring, contractions.
* Churn is a monthly hazard `sigmoid(a + b * h)` whose intercept depends on the
  contract: monthly contracts can leave on any billing day (more so in the first
  months), annual contracts mostly at their renewal date.
* `ground_truth.true_churn_prob_90d` at each month end D is the probability of churn in
  (D, D + 90 days] given the state at D (health, base health, contract) and nothing
  after it, by Monte Carlo over the same forward dynamics.

Everything is vectorised with numpy and bulk-loaded into DuckDB.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
from pydantic import Field

from engine.core import config
from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.core.values import sigmoid as _sigmoid
from engine.data.warehouse import TABLES, Warehouse

PLAN_TIERS = ("starter", "growth", "enterprise")
PLAN_SHARE = (0.50, 0.35, 0.15)
INDUSTRIES = ("fintech", "healthcare", "retail", "manufacturing", "education", "media", "logistics", "software")
INDUSTRY_SHARE = (0.15, 0.12, 0.14, 0.12, 0.10, 0.09, 0.10, 0.18)
# Base-health offsets: some industries are stickier than others.
INDUSTRY_HEALTH = (0.10, 0.15, -0.15, 0.05, -0.25, -0.20, 0.0, 0.10)
# Regulated industries carry larger compliance gaps.
INDUSTRY_COMPLIANCE = (0.12, 0.15, 0.0, 0.03, 0.05, 0.0, 0.02, 0.0)
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_SHARE = (0.45, 0.30, 0.15, 0.10)
CSM_POOL = (
    "ana.silva",
    "ben.okafor",
    "chloe.martin",
    "david.kim",
    "emma.rossi",
    "farid.haddad",
    "grace.chen",
    "hugo.lindqvist",
    "isla.murphy",
    "jonas.weber",
)
AE_POOL = ("kara.patel", "liam.obrien", "maya.johansson", "noah.dubois")
EVENT_TYPES = ("login", "report_view", "dashboard_edit", "api_call", "integration_sync")
# Share of daily active users who do each thing, events per such user, adoption rate.
EVENT_USER_SHARE = np.array([1.0, 0.55, 0.25, 0.15, 0.08])
EVENT_RATE = np.array([1.6, 3.5, 2.2, 40.0, 6.0])
EVENT_ADOPTION = np.array([1.0, 1.0, 0.65, 0.40, 0.35])
WEEKDAY_FACTOR = np.array([1.0, 1.02, 1.0, 0.97, 0.85, 0.22, 0.12])  # Mon..Sun
TICKET_TOPICS = ("billing", "bug", "integration", "performance", "access", "feature_request", "onboarding")
TICKET_SUBJECTS = {
    "billing": ("Invoice shows the wrong seat count", "Question about our renewal quote", "Card payment failed"),
    "bug": ("Export to CSV is missing rows", "Dashboard filters reset on reload", "Error 500 when saving a report"),
    "integration": ("Salesforce sync stopped overnight", "Webhook deliveries are delayed", "SSO login loop with Okta"),
    "performance": ("Reports take minutes to load", "API latency spikes in the afternoon", "Search is slow"),
    "access": ("Need to reset admin access", "New hires cannot log in", "Remove a former employee"),
    "feature_request": ("Request: scheduled PDF reports", "Request: audit log export", "Request: custom roles"),
    "onboarding": ("Help setting up our first workspace", "Training session for new team", "Data import guidance"),
}
PRIORITIES = ("low", "medium", "high", "urgent")
PRICE_PER_SEAT = {"starter": 29.0, "growth": 55.0, "enterprise": 95.0}
SEATS_LOG_MEAN = {"starter": np.log(14), "growth": np.log(70), "enterprise": np.log(450)}
ANNUAL_SHARE = {"starter": 0.25, "growth": 0.55, "enterprise": 0.90}
TIER_HEALTH = {"starter": -0.10, "growth": 0.05, "enterprise": 0.25}
TIER_HAZARD = {"starter": 0.20, "growth": 0.0, "enterprise": -0.30}

# Health dynamics and hazard (shared by the realised path and the ground truth).
RHO, SIGMA, SHOCK_P, SHOCK_SIZE = 0.85, 0.35, 0.025, 1.2
MONTHLY_A, MONTHLY_B, EARLY_BUMP = -3.6, -1.6, 0.6
RENEWAL_A, RENEWAL_B = -1.5, -2.2
OFFCYCLE_A, OFFCYCLE_B = -6.0, -1.2
GT_PATHS = 128
HISTORY_YEARS = 3
DRIFT_DAYS = 120

_ADJ = [
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Clear",
    "Coastal",
    "Crimson",
    "Delta",
    "Eagle",
    "Ember",
    "Evergreen",
    "First",
    "Golden",
    "Granite",
    "Harbor",
    "High",
    "Iron",
    "Juniper",
    "Keystone",
    "Lake",
    "Liberty",
    "Lunar",
    "Maple",
    "Meridian",
    "Metro",
    "Midwest",
    "Modern",
    "North",
    "Nova",
    "Oak",
    "Open",
    "Orbit",
    "Pacific",
    "Peak",
    "Pine",
    "Pioneer",
    "Polar",
    "Prairie",
    "Prime",
    "Quantum",
    "Quartz",
    "Rapid",
    "Red",
    "Ridge",
    "River",
    "Rocky",
    "Royal",
    "Sage",
    "Sierra",
    "Silver",
    "Solar",
    "Summit",
    "Swift",
    "Terra",
    "Tidal",
    "True",
    "Union",
    "United",
    "Vantage",
    "Vertex",
    "Vista",
    "West",
    "Wild",
    "Zenith",
    "Alpine",
    "Arctic",
    "Atlas",
    "Beacon",
    "Bold",
    "Cobalt",
    "Copper",
    "Crystal",
    "Echo",
    "Falcon",
    "Frontier",
    "Horizon",
    "Indigo",
]
_NOUN = [
    "Analytics",
    "Logistics",
    "Health",
    "Labs",
    "Systems",
    "Works",
    "Capital",
    "Retail",
    "Foods",
    "Energy",
    "Motors",
    "Media",
    "Learning",
    "Bank",
    "Pay",
    "Freight",
    "Clinic",
    "Studio",
    "Foundry",
    "Networks",
    "Cloud",
    "Data",
    "Dynamics",
    "Partners",
    "Supply",
    "Textiles",
    "Robotics",
    "Farms",
    "Pharma",
    "Insurance",
    "Realty",
    "Travel",
    "Games",
    "Security",
    "Software",
    "Devices",
    "Materials",
    "Brands",
    "Goods",
    "Outfitters",
    "Kitchens",
    "Water",
    "Solar",
    "Aero",
    "Marine",
    "Bio",
    "Care",
    "Finance",
    "Ledger",
    "Market",
    "Mobility",
    "Print",
    "Signal",
    "Sports",
    "Telecom",
    "Tools",
    "Vision",
    "Wellness",
    "Academy",
    "Apparel",
    "Audio",
    "Builders",
    "Chemicals",
    "Commerce",
    "Craft",
    "Digital",
    "Electric",
    "Fleet",
    "Genomics",
    "Hospitality",
    "Legal",
    "Lighting",
    "Metrics",
    "Optics",
    "Payments",
    "Power",
    "Rail",
    "Research",
]
_SUFFIX = (
    "Inc",
    "Ltd",
    "Group",
    "Co",
    "LLC",
    "GmbH",
    "SA",
    "Corp",
    "Holdings",
    "AG",
    "BV",
    "Oy",
    "AB",
    "PLC",
    "SAS",
    "KK",
)


class GenerateReport(Contract):
    """What `generate` built: rows per table and the seconds it took."""

    customers: int
    seed: int
    start: date
    end: date
    drift: bool
    row_counts: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0


def _company_names(rng: np.random.Generator, n: int) -> list[str]:
    capacity = len(_ADJ) * len(_NOUN) * len(_SUFFIX)
    picks = rng.choice(capacity, size=n, replace=n > capacity)
    a, rest = np.divmod(picks, len(_NOUN) * len(_SUFFIX))
    b, c = np.divmod(rest, len(_SUFFIX))
    names = [f"{_ADJ[i]} {_NOUN[j]} {_SUFFIX[k]}" for i, j, k in zip(a, b, c, strict=False)]
    if n > capacity:  # keep names unique past the word lists
        names = [f"{name} {i}" for i, name in enumerate(names)]
    return names


class _World:
    """The month-level state of every account: health, contracts, churn."""

    def __init__(self, n: int, seed: int, end: date, drift: bool):
        self.n, self.seed, self.end, self.drift = n, seed, end, drift
        seeds = np.random.SeedSequence(seed).spawn(8)
        self.rng_static, self.rng_health, self.rng_churn, self.rng_mrr = (np.random.default_rng(s) for s in seeds[:4])
        self.rng_gt, self.rng_tickets, self.rng_signals = (np.random.default_rng(s) for s in seeds[4:7])
        self.usage_seed = seeds[7]
        self.start = date(end.year - HISTORY_YEARS, end.month, 1)
        self.start_ts = pd.Timestamp(self.start)
        self.end_ts = pd.Timestamp(end)
        self.n_days = (end - self.start).days + 1
        self.months = pd.date_range(self.start, pd.Timestamp(end).replace(day=1), freq="MS")
        self.n_months = len(self.months)
        # Month index of every day, and each month's first-day offset, incl. 5 months past the end
        # so the ground truth can look 90 days ahead from the last month end.
        self.all_months = pd.date_range(self.start, periods=self.n_months + 5, freq="MS")
        self.month_first = ((self.all_months - self.start_ts).days).to_numpy()
        self.month_len = self.all_months.days_in_month.to_numpy()
        day_dates = pd.date_range(self.start, periods=self.n_days, freq="D")
        self.day_month = ((day_dates.year - self.start.year) * 12 + day_dates.month - self.start.month).to_numpy()
        self.day_weekday = day_dates.day_of_week.to_numpy()
        self._static()
        self._contracts()
        self._simulate()

    # -- who the customers are ------------------------------------------------
    def _static(self) -> None:
        rng, n = self.rng_static, self.n
        self.customer_id = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]
        self.name = _company_names(rng, n)
        self.tier = rng.choice(3, size=n, p=PLAN_SHARE)
        self.industry = rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_SHARE)
        self.region = rng.choice(len(REGIONS), size=n, p=REGION_SHARE)
        tiers = np.array(PLAN_TIERS)[self.tier]
        seats_mu = np.array([SEATS_LOG_MEAN[t] for t in tiers])
        self.seats = np.maximum(3, np.round(np.exp(seats_mu + rng.normal(0, 0.55, n)))).astype(np.int64)
        price = np.array([PRICE_PER_SEAT[t] for t in tiers]) * rng.normal(1.0, 0.08, n)
        self.mrr0 = np.round(self.seats * price, 0)
        self.annual = rng.random(n) < np.array([ANNUAL_SHARE[t] for t in tiers])
        n_csm = int(np.clip(n // 400, 6, 10))
        self.csm = rng.choice(n_csm, size=n)
        self.csm_pool = CSM_POOL[:n_csm]
        # Signups over the history, more of them recently (a growing company).
        last_signup = self.n_days - 8
        self.signup_day = np.floor(last_signup * rng.random(n) ** 0.75).astype(np.int64)
        self.base_health = (
            rng.normal(0.35, 0.75, n)
            + np.array(INDUSTRY_HEALTH)[self.industry]
            + np.array([TIER_HEALTH[t] for t in tiers])
        )
        self.util = rng.beta(60, 30, n)  # share of seats that are users when fully engaged
        self.intensity = np.exp(rng.normal(0, 0.3, n))
        self.adopted = rng.random((n, len(EVENT_TYPES))) < EVENT_ADOPTION
        self.adopted[:, 3] |= (self.tier == 2) & (rng.random(n) < 0.5)  # enterprises use the API more
        self.signup_dates = self.start_ts + pd.to_timedelta(self.signup_day, unit="D")
        self.signup_month = (
            (self.signup_dates.year - self.start.year) * 12 + self.signup_dates.month - self.start.month
        ).to_numpy()

    # -- contract calendar: the possible churn day and hazard in every month ---
    def _contracts(self) -> None:
        k_all = len(self.all_months)
        signup_dom = self.signup_dates.day.to_numpy()
        signup_moy = self.signup_dates.month.to_numpy()
        moy = self.all_months.month.to_numpy()
        ks = np.arange(k_all)[None, :]
        after_signup = ks > self.signup_month[:, None]
        billing_dom = np.minimum(signup_dom[:, None], self.month_len[None, :])
        renewal_month = after_signup & (moy[None, :] == signup_moy[:, None])
        tier_adj = np.array([TIER_HAZARD[t] for t in PLAN_TIERS])[self.tier][:, None]
        tenure_m = ks - self.signup_month[:, None]
        monthly_a = MONTHLY_A + tier_adj + EARLY_BUMP * (tenure_m <= 3)
        annual = self.annual[:, None]
        self.hazard_a = np.where(
            annual,
            np.where(renewal_month, RENEWAL_A + tier_adj, OFFCYCLE_A),
            monthly_a,
        )
        self.hazard_b = np.where(annual, np.where(renewal_month, RENEWAL_B, OFFCYCLE_B), MONTHLY_B)
        self.hazard_a = np.where(after_signup, self.hazard_a, -np.inf)
        # The day a churn in month k takes effect: the billing day (monthly), the renewal
        # date (annual, renewal month) or the month's last day (annual, off-cycle).
        dom = np.where(annual & ~renewal_month, self.month_len[None, :], billing_dom)
        self.churn_day_of_month = self.month_first[None, :] + dom - 1  # day index since start

    # -- the realised path ------------------------------------------------------
    def _simulate(self) -> None:
        n, m = self.n, self.n_months
        rng = self.rng_health
        h = np.full((n, m), np.nan)
        churn_month = np.full(n, -1)
        churn_day = np.full(n, -1)
        alive = np.zeros(n, dtype=bool)
        for k in range(m):
            starts = self.signup_month == k
            prev = h[:, k - 1] if k else np.zeros(n)
            shock = rng.random(n) < SHOCK_P
            step = self.base_health + RHO * (prev - self.base_health) + SIGMA * rng.normal(size=n) - SHOCK_SIZE * shock
            first = self.base_health + rng.normal(0, 0.5, n)
            h[:, k] = np.where(starts, first, step)
            alive |= starts
            q = _sigmoid(self.hazard_a[:, k] + self.hazard_b[:, k] * h[:, k])
            leaves = alive & (self.rng_churn.random(n) < q) & (self.churn_day_of_month[:, k] <= self.n_days - 1)
            churn_month[leaves] = k
            churn_day[leaves] = self.churn_day_of_month[leaves, k]
            alive &= ~leaves
            h[self.signup_month > k, k] = np.nan
        self.health = h
        self.churn_month = churn_month
        self.churn_day = churn_day  # -1 while active
        self.churned = churn_day >= 0
        self.last_active_day = np.where(self.churned, churn_day - 1, self.n_days - 1)

    def month_alive(self) -> np.ndarray:
        """(n, months) mask: the account exists during that month (signed up, not yet gone)."""
        ks = np.arange(self.n_months)[None, :]
        gone = np.where(self.churned, self.churn_month, 10**6)[:, None]
        return (ks >= self.signup_month[:, None]) & (ks <= gone)


# -- tables -------------------------------------------------------------------------
def _ids(world: _World, idx: np.ndarray) -> np.ndarray:
    return np.asarray(world.customer_id, dtype=object)[idx]


def _next_renewal(world: _World) -> pd.DatetimeIndex:
    """The first renewal after the end: next billing day (monthly) or anniversary (annual)."""
    end_day = world.n_days - 1
    current = world.churn_day_of_month[:, world.n_months - 1]
    following = world.churn_day_of_month[:, world.n_months]
    billing = np.where((~world.annual) & (current > end_day), current, following)
    monthly = world.start_ts + pd.to_timedelta(billing, unit="D")
    signup = world.signup_dates
    years = world.end.year - signup.year.to_numpy()
    anniversary = pd.DatetimeIndex([s + pd.DateOffset(years=int(y)) for s, y in zip(signup, years, strict=False)])
    anniversary = anniversary.where(anniversary > world.end_ts, anniversary + pd.DateOffset(years=1))
    return pd.DatetimeIndex(np.where(world.annual, anniversary, monthly))


def _customers(world: _World, gtm_stage: np.ndarray) -> pd.DataFrame:
    churn_dates = world.start_ts + pd.to_timedelta(np.where(world.churned, world.churn_day, 0), unit="D")
    renewal = _next_renewal(world)
    return pd.DataFrame(
        {
            "customer_id": world.customer_id,
            "name": world.name,
            "plan_tier": np.array(PLAN_TIERS)[world.tier],
            "industry": np.array(INDUSTRIES)[world.industry],
            "region": np.array(REGIONS)[world.region],
            "seats": world.seats,
            "signup_date": world.signup_dates.date,
            "contract_end_date": np.where(world.churned, churn_dates, renewal).astype("datetime64[ns]"),
            "billing_cycle": np.where(world.annual, 12, 1),  # months
            "csm_owner": np.array(world.csm_pool)[world.csm],
            "gtm_stage": gtm_stage,
            "status": np.where(world.churned, "churned", "active"),
            "churn_date": pd.Series(churn_dates).where(world.churned).to_numpy(),
        }
    )


def _opportunities_and_mrr(world: _World) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Expansion opportunities (from health at creation), the MRR they win, contractions,
    renewal opportunities; then the monthly MRR history."""
    rng, n, m = world.rng_mrr, world.n, world.n_months
    alive = world.month_alive()
    h = np.nan_to_num(world.health, nan=0.0)
    mrr = np.zeros((n, m))
    change = np.zeros((n, m), dtype=np.int8)  # 0 flat, 1 new, 2 expansion, 3 contraction, 4 churn
    current = world.mrr0.copy()
    opp_rows: list[tuple] = []
    pending_close = np.full(n, -1)
    pending_amount = np.zeros(n)
    pending_created = np.zeros(n, dtype=np.int64)
    end_day = world.n_days - 1
    ae = np.array(AE_POOL)
    for k in range(m):
        is_new = world.signup_month == k
        live = alive[:, k] & ~is_new
        # A churned account pays for its churn month; the following month records the churn.
        churned_before = world.churned & (world.churn_month < k)
        closing = live & (pending_close == k)
        won = closing & (rng.random(n) < _sigmoid(1.5 * h[:, k] + 0.3))
        gain = np.round(pending_amount / 12.0, 0)
        current = np.where(won, current + gain, current)
        for i in np.flatnonzero(closing):
            opp_rows.append(
                (
                    i,
                    "closed_won" if won[i] else "closed_lost",
                    "expansion",
                    float(pending_amount[i]),
                    int(pending_created[i]),
                    int(world.month_first[k]),
                    str(ae[i % len(ae)]),
                )
            )
        pending_close = np.where(closing, -1, pending_close)
        contract_ok = ~world.annual | (world.hazard_b[:, k] == RENEWAL_B)
        shrink = live & contract_ok & (rng.random(n) < 0.10 * _sigmoid(-2.5 * (h[:, k] + 0.4)))
        cut = np.round(current * rng.uniform(0.08, 0.25, n), 0)
        current = np.where(shrink, np.maximum(current - cut, 1.0), current)
        # New expansion opportunities from today's health; they close 1-3 months later.
        opens = (alive[:, k]) & (pending_close < 0) & (rng.random(n) < 0.12 * _sigmoid(2.5 * (h[:, k] - 0.9)))
        pending_close = np.where(opens, k + rng.integers(1, 4, n), pending_close)
        pending_amount = np.where(opens, np.round(current * rng.uniform(0.08, 0.3, n) * 12, 0), pending_amount)
        pending_created = np.where(opens, world.month_first[k] + rng.integers(0, 28, n), pending_created)
        mrr[:, k] = np.where(alive[:, k] & ~churned_before, current, 0.0)
        change[:, k] = np.select([is_new, won, shrink], [1, 2, 3], 0)
    # Opportunities still open at the end.
    for i in np.flatnonzero(pending_close >= 0):
        if alive[i, -1] and not world.churned[i] and pending_created[i] <= end_day:
            opp_rows.append(
                (
                    i,
                    "open",
                    "expansion",
                    float(pending_amount[i]),
                    int(pending_created[i]),
                    int(world.month_first[pending_close[i]]),
                    str(ae[i % len(ae)]),
                )
            )
    # Renewal opportunities for annual contracts, opened 90 days before each renewal.
    for k in range(1, m + 4):
        kk = min(k, len(world.all_months) - 1)
        renew = world.annual & (world.hazard_b[:, kk] == RENEWAL_B)
        day = world.churn_day_of_month[:, kk]
        created = day - 90
        exists = renew & (created <= end_day) & (created >= world.signup_day)
        exists &= ~world.churned | (world.churn_day >= day)
        for i in np.flatnonzero(exists):
            if day[i] <= end_day:
                stage = "closed_lost" if world.churned[i] and world.churn_day[i] == day[i] else "closed_won"
            else:
                left = day[i] - end_day
                stage = "negotiation" if left < 30 else "proposal" if left < 60 else "discovery"
            opp_rows.append(
                (
                    i,
                    stage,
                    "renewal",
                    float(mrr[i, min(k, m - 1)] or world.mrr0[i]) * 12,
                    int(max(created[i], world.signup_day[i])),
                    int(day[i]),
                    str(np.array(world.csm_pool)[world.csm[i]]),
                )
            )
    # Monthly MRR rows: from signup month to the end, plus the churn record the month after churn.
    rows_i, rows_k = np.nonzero(alive)
    churn_next = world.churned & (world.churn_month + 1 < m)
    mrr_rows = pd.DataFrame({"i": rows_i, "k": rows_k, "mrr": mrr[rows_i, rows_k], "change": change[rows_i, rows_k]})
    churn_rows = pd.DataFrame(
        {"i": np.flatnonzero(churn_next), "k": world.churn_month[churn_next] + 1, "mrr": 0.0, "change": 4}
    )
    mrr_rows = pd.concat([mrr_rows, churn_rows], ignore_index=True)
    labels = np.array(["flat", "new", "expansion", "contraction", "churn"])
    history = pd.DataFrame(
        {
            "i": mrr_rows["i"].to_numpy(),
            "month": world.all_months[mrr_rows["k"].to_numpy()].date,
            "mrr": mrr_rows["mrr"].to_numpy(),
            "change_type": labels[mrr_rows["change"].to_numpy()],
        }
    )
    opps = pd.DataFrame(
        opp_rows, columns=["i", "stage", "opportunity_type", "amount", "created_day", "close_day", "owner"]
    )
    has_open_exp = np.zeros(n, dtype=bool)
    has_open_renewal = np.zeros(n, dtype=bool)
    open_opps = opps[~opps["stage"].str.startswith("closed")]
    has_open_exp[open_opps.loc[open_opps["opportunity_type"] == "expansion", "i"].to_numpy()] = True
    has_open_renewal[open_opps.loc[open_opps["opportunity_type"] == "renewal", "i"].to_numpy()] = True
    tenure = end_day - world.signup_day
    gtm_stage = np.select(
        [world.churned, tenure < 90, has_open_renewal, has_open_exp],
        ["churned", "onboarding", "renewal", "expansion"],
        "adoption",
    )
    return history, opps, gtm_stage


def _usage_chunk(world: _World, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Daily usage rows for the accounts in idx (integer columns; ids joined in SQL)."""
    first = world.signup_day[idx]
    last = world.last_active_day[idx]
    lengths = np.maximum(last - first + 1, 0)
    total = int(lengths.sum())
    if total == 0:
        return pd.DataFrame({"i": [], "day": [], "event": [], "events": [], "users": []})
    owner = np.repeat(np.arange(len(idx)), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    day = first[owner] + offsets
    gi = idx[owner]
    health = world.health[gi, world.day_month[day]]
    ramp = np.minimum(1.0, 0.35 + offsets / 60.0)  # onboarding: usage builds over ~2 months
    engagement = _sigmoid(1.3 * health + 0.4) * ramp
    day_noise = rng.gamma(12.0, 1.0 / 12.0, total)
    dau_rate = world.seats[gi] * world.util[gi] * engagement * WEEKDAY_FACTOR[world.day_weekday[day]] * 0.6 * day_noise
    dau = np.minimum(rng.poisson(dau_rate), world.seats[gi])
    drift = world.drift & (day >= world.n_days - DRIFT_DAYS)
    out = []
    for t in range(len(EVENT_TYPES)):
        share = EVENT_USER_SHARE[t] * world.adopted[gi, t]
        rate = EVENT_RATE[t] * world.intensity[gi]
        if world.drift and EVENT_TYPES[t] == "report_view":
            rate = np.where(drift, rate * 0.45, rate)  # a redesign moved reports into dashboards
        if world.drift and EVENT_TYPES[t] == "api_call":
            rate = np.where(drift, rate * 2.2, rate)
        users = np.minimum(rng.poisson(dau * share), dau)
        events = rng.poisson(users * rate)
        keep = events > 0
        out.append(
            pd.DataFrame(
                {"i": gi[keep], "day": day[keep], "event": np.int8(t), "events": events[keep], "users": users[keep]}
            )
        )
    return pd.concat(out, ignore_index=True)


def _tickets(world: _World) -> pd.DataFrame:
    rng = world.rng_tickets
    alive = world.month_alive()
    ii, kk = np.nonzero(alive)
    h = world.health[ii, kk]
    # `rate` is tickets per full month; an account open for only part of a month (its signup
    # month, its churn month, the month the data ends in) gets that part of the month's tickets,
    # spread over the days it was open. Drawing a whole month and squeezing it into the days
    # seen would pile a month of tickets onto the last day of the data.
    lo = np.maximum(world.month_first[kk], world.signup_day[ii])
    hi = np.minimum(world.month_first[kk] + world.month_len[kk] - 1, world.last_active_day[ii])
    exposed = np.clip(hi - lo + 1, 0, None) / world.month_len[kk]
    rate = 0.05 * world.seats[ii] ** 0.4 * (1 + 2.0 * _sigmoid(-1.5 * h - 0.5)) * exposed
    if world.drift:  # a support backlog: ~85% more tickets (tickets_90d drifts past PSI 0.2)
        rate = np.where(world.month_first[kk] >= world.n_days - DRIFT_DAYS, rate * 1.85, rate)
    counts = rng.poisson(rate)
    ti = np.repeat(ii, counts)
    th = np.repeat(h, counts)
    lo = np.repeat(lo, counts)
    hi = np.repeat(hi, counts)
    m = len(ti)
    opened_day = lo + np.floor(rng.random(m) * (hi - lo + 1)).astype(np.int64)
    opened = world.start_ts + pd.to_timedelta(opened_day * 86400 + rng.integers(8 * 3600, 19 * 3600, m), unit="s")
    bad = _sigmoid(-1.2 * th)
    p_urgent = 0.03 + 0.10 * bad
    p_high = 0.12 + 0.18 * bad
    u = rng.random(m)
    priority_idx = np.where(u < p_urgent, 3, np.where(u < p_urgent + p_high, 2, np.where(u < 0.75, 1, 0)))
    base_hours = np.array([96.0, 40.0, 20.0, 6.0])[priority_idx]
    hours = base_hours * np.exp(rng.normal(0, 0.6, m) - 0.35 * th)
    closed = opened + pd.to_timedelta(np.round(hours * 3600), unit="s")
    still_open = closed > world.end_ts + pd.Timedelta(days=1)
    responded = (~still_open) & (rng.random(m) < 0.55)
    csat = np.clip(np.round(3.9 + 0.7 * th - 0.004 * hours + rng.normal(0, 0.8, m)), 1, 5)
    topic_idx = rng.integers(0, len(TICKET_TOPICS), m)
    subject_pick = rng.integers(0, 3, m)
    topics = np.array(TICKET_TOPICS)[topic_idx]
    subjects = [TICKET_SUBJECTS[t][s] for t, s in zip(topics, subject_pick, strict=False)]
    order = np.argsort(opened.to_numpy(), kind="stable")
    tickets = (
        pd.DataFrame(
            {
                "i": ti,
                "opened_at": opened,
                "closed_at": pd.Series(closed).where(~still_open).to_numpy(),
                "priority": np.array(PRIORITIES)[priority_idx],
                "topic": topics,
                "status": np.where(still_open, "open", "closed"),
                "csat": np.where(responded, csat, np.nan),
                "subject": subjects,
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    tickets.insert(0, "ticket_id", [f"T-{world.seed % 1000:03d}-{j + 1:07d}" for j in range(len(tickets))])
    return tickets


def _risk_signals(world: _World) -> pd.DataFrame:
    """Monthly compliance-gap scores and vendor-risk flags, published at each month end."""
    rng = world.rng_signals
    month_end_day = world.month_first[: world.n_months] + world.month_len[: world.n_months] - 1
    visible = month_end_day <= world.n_days - 1
    alive = world.month_alive() & visible[None, :]
    alive &= month_end_day[None, :] <= world.last_active_day[:, None]
    ii, kk = np.nonzero(alive)
    h = world.health[ii, kk]
    score = 0.42 - 0.11 * h + np.array(INDUSTRY_COMPLIANCE)[world.industry[ii]] + rng.normal(0, 0.12, len(ii))
    if world.drift:
        score = np.where(month_end_day[kk] >= world.n_days - DRIFT_DAYS, score + 0.15, score)
    flags = rng.poisson(0.15 + 0.9 * _sigmoid(-1.6 * h - 1.0))
    return pd.DataFrame(
        {
            "i": ii,
            "as_of": (world.start_ts + pd.to_timedelta(month_end_day[kk], unit="D")).date,
            "compliance_gap_score": np.round(np.clip(score, 0, 1), 3),
            "vendor_risk_flags": flags,
        }
    )


def _ground_truth(world: _World, chunk: int = 20_000) -> pd.DataFrame:
    """P(churn in (D, D+90] | state at D) for every active account at every month end D."""
    month_end_day = world.month_first[: world.n_months] + world.month_len[: world.n_months] - 1
    visible = month_end_day <= world.n_days - 1
    alive = np.zeros((world.n, world.n_months), dtype=bool)
    for k in np.flatnonzero(visible):
        d = month_end_day[k]
        alive[:, k] = (world.signup_day <= d) & (~world.churned | (world.churn_day > d))
    ii, kk = np.nonzero(alive)
    out = np.empty(len(ii))
    rng = world.rng_gt
    for s in range(0, len(ii), chunk):
        ci, ck = ii[s : s + chunk], kk[s : s + chunk]
        d = month_end_day[ck]
        mu = world.base_health[ci][:, None]
        h = np.repeat(world.health[ci, ck][:, None], GT_PATHS, axis=1)
        survive = np.ones((len(ci), GT_PATHS))
        for ahead in range(1, 5):
            months = ck + ahead
            shock = rng.random(h.shape) < SHOCK_P
            h = mu + RHO * (h - mu) + SIGMA * rng.normal(size=h.shape) - SHOCK_SIZE * shock
            day = world.churn_day_of_month[ci, months]
            inside = ((day > d) & (day <= d + 90))[:, None]
            q = _sigmoid(world.hazard_a[ci, months][:, None] + world.hazard_b[ci, months][:, None] * h)
            survive *= np.where(inside, 1.0 - q, 1.0)
        out[s : s + chunk] = 1.0 - survive.mean(axis=1)
    return pd.DataFrame(
        {
            "i": ii,
            "as_of": (world.start_ts + pd.to_timedelta(month_end_day[kk], unit="D")).date,
            "true_churn_prob_90d": np.round(out, 6),
        }
    )


def _load(cur, table: str, frame: pd.DataFrame, columns: str, select: str) -> None:
    """Bulk insert a frame whose `i` column indexes the customer list."""
    cur.register("_chunk", frame)
    try:
        cur.execute(
            f"INSERT INTO {table} ({columns}) SELECT {select} FROM _chunk c JOIN _keys k ON k.i = c.i"  # noqa: S608
        )
    finally:
        cur.unregister("_chunk")


def generate(
    warehouse: Warehouse,
    customers: int = 5000,
    seed: int = 42,
    end: date | None = None,
    drift: bool = False,
    progress: Callable[[str], None] | None = None,
) -> GenerateReport:
    """Replace the warehouse contents with a synthetic company; returns row counts."""
    if customers < 1:
        raise BadInputError(f"--customers must be at least 1 (got {customers}).")
    if customers > 2_000_000:
        raise BadInputError(f"--customers {customers} is more than this generator supports (2,000,000).")
    end = end or date.today()
    if end < date(2000, 1, 1):
        raise BadInputError(f"--end {end} is too early; use a date after 2000-01-01.")
    if end > config.latest_date():
        raise BadInputError(
            f"--end {end} is in the future: the data would record days that have not happened, and every "
            f"reader ignores dates after {config.latest_date()}. Use today or an earlier date."
        )
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    say("simulating account health and churn")
    world = _World(customers, seed, end, drift)
    history, opps, stage = _opportunities_and_mrr(world)
    cust = _customers(world, stage)
    say("support tickets, risk signals and ground truth")
    tickets = _tickets(world)
    signals = _risk_signals(world)
    truth = _ground_truth(world)
    opps = opps.assign(
        opportunity_id=[f"O-{world.seed % 1000:03d}-{j + 1:07d}" for j in range(len(opps))],
        created_date=(world.start_ts + pd.to_timedelta(opps["created_day"], unit="D")).dt.date,
        close_date=(world.start_ts + pd.to_timedelta(opps["close_day"], unit="D")).dt.date,
    )
    keys = pd.DataFrame({"i": np.arange(customers), "customer_id": world.customer_id})
    start = world.start
    with warehouse.transaction() as cur:
        for table in TABLES:
            statement = "DELETE FROM " + table  # noqa: S608 - names from the fixed TABLES allow-list
            cur.execute(statement)
        cur.register("_keys", keys)
        cur.register("_customers", cust)
        cur.execute("INSERT INTO customers BY NAME SELECT * FROM _customers")
        _load(
            cur,
            "mrr_history",
            history,
            "customer_id, month, mrr, change_type",
            "k.customer_id, c.month, c.mrr, c.change_type",
        )
        _load(
            cur,
            "support_tickets",
            tickets,
            "ticket_id, customer_id, opened_at, closed_at, priority, topic, status, csat, subject",
            "c.ticket_id, k.customer_id, c.opened_at, c.closed_at, c.priority, c.topic, c.status, c.csat, c.subject",
        )
        _load(
            cur,
            "gtm_opportunities",
            opps,
            "opportunity_id, customer_id, stage, opportunity_type, amount, created_date, close_date, owner",
            "c.opportunity_id, k.customer_id, c.stage, c.opportunity_type, c.amount, c.created_date, c.close_date, c.owner",
        )
        _load(
            cur,
            "risk_signals",
            signals,
            "customer_id, as_of, compliance_gap_score, vendor_risk_flags",
            "k.customer_id, c.as_of, c.compliance_gap_score, c.vendor_risk_flags",
        )
        _load(
            cur,
            "ground_truth",
            truth,
            "customer_id, as_of, true_churn_prob_90d",
            "k.customer_id, c.as_of, c.true_churn_prob_90d",
        )
        say("daily usage")
        usage_rng = np.random.default_rng(world.usage_seed)
        event_names = pd.DataFrame({"event": np.arange(len(EVENT_TYPES), dtype=np.int8), "event_type": EVENT_TYPES})
        cur.register("_events", event_names)
        step = 2000
        for s in range(0, customers, step):
            chunk = _usage_chunk(world, np.arange(s, min(s + step, customers)), usage_rng)
            cur.register("_chunk", chunk)
            cur.execute(
                "INSERT INTO usage_daily (customer_id, date, event_type, events, active_users) "
                "SELECT k.customer_id, ?::DATE + c.day::INTEGER, e.event_type, "
                "c.events, c.users FROM _chunk c JOIN _keys k ON k.i = c.i JOIN _events e ON e.event = c.event",
                [start],
            )
            cur.unregister("_chunk")
        for name in ("_keys", "_customers", "_events"):
            cur.unregister(name)
        _mark_generated(cur, seed, customers)
    counts = warehouse.table_counts()
    return GenerateReport(
        customers=customers,
        seed=seed,
        start=start,
        end=end,
        drift=drift,
        row_counts=counts,
        seconds=round(time.perf_counter() - t0, 2),
    )


# -- the "generated" marker ------------------------------------------------------------------------
# `generate` records, in the same transaction as the data, that this warehouse is synthetic and a
# fingerprint of its customer ids. Demo logins (engine.auth.users.create_demo_users) are made only for
# such a warehouse: loaded customer data (a real install) has no marker or another fingerprint.
_CUSTOMER_FINGERPRINT_SQL = (
    "SELECT count(*), md5(coalesce(string_agg(customer_id, ',' ORDER BY customer_id), '')) FROM customers"
)


def _mark_generated(cur, seed: int, customers: int) -> None:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS dataset_origin ("
        "origin VARCHAR NOT NULL, seed BIGINT, customers BIGINT, fingerprint VARCHAR, created_at TIMESTAMP)"
    )
    cur.execute("DELETE FROM dataset_origin")
    count, digest = cur.execute(_CUSTOMER_FINGERPRINT_SQL).fetchall()[0]
    cur.execute(
        "INSERT INTO dataset_origin VALUES ('generated', ?, ?, ?, now())",
        [seed, customers, f"{count}:{digest}"],
    )


def is_generated(warehouse: Warehouse) -> bool:
    """True when the warehouse holds exactly the customers `generate` wrote (a demo install)."""
    exists = warehouse.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", ["dataset_origin"])
    if not exists:
        return False
    marks = warehouse.rows("SELECT fingerprint FROM dataset_origin WHERE origin = 'generated'")
    if len(marks) != 1:
        return False
    count, digest = warehouse.rows(_CUSTOMER_FINGERPRINT_SQL)[0]
    return bool(count) and marks[0][0] == f"{count}:{digest}"
