"""Churn engine targets: out-of-time quality against the generator's truth, and speed.

1. 5,000 generated customers (seed 42, data to 2026-06-30): generate, train with cutoff
   2026-03-31, score as of 2026-03-31, then judge those predictions against the realised
   90 days and against `ground_truth` (AUC vs oracle, Brier vs oracle, interval coverage).
2. With `--scale N` (e.g. 100000): a warehouse of N customers scored with drivers by the
   model from step 1 (registered into the big warehouse's registry).

Run: `PYTHONPATH=. .venv/bin/python bench/churn.py [--scale 100000]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from engine.churn import evaluation, registry, scoring, training
from engine.data import demo as synth
from engine.data import warehouse

END = date(2026, 6, 30)
CUTOFF = date(2026, 3, 31)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def quality(data: Path) -> None:
    wh = warehouse.get_warehouse(data)
    _, t_gen = _timed(lambda: synth.generate(wh, customers=5000, seed=42, end=END))
    result, t_train = _timed(lambda: training.train(wh, cutoff=CUTOFF, data_dir=data))
    report, t_score = _timed(lambda: scoring.score(wh, as_of=CUTOFF, data_dir=data))
    m = evaluation.evaluate_version(wh, as_of=CUTOFF, data_dir=data).metrics
    print(
        f"5,000 customers: generate {t_gen:.1f} s + train {t_train:.1f} s + score {t_score:.1f} s "
        f"= {t_gen + t_train + t_score:.1f} s (target <= 30 s)"
    )
    print(f"  model {result.version}, {report.customers:,} customers scored as of {CUTOFF}")
    print(f"  AUC {m['auc']:.4f} vs oracle {m['oracle_auc']:.4f} -> ratio {m['auc_vs_oracle']:.3f} (target >= 0.97)")
    print(
        f"  Brier {m['brier']:.4f} vs oracle {m['oracle_brier']:.4f} -> gap {m['brier'] - m['oracle_brier']:.4f} "
        "(target <= 0.01)"
    )
    print(
        f"  90 % interval covers the true probability for {m['interval_coverage_of_truth'] * 100:.1f} % "
        f"(median width {m['interval_width_median']:.3f}; target 85-95 %)"
    )
    print(f"  PR-AUC {m['pr_auc']:.4f}, top-decile lift {m['top_decile_lift']:.2f}, churn rate {m['churn_rate']:.3f}")


def scale(small: Path, big: Path, customers: int) -> None:
    wh = warehouse.get_warehouse(big)
    _, t_gen = _timed(lambda: synth.generate(wh, customers=customers, seed=43, end=END))
    entry, model = registry.load_production("churn", small)
    copy = registry.register(
        model, "churn", entry.params, entry.features, entry.data_window, entry.metrics, big, notes="bench copy"
    )
    registry.promote(copy.version, big)
    report, t_score = _timed(lambda: scoring.score(wh, data_dir=big))
    print(
        f"{customers:,} customers generated in {t_gen:.0f} s; scored {report.customers:,} active customers with "
        f"probability, interval, risk and top-5 SHAP drivers in {t_score:.1f} s "
        f"({report.customers / t_score:,.0f} customers/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=0, help="also score a warehouse of this many customers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small", Path(tmp) / "big"
        quality(small)
        if args.scale:
            scale(small, big, args.scale)
        warehouse.close_all()


if __name__ == "__main__":
    main()
