"""Scenario speed: one what-if plan with every lever on, over every scored account.

Targets: 5,000 accounts <= 2 s; 100,000 accounts <= 20 s.

Builds a scored warehouse of N generated customers (the model is trained on at most
--model-customers of them, as bench/pages.py does), then times:
* the first run of the plan (features as of the scoring date and the model's own
  predictions on them are computed, then kept for the process);
* warm runs (what an analyst sees on every later submit of the lever form).

Run: `PYTHONPATH=. .venv/bin/python bench/scenarios.py [--customers 100000] [--keep DIR]`.
With --keep, the built data dir is kept in DIR and reused when it already holds scores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from engine.data import warehouse

ALL_LEVERS = {
    "outreach": {"top_n": 500, "churn_reduction": 25.0, "cost_per_account": 300.0},
    "discount": {"percent": 10.0, "elasticity": 1.5, "segment": {"plans": ["starter"]}},
    "adoption": {"usage_increase": 30.0, "cost_per_account": 50.0, "segment": {"max_tenure_days": 365}},
    "support": {"resolution_time_cut": 40.0, "open_tickets_cleared": 100.0, "cost_per_account": 20.0},
    "price": {"percent": 5.0, "elasticity": 1.0, "segment": {"plans": ["enterprise"]}},
}


def build(data: Path, customers: int, model_customers: int) -> None:
    import importlib.util

    # bench/pages.py's builder: generate, train (on a smaller warehouse when big), register, score.
    spec = importlib.util.spec_from_file_location("bench_pages", Path(__file__).with_name("pages.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(data, customers, model_customers)


def timed(data: Path, repeat: int) -> None:
    import lightgbm  # noqa: F401 - import time is the process's, not the scenario's
    import sklearn.linear_model  # noqa: F401

    from engine import scenarios
    from engine.core.access import SYSTEM

    plan = scenarios.plan_from_dict(ALL_LEVERS)
    wh = warehouse.get_warehouse(data, read_only=True)
    t0 = time.perf_counter()
    result = scenarios.simulate(wh, plan, SYSTEM, data_dir=data)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        scenarios.simulate(wh, plan, SYSTEM, data_dir=data)
        warm.append(time.perf_counter() - t0)
    print(
        f"scenario over {result.baseline.accounts:,} accounts, all five levers: first run {cold:.2f} s "
        f"(features + model inputs), warm median {statistics.median(warm):.2f} s (min {min(warm):.2f} s)"
    )
    print(
        f"  baseline ARR lost {result.baseline.arr_lost_12m:,.0f} -> scenario {result.scenario.arr_lost_12m:,.0f}; "
        f"retained {result.revenue_retained:,.0f}, cost {result.cost:,.0f}, ROI {result.roi}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--model-customers", type=int, default=5000, help="train on this many when smaller")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="build into (or reuse) this data dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "data"
        if not (data / "warehouse.duckdb").exists():
            t0 = time.perf_counter()
            build(data, args.customers, args.model_customers)
            print(f"built and scored {args.customers:,} customers in {time.perf_counter() - t0:.0f} s")
            warehouse.close_all()
        timed(data, args.repeat)
        warehouse.close_all()


if __name__ == "__main__":
    main()
