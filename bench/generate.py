"""Time `generate` for 5,000 and 100,000 customers (targets: <= 10 s and <= 3 min on 2 cores).

Run: `make bench` or `PYTHONPATH=. .venv/bin/python bench/generate.py [--sizes 5000 100000]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from engine.data import demo as synth
from engine.data import warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 100_000])
    args = parser.parse_args()
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            wh = warehouse.get_warehouse(Path(tmp))
            t0 = time.perf_counter()
            report = synth.generate(wh, customers=size, seed=42, end=date(2026, 6, 30))
            seconds = time.perf_counter() - t0
            rows = sum(report.row_counts.values())
            print(
                f"generate {size:>7,} customers: {seconds:6.1f} s  ({rows:,} rows; "
                f"usage_daily {report.row_counts['usage_daily']:,})"
            )
            warehouse.close_all()


if __name__ == "__main__":
    main()
