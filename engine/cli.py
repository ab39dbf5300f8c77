"""`python -m engine [--data-dir DIR] COMMAND ...`: batch commands for schedulers and people.

Each capability declares its commands in its own cli.py (engine.core.commands registers
them); this module adds the two commands that span capabilities (`info`, `demo`) and runs
the one asked for, importing only the module that declares it (`COMMAND_MODULES`): all of
them took 2.8 s to import, a noticeable part of a scheduled `score`. Help, a missing or an
unknown command import every one. A missing command module is an error, not a silently
shorter command list.

Exit codes: 0 success, 2 bad input or an expected failure (one paragraph on stderr,
no traceback), 1 an unexpected bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine.core import config
from engine.core.commands import COMMANDS, command, json_flag, print_json, progress, say
from engine.core.errors import RadarError
from engine.core.priority import command_of
from engine.data.warehouse import Warehouse, close_all, get_warehouse


# -- commands that span capabilities ----------------------------------------------------------
@command("info", "row counts, date ranges and model status", json_flag)
def _info(args: argparse.Namespace) -> int:
    from engine.churn import status as churn_status

    # reads the published snapshot; an empty data dir gets an empty warehouse, as `ingest` would
    wh = get_warehouse(args.data_dir, read_only=config.warehouse_path(args.data_dir).exists())
    status = churn_status.install_status(wh, args.data_dir)
    if args.json:
        print_json(status)
        return 0
    print(f"Warehouse: {wh.link} (snapshot {wh.generation or 0}, schema v{status.schema_version})")
    print(f"Data as of: {status.data_as_of or 'no data yet'}")
    for span in status.tables:
        dates = f"{span.first} .. {span.last}" if span.first else ""
        print(f"  {span.table:<18} {span.rows:>12,}  {dates}")
    print(f"Model: {status.model}")
    for table, note in status.out_of_step.items():
        print(f"Note: {table}: {note}.")
    if status.date_warning:
        print(f"Warning: {status.date_warning}")
    return 0


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customers", type=int, default=5000, help="accounts to generate when the warehouse is empty")
    p.add_argument("--seed", type=int, default=42)


@command("demo", "make the app ready: demo data if empty, then a production model and fresh scores", _demo_args)
def _demo(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir)
    _demo_data(wh, args.customers, args.seed)
    _demo_logins(wh, args.data_dir)
    _demo_model(wh, args.data_dir)
    _demo_scores(wh, args.data_dir)
    _demo_sample_plan(wh, args.data_dir)
    return 0


def _demo_data(wh: Warehouse, customers: int, seed: int) -> None:
    from engine.data import demo

    if not wh.is_empty():
        print(f"Warehouse {wh.link} already has data; keeping it.")
        return
    report = demo.generate(wh, customers, seed, progress=say)
    print(f"Generated {report.customers:,} demo customers up to {report.end} in {report.seconds:.1f} s.")


def _demo_logins(wh: Warehouse, data_dir: str) -> None:
    """Documented demo logins, only on the generated demo; loaded data gets the first-admin command."""
    from engine.auth import users

    logins = users.create_demo_users(wh, data_dir)
    if not logins and not users.list_users(data_dir):
        print(
            f"Warehouse {wh.link} holds loaded data, not the generated demo, so no demo logins were made. "
            "Create the first admin (you are asked for a password):\n"
            f'  .venv/bin/python -m engine --data-dir "{data_dir}" users add admin --role admin '
            '--name "Your Name"'
        )
    elif logins:
        by_password: dict[str, list[str]] = {}
        for login in logins:
            by_password.setdefault(login.password, []).append(login.username)
        print(f"Created {len(logins)} demo users in {users.users_path(data_dir)} (username / password):")
        for password, names in by_password.items():
            print(f"  {', '.join(names)} / {password}")
    else:
        print(f"Users file {users.users_path(data_dir)} already has users; keeping them.")


def _demo_model(wh: Warehouse, data_dir: str) -> None:
    from engine.churn import registry, training

    try:
        registry.load_production("churn", data_dir)
    except RadarError as exc:
        short = training.history_readiness(wh)
        if short is not None:  # a young book: the app still opens, without churn scores
            print(f"{short.text} Until then the app runs without churn scores.")
            return
        print(f"No usable production model ({str(exc).split('.')[0]}); training one.")
        result = training.train(wh, data_dir=data_dir, promote="auto", progress=progress)
        print(
            f"Trained {result.version} in {result.seconds:.1f} s: AUC {result.metrics.get('auc', 0):.3f}. {result.reason}"
        )


def _demo_scores(wh: Warehouse, data_dir: str) -> None:
    """Fresh scores, and six past month ends so realised-vs-predicted charts have points from day one."""
    from engine.churn import registry, scoring
    from engine.data.health import has_scores

    if has_scores(wh) or registry.production("churn", data_dir) is None:
        return
    report = scoring.score(wh, data_dir=data_dir, progress=progress)
    print(f"Scored {report.customers:,} customers as of {report.as_of} with {report.model_version}.")
    history = scoring.backfill(wh, months=6, data_dir=data_dir, progress=progress)
    print(f"Back-scored {len(history)} past month ends for realised-vs-predicted charts.")


def _demo_sample_plan(wh: Warehouse, data_dir: str) -> None:
    from engine import scenarios
    from engine.auth import users

    if not users.is_demo_warehouse(wh):
        return
    sample = scenarios.save_sample_plan(wh, data_dir)
    if sample is not None:
        print(f"Saved the sample scenario #{sample.id} '{sample.name}' for the Scenarios page.")


# -- entry point -------------------------------------------------------------------------------
# Which module declares each command (tests/test_navigation.py checks it against what registers).
COMMAND_MODULES: dict[str, str] = {
    "whatif": "engine.accounts.cli",
    "peers": "engine.accounts.cli",
    "benchmarks": "engine.accounts.cli",
    "summarize": "engine.ai.cli",
    "brief": "engine.ai.cli",
    "ask": "engine.ai.cli",
    "ask-portfolio": "engine.ai.cli",
    "draft": "engine.ai.cli",
    "actions": "engine.ai.cli",
    "ai-audit": "engine.ai.cli",
    "api": "engine.api.cli",
    "users": "engine.auth.cli",
    "keys": "engine.auth.cli",
    "train": "engine.churn.cli",
    "score": "engine.churn.cli",
    "evaluate": "engine.churn.cli",
    "models": "engine.churn.cli",
    "promote": "engine.churn.cli",
    "rollback": "engine.churn.cli",
    "drift": "engine.churn.cli",
    "monitor": "engine.churn.cli",
    "train-table": "engine.churn.table.cli",
    "predict-table": "engine.churn.table.cli",
    "generate": "engine.data.cli",
    "ingest": "engine.data.cli",
    "forecast": "engine.forecasting.cli",
    "forecast-file": "engine.forecasting.cli",
    "backtest-file": "engine.forecasting.cli",
    "scenario": "engine.scenarios.cli",
    "segments": "engine.segments.cli",
    "kpis": "engine.portfolio.cli",
    "info": "engine.cli",
    "demo": "engine.cli",
}


def load_commands(command: str | None = None) -> None:
    """Register `command` (import the module declaring it), or every command when it is None
    or unknown (help, and argparse's list of valid choices)."""
    module = COMMAND_MODULES.get(command or "")
    modules = [module] if module else list(dict.fromkeys(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(module)


# --help lists commands by capability, in the order a new install meets them.
HELP_ORDER = (
    "engine.data.cli",
    "engine.cli",
    "engine.churn.cli",
    "engine.churn.table.cli",
    "engine.accounts.cli",
    "engine.forecasting.cli",
    "engine.scenarios.cli",
    "engine.segments.cli",
    "engine.portfolio.cli",
    "engine.ai.cli",
    "engine.auth.cli",
    "engine.api.cli",
)


def _help_position(item: tuple) -> int:
    module = item[1][0].__module__
    return HELP_ORDER.index(module) if module in HELP_ORDER else len(HELP_ORDER)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command` alone (its module imported), or for every command (None)."""
    load_commands(command)
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m engine", description="Customer Radar batch commands.")
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the warehouse and models (default: $RADAR_DATA_DIR or ./data)"
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    subs.required = True
    for name, (handler, arguments, help_text) in sorted(COMMANDS.items(), key=_help_position):
        sub = subs.add_parser(name, help=help_text, description=help_text)
        arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    asked = command_of(argv)
    parser = build_parser(None if "-h" in argv or "--help" in argv else asked)
    args = parser.parse_args(argv)
    args.data_dir = str(config.data_dir(args.data_dir))
    done = False
    try:
        code = args.handler(args)
        done = code == 0
        return code
    except RadarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was committed", file=sys.stderr)
        return 130
    finally:
        close_all(commit=done)  # a command's writes are published whole, or not at all
