"""Monitoring commands: `drift` (inputs and scores vs the training reference) and `monitor`
(realised vs predicted churn). Registered on import by `engine.cli` (COMMAND_MODULES).

python -m engine drift [--version churn-v3] [--as-of 2026-06-30] [--json]
python -m engine monitor [--json]
"""

from __future__ import annotations

import argparse

from engine.churn import monitoring
from engine.churn.spread import MEANING as INTERVAL_MEANING
from engine.core.access import SYSTEM
from engine.core.commands import command, json_flag, parse_date, print_json, progress, say
from engine.core.errors import BadInputError, ModelUnavailableError
from engine.data.warehouse import get_warehouse

STATUS_MARK = {"act": "ACT", "watch": "watch", "stable": ""}


# -- models -----------------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cutoff",
        type=parse_date,
        default=None,
        help="use only snapshots whose 90-day label window ends by this date (default: data end)",
    )
    p.add_argument("--no-promote", action="store_true", help="keep the new model a candidate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="search the tree settings over N trials on the rolling-origin folds first (Optuna; 20-50 is typical)",
    )
    p.add_argument("--json", action="store_true")


@command("train", "train a churn model on warehouse snapshots and register it", _train_args)
def _train(args: argparse.Namespace) -> int:
    from engine.churn import baselines, training

    wh = get_warehouse(args.data_dir, read_only=True)
    result = training.train(
        wh,
        cutoff=args.cutoff,
        data_dir=args.data_dir,
        promote="never" if args.no_promote else "auto",
        seed=args.seed,
        progress=progress,
        tune=args.tune,
    )
    if args.json:
        print_json(result)
        return 0
    m = result.metrics
    print(
        f"{result.version}: out-of-time AUC {m.get('auc', float('nan')):.3f}, PR-AUC {m.get('pr_auc', float('nan')):.3f}, "
        f"Brier {m['brier']:.4f} on {m['rows']:,} rows ({result.data_window['valid_from']}..{result.data_window['valid_to']}); "
        f"{result.seconds:.1f} s"
    )
    if line := baselines.comparison(m):
        print(line)
    if "tuning" in m:
        t = m["tuning"]
        print(
            f"Tuned over {t['trials']} trials: mean fold AUC {t['best_auc']:.3f} vs {t['default_auc']:.3f} with the "
            f"default settings; best {', '.join(f'{k}={v}' for k, v in t['best'].items())}."
        )
    print(result.reason)
    return 0


MAX_BACKFILL = 24


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of", type=parse_date, default=None, help="score customers active on this date (default: data end)"
    )
    p.add_argument(
        "--backfill",
        type=int,
        default=0,
        metavar="N",
        help="also score the last N month ends whose 90-day outcome is known, so predicted vs realised churn "
        "shows at once (in-sample: the model trained on those months; marked so)",
    )
    p.add_argument("--json", action="store_true")


@command("score", "score every active customer with the production model", _score_args)
def _score(args: argparse.Namespace) -> int:
    from engine.churn import registry, scoring, training
    from engine.data import health

    if not 0 <= args.backfill <= MAX_BACKFILL:
        raise BadInputError(f"--backfill takes 0 to {MAX_BACKFILL} month ends, not {args.backfill}.")
    wh = get_warehouse(args.data_dir)
    if registry.production("churn", args.data_dir) is None and (short := training.history_readiness(wh)):
        raise ModelUnavailableError(f"No churn model to score with. {short.text}")
    report = scoring.score(wh, as_of=args.as_of, data_dir=args.data_dir, progress=progress)
    past = (
        scoring.backfill(wh, months=args.backfill, data_dir=args.data_dir, progress=progress) if args.backfill else []
    )
    if past and not args.json:
        print(f"Back-scored {len(past)} past month ends ({past[0].as_of} to {past[-1].as_of}), in-sample.")
    if warning := health.out_of_range_warning(wh):
        say(f"warning: {warning}")
    if args.json:
        print_json(report)
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
        type=parse_date,
        default=None,
        help="judge predictions made on this date (default: the last date whose 90 days have passed)",
    )
    p.add_argument("--json", action="store_true")


@command("evaluate", "judge a model on a past date whose 90-day outcome is known", _evaluate_args)
def _evaluate(args: argparse.Namespace) -> int:
    from engine.churn import evaluation

    wh = get_warehouse(args.data_dir, read_only=True)
    result = evaluation.evaluate_version(wh, version=args.version, as_of=args.as_of, data_dir=args.data_dir)
    if args.json:
        print_json(result)
        return 0
    m = result.metrics
    print(
        f"{result.model_version} judged on customers active {result.as_of} "
        f"({m['rows']:,} customers, {m['churn_rate'] * 100:.1f}% churned within 90 days)"
    )
    for key in (
        "auc",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "oracle_auc",
        "oracle_brier",
        "auc_vs_oracle",
    ):
        if m.get(key) is not None:
            print(f"  {key:<28} {m[key]:.4f}")
    print(f"  90% interval: {INTERVAL_MEANING}")
    if m.get("interval_coverage_self_simulated") is not None:
        print(
            f"    covers a known probability (self-simulation at training): "
            f"{m['interval_coverage_self_simulated'] * 100:.0f}%  (spread widened x{m['interval_spread_factor']:.2f})"
        )
    if m.get("interval_coverage_of_truth") is not None:
        print(
            f"    covers the generator's latent probability: {m['interval_coverage_of_truth'] * 100:.0f}%  "
            "(the latent truth includes what no column shows, so this is not the interval's claim)"
        )
    print("  calibration (predicted -> observed):")
    for b in m["calibration"]:
        print(f"    {b['bin']}: {b['mean_predicted']:.3f} -> {b['observed_rate']:.3f}  ({b['rows']:,})")
    return 0


@command("models", "list model versions with stage and metrics", json_flag)
def _models(args: argparse.Namespace) -> int:
    from engine.churn import registry

    rows = registry.versions(data_dir=args.data_dir)
    if args.json:
        print_json(rows)
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


def _drift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", default=None, help="model version (default: production)")
    p.add_argument(
        "--as-of", type=parse_date, default=None, help="current population date (default: the latest scoring date)"
    )
    p.add_argument("--all", action="store_true", help="list every feature, not only those to watch or act on")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")


@command("drift", "feature and score drift (PSI, KS / chi-square) vs the model's training reference", _drift_args)
def _drift(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    report = monitoring.drift_report(wh, args.data_dir, version=args.version, current_as_of=args.as_of)
    if args.json:
        print_json(report)
        return 0
    counts = report.counts
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
        # A change in the share missing raises the status on its own: say so, or "PSI 0.000 ACT" reads as a bug.
        missing = (
            f"  missing {row.reference_missing:.0%} -> {row.current_missing:.0%}"
            if abs(row.missing_change) >= monitoring.MISSING_WATCH
            else ""
        )
        print(
            f"  {row.feature:<28} PSI {row.psi:6.3f}  {row.test:<10} {row.statistic:8.3f} {p_value:<10} "
            f"{STATUS_MARK[row.status]}{missing}"
        )
    return 0


def _monitor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print per-date metrics and calibration as JSON")


@command("monitor", "realised vs predicted churn (AUC, Brier, calibration) for past scoring dates", _monitor_args)
def _monitor(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    report = monitoring.realised_vs_predicted(wh, args.data_dir, viewer=SYSTEM)  # the CLI is a batch viewer
    if args.json:
        print_json(report)
        return 0
    if report.by_date.empty:
        print(
            "No scoring date has a closed 90-day window yet. Back-score past month ends with "
            "`.venv/bin/python -m engine score --backfill 6` (in-sample) or wait until a scoring date is 90 days old."
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
