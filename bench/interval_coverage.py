"""How often the churn model's 90 % interval holds a known probability (issue 17, target
85-95 %), on real feature rows: statsmodels' Fair affairs survey and a generated warehouse's
monthly snapshots, each given a known churn probability from its observed columns
(tests/known_truth.py). Per table and seed: coverage of the served interval, of the bare
ensemble spread, and the widening factor the self-simulation chose; then the mean.

Run: `PYTHONPATH=. .venv/bin/python bench/interval_coverage.py [--seeds 16 --first-seed 0 --rows 9000 15000 30000]`
(60 % of the rows train: 5,400, 9,000 and 18,000; set RADAR_THREADS=1 to keep one core free).
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
    parser.add_argument("--seeds", type=int, default=16, help="runs per table (seeds FIRST..FIRST+N-1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (FIRST), to add runs to earlier ones")
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[ROWS], help="rows drawn per run (60 %% train); several sizes allowed"
    )
    parser.add_argument("--customers", type=int, default=800, help="customers in the generated warehouse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tables = {"fair": fair_table(), "snapshots": snapshot_table(generated(Path(tmp), args.customers))}
        truths = {name: known_truth(X, y) for name, (X, y) in tables.items()}
        summary = [
            one_size(tables, truths, rows, range(args.first_seed, args.first_seed + args.seeds)) for rows in args.rows
        ]
    print("\ntrain rows  runs  served mean (min-max)  bare spread; target 0.85-0.95")
    for rows, served, bare in summary:
        print(
            f"{int(rows * 0.6):>10,} {len(served):>5}  {np.mean(served):.3f} ({min(served):.3f}-{max(served):.3f})  {np.mean(bare):.3f}"
        )


def one_size(tables: dict, truths: dict, rows: int, seeds: range) -> tuple[int, list[float], list[float]]:
    """Every table and seed at one size: (rows, served coverages, bare-spread coverages)."""
    served, bare = [], []
    print(f"\n{rows:,} rows per run ({int(rows * 0.6):,} train); 90 % interval")
    print(f"{'table':<10} {'seed':>4} {'served':>7} {'spread':>7} {'factor':>7} {'fit s':>6}")
    for name, (X, _y) in tables.items():
        for seed in seeds:
            t0 = time.perf_counter()
            covered, unwidened, model = coverage(X, truths[name], seed, rows)
            served.append(covered)
            bare.append(unwidened)
            print(
                f"{name:<10} {seed:>4} {covered:>7.3f} {unwidened:>7.3f} "
                f"{model.spread_factor_:>7.2f} {time.perf_counter() - t0:>6.1f}",
                flush=True,
            )
    return rows, served, bare


if __name__ == "__main__":
    main()
