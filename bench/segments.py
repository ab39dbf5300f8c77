"""Segments speed and meaning on a big book.

Target: segments for 100,000 accounts <= 10 s (`segments` / `book_segments`: every account's
eight axes and archetype today, plus the month ends behind the churn rates and NRR).

Builds a scored warehouse of N generated customers (as bench/pages.py does: the model is
trained on a smaller warehouse, then scores all N), or reads --data-dir, then times:
* the book report cold (nothing kept) and warm (today's classified book kept per snapshot);
* the board's archetype column (`segment_of_accounts`) cold and warm;
* one account's segment with six months of history: the first account (the cuts of each
  month end are learned from the book once per snapshot) and later accounts;
and prints the archetype table, the churn spread and the month-to-month agreement.

Run: `PYTHONPATH=. .venv/bin/python bench/segments.py [--customers 100000] [--data-dir DIR | --keep DIR]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from dateutil.relativedelta import relativedelta

from engine.data import warehouse


def build(data: Path, customers: int, model_customers: int) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_pages", Path(__file__).with_name("pages.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t0 = time.perf_counter()
    module.build(data, customers, model_customers)
    warehouse.close_all()
    print(f"built {customers:,} generated, scored customers in {time.perf_counter() - t0:.0f} s")


def forget() -> None:
    """Drop what the process keeps, so the next call is cold."""
    from engine.segments import book

    book._frames.clear()
    book._calibrations.clear()


def cpu_seconds() -> float:
    """This process's CPU time, every thread counted (DuckDB's too): the work done, whatever
    else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure(data: Path) -> None:
    from engine import segments
    from engine.core.access import SYSTEM
    from engine.segments import book
    from engine.segments.cli import render

    wh = warehouse.get_warehouse(data, read_only=True)
    forget()
    c0 = cpu_seconds()
    report, cold = timed(lambda: segments.book_segments(wh, SYSTEM))
    work = cpu_seconds() - c0
    _, warm = timed(lambda: segments.book_segments(wh, SYSTEM))
    dates = 1 + len(set(report.outcome_months) | set(report.nrr_months))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other processes slow every figure)")
    print(
        f"book_segments: {report.accounts:,} active accounts, {dates} dates read; cold {cold:.2f} s "
        f"({work:.1f} CPU-s) (target <= 10 s), warm {warm:.2f} s"
    )
    forget()
    board, cold = timed(lambda: segments.segment_of_accounts(wh, SYSTEM))
    _, warm = timed(lambda: segments.segment_of_accounts(wh, SYSTEM))
    print(f"segment_of_accounts: {len(board):,} rows; cold {cold:.2f} s, warm {warm * 1000:.0f} ms")
    ids = board["customer_id"].sample(21, random_state=1).tolist()
    forget()
    _, first = timed(lambda: segments.account_segment(wh, SYSTEM, ids[0]))
    later = [timed(lambda cid=cid: segments.account_segment(wh, SYSTEM, cid))[1] for cid in ids[1:]]
    print(
        f"account_segment (6 months of history): first account {first:.2f} s (cuts of 7 dates learned), "
        f"later accounts median {statistics.median(later) * 1000:.0f} ms"
    )
    print()
    print("\n".join(render(report)[: 4 + len(report.archetypes) + 3]))
    # month-to-month agreement over the last three month ends
    last = report.outcome_months[-1] if report.outcome_months else report.as_of
    ends = [last + relativedelta(day=31, months=k) for k in range(1, 4)]
    ends = [d for d in ends if d <= report.as_of]
    if len(ends) >= 2:
        frame, _ = book._books(wh, ends)
        kept = seen = 0
        for a, b in zip(ends, ends[1:], strict=False):
            first_at = frame[frame["as_of"] == a].set_index("customer_id")["archetype"]
            second_at = frame[frame["as_of"] == b].set_index("customer_id")["archetype"]
            both = first_at.index.intersection(second_at.index)
            judged = (first_at[both] != "Not enough data") & (second_at[both] != "Not enough data")
            kept += int((first_at[both] == second_at[both])[judged].sum())
            seen += int(judged.sum())
        print(
            f"month-to-month: {kept / seen:.1%} of {seen:,} account-months keep their archetype ({ends[0]}..{ends[-1]})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--model-customers", type=int, default=5000)
    parser.add_argument("--data-dir", type=Path, default=None, help="an existing warehouse (read only)")
    parser.add_argument("--keep", type=Path, default=None, help="build into this dir (reused when it has scores)")
    args = parser.parse_args()
    if args.data_dir:
        measure(args.data_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "data"
        if not (data / "warehouse.duckdb").exists():
            build(data, args.customers, args.model_customers)
        measure(data)


if __name__ == "__main__":
    main()
