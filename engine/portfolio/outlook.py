"""Churn-adjusted MRR outlook: where recurring revenue is heading over the next months.

expected MRR at month m = Σ over today's accounts of MRR × survival to m (from each
account's churn probability, as in engine.accounts.ltv)  +  net new and expansion MRR, at the
recent monthly pace, each month's inflow itself surviving at the book's average rate.

The band combines the churn intervals (book at the upper / lower churn bounds) with the
month-to-month variability of the inflow (normal approximation, growing with √m).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from engine.accounts import board, ltv
from engine.core.access import Viewer
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

INFLOW_MONTHS = 6  # recent months whose pace of new + expansion MRR is carried forward
LEVEL = 0.90

# Monthly MRR movements other than churn: new business, expansion and contraction, per
# month, from the change in each customer's MRR. `{scope}` is the viewer's owner condition.
_INFLOW_SQL = """
WITH moves AS (
    SELECT m.customer_id, m.month, m.change_type,
           m.mrr - coalesce(lag(m.mrr) OVER (PARTITION BY m.customer_id ORDER BY m.month), 0) AS delta
    FROM mrr_history m JOIN customers c ON c.customer_id = m.customer_id
    WHERE m.month <= ? AND {scope}
)
SELECT month,
       coalesce(sum(delta) FILTER (WHERE change_type = 'new'), 0) AS new_mrr,
       coalesce(sum(delta) FILTER (WHERE change_type = 'expansion'), 0) AS expansion_mrr,
       coalesce(sum(delta) FILTER (WHERE change_type = 'contraction'), 0) AS contraction_mrr
FROM moves GROUP BY month ORDER BY month
"""


class OutlookMonth(Contract):
    """One month of the outlook: expected MRR with its band, and where it comes from."""

    month_ahead: int
    month: date  # the month's first day
    expected_mrr: float  # book_mrr + inflow_mrr
    lo: float
    hi: float
    book_mrr: float  # what today's accounts are expected to still pay
    inflow_mrr: float  # new + expansion - contraction at the recent pace, itself churning
    expected_churned_mrr: float  # today's MRR minus book_mrr


class Outlook(Contract):
    """The churn-adjusted MRR outlook: one row per month ahead (`frame`) and its assumptions."""

    as_of: date
    current_mrr: float
    monthly_inflow: float  # net new + expansion - contraction MRR per month (recent average)
    inflow_sd: float
    frame: Table  # OutlookMonth's columns, one row per month ahead
    assumptions: tuple[str, ...]

    def at(self, months: int) -> OutlookMonth:
        row = self.frame[self.frame["month_ahead"] == months]
        if row.empty:
            raise BadInputError(f"The outlook covers 1 to {int(self.frame['month_ahead'].max())} months.")
        return OutlookMonth(**{str(k): v for k, v in row.iloc[0].items()})


def inflow_history(wh: Warehouse, viewer: Viewer, as_of: date) -> pd.DataFrame:
    scope, params = viewer.owner_filter("c.csm_owner")
    frame = wh.df(_INFLOW_SQL.format(scope=scope), [as_of, *params])
    frame["net_inflow"] = frame["new_mrr"] + frame["expansion_mrr"] + frame["contraction_mrr"]
    return frame


def mrr_outlook(wh: Warehouse, viewer: Viewer, months: int = 12) -> Outlook:
    if not 1 <= months <= 36:
        raise BadInputError(f"The outlook horizon must be 1 to 36 months (got {months}).")
    book = board.board_frame(wh, viewer)
    if book.empty:
        raise BadInputError("No scored accounts to project; run scoring first (`.venv/bin/python -m engine score`).")
    as_of = pd.Timestamp(book["as_of"].max()).date()
    mrr = book["mrr"].to_numpy(dtype=float)
    keep = 1 - ltv.monthly_hazard(book["churn_probability"].to_numpy(dtype=float))
    keep_lo = 1 - ltv.monthly_hazard(book["ci_high"].to_numpy(dtype=float))
    keep_hi = 1 - ltv.monthly_hazard(book["ci_low"].to_numpy(dtype=float))
    ahead = np.arange(1, months + 1)
    book_mrr = np.array([(mrr * keep**m).sum() for m in ahead])
    book_lo = np.array([(mrr * keep_lo**m).sum() for m in ahead])
    book_hi = np.array([(mrr * keep_hi**m).sum() for m in ahead])

    history = inflow_history(wh, viewer, as_of)
    # Only whole months before the scoring date count towards the pace.
    recent = history[pd.to_datetime(history["month"]) < pd.Timestamp(as_of).replace(day=1)].tail(INFLOW_MONTHS)
    pace = float(recent["net_inflow"].mean()) if len(recent) else 0.0
    spread = float(recent["net_inflow"].std(ddof=1)) if len(recent) > 1 else 0.0
    # Inflow added k months ago survives at the book's MRR-weighted average monthly rate.
    avg_keep = float((mrr * keep).sum() / mrr.sum()) if mrr.sum() > 0 else 1.0
    inflow = np.array([pace * sum(avg_keep**j for j in range(m)) for m in ahead])
    z = norm.ppf(0.5 + LEVEL / 2)
    inflow_band = z * spread * np.sqrt(ahead)
    start = pd.Timestamp(as_of).replace(day=1)
    frame = pd.DataFrame(
        {
            "month_ahead": ahead,
            "month": [(start + pd.DateOffset(months=int(m))).date() for m in ahead],
            "expected_mrr": book_mrr + inflow,
            "lo": book_lo + inflow - inflow_band,
            "hi": book_hi + inflow + inflow_band,
            "book_mrr": book_mrr,
            "inflow_mrr": inflow,
            "expected_churned_mrr": mrr.sum() - book_mrr,
        }
    )
    return Outlook(
        as_of=as_of,
        current_mrr=float(mrr.sum()),
        monthly_inflow=pace,
        inflow_sd=spread,
        frame=frame,
        assumptions=(
            "Each account keeps today's MRR while it stays; its monthly churn hazard comes from its 90-day "
            "churn probability (constant over the horizon).",
            f"Net new + expansion − contraction MRR continues at the average of the last {len(recent)} whole "
            f"months ({pace:,.0f} per month), and new revenue churns at the book's average rate.",
            f"The band ({LEVEL:.0%}) combines the churn intervals with the month-to-month spread of that inflow.",
        ),
    )
