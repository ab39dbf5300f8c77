"""Event-log ingest at scale: a synthetic Parquet log of N events (default 100M) is loaded into a
fresh warehouse through the product's own command (`python -m engine ingest events FILE`) in a
child process; prints rows/second, wall time and the child's PEAK RSS, next to a bare DuckDB
`read_parquet` + `GROUP BY` of the same file (also in a child). Target (issue 14): 100M events
with <= 4 GB peak RSS.

    .venv/bin/python bench/events.py [--events N] [--quick] [--customers C] [--days D] [--keep DIR]

--quick is 1M events. The log is written by DuckDB itself (no pandas): C customers (default
N / 20,000, at least 500), D days (default 365) ending yesterday, 8 event types, up to 25 users
per customer, a numeric value on 30 % of the events.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
EVENT_TYPES = ["login", "report_view", "dashboard_view", "export", "api_call", "invite", "search", "comment"]
BARE = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
rows = con.execute(
    "SELECT count(*), sum(n) FROM (SELECT customer_id, CAST(timestamp AS DATE) AS day, event_type, count(*) AS n, "
    "sum(value) AS v, count(DISTINCT user_id) AS u FROM read_parquet(?) GROUP BY ALL)",
    [sys.argv[1]],
).fetchall()[0]
print(rows[0], rows[1])
"""


def generate(path: Path, events: int, customers: int, days: int) -> float:
    """Write the log with DuckDB; returns seconds."""
    start = date.today() - timedelta(days=days)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    types = "[" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + "]"
    con.execute(
        "COPY (SELECT customer_id, "  # noqa: S608 - fixed event-type names, values bound
        "  make_timestamp(CAST(epoch_us(?::TIMESTAMP) + random() * ? * 86400e6 AS BIGINT)) AS timestamp, "
        f"  {types}[1 + CAST(floor(random() * {len(EVENT_TYPES)}) AS INTEGER)] AS event_type, "
        "  customer_id || '-u' || CAST(floor(random() * 25) AS INTEGER) AS user_id, "
        "  CASE WHEN random() < 0.3 THEN round(random() * 100, 2) END AS value "
        "FROM (SELECT 'c' || lpad(CAST(CAST(floor(random() * ?) AS INTEGER) AS VARCHAR), 7, '0') AS customer_id "
        "      FROM range(?))) TO ? (FORMAT parquet, ROW_GROUP_SIZE 1000000)",
        [start, days, customers, events, str(path)],
    )
    customers_csv = path.with_name("customers.csv")
    con.execute(
        "COPY (SELECT 'c' || lpad(CAST(i AS VARCHAR), 7, '0') AS customer_id, 'Customer ' || i AS name, "
        "'growth' AS plan_tier, ?::DATE AS signup_date, 'active' AS status FROM range(?) t(i)) TO ? (HEADER)",
        [start - timedelta(days=30), customers, str(customers_csv)],
    )
    con.close()
    return time.perf_counter() - t0


def run_child(args: list[str], env: dict[str, str] | None = None) -> str:
    """The stdout of one child process; stops the bench when it fails."""
    child = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[-4:])} failed ({child.returncode}):\n{child.stderr}")
    return child.stdout


def measured(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, stdout) of `args`, run under a fresh wrapper process whose only
    child it is, so RUSAGE_CHILDREN's ru_maxrss is that command's own peak."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t0\n"
        "sys.stderr.write(p.stderr)\n"
        "sys.stdout.write(p.stdout)\n"
        "print(f'__peak_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} __wall={wall}')\n"
        "sys.exit(p.returncode)\n"
    )
    out = run_child([sys.executable, "-c", wrapper, *args], env)
    last = out.strip().splitlines()[-1]
    peak_kb = int(last.split("__peak_kb=")[1].split()[0])
    wall = float(last.split("__wall=")[1])
    return wall, peak_kb / 1024 / 1024, "\n".join(out.strip().splitlines()[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--quick", action="store_true", help="1M events")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep the files")
    args = parser.parse_args()
    events = 1_000_000 if args.quick else args.events
    customers = args.customers or max(500, events // 20_000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="radar_events_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        log = work / "events.parquet"
        seconds = generate(log, events, customers, args.days)
        size = log.stat().st_size / 1e9
        print(
            f"generated {events:,} events for {customers:,} customers over {args.days} days in {seconds:.1f} s ({size:.2f} GB)"
        )

        data = work / "data"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cli = [sys.executable, "-m", "engine", "--data-dir", str(data), "ingest"]
        measured([*cli, "customers", str(work / "customers.csv")], env)
        wall, peak, out = measured([*cli, "events", str(log)], env)
        print(out.strip())
        print(
            f"product ingest : {events / wall:>12,.0f} events/s  wall {wall:7.1f} s  peak RSS {peak:5.2f} GB "
            f"(memory limit {os.environ.get('RADAR_INGEST_MEMORY', '2GB')})"
        )
        bare_wall, bare_peak, bare_out = measured([sys.executable, "-c", BARE, str(log)], env)
        groups = bare_out.strip().splitlines()[-1].split()[0]  # the last line: the script's own print
        print(
            f"bare DuckDB    : {events / bare_wall:>12,.0f} events/s  wall {bare_wall:7.1f} s  peak RSS "
            f"{bare_peak:5.2f} GB (read_parquet + GROUP BY into {int(groups):,} groups, nothing written)"
        )
        print(f"ratio          : the product takes {wall / bare_wall:.1f}x the bare roll-up's time")
        verdict = "meets" if peak <= 4 else "MISSES"
        print(f"target         : peak RSS {peak:.2f} GB {verdict} the <= 4 GB target at {events:,} events")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
