"""Account tools: the Customer 360 "vs peers" strip and the one-account what-if.

Targets: the "vs peers" strip <= 50 ms warm; one-account what-if <= 100 ms.

* vs peers, warm: the book-wide percentile table already computed for the snapshot and date
  (kept in process); cold: the first call on a snapshot, which computes it.
* what-if, warm: the model kept in memory (per version) and the account's scoring row kept
  (a CSM moving levers on one account); first for an account: the model kept, the row read
  from the rows the latest `score` kept (rebuilt from the warehouse when it kept none); cold:
  nothing kept in the process (the model loaded and its hash checked).
* Every sampled account re-scored with no change must give its stored score exactly.

    PYTHONPATH=. .venv/bin/python bench/account_tools.py [--data-dir DIR] [--accounts 200]

Without --data-dir a 5,000-customer demo is built in a temp folder (`python -m engine demo`,
about a minute and a half).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import load
from engine.accounts import peers, whatif
from engine.churn import serving
from engine.core.access import SYSTEM, Viewer
from engine.data import health, warehouse


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def line(label: str, seconds: list[float]) -> None:
    p50, p95 = 1000 * load.percentile(seconds, 0.5), 1000 * load.percentile(seconds, 0.95)
    print(f"  {label:<52} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   (n = {len(seconds)})")


def forget_everything() -> None:
    """A fresh process's state: no peer tables, no models, no scoring rows."""
    peers.clear_cache()
    serving._models.clear()
    whatif._rows.clear()


def sample(wh: warehouse.Warehouse, n: int, seed: int = 7) -> list[tuple[str, str]]:
    rows = wh.rows(
        "SELECT p.customer_id, c.csm_owner FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE p.as_of = ? ORDER BY p.customer_id",
        [health.latest_scoring_date(wh)],
    )
    return random.Random(seed).sample(rows, min(n, len(rows)))


def vs_peers(wh: warehouse.Warehouse, accounts: list[tuple[str, str]]) -> None:
    print("vs peers strip (peers.account_position)")
    cold = []
    for cid, _owner in accounts[:3]:
        peers.clear_cache()
        cold.append(timed(lambda cid=cid: peers.account_position(wh, SYSTEM, cid)))
    line("cold (book table computed for the snapshot)", cold)
    line("warm, admin", [timed(lambda cid=cid: peers.account_position(wh, SYSTEM, cid)) for cid, _ in accounts])
    line(
        "warm, each account's own CSM",
        [timed(lambda c=c, o=o: peers.account_position(wh, Viewer(o, "csm"), c)) for c, o in accounts if o],
    )
    seconds = timed(lambda: peers.segment_benchmarks(wh, SYSTEM))
    print(f"  plans and segments vs book and last quarter (segment_benchmarks): {seconds:.2f} s")


def a_change(wh: warehouse.Warehouse, cid: str) -> dict[str, float]:
    """A 5 % renewal discount, or (no MRR to discount) no open tickets."""
    offered = {lever.name for lever in whatif.levers(wh, SYSTEM, cid)}
    return {"discount": 5.0} if "discount" in offered else {"open_tickets": 0.0}


def what_if(wh: warehouse.Warehouse, accounts: list[tuple[str, str]]) -> None:
    print("one-account what-if (whatif.simulate, one lever changed)")
    cold = []
    for cid, _owner in accounts[:3]:
        forget_everything()
        cold.append(timed(lambda cid=cid: whatif.simulate(wh, SYSTEM, cid, {"open_tickets": 0.0})))
    line("cold (model loaded, row read)", cold)
    whatif._rows.clear()
    changes = {}
    first = []
    for cid, _owner in accounts:
        t0 = time.perf_counter()
        changes[cid] = a_change(wh, cid)  # the page lists the levers first: that builds the row
        first.append(time.perf_counter() - t0)
    line("first for an account: levers listed (its scored row read)", first)
    line(
        "warm: re-score with a change (model and row kept)",
        [timed(lambda c=cid: whatif.simulate(wh, SYSTEM, c, changes[c])) for c, _ in accounts],
    )
    line(
        "warm, each account's own CSM",
        [timed(lambda c=c, o=o: whatif.simulate(wh, Viewer(o, "csm"), c, changes[c])) for c, o in accounts if o],
    )
    mismatched = [
        cid
        for cid, _ in accounts
        if (r := whatif.simulate(wh, SYSTEM, cid)).churn_probability != r.stored_churn_probability
    ]
    print(f"  no change == stored score exactly: {len(accounts) - len(mismatched)} of {len(accounts)} accounts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--accounts", type=int, default=200, help="accounts sampled for the warm figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir
        if data is None:
            data = Path(tmp) / "data"
            load.build_demo(data)
        wh = warehouse.get_warehouse(data, read_only=True)
        customers = wh.scalar("SELECT count(*) FROM customers")
        usage = wh.scalar("SELECT count(*) FROM usage_daily")
        print(f"{customers:,} customers, {usage:,} usage rows, data as of {health.data_as_of(wh)}")
        accounts = sample(wh, args.accounts)
        vs_peers(wh, accounts)
        what_if(wh, accounts)
        warehouse.close_all()


if __name__ == "__main__":
    main()
