"""Overview speed when the book is split by a company's own many-valued column.

A company that loaded no plan tiers or industries gets its overview split by its own category
columns; one of many values (country) keeps its most common and groups the rest as "Other"
(`engine.portfolio.kpis.overview_groupings`). This builds such a company of N accounts with
the documented commands' code path (`ingest customers` with a country column of 60 values,
`ingest subscriptions` for 18 months of monthly terms) and times, warm, what the overview
runs for its split: choosing the groupings, MRR by group per month and churn by group.

Target (the overview's budget): each under 1 s at 100,000 accounts.

Run: `PYTHONPATH=. .venv/bin/python bench/overview_groups.py [--accounts 100000]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import ingest, warehouse
from engine.portfolio import kpis

START = pd.Timestamp("2024-06-01")
MONTHS = 18


def company(folder: Path, accounts: int, seed: int = 7) -> tuple[Path, Path]:
    """customers.csv (id, signup, country of 60 values, Zipf-like) and subscriptions.csv."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:06d}" for i in range(accounts)])
    signup = START + pd.to_timedelta(rng.integers(0, 30 * (MONTHS - 2), accounts), unit="D")
    weights = 1 / np.arange(1, 61) ** 1.1
    country = rng.choice([f"K{i:02d}" for i in range(60)], accounts, p=weights / weights.sum()).astype(object)
    country[rng.random(accounts) < 0.08] = None  # some accounts have none
    customers = folder / "customers.csv"
    pd.DataFrame({"customer_id": ids, "signup_date": signup.date, "country": country}).to_csv(customers, index=False)
    lives = 1 + rng.exponential(20, accounts)  # months until churn (one at least), many beyond the data
    end = signup + pd.to_timedelta((np.minimum(lives, 40) * 30.4).astype(int), unit="D")
    end = pd.Series(end).where(end < START + pd.DateOffset(months=MONTHS), pd.NaT)
    subs = pd.DataFrame(
        {
            "customer_id": ids,
            "product": "core",
            "start_date": signup.date,
            "end_date": end.dt.date,
            "mrr": rng.choice([49.0, 99.0, 299.0, 999.0], accounts, p=[0.4, 0.35, 0.2, 0.05]),
            "bill_period_months": 1,
        }
    )
    subscriptions = folder / "subscriptions.csv"
    subs.to_csv(subscriptions, index=False)
    return customers, subscriptions


def timed(fn, repeats: int = 5) -> tuple[float, object]:
    fn()  # warm
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        customers, subscriptions = company(folder, args.accounts)
        wh = warehouse.get_warehouse(folder / "data", read_only=False)
        ingest.load_file(wh, "customers", customers)
        ingest.load_file(wh, "subscriptions", subscriptions)
        print(f"{args.accounts:,} accounts with a 60-value country column loaded in {time.perf_counter() - t0:.1f} s")
        grouping_s, (rows_by, columns_by) = timed(lambda: kpis.overview_groupings(wh))
        as_of = kpis.portfolio_kpis(wh).as_of
        mrr_s, mrr = timed(lambda: kpis.mrr_by_plan(wh, as_of, rows_by))
        churn_s, churn = timed(lambda: kpis.churn_by_plan_industry(wh, as_of, 12, (rows_by, columns_by)))
        groups = sorted(set(mrr["plan_tier"]))
        print(f"split by {rows_by.key!r}: {len(groups)} groups (top {rows_by.top} and the rest), then {columns_by}")
        print(f"choose the groupings:        {grouping_s * 1000:7.1f} ms")
        print(f"MRR by group per month:      {mrr_s * 1000:7.1f} ms ({len(mrr):,} rows)")
        print(f"churn by group, 12 months:   {churn_s * 1000:7.1f} ms ({len(churn):,} cells)")
        worst = max(grouping_s, mrr_s, churn_s)
        print(f"  [{'PASS' if worst <= 1.0 else 'FAIL'}] each under 1 s (worst {worst:.2f} s)")


if __name__ == "__main__":
    main()
