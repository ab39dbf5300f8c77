"""`train-table` and `predict-table`: churn models on a labelled table the analyst brings.

python -m engine train-table customers.csv --id account_id --label churned [--json]
python -m engine predict-table new_customers.csv --id account_id --out scores.csv [--version table-v2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.core.commands import command, print_json, say


def _progress(fraction: float, message: str) -> None:
    say(f"{fraction * 100:3.0f}% {message}")


def _train_table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a .csv or .parquet file, one row per customer")
    p.add_argument("--id", dest="id_column", required=True, metavar="COL", help="the column naming each customer")
    p.add_argument(
        "--label", dest="label_column", required=True, metavar="COL", help="the yes/no column: did the customer churn"
    )
    p.add_argument(
        "--dates",
        choices=("number", "drop"),
        default="number",
        help="date columns: use as day numbers (default) or drop them",
    )
    p.add_argument("--drop", action="append", default=[], metavar="COL", help="leave a column out (repeatable)")
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COL",
        help="keep a column the leak check would drop, when it is truly known before churn (repeatable)",
    )
    p.add_argument("--bags", type=int, default=6, help="ensemble members (2-50, default 6); more = steadier intervals")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split and the ensemble")
    p.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="first search the trees' settings over N trials (1-200) of cross-validation",
    )
    p.add_argument("--json", action="store_true", help="print version, features, dropped columns and metrics as JSON")


@command("train-table", "train and register a churn model on a labelled CSV/Parquet table", _train_table_args)
def _train_table(args: argparse.Namespace) -> int:
    from engine.churn.table.train import train_table

    result = train_table(
        args.file,
        args.id_column,
        args.label_column,
        data_dir=args.data_dir,
        n_bags=args.bags,
        seed=args.seed,
        dates=args.dates,
        drop=args.drop,
        keep=args.keep,
        tune=args.tune,
        progress=_progress,
    )
    if args.json:
        print_json(result)
    else:
        print(result.summary())
    return 0


def _predict_table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a .csv or .parquet file with the columns the model was trained on")
    p.add_argument("--id", dest="id_column", required=True, metavar="COL", help="the column naming each customer")
    p.add_argument("--out", type=Path, required=True, help="where to write the scores (.csv, or .parquet)")
    p.add_argument("--version", default=None, help="a table model version, e.g. table-v2 (default: the newest)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


@command(
    "predict-table", "score a CSV/Parquet table with a table model; write the scores atomically", _predict_table_args
)
def _predict_table(args: argparse.Namespace) -> int:
    from engine.churn.table.predict import predict_table

    result = predict_table(
        args.file, args.id_column, args.out, version=args.version, data_dir=args.data_dir, progress=_progress
    )
    if args.json:
        print_json(result)
    else:
        print(result.summary())
    return 0
