"""Serving: what a write costs the shared warehouse, and how fast the HTTP API answers.

1. Writes: a command that writes copies the current snapshot and publishes a new one. Times
   an empty write (copy + checkpoint + publish) and `score`, and a reader's first open of a
   new snapshot.
2. API: `python -m engine api` as a real process; sequential requests per endpoint with an
   executive key and a CSM key, p50 / p99 in ms (a page of 1,000 predictions, the export of
   every score); then GET /customers/{id}/churn from --clients concurrent clients (each its
   own connection, a different account per request): back to back (the server saturated:
   its throughput), then pausing --think seconds between requests, idle and while `score`
   writes, with the error count. Targets (issue 15): churn p50 <= 20 ms and p99 <= 60 ms at 50 clients;
   a 1,000-row page <= 100 ms; the export <= 3 s; while scoring 0 errors, p99 <= 3x idle.

    PYTHONPATH=. .venv/bin/python bench/serving.py [--data-dir DIR] [--requests 200] [--clients 50]

--data-dir is written to (a write bench and a `score`): pass a copy.

Without --data-dir a 5,000-customer demo is built in a temp folder (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import load
from engine.auth import keys
from engine.core import config
from engine.data import snapshots, warehouse

ROOT = Path(__file__).resolve().parents[1]


def ms(values: list[float], q: float) -> float:
    return 1000 * load.percentile(values, q)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def writes(data: Path) -> None:
    size = (data / "warehouse.duckdb").resolve().stat().st_size / 1e6

    def empty_write() -> None:
        with warehouse.writing(data, "bench"):
            pass

    empties = [timed(empty_write) for _ in range(5)]
    opens = []
    for _ in range(5):
        empty_write()
        opens.append(timed(lambda: warehouse.get_warehouse(data, read_only=True).scalar("SELECT 1")))
    warehouse.close_all()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "engine", "--data-dir", str(data), "score"]
    score = timed(lambda: subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True))
    print(f"warehouse snapshot {size:,.0f} MB")
    print(f"  empty write (copy + checkpoint + publish): median {statistics.median(empties):.2f} s")
    print(f"  a reader's first query on a new snapshot:  median {1000 * statistics.median(opens):.0f} ms")
    print(f"  `score` end to end (its copy included):    {score:.1f} s")


class Crowd:
    """Latencies of the answered requests and the count of everything else."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.started: list[float] = []  # perf_counter when each answered request was sent
        self.errors = 0
        self.published: list[float] = []  # when a writer's snapshot appeared (while scoring)
        self.began = 0.0  # when the writer started (while scoring)

    def slowest_timeline(self, began: float, share: float = 0.01) -> str:
        """When the slowest `share` of requests were sent, in seconds after `began` (the writer's
        start), beside when its snapshot was published: where in a write the tail comes from."""
        if not self.times:
            return "no requests answered"
        cut = sorted(self.times)[-max(1, int(len(self.times) * share))]
        sent = sorted(t0 - began for t0, t in zip(self.started, self.times, strict=True) if t >= cut)
        published = ", ".join(f"{m - began:.1f}" for m in self.published) or "never"
        return (
            f"slowest {len(sent)} sent at {', '.join(f'{t:.0f}' for t in sent)} s after `score` started; "
            f"its snapshot was published at {published} s"
        )

    def __str__(self) -> str:
        return f"({len(self.times):,} answered, {self.errors} errors)"


async def _crowd(
    base: str, key: str, accounts: list[str], clients: int, seconds: float, stop=None, think: float = 0.0
) -> Crowd:
    """`clients` clients, each on its own connection, asking for random accounts' churn for
    `seconds` (or until `stop` is set), pausing `think` seconds (+-50 %) between requests: a
    CRM or support desk looks accounts up as its users open them. With no pause the clients
    saturate the server, and latency is then concurrency / throughput."""
    crowd = Crowd()
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}"}

    async def one(seed: int) -> None:
        pick = random.Random(seed)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) as client:
            if think:  # clients arrive spread over one pause, not all in the same instant
                await asyncio.sleep(think * pick.random())
            while (stop is None and time.perf_counter() < deadline) or (stop is not None and not stop.is_set()):
                t0 = time.perf_counter()
                try:
                    response = await client.get(f"{base}/customers/{pick.choice(accounts)}/churn", headers=headers)
                except httpx.HTTPError:
                    crowd.errors += 1
                    continue
                if response.status_code == 200:
                    crowd.times.append(time.perf_counter() - t0)
                    crowd.started.append(t0)
                else:
                    crowd.errors += 1
                if think:
                    await asyncio.sleep(think * pick.uniform(0.5, 1.5))

    # The load generator's own garbage collection must not stall its 50 clients and count as
    # server latency (its full collections took 140-240 ms mid-run): off while measuring.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(one(i) for i in range(clients)))
    finally:
        gc.enable()
    return crowd


def _crowd_while_scoring(
    data: Path, env: dict, base: str, key: str, accounts: list[str], clients: int, think: float
) -> Crowd:
    stop = threading.Event()

    def score() -> None:
        cmd = [sys.executable, "-m", "engine", "--data-dir", str(data), "score"]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        stop.set()

    published: list[float] = []

    def watch() -> None:  # when the writer's new snapshot appears
        link = config.warehouse_path(data)
        first = snapshots.current(link)
        while not stop.is_set():
            now = snapshots.current(link)
            if now != first and not published:
                published.append(time.perf_counter())
            time.sleep(0.02)

    writer = threading.Thread(target=score)
    watcher = threading.Thread(target=watch)
    began = time.perf_counter()
    writer.start()
    watcher.start()
    crowd = asyncio.run(_crowd(base, key, accounts, clients, seconds=0, stop=stop, think=think))
    writer.join()
    watcher.join()
    crowd.published, crowd.began = published, began
    return crowd


def api(data: Path, requests: int, clients: int, think: float) -> None:
    _, exec_key = keys.create_key(f"bench-exec-{time.time_ns()}", "executive", data_dir=data)
    wh = warehouse.get_warehouse(data, read_only=True)
    owner, account = wh.rows(
        "SELECT c.csm_owner, c.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE p.as_of = (SELECT max(as_of) FROM predictions) AND c.csm_owner IS NOT NULL ORDER BY 2 LIMIT 1"
    )[0]
    accounts = [
        r[0]
        for r in wh.rows(
            "SELECT customer_id FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions) "
            "ORDER BY hash(customer_id) LIMIT 5000"
        )
    ]
    warehouse.close_all()
    _, csm_key = keys.create_key(f"bench-csm-{time.time_ns()}", "csm", owner=owner, data_dir=data)
    port = load.free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RADAR_API_RATE_LIMIT": "1000000"}
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "--data-dir",
        str(data),
        "api",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(100):
                try:
                    if client.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            routes = [
                ("GET /customers/{id}/churn", exec_key, f"/customers/{account}/churn"),
                ("GET /customers/{id}/risk-score", exec_key, f"/customers/{account}/risk-score"),
                ("GET /customers/{id}/360 (CSM key)", csm_key, f"/customers/{account}/360"),
                ("GET /predictions page 100", exec_key, "/predictions?page_size=100"),
                ("GET /predictions page 100 (CSM key)", csm_key, "/predictions?page_size=100"),
                ("GET /predictions page 1,000", exec_key, "/predictions?page_size=1000&page=3"),
            ]
            print(f"\nAPI, {requests} sequential requests per route (p50 / p99 ms)")
            for label, key, path in routes:
                times = _hit(client, base + path, key, requests)
                print(f"  {label:<38} {ms(times, 0.5):7.1f} / {ms(times, 0.99):7.1f}")
            export = _hit(client, f"{base}/predictions/export?format=csv", exec_key, 5)
            print(f"  {'GET /predictions/export (csv, all)':<38} {ms(export, 0.5):7.1f} / {ms(export, 0.99):7.1f}")
            print(f"\nGET /customers/{{id}}/churn, {clients} concurrent clients (p50 / p99 ms)")
            flat_out = asyncio.run(_crowd(base, exec_key, accounts, clients, seconds=20))
            print(
                f"  {'back to back (saturated)':<38} {ms(flat_out.times, 0.5):7.1f} / {ms(flat_out.times, 0.99):7.1f}"
                f"  {flat_out}, {len(flat_out.times) / 20:.0f} requests/s"
            )
            idle = asyncio.run(_crowd(base, exec_key, accounts, clients, seconds=30, think=think))
            print(
                f"  {f'{think:g} s between requests, idle':<38} {ms(idle.times, 0.5):7.1f} / {ms(idle.times, 0.99):7.1f}  {idle}"
            )
            busy = _crowd_while_scoring(data, env, base, exec_key, accounts, clients, think)
            print(
                f"  {'the same while `score` writes':<38} {ms(busy.times, 0.5):7.1f} / {ms(busy.times, 0.99):7.1f}  {busy}"
            )
            print(f"  p99 while scoring / idle: {ms(busy.times, 0.99) / ms(idle.times, 0.99):.2f}x", flush=True)
            print(f"  {busy.slowest_timeline(busy.began)}", flush=True)
            during: list[float] = []
            writer = threading.Thread(
                target=lambda: subprocess.run(
                    [sys.executable, "-m", "engine", "--data-dir", str(data), "score"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                )
            )
            writer.start()
            while writer.is_alive():
                during += _hit(client, f"{base}/customers/{account}/churn", exec_key, 10)
            writer.join()
            print(
                f"  {'one client while `score` writes':<38} {ms(during, 0.5):7.1f} / {ms(during, 0.99):7.1f}"
                f"  ({len(during)} requests, all 200)"
            )
    finally:
        server.terminate()
        server.wait(timeout=20)


def _hit(client: httpx.Client, url: str, key: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url, headers={"Authorization": f"Bearer {key}"})
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50, help="concurrent API clients")
    parser.add_argument("--think", type=float, default=1.0, help="seconds each client pauses between requests")
    parser.add_argument("--api-only", action="store_true", help="skip the write figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir
        if data is None:
            data = Path(tmp) / "data"
            load.build_demo(data)
        if not args.api_only:
            writes(data)
        api(data, args.requests, args.clients, args.think)


if __name__ == "__main__":
    main()
