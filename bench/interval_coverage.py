"""How often the churn model's 90 % interval holds a known probability (issue 17, target
85-95 %), on real feature rows: statsmodels' Fair affairs survey and a generated warehouse's
monthly snapshots, each given a known churn probability from its observed columns
(tests/known_truth.py). Per table and seed: coverage of the served interval, of the bare
ensemble spread, and the widening factor the self-simulation chose; then the mean.

Run: `PYTHONPATH=. .venv/bin/python bench/interval_coverage.py [--seeds 8 --rows 9000]`
(`--rows 30000` trains on 18,000 rows; set RADAR_THREADS=1 to keep one core free).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from engine.data import demo as synth
from engine.data import warehouse
from tests.known_truth import ROWS, coverage, fair_table, known_truth, snapshot_table


def generated(folder: Path, customers: int) -> Path:
    """A generated warehouse like the test suite's (seed 7, data to 2026-06-30)."""
    wh = warehouse.get_warehouse(folder)
    synth.generate(wh, customers=customers, seed=7, end=date(2026, 6, 30))
    warehouse.close_all()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="runs per table (seeds 0..N-1)")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows drawn per run (60 %% train)")
    parser.add_argument("--customers", type=int, default=800, help="customers in the generated warehouse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tables = {"fair": fair_table(), "snapshots": snapshot_table(generated(Path(tmp), args.customers))}
        served, bare = [], []
        print(f"{args.rows:,} rows per run ({int(args.rows * 0.6):,} train); 90 % interval")
        print(f"{'table':<10} {'seed':>4} {'served':>7} {'spread':>7} {'factor':>7} {'fit s':>6}")
        for name, (X, y) in tables.items():
            truth = known_truth(X, y)
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                covered, unwidened, model = coverage(X, truth, seed, args.rows)
                served.append(covered)
                bare.append(unwidened)
                print(
                    f"{name:<10} {seed:>4} {covered:>7.3f} {unwidened:>7.3f} "
                    f"{model.spread_factor_:>7.2f} {time.perf_counter() - t0:>6.1f}",
                    flush=True,
                )
        print(
            f"mean over {len(served)} runs: served {np.mean(served):.3f} "
            f"(min {min(served):.3f}, max {max(served):.3f}), bare spread {np.mean(bare):.3f}; target 0.85-0.95"
        )


if __name__ == "__main__":
    main()
