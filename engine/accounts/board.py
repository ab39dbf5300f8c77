"""The risk board: every active, scored customer in the viewer's book, ranked by revenue at risk.

`board_frame` reads the warehouse once per scoring run (scoped to the viewer); filtering,
search, sorting and paging (`filter_board`, `page_of`) then work on that frame in memory,
which keeps a 100,000-account board interactive. `with_segments` adds each account's
behavioural segment (archetype) to such a frame in one join, for the pages that show or
filter by it.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pydantic import Field

from engine.accounts import ltv
from engine.core.access import Viewer
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError, RadarError
from engine.core.renewal import renewal_date_sql
from engine.data import health
from engine.data.warehouse import Warehouse, billing_sql, latest_predictions_sql
from engine.segments import ARCHETYPES, segment_of_accounts

# The rows of the board: the latest prediction per customer at the latest scoring date (bound
# twice: engine.data.health.latest_scoring_date), for customers still active then. `{scope}` is
# the viewer's owner condition (engine-written).
_BOARD_SQL = """
WITH latest AS (<LATEST>)
SELECT c.customer_id, c.name, c.plan_tier, c.industry, c.region, c.csm_owner, c.gtm_stage,
       coalesce(p.mrr, 0) AS mrr,
       p.churn_probability, p.ci_low, p.ci_high, p.risk_tier, p.risk_score,
       coalesce(p.mrr, 0) * 12 * p.churn_probability AS revenue_at_risk,
       p.top_driver, p.days_to_renewal, p.recommended_action, p.model_version, p.as_of, p.scored_at,
       coalesce(r.revenue_to_date, 0) AS revenue_to_date
FROM latest p
JOIN customers c ON c.customer_id = p.customer_id
LEFT JOIN (
    SELECT customer_id, sum(mrr) AS revenue_to_date FROM mrr_history
    WHERE month <= ? GROUP BY customer_id
) r ON r.customer_id = p.customer_id
WHERE {scope}
""".replace("<LATEST>", latest_predictions_sql("as_of = ?"))

# Before the first scores (a company too young to train on): every active account of the book
# on the data date, with its MRR and renewal and no score columns. Bound: the data date, then
# the viewer's owner condition's parameters.
_UNSCORED_SQL = """
WITH _d AS (SELECT CAST(? AS DATE) AS d),
_mrr AS (
    SELECT m.customer_id, arg_max(m.mrr, m.month) AS mrr FROM mrr_history m, _d WHERE m.month <= _d.d
    GROUP BY m.customer_id
),
_billing AS (<BILLING>)
SELECT c.customer_id, c.name, c.plan_tier, c.industry, c.region, c.csm_owner, c.gtm_stage,
       coalesce(m.mrr, b.mrr, 0) AS mrr,
       CAST(NULL AS DOUBLE) AS churn_probability, CAST(NULL AS DOUBLE) AS ci_low, CAST(NULL AS DOUBLE) AS ci_high,
       CAST(NULL AS VARCHAR) AS risk_tier, CAST(NULL AS DOUBLE) AS risk_score,
       CAST(NULL AS DOUBLE) AS revenue_at_risk, CAST(NULL AS VARCHAR) AS top_driver,
       date_diff('day', _d.d, <RENEWAL>) AS days_to_renewal, CAST(NULL AS VARCHAR) AS recommended_action,
       CAST(NULL AS VARCHAR) AS model_version, _d.d AS as_of, CAST(NULL AS TIMESTAMP) AS scored_at,
       coalesce(r.revenue_to_date, 0) AS revenue_to_date
FROM customers c
CROSS JOIN _d
LEFT JOIN _mrr m ON m.customer_id = c.customer_id
LEFT JOIN _billing b ON b.customer_id = c.customer_id
LEFT JOIN (
    SELECT h.customer_id, sum(h.mrr) AS revenue_to_date FROM mrr_history h, _d WHERE h.month <= _d.d
    GROUP BY h.customer_id
) r ON r.customer_id = c.customer_id
WHERE c.signup_date <= _d.d AND (c.churn_date IS NULL OR c.churn_date > _d.d) AND {scope}
""".replace(
    "<RENEWAL>", renewal_date_sql("_d.d", "c.signup_date", "c.billing_cycle", "c.contract_end_date", "c.customer_id")
).replace("<BILLING>", billing_sql("subscriptions, _d", mrr="_d.d"))
# The board's columns that only a churn score fills.
SCORE_COLUMNS = (
    "churn_probability",
    "ci_low",
    "ci_high",
    "risk_tier",
    "risk_score",
    "revenue_at_risk",
    "top_driver",
    "recommended_action",
    "expected_revenue_12m",
    "expected_revenue_12m_low",
    "expected_revenue_12m_high",
    "ltv_12m",
    "model_version",
)
UNSCORED_SORTS = ("mrr", "days_to_renewal", "name")

SORTABLE = {
    "revenue_at_risk": "Revenue at risk (ARR)",
    "churn_probability": "Churn probability",
    "mrr": "MRR",
    "days_to_renewal": "Days to renewal",
    "name": "Name",
    "risk_score": "Risk score",
    "expected_revenue_12m": "Expected revenue, next 12 months",
}
TIER_ORDER = ("critical", "high", "medium", "low")


URGENT_TIERS = ("high", "critical")


class BoardFilters(Contract):
    """What a user narrows the board to; empty means "all"."""

    tiers: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()  # behavioural segments (archetype names); needs `with_segments`
    # The company's own category columns (country, channel ...): (name, values); needs `with_attributes`.
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    renewal_within_days: int | None = None
    min_mrr: float | None = None
    search: str = ""


NO_FILTERS = BoardFilters()


def describe_filters(f: BoardFilters) -> list[str]:
    """The filters in force, in words ("tier: high or critical", "MRR at least $5,000"), for an
    empty result to say what excluded everything."""
    words = [
        f"{label}: {' or '.join(values)}"
        for label, values in (
            ("tier", f.tiers),
            ("plan", f.plans),
            ("industry", f.industries),
            ("region", f.regions),
            ("owner", f.owners),
            ("segment", f.segments),
        )
        if values
    ]
    words += [f"{name.replace('_', ' ')}: {' or '.join(values)}" for name, values in f.attributes if values]
    if f.renewal_within_days is not None:
        words.append(f"renewing within {f.renewal_within_days} days")
    if f.min_mrr:
        words.append(f"MRR at least ${f.min_mrr:,.0f}")
    if f.search.strip():
        words.append(f"name or id containing '{f.search.strip()}'")
    return words


class BoardPage(Contract):
    """One page of the board, with totals over every matching row (not only this page)."""

    rows: Table  # this page's rows, board_frame's columns
    total: int  # matching rows
    page: int  # counted from 1
    pages: int
    page_size: int
    revenue_at_risk: float  # churn probability x MRR x 12, summed over the matching rows
    mrr: float
    high_or_critical: int  # matching rows in the high or critical tier
    as_of: date | None  # the scoring date
    model_version: str | None
    # Every matching row, sorted, for a CSV download; not part of the JSON (that is what paging is for).
    matching: Table = Field(default_factory=pd.DataFrame, exclude=True)
    notes: tuple[str, ...] = ()


def board_frame(wh: Warehouse, viewer: Viewer) -> pd.DataFrame:
    """Every scored customer the viewer may see (a CSM: their own book)."""
    scope, params = viewer.owner_filter("c.csm_owner")
    as_of = health.latest_scoring_date(wh)  # the latest scoring date; scores dated outside reality are ignored
    frame = wh.df(_BOARD_SQL.format(scope=scope), [as_of, as_of, *params])
    value = ltv.ltv_frame(frame, 12)
    frame["expected_revenue_12m"] = value["incremental_ltv"].to_numpy()
    frame["expected_revenue_12m_low"] = value["incremental_ltv_low"].to_numpy()
    frame["expected_revenue_12m_high"] = value["incremental_ltv_high"].to_numpy()
    frame["ltv_12m"] = value["forecasted_ltv"].to_numpy()
    return frame.sort_values("revenue_at_risk", ascending=False, kind="stable").reset_index(drop=True)


def unscored_frame(wh: Warehouse, viewer: Viewer) -> pd.DataFrame:
    """Before any account has a churn score (a book too young to train on): the viewer's active
    accounts on the data date with MRR and renewal, the score columns empty, largest MRR first,
    so a CSM has their book to work from meanwhile."""
    scope, params = viewer.owner_filter("c.csm_owner")
    day = health.data_as_of(wh)
    if day is None:  # no data at all: no rows, with the board's columns
        scope, params = "FALSE", []
    frame = wh.df(_UNSCORED_SQL.format(scope=scope), [day or date.today(), *params])
    for column in SCORE_COLUMNS:
        if column not in frame:
            frame[column] = float("nan")
    # Equal MRRs (one plan) by the soonest renewal: what a CSM without scores turns to first.
    order = frame.sort_values(["mrr", "days_to_renewal", "name"], ascending=[False, True, True], na_position="last")
    return order.reset_index(drop=True)


def is_scored(frame: pd.DataFrame) -> bool:
    """Whether these board rows carry churn scores (`unscored_frame`'s do not)."""
    return bool(len(frame)) and bool(frame["churn_probability"].notna().any())


SEGMENT_COLUMN = "archetype"
ARCHETYPE_ORDER = tuple(a.name for a in ARCHETYPES if a.kind != "insufficient") + tuple(
    a.name for a in ARCHETYPES if a.kind == "insufficient"
)


def with_segments(wh: Warehouse, viewer: Viewer, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows with customer_id) with an `archetype` column: each account's behavioural
    segment at the data's latest day (engine.segments). An account not active that day has
    none; when the book has no segments at all (no dated activity yet), the column is empty
    rather than the board failing."""
    try:
        found = segment_of_accounts(wh, viewer)
        by_account = pd.Series(found["archetype"].to_numpy(), index=found["customer_id"].to_numpy())
    except RadarError:
        by_account = pd.Series(dtype="str")
    out = frame.copy()
    out[SEGMENT_COLUMN] = out["customer_id"].map(by_account).astype("str")
    return out


ATTRIBUTE_PREFIX = "attribute:"  # a company's own column on the board, apart from the board's own names


def with_attributes(wh: Warehouse, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows with customer_id) with a column `attribute:<name>` per category attribute
    of the company's customers file (country, acquisition channel ...), for the board's
    filters; a customer without a value has none."""
    found = wh.df(
        "SELECT customer_id, attribute, text_value FROM customer_attributes "
        "WHERE kind = 'category' AND text_value IS NOT NULL"
    )
    if found.empty:
        return frame
    wide = found.pivot_table(index="customer_id", columns="attribute", values="text_value", aggfunc="first")
    out = frame.copy()
    for name in sorted(wide.columns):
        out[ATTRIBUTE_PREFIX + str(name)] = out["customer_id"].map(wide[name]).astype("str")
    return out


def filter_options(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter can take, from the rows the viewer sees."""

    def values(col: str) -> list[str]:
        return sorted(v for v in frame[col].dropna().unique().tolist()) if col in frame else []

    present = set(values("risk_tier"))
    segments = set(values(SEGMENT_COLUMN))
    return {
        "tiers": [t for t in TIER_ORDER if t in present],
        "plans": values("plan_tier"),
        "industries": values("industry"),
        "regions": values("region"),
        "owners": values("csm_owner"),
        # In the archetypes' own order (risk patterns first), accounts too young to classify last,
        # as the overview lists them.
        "segments": [a for a in ARCHETYPE_ORDER if a in segments] + sorted(segments - set(ARCHETYPE_ORDER)),
    }


def own_columns(frame: pd.DataFrame) -> dict[str, str]:
    """{board column: attribute name} of the company's own columns (`with_attributes`)."""
    return {str(c): str(c)[len(ATTRIBUTE_PREFIX) :] for c in frame.columns if str(c).startswith(ATTRIBUTE_PREFIX)}


def attribute_options(frame: pd.DataFrame) -> dict[str, list[str]]:
    """{attribute name: its values among these rows} for the company's own category columns
    that tell accounts apart (two or more values)."""
    options = {name: sorted(frame[column].dropna().unique().tolist()) for column, name in own_columns(frame).items()}
    return {name: values for name, values in options.items() if len(values) > 1}


def segment_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Accounts per behavioural segment among the rows given (for filter labels)."""
    if SEGMENT_COLUMN not in frame:
        return {}
    return {str(k): int(v) for k, v in frame[SEGMENT_COLUMN].value_counts().items()}


def filter_board(frame: pd.DataFrame, filters: BoardFilters) -> pd.DataFrame:
    """Rows matching every filter; search matches name or id, case-insensitively, as plain text."""
    keep = pd.Series(True, index=frame.index)
    for column, chosen in (
        ("risk_tier", filters.tiers),
        ("plan_tier", filters.plans),
        ("industry", filters.industries),
        ("region", filters.regions),
        ("csm_owner", filters.owners),
    ):
        if chosen:
            keep &= frame[column].isin(list(chosen))
    for name, chosen in filters.attributes:
        if chosen:
            column = ATTRIBUTE_PREFIX + name
            if column not in frame:
                raise BadInputError(f"These rows carry no '{name}'; read them with `with_attributes` first.")
            keep &= frame[column].isin(list(chosen))
    if filters.segments:
        if SEGMENT_COLUMN not in frame:
            raise BadInputError("These rows carry no behavioural segments; read them with `with_segments` first.")
        keep &= frame[SEGMENT_COLUMN].isin(list(filters.segments))
    if filters.renewal_within_days is not None:
        if filters.renewal_within_days < 0:
            raise BadInputError("The renewal window must be 0 days or more.")
        keep &= frame["days_to_renewal"].between(0, filters.renewal_within_days)
    if filters.min_mrr is not None:
        if filters.min_mrr < 0:
            raise BadInputError("Minimum MRR cannot be negative.")
        keep &= frame["mrr"] >= filters.min_mrr
    text = filters.search.strip().lower()
    if text:
        keep &= frame["name"].str.lower().str.contains(text, regex=False) | frame[
            "customer_id"
        ].str.lower().str.contains(text, regex=False)
    return frame[keep]


def sort_board(frame: pd.DataFrame, sort_by: str = "revenue_at_risk", descending: bool = True) -> pd.DataFrame:
    if sort_by not in SORTABLE:
        raise BadInputError(f"Cannot sort by '{sort_by}'. Choose one of: {', '.join(SORTABLE)}.")
    return frame.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")


def page_of(
    frame: pd.DataFrame,
    filters: BoardFilters = NO_FILTERS,
    sort_by: str = "revenue_at_risk",
    descending: bool = True,
    page: int = 1,
    page_size: int = 25,
) -> BoardPage:
    """Filter, sort and cut one page of the board (pages count from 1; past the end shows the last)."""
    if page_size < 1:
        raise BadInputError("Page size must be at least 1.")
    matching = sort_board(filter_board(frame, filters), sort_by, descending)
    total = len(matching)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = matching.iloc[(page - 1) * page_size : page * page_size].reset_index(drop=True)
    as_of = frame["as_of"].max() if len(frame) else None
    return BoardPage(
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        page_size=page_size,
        revenue_at_risk=float(matching["revenue_at_risk"].sum()),
        mrr=float(matching["mrr"].sum()),
        high_or_critical=int(matching["risk_tier"].isin(URGENT_TIERS).sum()),
        as_of=pd.Timestamp(as_of).date() if as_of is not None and not pd.isna(as_of) else None,
        model_version=str(frame["model_version"].iloc[0]) if is_scored(frame) else None,
        matching=matching,
    )


# Every CSV export (risk board, overview, Ask AI tables, scenario segments) names a column
# as the warehouse and the Ask-AI portfolio view do: plan_tier, csm_owner, revenue_at_risk.
EXPORT_COLUMNS = (
    "customer_id",
    "name",
    "plan_tier",
    "industry",
    "region",
    "csm_owner",
    "archetype",
    "mrr",
    "churn_probability",
    "ci_low",
    "ci_high",
    "risk_tier",
    "risk_score",
    "revenue_at_risk",
    "expected_revenue_12m",
    "expected_revenue_12m_low",
    "expected_revenue_12m_high",
    "ltv_12m",
    "top_driver",
    "days_to_renewal",
    "recommended_action",
    "model_version",
    "as_of",
)


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Board rows as a person would want them in a spreadsheet: EXPORT_COLUMNS, warehouse names,
    then the company's own columns under their own names."""
    named = own_columns(frame)
    scored = is_scored(frame)  # before the first scores, no columns of blanks
    keep = [c for c in EXPORT_COLUMNS if c in frame and (scored or c not in SCORE_COLUMNS)]
    keep += [c for c, name in named.items() if name not in frame]
    return frame[keep].rename(columns=named).reset_index(drop=True)


_BOOK_COUNTS_SQL = (
    "SELECT count(*), count(*) FILTER (WHERE churn_date IS NULL OR churn_date > ?), max(churn_date) "
    "FROM customers WHERE signup_date <= ? AND {scope}"
)


def empty_book_message(wh: Warehouse, viewer: Viewer) -> str:
    """Why the board is empty: for a CSM, no account filed under their owner name at all (the fix
    is an admin's); every account of the book churned by the data date (nothing to list); or
    active accounts without a score yet (the next scoring run)."""
    if not viewer.sees_everyone:
        owned = wh.rows("SELECT count(*) FROM customers WHERE csm_owner = ?", [viewer.book_owner])[0][0]
        if not owned:
            return (
                f"No account is filed under your name: no customer has csm_owner '{viewer.book_owner}'. If your "
                'CRM names you differently ("Maya Chen", or an e-mail address), an admin assigns your book on the Users page.'
            )
    scope, params = viewer.owner_filter("csm_owner")
    day = health.data_as_of(wh) or date.today()
    accounts, active, last_churn = wh.rows(_BOOK_COUNTS_SQL.format(scope=scope), [day, day, *params])[0]
    yours = "your" if not viewer.sees_everyone else "the"
    if accounts and not active:
        return (
            f"Every one of {yours} {accounts:,} accounts has churned (the last on {last_churn:%b %-d, %Y}), so "
            "there is no active account to list. Churned accounts are on their Customer 360 pages."
        )
    if not accounts:
        return f"No account in {yours} book had signed up by the data's latest day ({day:%b %-d, %Y})."
    return (
        f"None of {yours} {active:,} active accounts has a churn score yet (churned accounts are not scored; "
        "new ones appear after the next scoring run)."
    )
