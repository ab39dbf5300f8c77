"""Model & data timings: drift, quality, realised vs predicted and data health on a generated warehouse.

Generates a company (stable and, with --drift, shifted), trains and scores it, back-scores
three month ends, then times each monitoring call (best of --repeat) and prints what it found.

Run: `PYTHONPATH=. .venv/bin/python bench/monitoring.py [--customers 5000] [--drift]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from engine.churn import monitoring, quality, scoring, training
from engine.core.access import SYSTEM
from engine.data import demo as synth
from engine.data import health, warehouse


def _best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        wh = warehouse.get_warehouse(data)
        t0 = time.perf_counter()
        synth.generate(wh, customers=args.customers, seed=42, end=date(2026, 6, 30), drift=args.drift)
        print(f"generate {args.customers:,} customers (drift={args.drift}): {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        result = training.train(wh, data_dir=data)
        print(f"train: {time.perf_counter() - t0:.1f} s, out-of-time AUC {result.metrics['auc']:.3f}")
        t0 = time.perf_counter()
        scoring.score(wh, data_dir=data)
        scoring.backfill(wh, months=3, data_dir=data)
        print(f"score + back-score 3 month ends: {time.perf_counter() - t0:.1f} s")

        seconds, drift = _best(lambda: monitoring.drift_report(wh, data), args.repeat)
        counts = drift.counts
        print(
            f"drift_report: {seconds:.2f} s ({drift.reference_rows:,} vs {drift.current_rows:,} customers); "
            f"{counts['act']} act, {counts['watch']} watch, {counts['stable']} stable; score PSI {drift.score.psi:.3f}"
        )
        for row in drift.features.head(6).itertuples():
            print(f"    {row.feature:<28} PSI {row.psi:.3f} {row.status}")
        seconds, q = _best(lambda: quality.version_quality(wh, data_dir=data), args.repeat)
        print(f"version_quality: {seconds:.2f} s ({q.rows:,} out-of-time rows, AUC {q.metrics['auc']:.3f})")
        seconds, realised = _best(lambda: monitoring.realised_vs_predicted(wh, data, viewer=SYSTEM), args.repeat)
        print(f"realised_vs_predicted: {seconds:.3f} s ({len(realised.by_date)} closed scoring dates)")
        seconds, _ = _best(lambda: health.data_health(wh), args.repeat)
        print(f"data_health: {seconds:.3f} s")
        seconds, _ = _best(lambda: quality.registry_table(data), args.repeat)
        print(f"registry_table (hash check): {seconds:.3f} s")
        warehouse.close_all()


if __name__ == "__main__":
    main()
