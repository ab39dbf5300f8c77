"""Monitoring commands: `drift` (inputs and scores vs the training reference) and `monitor`
(realised vs predicted churn). Registered on import by `engine.cli` (COMMAND_MODULES).

python -m engine drift [--version churn-v3] [--as-of 2026-06-30] [--json]
python -m engine monitor [--json]
"""

from __future__ import annotations

import argparse

from engine.churn import monitoring
from engine.cli import _date, _print_json, command
from engine.core.access import SYSTEM
from engine.data.warehouse import get_warehouse

STATUS_MARK = {"act": "ACT", "watch": "watch", "stable": ""}


def _drift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", default=None, help="model version (default: production)")
    p.add_argument(
        "--as-of", type=_date, default=None, help="current population date (default: the latest scoring date)"
    )
    p.add_argument("--all", action="store_true", help="list every feature, not only those to watch or act on")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")


@command("drift", "feature and score drift (PSI, KS / chi-square) vs the model's training reference", _drift_args)
def _drift(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir)
    report = monitoring.drift_report(wh, args.data_dir, version=args.version, current_as_of=args.as_of)
    if args.json:
        _print_json(report.as_dict())
        return 0
    counts = report.counts()
    print(
        f"{report.model_version}: customers active at its training month ends "
        f"{report.reference_from or report.reference_as_of} to {report.reference_as_of} "
        f"({report.reference_rows:,} rows) vs {report.current_as_of} ({report.current_rows:,})"
    )
    print(
        f"PSI < {monitoring.PSI_WATCH:.2f} stable, {monitoring.PSI_WATCH:.2f}-{monitoring.PSI_ACT:.2f} watch, "
        f"> {monitoring.PSI_ACT:.2f} act: {counts['act']} act, {counts['watch']} watch, {counts['stable']} stable"
    )
    if report.score is not None:
        s = report.score
        print(
            f"Score drift: PSI {s.psi:.3f} ({s.status}); mean predicted churn {s.reference_mean:.1%} on "
            f"{s.reference_as_of} -> {s.current_mean:.1%} now"
        )
    shown = report.features if args.all else report.features[report.features["status"] != "stable"]
    if shown.empty:
        print("No feature drifted past the watch threshold.")
    for row in shown.itertuples():
        p_value = "" if row.p_value != row.p_value else f"p={row.p_value:.2g}"
        print(
            f"  {row.feature:<28} PSI {row.psi:6.3f}  {row.test:<10} {row.statistic:8.3f} {p_value:<10} {STATUS_MARK[row.status]}"
        )
    return 0


def _monitor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print per-date metrics and calibration as JSON")


@command("monitor", "realised vs predicted churn (AUC, Brier, calibration) for past scoring dates", _monitor_args)
def _monitor(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir)
    report = monitoring.realised_vs_predicted(wh, args.data_dir, viewer=SYSTEM)  # the CLI is a batch viewer
    if args.json:
        _print_json(report.as_dict())
        return 0
    if report.by_date.empty:
        print(
            "No scoring date has a closed 90-day window yet. Back-score past month ends with "
            "`.venv/bin/python -m engine demo` or wait until a scoring date is 90 days old."
        )
    else:
        print(f"Data as of {report.data_as_of}; scoring dates whose 90-day outcome is known:")
        print(f"  {'as of':<12}{'model':<12}{'customers':>10}{'predicted':>11}{'realised':>10}{'AUC':>8}{'Brier':>8}")
        for row in report.by_date.itertuples():
            auc = "n/a" if row.auc != row.auc or row.auc is None else f"{row.auc:.3f}"
            note = "  in-sample" if row.in_sample else ""
            print(
                f"  {str(row.as_of)[:10]:<12}{row.model_version:<12}{row.customers:>10,}{row.predicted_rate:>11.1%}"
                f"{row.realised_rate:>10.1%}{auc:>8}{row.brier:>8.4f}{note}"
            )
    for row in report.pending.itertuples():
        print(f"  {str(row.as_of)[:10]}: {row.customers:,} customers scored; outcome known on {row.known_on}")
    return 0
