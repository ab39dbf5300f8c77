"""Account commands: one account against its peers, what-if re-scoring, plan benchmarks.

`--json` prints the contract (`PeerPosition`, `WhatIfResult`, `SegmentBenchmarks`). `--user
NAME --role csm` answers as that CSM would be answered (their book only); the default is the
batch viewer, which sees every account.
"""

from __future__ import annotations

import argparse
import math

from engine.auth import users
from engine.core.access import ROLES, SYSTEM, Viewer
from engine.core.commands import command, parse_date, print_json
from engine.core.errors import BadInputError
from engine.core.formatting import money
from engine.data.warehouse import get_warehouse


def _viewer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--user", default=None, help="answer as this user (with --role); default: the batch viewer")
    p.add_argument("--role", default="csm", choices=ROLES, help="role of --user (default csm)")


def _viewer(args: argparse.Namespace) -> Viewer:
    return users.acting_viewer(args.user, args.role, args.data_dir) if args.user else SYSTEM


def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x * 100:.1f}%"


def _figure(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:,.4g}"


# -- whatif ---------------------------------------------------------------------------------------
def _change(text: str) -> tuple[str, float]:
    """An argparse type: lever=value."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name.strip() or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"'{text}' is not lever=value, e.g. --set open_tickets=0")
    return name.strip(), number


def _whatif_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id")
    p.add_argument(
        "--set",
        dest="changes",
        type=_change,
        action="append",
        default=[],
        metavar="LEVER=VALUE",
        help="change a lever (repeatable), e.g. --set events_last_30d=1200 --set discount=10; "
        "without any, the account is re-scored as stored and its levers are listed",
    )
    _viewer_args(p)


@command("whatif", "re-score one account with changed levers, beside its stored score", _whatif_args)
def _whatif(args: argparse.Namespace) -> int:
    from engine.accounts import whatif

    changes = dict(args.changes)
    if len(changes) != len(args.changes):
        raise BadInputError("A lever is set twice; give each --set once.")
    wh = get_warehouse(args.data_dir, read_only=True)
    result = whatif.simulate(wh, _viewer(args), args.customer_id, changes)
    if args.json:
        print_json(result)
        return 0
    print(f"{result.customer_id}: re-scored as of {result.as_of} with {result.model_version}")
    band = result.stored_confidence_interval
    print(
        f"  stored   {_pct(result.stored_churn_probability)}  [{_pct(band.lower)}, {_pct(band.upper)}]  {result.stored_risk_tier}"
    )
    band = result.confidence_interval
    print(
        f"  what-if  {_pct(result.churn_probability)}  [{_pct(band.lower)}, {_pct(band.upper)}]  {result.risk_tier}"
        f"  ({result.change_pp:+.1f} pp)"
    )
    for change in result.feature_changes:
        print(f"  {change.label}: {_figure(change.before)} -> {_figure(change.after)}")
    if result.moved_drivers:
        print("Drivers that moved (push on churn, percentage points):")
        for move in result.moved_drivers:
            print(f"  {move.label}: {move.before_pp:+.1f} -> {move.after_pp:+.1f} ({move.change_pp:+.1f})")
    print("Levers (value now, range the model learnt):")
    for lever in result.levers:
        print(
            f"  {lever.name:<18} {_figure(lever.value):>10}  [{_figure(lever.low)}, {_figure(lever.high)}] {lever.unit}"
        )
    for note in result.notes:
        print(f"Note: {note}")
    return 0


# -- peers ----------------------------------------------------------------------------------------
def _peers_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id")
    p.add_argument("--as-of", type=parse_date, default=None, help="the date compared (default: the data's latest day)")
    _viewer_args(p)


@command("peers", "one account's percentile among its peers (plan, industry, size)", _peers_args)
def _peers(args: argparse.Namespace) -> int:
    from engine.accounts import peers

    wh = get_warehouse(args.data_dir, read_only=True)
    position = peers.account_position(wh, _viewer(args), args.customer_id, args.as_of)
    if args.json:
        print_json(position)
        return 0
    group = position.group
    print(f"{position.customer_id} as of {position.as_of}: peers {group.description} ({group.level}, n = {group.n})")
    for m in position.metrics:
        standing = "—" if m.better_than is None else f"better than {m.better_than * 100:.0f}% of peers"
        print(f"  {m.label:<48} {_figure(m.value):>10}  median {_figure(m.peer_median):>10}  {standing}")
    print(f"Percentile: {position.percentile_definition}.")
    for note in position.notes:
        print(f"Note: {note}")
    return 0


# -- benchmarks -----------------------------------------------------------------------------------
def _benchmarks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", type=parse_date, default=None, help="the date (default: the data's latest day)")
    _viewer_args(p)


@command("benchmarks", "churn, NRR and LTV per plan (and segment) vs the book and last quarter", _benchmarks_args)
def _benchmarks(args: argparse.Namespace) -> int:
    from engine.accounts import peers

    wh = get_warehouse(args.data_dir, read_only=True)
    result = peers.segment_benchmarks(wh, _viewer(args), args.as_of)
    if args.json:
        print_json(result)
        return 0
    print(f"As of {result.as_of} (last quarter: {result.previous_as_of}); rows for {result.scope}")
    print(f"  {'':<34} {'accounts':>8}  {'churn 90d':>9} {'q/q':>9}  {'NRR 12m':>8}  {'LTV 12m':>8}")
    book, before = result.book, result.book_previous.churn_rate_90d
    change = None if book.churn_rate_90d is None or before is None else book.churn_rate_90d - before
    _benchmark_line("Whole book", book.accounts, book.churn_rate_90d, change, book.nrr_12m, book.ltv_12m)
    for dimension, title in (("plan_tier", "By plan"), ("segment", "By behavioural segment")):
        rows = result.rows[result.rows["dimension"] == dimension] if len(result.rows) else result.rows
        if len(rows):
            print(f"{title}:")
        for row in rows.to_dict(orient="records"):
            _benchmark_line(
                row["group"],
                row["accounts"],
                row["churn_rate_90d"],
                row["churn_rate_90d_vs_prev"],
                row["nrr_12m"],
                row["ltv_12m"],
            )
    for note in result.notes:
        print(f"Note: {note}")
    return 0


def _benchmark_line(
    name: str, accounts: int, churn: float | None, churn_change: float | None, nrr: float | None, ltv: float | None
) -> None:
    change = "—" if churn_change is None or math.isnan(churn_change) else f"{churn_change * 100:+.1f} pp"
    print(f"  {name[:34]:<34} {accounts:>8,}  {_pct(churn):>9} {change:>9}  {_pct(nrr):>8}  {money(ltv):>8}")
