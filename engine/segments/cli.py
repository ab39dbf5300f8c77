"""`python -m engine segments [--as-of D] [--json]`: the book's archetypes with their size,
realised churn (90% interval), NRR, LTV and playbook, and the axis cuts behind them.
Registered on import by `engine.cli`; runs as the batch viewer (the whole book).
"""

from __future__ import annotations

import argparse

from engine import segments
from engine.core.access import SYSTEM
from engine.core.commands import command, parse_date, print_json
from engine.data.warehouse import get_warehouse
from engine.segments.axes import BY_KEY


def _segments_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of", type=parse_date, default=None, help="segment the book as of this date (default: data end)"
    )
    p.add_argument("--json", action="store_true")


@command("segments", "behavioural archetypes of the book: churn, NRR, LTV and a playbook each", _segments_args)
def _segments(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    report = segments.book_segments(wh, SYSTEM, as_of=args.as_of)
    if args.json:
        print_json(report)
        return 0
    print("\n".join(render(report)))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.0f}"


def render(report: segments.SegmentReport) -> list[str]:
    """The report as a readable table, its spread and the cuts behind it."""
    lines = [f"Segments as of {report.as_of}: {report.accounts:,} active accounts", ""]
    header = f"{'archetype':<33} {'accounts':>8} {'churn 90d':>9} {'90% interval':>15} {'NRR 12m':>8} {'LTV 12m':>10}"
    lines += [header, "-" * len(header)]
    for a in report.archetypes:
        band = a.churn_rate_interval
        interval = f"{band.lower * 100:.1f}-{band.upper * 100:.1f}%" if band else "-"
        name = a.name if not a.missing_axes else f"{a.name} (n/a)"
        lines.append(
            f"{name:<33} {a.accounts:>8,} {_pct(a.churn_rate):>9} {interval:>15} {_pct(a.nrr):>8} {_money(a.ltv_12m):>10}"
        )
    lines.append("")
    spread = report.churn_spread()
    if spread:
        low, high = spread
        lines.append(
            f"Churn spread: {low.name} {_pct(low.churn_rate)} to {high.name} {_pct(high.churn_rate)} "
            f"(book {_pct(report.book_churn_rate)}), from month ends {', '.join(map(str, report.outcome_months))}."
        )
    if report.nrr_months:
        lines.append(f"NRR from the accounts at month ends {', '.join(map(str, report.nrr_months))}.")
    lines += ["", "Archetypes:"]
    for a in report.archetypes:
        lines.append(f"* {a.name}: {a.description}")
        for finding in a.findings:
            lines.append(f"    {finding}")
        if a.missing_axes:
            missing = ", ".join(BY_KEY[k].label.lower() for k in a.missing_axes)
            lines.append(f"    Not available: this book has no data for {missing}.")
        lines.append(f"    Playbook: {a.playbook.motion} ({a.playbook.channel})")
    lines += ["", "Axes (levels learned from the book):"]
    for c in report.axes:
        lowest = f"{c.words[0]} <= {c.low_at_most:.3g} < " if c.low_at_most is not None else ""
        lines.append(
            f"  {c.label:<22} {lowest}{c.words[1]} <= {c.high_above:.3g} < {c.words[2]}   [{c.unit}; {c.accounts:,} accounts]"
        )
    for key in report.absent_axes:
        lines.append(f"  {BY_KEY[key].label:<22} absent: its data was not loaded")
    lines += ["", report.scope]
    return lines
