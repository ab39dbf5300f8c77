"""Page speed: Customer 360 warm render (target <= 300 ms server time) and the risk board's
filter + sort + page over every scored account (target <= 1 s at 100,000 accounts).

Builds a scored warehouse of N generated customers (a model is trained on it, or, with
--model-customers, on a smaller warehouse and registered into the big one), then times:
* the board's warehouse query (once per scoring run, then cached) and filter + sort + page;
* Customer 360 and the risk board rendered by Streamlit's AppTest (server time, warm cache).

Run: `PYTHONPATH=. .venv/bin/python bench/pages.py [--customers 100000]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from engine.accounts import board
from engine.churn import registry, scoring, training
from engine.core.access import Viewer
from engine.data import demo as synth
from engine.data import warehouse

END = date(2026, 6, 30)
ROOT = Path(__file__).resolve().parents[1]


def _times(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def build(data: Path, customers: int, model_customers: int) -> None:
    wh = warehouse.get_warehouse(data)
    synth.generate(wh, customers=customers, seed=42, end=END)
    if customers <= model_customers:
        training.train(wh, data_dir=data)
    else:
        small = data.parent / "model"
        swh = warehouse.get_warehouse(small)
        synth.generate(swh, customers=model_customers, seed=42, end=END)
        training.train(swh, data_dir=small)
        entry, model = registry.load_production("churn", small)
        copy = registry.register(
            model, "churn", entry.params, entry.features, entry.data_window, entry.metrics, data, notes="bench"
        )
        registry.promote(copy.version, data)
    scoring.score(wh, data_dir=data)


def engine_board(data: Path) -> pd.DataFrame:
    wh = warehouse.get_warehouse(data)
    viewer = Viewer("exec", "executive")
    t0 = time.perf_counter()
    frame = board.board_frame(wh, viewer)
    t_query = time.perf_counter() - t0
    filters = board.BoardFilters(tiers=("high", "critical", "medium"), renewal_within_days=180, min_mrr=500)
    t_page = _times(lambda: board.page_of(frame, filters, "churn_probability", True, 3, 50), 10)
    t_search = _times(lambda: board.page_of(frame, board.BoardFilters(search="tech"), "name", False, 1, 50), 10)
    print(f"board: {len(frame):,} scored accounts; warehouse query {t_query * 1000:.0f} ms (once per scoring run)")
    print(
        f"board: filter + sort + page median {statistics.median(t_page) * 1000:.0f} ms, "
        f"name search + sort + page median {statistics.median(t_search) * 1000:.0f} ms (target <= 1000 ms)"
    )
    return frame


def rendered(data: Path, customer_id: str) -> None:
    """Server time of each page run through app.py (login, navigation, page), as a live server does."""
    from streamlit.testing.v1 import AppTest

    from components.shared.auth import TEST_VIEWERS, log_in

    os.environ["RADAR_DATA_DIR"] = str(data)
    for page, query in (("customer_360", {"customer_id": customer_id}), ("risk_board", {})):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        log_in(at.session_state, TEST_VIEWERS["executive"])
        at.run()
        at.switch_page(f"views/{page}.py")
        at.query_params.update(query)
        cold = _times(at.run, 1)[0]
        warm = _times(at.run, 7)
        assert not at.exception, at.exception
        assert at.title and (page != "risk_board" or at.dataframe), f"{page} did not render its content"
        print(
            f"{page}: cold render {cold * 1000:.0f} ms, warm render median {statistics.median(warm) * 1000:.0f} ms "
            f"(min {min(warm) * 1000:.0f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--model-customers", type=int, default=5000, help="train on this many when smaller")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        build(data, args.customers, args.model_customers)
        print(f"built and scored {args.customers:,} customers in {time.perf_counter() - t0:.0f} s")
        frame = engine_board(data)
        rendered(data, str(frame["customer_id"].iloc[0]))
        warehouse.close_all()


if __name__ == "__main__":
    main()
