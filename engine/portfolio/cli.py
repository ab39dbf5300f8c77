"""`python -m engine kpis [--as-of D] [--json]`: the Overview's headline figures from the shell.

Active customers, MRR and ARR, 90-day logo and gross revenue churn, 12-month net revenue
retention, each with the cohort it rests on and its value 90 days earlier, computed by
`portfolio_kpis` as the Overview's cards are. Registered on import by `engine.cli`; runs as
the batch viewer (the whole book).
"""

from __future__ import annotations

import argparse

from engine.core import formatting as fmt
from engine.core.access import SYSTEM
from engine.core.commands import command, parse_date, print_json
from engine.core.config import SMALL_COHORT
from engine.data.warehouse import get_warehouse
from engine.portfolio.kpis import PortfolioKpis, portfolio_kpis


def _kpis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", type=parse_date, default=None, help="figures as of this date (default: data end)")
    p.add_argument("--json", action="store_true")


@command("kpis", "the Overview's headline figures: customers, MRR/ARR, logo and revenue churn, NRR", _kpis_args)
def _kpis(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    kpis = portfolio_kpis(wh, args.as_of, SYSTEM)
    if args.json:
        print_json(kpis)
        return 0
    print("\n".join(render(kpis)))
    return 0


def render(k: PortfolioKpis) -> list[str]:
    """The figures as lines: now, 90 days earlier (when they rest on enough customers), and the base."""
    if k.as_of is None:
        return ["No data yet: load data or run `.venv/bin/python -m engine demo`."]
    prev = k.previous
    rows = [
        ("Active customers", fmt.count(k.active_customers), fmt.count(prev.active_customers) if prev else "", ""),
        ("MRR", fmt.money(k.total_mrr), fmt.money(prev.total_mrr) if prev else "", ""),
        ("ARR", fmt.money(k.arr), fmt.money(prev.arr) if prev else "", ""),
    ]
    for label, rate in (
        ("Logo churn (90 days)", "logo_churn_90d"),
        ("Revenue churn (90 days)", "gross_revenue_churn_90d"),
        ("NRR (12 months)", "net_revenue_retention_12m"),
    ):
        earlier = fmt.percent(getattr(prev, rate)) if prev is not None and k.comparable(rate) else "not compared"
        rows.append((label, fmt.percent(getattr(k, rate)), earlier, f"{fmt.count(k.cohort(rate))} customers"))
    earlier_day = fmt.day(prev.as_of) if prev else ""
    lines = [f"As of {fmt.day(k.as_of)} (90 days earlier: {earlier_day})", ""]
    lines.append(f"{'figure':<26}{'now':>12}{'90 days earlier':>18}   rests on")
    lines += [f"{label:<26}{now:>12}{before:>18}   {base}" for label, now, before, base in rows]
    if any(not k.comparable(r) for r in ("logo_churn_90d", "net_revenue_retention_12m")):
        lines.append(f"\nA rate is not compared when either period rests on fewer than {SMALL_COHORT} customers.")
    return lines
