"""Data commands: generate the demo company, load files into the warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.core.commands import command, parse_date, print_json, say
from engine.core.errors import BadInputError
from engine.data.warehouse import get_warehouse


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customers", type=int, default=5000, help="number of accounts (default 5000)")
    p.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    p.add_argument("--end", type=parse_date, default=None, help="last day of data, YYYY-MM-DD (default: today)")
    p.add_argument("--drift", action="store_true", help="shift behaviour in the last four months")


@command("generate", "replace the warehouse with a synthetic SaaS company", _generate_args)
def _generate(args: argparse.Namespace) -> int:
    from engine.data import demo as synth

    wh = get_warehouse(args.data_dir)
    report = synth.generate(wh, args.customers, args.seed, args.end, args.drift, progress=say)
    print(
        f"Generated {report.customers:,} customers (seed {report.seed}) from {report.start} to {report.end}"
        f"{' with drift' if report.drift else ''} in {report.seconds:.1f} s into {wh.link}"
    )
    for table, count in report.row_counts.items():
        print(f"  {table:<18} {count:>12,}")
    return 0


EVENT_MODES = ("new-days", "append", "replace-days")
EPOCH_CHOICES = ("s", "ms")


def _ingest_args(p: argparse.ArgumentParser) -> None:
    from engine.data.ingest.specs import TABLE_SPECS

    p.add_argument(
        "table",
        help=f"one of: {', '.join(TABLE_SPECS)} (customers first), or 'events' for a raw event log",
    )
    p.add_argument("file", type=Path, help="a .csv or .parquet file (for events also a quoted glob: 'logs/*.parquet')")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="DST=SRC",
        help="take warehouse column DST from file column SRC (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the load report as JSON")
    _event_args(p)


def _event_args(p: argparse.ArgumentParser) -> None:
    """Options of raw event logs (table 'events'); engine.data.ingest.events.MODES / EPOCH_UNITS
    (spelled out here so building the parser does not import the ingest package)."""
    p.add_argument(
        "--mode",
        choices=EVENT_MODES,
        default=None,
        help="events only: what the log holds. new-days (default): only days not loaded yet, refused when any "
        "of its days already have totals; append: additional events, added to the days' totals; replace-days: "
        "whole days, their totals replaced",
    )
    p.add_argument(
        "--epoch",
        choices=EPOCH_CHOICES,
        default=None,
        help="events only: timestamps are Unix times in seconds (s) or milliseconds (ms)",
    )


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        dst, sep, src = pair.partition("=")
        if not sep or not dst.strip() or not src.strip():
            raise BadInputError(f"--map '{pair}' is not DST=SRC; for example --map customer_id=account_id")
        mapping[dst.strip()] = src.strip()
    return mapping


@command("ingest", "validate and load a CSV/Parquet file into a table (all or nothing)", _ingest_args)
def _ingest(args: argparse.Namespace) -> int:
    from engine.data import ingest

    wh = get_warehouse(args.data_dir)
    mapping = _parse_mapping(args.map)
    report = ingest.load_file(wh, args.table, args.file, mapping, mode=args.mode, epoch=args.epoch)
    if args.json:
        print_json(report)
    else:
        print(report.summary())
    return 0
