"""`python -m engine scenario ...`: run, save, list, show, clone, delete and compare what-if plans.

Levers are options (`--outreach-top 50 --outreach-reduction 20 --outreach-cost 250 ...`) or a
JSON plan file (`--plan-file plan.json`, the `plan` of `scenario run --json`); each lever has a
repeatable segment option, e.g. `--discount-segment plan=starter --discount-segment tier=high,critical`.
`--segment NAME` (repeatable) narrows every lever to accounts in these behavioural segments
(archetypes, e.g. `--segment "Quiet and at risk"`); a lever's own `segment=` key wins over it.
Registered on import by `engine.cli` (see COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from engine import scenarios
from engine.core import formatting
from engine.core.access import Viewer
from engine.core.commands import command, print_json
from engine.core.errors import BadInputError
from engine.data.warehouse import get_warehouse

# Segment keys on the command line -> Segment fields (lists) or whole-day limits.
SEGMENT_KEYS = {
    "tier": "risk_tiers",
    "plan": "plans",
    "industry": "industries",
    "region": "regions",
    "owner": "owners",
    "segment": "segments",
    "renewal": "renewal_within_days",
    "tenure": "max_tenure_days",
}
DAY_KEYS = {"renewal_within_days", "max_tenure_days"}

# option dest -> (lever, setting)
LEVER_OPTIONS = {
    "outreach_top": ("outreach", "top_n"),
    "outreach_by": ("outreach", "target_by"),
    "outreach_reduction": ("outreach", "churn_reduction"),
    "outreach_cost": ("outreach", "cost_per_account"),
    "discount": ("discount", "percent"),
    "discount_elasticity": ("discount", "elasticity"),
    "usage_increase": ("adoption", "usage_increase"),
    "adoption_cost": ("adoption", "cost_per_account"),
    "resolution_cut": ("support", "resolution_time_cut"),
    "tickets_cleared": ("support", "open_tickets_cleared"),
    "support_cost": ("support", "cost_per_account"),
    "price_change": ("price", "percent"),
    "price_elasticity": ("price", "elasticity"),
}


def _lever_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("levers (all off by default; percentages are 0-100)")
    g.add_argument("--plan-file", type=Path, help="a JSON plan {lever: {setting: value, segment: {...}}}")
    g.add_argument("--outreach-top", type=int, help="CS outreach: contact this many accounts")
    g.add_argument("--outreach-by", choices=list(scenarios.TARGETING), help="order to contact them in")
    g.add_argument("--outreach-reduction", type=float, metavar="PCT", help="relative churn cut of a contacted account")
    g.add_argument("--outreach-cost", type=float, metavar="USD", help="cost per account contacted")
    g.add_argument("--discount", type=float, metavar="PCT", help="renewal discount off MRR")
    g.add_argument("--discount-elasticity", type=float, help="relative churn cut per unit of discount (default 1.5)")
    g.add_argument(
        "--usage-increase", type=float, metavar="PCT", help="adoption push: usage up (re-scored by the model)"
    )
    g.add_argument("--adoption-cost", type=float, metavar="USD", help="adoption push cost per account")
    g.add_argument("--resolution-cut", type=float, metavar="PCT", help="support: resolution time down (re-scored)")
    g.add_argument("--tickets-cleared", type=float, metavar="PCT", help="support: share of open tickets closed")
    g.add_argument("--support-cost", type=float, metavar="USD", help="support improvement cost per account")
    g.add_argument("--price-change", type=float, metavar="PCT", help="price change, -100 to 100")
    g.add_argument("--price-elasticity", type=float, help="relative churn change per unit of price change (default 1)")
    g.add_argument(
        "--segment",
        action="append",
        default=[],
        metavar="NAME",
        dest="segments",
        help="only accounts in this behavioural segment, for every lever (repeatable; "
        "`.venv/bin/python -m engine segments` lists them)",
    )
    for lever in scenarios.LEVERS:
        g.add_argument(
            f"--{lever}-segment",
            action="append",
            default=[],
            metavar="KEY=VALUES",
            help=f"narrow the {scenarios.LEVER_LABELS[lever].lower()}; keys: {', '.join(SEGMENT_KEYS)}",
        )


def _segment(pairs: list[str], lever: str) -> dict:
    out: dict = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip().lower()
        if not sep or key not in SEGMENT_KEYS or not values.strip():
            raise BadInputError(
                f"--{lever}-segment '{pair}' is not KEY=VALUES with KEY one of {', '.join(SEGMENT_KEYS)}; "
                "for example plan=starter,growth or renewal=90."
            )
        field = SEGMENT_KEYS[key]
        if field in DAY_KEYS:
            try:
                out[field] = int(values)
            except ValueError:
                raise BadInputError(f"--{lever}-segment {key}= takes a whole number of days; got '{values}'.") from None
        else:
            out[field] = [v.strip() for v in values.split(",") if v.strip()]
    return out


def plan_from_args(args: argparse.Namespace) -> scenarios.Plan:
    """The plan file (if any) with the lever options on top."""
    raw: dict = {}
    if args.plan_file:
        try:
            loaded = json.loads(Path(args.plan_file).read_text())
        except FileNotFoundError:
            raise BadInputError(f"No plan file at {args.plan_file}.") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{args.plan_file} is not valid JSON: {exc}.") from None
        raw = loaded.get("plan", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(raw, dict):
            raise BadInputError(f"{args.plan_file} must hold a JSON object of levers.")
        raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dest, (lever, setting) in LEVER_OPTIONS.items():
        value = getattr(args, dest)
        if value is not None:
            raw.setdefault(lever, {})[setting] = value
    for lever in scenarios.LEVERS:
        pairs = getattr(args, f"{lever}_segment")
        if pairs:
            raw.setdefault(lever, {})["segment"] = _segment(pairs, lever)
    if args.segments:
        unknown = [n for n in args.segments if scenarios.segment_name(n) is None]
        if unknown:
            raise BadInputError(
                f"--segment {', '.join(repr(n) for n in unknown)}: not a behavioural segment. "
                f"Segments are: {', '.join(scenarios.SEGMENT_NAMES)}."
            )
        for lever in scenarios.LEVERS:
            settings = raw.setdefault(lever, {})
            if isinstance(settings, dict) and isinstance(settings.get("segment", {}), dict):
                segment = settings["segment"] = dict(settings.get("segment") or {})
                segment.setdefault("segments", list(args.segments))
    return scenarios.plan_from_dict(raw)


def _cli_viewer() -> Viewer:
    """Batch commands act with admin rights; saved plans carry the operating-system user as author."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "system"
    return Viewer(username=who or "system", role="admin", name="Command line")


def _run(args: argparse.Namespace, viewer: Viewer) -> scenarios.ScenarioResult:
    plan = plan_from_args(args)
    wh = get_warehouse(args.data_dir, read_only=True)
    return scenarios.simulate(wh, plan, viewer, data_dir=args.data_dir)


_money = formatting.money  # the one money format (engine.core.formatting)


def _roi(value: float | None) -> str:
    return "n/a (no cost)" if value is None else f"{value * 100:,.1f}%"


def _print_result(result: scenarios.ScenarioResult) -> None:
    b, s = result.baseline, result.scenario
    print(f"Scores as of {result.as_of} ({b.accounts:,} accounts, model {result.scores_model_version})")
    print(f"{'':<28} {'baseline':>16} {'scenario':>16}   90% range (scenario)")
    rows = (
        (
            "Expected churned accounts",
            b.expected_churned,
            s.expected_churned,
            s.expected_churned_low,
            s.expected_churned_high,
            "{:,.1f}".format,
        ),
        # Money reads as on the page and in the readout ($45.3K): one formatter everywhere.
        ("Revenue lost, 90 days", b.mrr_lost_90d, s.mrr_lost_90d, s.mrr_lost_90d_low, s.mrr_lost_90d_high, _money),
        ("ARR lost, 12 months", b.arr_lost_12m, s.arr_lost_12m, s.arr_lost_12m_low, s.arr_lost_12m_high, _money),
    )
    for label, base, scen, low, high, write in rows:
        print(f"{label:<28} {write(base):>16} {write(scen):>16}   {write(low)} - {write(high)}")
    print(
        f"ARR retained {_money(result.revenue_retained)} ({_money(result.revenue_retained_low)} to "
        f"{_money(result.revenue_retained_high)}), price revenue {_money(result.price_revenue)}, "
        f"cost {_money(result.cost)}, net {_money(result.net_benefit)}, ROI {_roi(result.roi)}"
    )
    print("Levers:")
    for lever in result.levers:
        state = "on " if lever.active else "off"
        print(
            f"  {state} {lever.label:<20} {lever.basis:<10} {lever.assumption}; {lever.accounts:,} accounts "
            f"({lever.segment}); retained {_money(lever.revenue_retained)}, cost {_money(lever.cost)}"
        )
    if result.roi_at:
        print("Outreach ROI at top k: " + ", ".join(f"{k}: {_roi(v)}" for k, v in result.roi_at.items()))
    print(result.readout)
    for note in result.notes:
        print(f"note: {note}")


def _print_saved(saved: scenarios.SavedScenario) -> None:
    tags = f" [{', '.join(saved.tags)}]" if saved.tags else ""
    origin = f" (clone of {saved.cloned_from})" if saved.cloned_from else ""
    print(
        f"#{saved.id} {saved.name}{tags}{origin} by {saved.author}, {saved.created_at:%Y-%m-%d %H:%M}; "
        f"scores {saved.data_as_of}, model {saved.model_version}"
    )


def _scenario_args(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="scenario_command", metavar="ACTION")
    subs.required = True
    run = subs.add_parser("run", help="simulate a plan against the latest scores (nothing saved)")
    _lever_args(run)
    run.add_argument("--json", action="store_true", help="print the full result as JSON")

    save = subs.add_parser("save", help="simulate a plan and save it under a name")
    save.add_argument("name")
    save.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    _lever_args(save)
    save.add_argument("--json", action="store_true")

    listing = subs.add_parser("list", help="saved scenarios, newest first")
    listing.add_argument("--tag", default=None, help="only those with this tag")
    listing.add_argument("--json", action="store_true")

    show = subs.add_parser("show", help="a saved scenario with the numbers it was saved with")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")

    clone = subs.add_parser("clone", help="copy a saved scenario under a new name")
    clone.add_argument("id")
    clone.add_argument("--name", default=None, help="default: 'Copy of <name>'")

    remove = subs.add_parser("delete", help="delete a saved scenario")
    remove.add_argument("id")

    compare = subs.add_parser("compare", help="rank 2-5 saved scenarios by a metric")
    compare.add_argument("ids", nargs="+", metavar="ID")
    compare.add_argument("--rank-by", default="net_benefit", help=f"one of: {', '.join(scenarios.METRICS)}")
    compare.add_argument("--json", action="store_true")


@command("scenario", "what-if retention plans: run, save, list, show, clone, delete, compare", _scenario_args)
def _scenario(args: argparse.Namespace) -> int:
    viewer = _cli_viewer()
    action = args.scenario_command
    if action in ("run", "save"):
        result = _run(args, viewer)
        saved = scenarios.save(args.name, result, viewer, args.tag, args.data_dir) if action == "save" else None
        if args.json:
            print_json(scenarios.SavedRun.of(saved) if saved else result)
            return 0
        _print_result(result)
        if saved:
            print(f"Saved as #{saved.id} '{saved.name}'.")
        return 0
    if action == "list":
        found = scenarios.list_saved(viewer, args.tag, args.data_dir)
        if args.json:
            print_json(found)
        elif not found:
            print("No saved scenarios" + (f" tagged '{args.tag}'" if args.tag else "") + ".")
        for s in found if not args.json else ():
            _print_saved(s)
            print(f"    retained {_money(s.revenue_retained)}, cost {_money(s.cost)}, ROI {_roi(s.roi)}")
        return 0
    if action == "show":
        saved = scenarios.open_saved(args.id, viewer, args.data_dir)
        if args.json:
            print_json(scenarios.SavedRun.of(saved))
            return 0
        _print_saved(saved)
        _print_result(saved.opened)
        return 0
    if action == "clone":
        saved = scenarios.clone(args.id, viewer, args.name, args.data_dir)
        print(f"Cloned #{args.id} as #{saved.id} '{saved.name}'.")
        return 0
    if action == "delete":
        scenarios.delete_saved(args.id, viewer, args.data_dir)
        print(f"Deleted scenario #{args.id}.")
        return 0
    comparison = scenarios.compare(args.ids, viewer, args.rank_by, args.data_dir)
    if args.json:
        print_json(comparison)
        return 0
    print(
        f"Ranked by {comparison.metric.label} ({'higher' if comparison.metric.higher_is_better else 'lower'} is better)"
    )
    for row in comparison.rows.to_dict(orient="records"):
        print(
            f"  {row['rank']}. #{row['id']} {row['name']:<30} retained {_money(row['revenue_retained'])}, "
            f"cost {_money(row['cost'])}, net {_money(row['net_benefit'])}, ROI {_roi(row['roi'])}, "
            f"churned {row['expected_churned']:,.1f}"
        )
    for note in comparison.notes:
        print(f"note: {note}")
    return 0
