"""`python -m engine [--data-dir DIR] COMMAND ...`: batch commands for schedulers and people.

Exit codes: 0 success, 2 bad input or an expected failure (one paragraph on stderr,
no traceback), 1 an unexpected bug.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from engine.core import config
from engine.core.errors import BadInputError, RadarError
from engine.data.warehouse import TABLES, close_all, get_warehouse

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register a sub-command: its handler, its arguments and its one-line help."""

    def register(handler: Handler) -> Handler:
        _COMMANDS[name] = (handler, arguments, help_text)
        return handler

    return register


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD, e.g. 2026-06-30") from None


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def _say(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# -- data ------------------------------------------------------------------------------
def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customers", type=int, default=5000, help="number of accounts (default 5000)")
    p.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    p.add_argument("--end", type=_date, default=None, help="last day of data, YYYY-MM-DD (default: today)")
    p.add_argument("--drift", action="store_true", help="shift behaviour in the last four months")


@command("generate", "replace the warehouse with a synthetic SaaS company", _generate_args)
def _generate(args: argparse.Namespace) -> int:
    from engine.data import demo as synth

    wh = get_warehouse(args.data_dir)
    report = synth.generate(wh, args.customers, args.seed, args.end, args.drift, progress=_say)
    print(
        f"Generated {report.customers:,} customers (seed {report.seed}) from {report.start} to {report.end}"
        f"{' with drift' if report.drift else ''} in {report.seconds:.1f} s into {wh.path}"
    )
    for table, count in report.row_counts.items():
        print(f"  {table:<18} {count:>12,}")
    return 0


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "table", help=f"one of: {', '.join(t for t in TABLES if t != 'predictions')}, or 'events' for a raw event log"
    )
    p.add_argument("file", type=Path, help="a .csv or .parquet file")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="DST=SRC",
        help="take warehouse column DST from file column SRC (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the load report as JSON")


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
    report = ingest.load_file(wh, args.table, args.file, _parse_mapping(args.map))
    if args.json:
        _print_json(report.as_dict())
    else:
        print(report.summary())
    return 0


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


@command("info", "row counts, date ranges and model status", _info_args)
def _info(args: argparse.Namespace) -> int:
    from engine.data import health

    wh = get_warehouse(args.data_dir)
    status = health.warehouse_status(wh, args.data_dir)
    if args.json:
        _print_json(status)
        return 0
    print(f"Warehouse: {wh.path} (schema v{status['schema_version']})")
    print(f"Data as of: {status['data_as_of'] or 'no data yet'}")
    for row in status["tables"]:
        span = f"{row['first']} .. {row['last']}" if row["first"] else ""
        print(f"  {row['table']:<18} {row['rows']:>12,}  {span}")
    print(f"Model: {status['model']}")
    if status["date_warning"]:
        print(f"Warning: {status['date_warning']}")
    return 0


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customers", type=int, default=5000, help="accounts to generate when the warehouse is empty")
    p.add_argument("--seed", type=int, default=42)


@command("demo", "make the app ready: demo data if empty, then a production model and fresh scores", _demo_args)
def _demo(args: argparse.Namespace) -> int:
    from engine.auth import users
    from engine.churn import registry, scoring, training
    from engine.data import demo as synth

    wh = get_warehouse(args.data_dir)
    if wh.is_empty():
        report = synth.generate(wh, args.customers, args.seed, progress=_say)
        print(f"Generated {report.customers:,} demo customers up to {report.end} in {report.seconds:.1f} s.")
    else:
        print(f"Warehouse {wh.path} already has data; keeping it.")
    logins = users.create_demo_users(wh, args.data_dir)
    if not logins and not users.list_users(args.data_dir):  # loaded (real) data: no documented passwords
        print(
            f"Warehouse {wh.path} holds loaded data, not the generated demo, so no demo logins were made. "
            "Create the first admin (you are asked for a password):\n"
            f'  .venv/bin/python -m engine --data-dir "{args.data_dir}" users add admin --role admin '
            '--name "Your Name"'
        )
    elif logins:
        by_password = {}
        for login in logins:
            by_password.setdefault(login.password, []).append(login.username)
        print(f"Created {len(logins)} demo users in {users.users_path(args.data_dir)} (username / password):")
        for password, names in by_password.items():
            print(f"  {', '.join(names)} / {password}")
    else:
        print(f"Users file {users.users_path(args.data_dir)} already has users; keeping them.")
    try:
        registry.load_production("churn", args.data_dir)
    except RadarError as exc:
        print(f"No usable production model ({str(exc).split('.')[0]}); training one.")
        result = training.train(wh, data_dir=args.data_dir, promote="auto", progress=_progress)
        print(
            f"Trained {result.version} in {result.seconds:.1f} s: AUC {result.metrics.get('auc', 0):.3f}. {result.reason}"
        )
    if not wh.scalar("SELECT count(*) FROM predictions"):
        report = scoring.score(wh, data_dir=args.data_dir, progress=_progress)
        print(f"Scored {report.customers:,} customers as of {report.as_of} with {report.model_version}.")
        history = scoring.backfill(wh, months=6, data_dir=args.data_dir, progress=_progress)
        print(f"Back-scored {len(history)} past month ends for realised-vs-predicted charts.")
    if users.is_demo_warehouse(wh):
        from engine import scenarios

        sample = scenarios.save_sample_plan(wh, args.data_dir)
        if sample is not None:
            print(f"Saved the sample scenario #{sample.id} '{sample.name}' for the Scenarios page.")
    return 0


def _progress(fraction: float, message: str) -> None:
    _say(f"{fraction * 100:3.0f}% {message}")


# -- models ----------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cutoff",
        type=_date,
        default=None,
        help="use only snapshots whose 90-day label window ends by this date (default: data end)",
    )
    p.add_argument("--no-promote", action="store_true", help="keep the new model a candidate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")


@command("train", "train a churn model on warehouse snapshots and register it", _train_args)
def _train(args: argparse.Namespace) -> int:
    from engine.churn import training

    wh = get_warehouse(args.data_dir)
    result = training.train(
        wh,
        cutoff=args.cutoff,
        data_dir=args.data_dir,
        promote="never" if args.no_promote else "auto",
        seed=args.seed,
        progress=_progress,
    )
    if args.json:
        _print_json(result.as_dict())
        return 0
    m = result.metrics
    print(
        f"{result.version}: out-of-time AUC {m.get('auc', float('nan')):.3f}, PR-AUC {m.get('pr_auc', float('nan')):.3f}, "
        f"Brier {m['brier']:.4f} on {m['rows']:,} rows ({result.data_window['valid_from']}..{result.data_window['valid_to']}); "
        f"{result.seconds:.1f} s"
    )
    print(result.reason)
    return 0


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", type=_date, default=None, help="score customers active on this date (default: data end)")
    p.add_argument("--json", action="store_true")


@command("score", "score every active customer with the production model", _score_args)
def _score(args: argparse.Namespace) -> int:
    from engine.churn import scoring
    from engine.data import health

    wh = get_warehouse(args.data_dir)
    report = scoring.score(wh, as_of=args.as_of, data_dir=args.data_dir, progress=_progress)
    if warning := health.out_of_range_warning(wh):
        _say(f"warning: {warning}")
    if args.json:
        _print_json(report.as_dict())
    else:
        print(
            f"Scored {report.customers:,} customers as of {report.as_of} with {report.model_version} "
            f"in {report.seconds:.1f} s."
        )
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", default=None, help="model version (default: production)")
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="judge predictions made on this date (default: the last date whose 90 days have passed)",
    )
    p.add_argument("--json", action="store_true")


@command("evaluate", "judge a model on a past date whose 90-day outcome is known", _evaluate_args)
def _evaluate(args: argparse.Namespace) -> int:
    from engine.churn import evaluation

    wh = get_warehouse(args.data_dir)
    result = evaluation.evaluate_version(wh, version=args.version, as_of=args.as_of, data_dir=args.data_dir)
    if args.json:
        _print_json(result)
        return 0
    m = result["metrics"]
    print(
        f"{result['model_version']} judged on customers active {result['as_of']} "
        f"({m['rows']:,} customers, {m['churn_rate'] * 100:.1f} % churned within 90 days)"
    )
    for key in (
        "auc",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "oracle_auc",
        "oracle_brier",
        "auc_vs_oracle",
        "interval_coverage_of_truth",
    ):
        if m.get(key) is not None:
            print(f"  {key:<28} {m[key]:.4f}")
    print("  calibration (predicted -> observed):")
    for b in m["calibration"]:
        print(f"    {b['bin']}: {b['mean_predicted']:.3f} -> {b['observed_rate']:.3f}  ({b['rows']:,})")
    return 0


@command("models", "list model versions with stage and metrics", _info_args)
def _models(args: argparse.Namespace) -> int:
    from engine.churn import registry

    rows = registry.versions(data_dir=args.data_dir)
    if args.json:
        _print_json([v.as_dict() for v in rows])
        return 0
    if not rows:
        print("No models yet. Run `.venv/bin/python -m engine train`.")
    for v in rows:
        auc = v.metrics.get("auc")
        print(
            f"{v.version:<12} {v.stage:<11} {v.kind:<6} created {v.created_at:%Y-%m-%d %H:%M}  AUC {auc:.3f}"
            if auc is not None
            else f"{v.version:<12} {v.stage:<11} {v.kind}"
        )
    return 0


def _version_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("version")


@command("promote", "make a model version production", _version_args)
def _promote(args: argparse.Namespace) -> int:
    from engine.churn import registry

    v = registry.promote(args.version, args.data_dir)
    print(f"{v.version} is now production. Run `.venv/bin/python -m engine score` to refresh scores.")
    return 0


@command("rollback", "return to the previous production churn model")
def _rollback(args: argparse.Namespace) -> int:
    from engine.churn import registry

    v = registry.rollback("churn", args.data_dir)
    print(f"Rolled back: {v.version} is production again. Run `.venv/bin/python -m engine score` to refresh scores.")
    return 0


# -- entry point -------------------------------------------------------------------------
# Command groups that live in their own modules register themselves on import.
COMMAND_MODULES = (
    "engine.churn.table_cli",
    "engine.forecasting.cli",
    "engine.auth.cli",
    "engine.ai.cli",
    "engine.scenarios.cli",
    "engine.churn.cli",
)


def _load_command_modules() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module, not an absent group
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_command_modules()
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m engine", description="Customer Radar batch commands.")
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the warehouse and models (default: $RADAR_DATA_DIR or ./data)"
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    for name, (handler, arguments, help_text) in _COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.data_dir = str(config.data_dir(args.data_dir))
    try:
        return args.handler(args)
    except RadarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was committed", file=sys.stderr)
        return 130
    finally:
        close_all()
