"""Load: N concurrent logged-in sessions against a real `streamlit run` server.

Each simulated person holds one Streamlit websocket (the protocol the browser speaks),
logs in with a genuine login cookie, opens a page and then reruns it the way a click
does, REQUESTS times, with THINK seconds between clicks. A request is timed from the
rerun message to the server's "script finished"; a run that ends in an exception element
or a dropped socket counts as an error. Target (issue 12): at 25 sessions, p95 <= 2 s for
the risk board and Customer 360, 0 errors.

    PYTHONPATH=. .venv/bin/python bench/load.py [--sessions 25] [--requests 6] [--think 1.0]
        [--stagger 0] [--data-dir DIR] [--servers 1] [--pages risk_board customer_360]

By default all sessions click in lockstep (the worst case: 25 people opening 25 different
accounts in the same instant); --stagger S spreads their arrival over S seconds and varies
think times by +-50 %, closer to a team at work.

Without --data-dir a demo warehouse is built in a temp folder (about 20 s). With
--servers K, K read-only app replicas (RADAR_READ_ONLY=1) serve the same warehouse and
sessions are spread over them round-robin, as a load balancer with sticky sessions would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from engine.accounts import board
from engine.auth import users
from engine.core.access import Viewer
from engine.data import warehouse

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass
class Timings:
    by_page: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    data_dir: Path, port: int, read_only: bool = False, log=None, timeout: float = 90, drop_env: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`streamlit run app.py` on `port` over `data_dir`, returned once it answers its health check.

    The benchmark, the browser tests and the replica tests all start the app this way. `log`
    is a file for the server's output (default: discarded); `drop_env` names variables the
    server must not see (a real GROQ_API_KEY in a test run, say).
    """
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env.update(RADAR_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    if read_only:  # replicas share the warehouse read-only (DuckDB: many readers or one writer)
        env["RADAR_READ_ONLY"] = "1"
    cmd = [PYTHON, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if log is not None else out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the app did not start on port {port} within {timeout:.0f} s")


def rerun_message(page: str, query: str) -> bytes:
    msg = BackMsg()
    msg.rerun_script.query_string = query
    msg.rerun_script.page_name = page
    msg.rerun_script.page_script_hash = ""
    return msg.SerializeToString()


async def one_run(ws, page: str, query: str, timeout: float) -> tuple[float, str | None]:
    """Send one rerun; wait for the run that is not cut short by st.rerun. (seconds, error)."""
    started = time.perf_counter()
    await ws.send(rerun_message(page, query))
    error = None
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout=timeout)
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "exception":
                error = f"{page}: {element.exception.type}: {element.exception.message[:120]}"
            elif element.WhichOneof("type") == "markdown" and "Please log in" in element.markdown.body:
                error = f"{page}: shown as logged out"
            elif element.WhichOneof("type") == "form":
                error = f"{page}: the login form instead of the page"
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                continue
            if msg.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                error = error or f"{page}: script finished with status {msg.script_finished}"
            return time.perf_counter() - started, error


async def person(
    port: int, cookie: str, plan: list[tuple[str, str]], think: float, timings: Timings, start: float = 0.0
) -> None:
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    rng = random.Random(start)
    await asyncio.sleep(start)
    try:
        async with websockets.connect(
            url, subprotocols=["streamlit"], additional_headers={"Cookie": cookie}, max_size=None
        ) as ws:
            for i, (page, query) in enumerate(plan):
                seconds, error = await one_run(ws, page, query, timeout=120)
                if error:
                    timings.errors.append(error)
                elif i > 0:  # the first run logs in and opens the page: reported apart
                    timings.by_page.setdefault(page, []).append(seconds)
                else:
                    timings.by_page.setdefault(f"{page} (first open)", []).append(seconds)
                await asyncio.sleep(think * rng.uniform(0.5, 1.5) if start else think)
    except Exception as exc:  # a dropped socket or a timeout is an error of the server under load
        timings.errors.append(f"{type(exc).__name__}: {exc}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def build_demo(target: Path) -> None:
    env = {**os.environ, "RADAR_DATA_DIR": str(target), "PYTHONPATH": str(ROOT)}
    subprocess.run([PYTHON, "-m", "engine", "demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def sessions_plan(data_dir: Path, pages: list[str], requests: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """(cookie, [(page, query), ...]) per person: executives and CSMs, each on their own book."""
    settings = users.auth_settings(data_dir)
    wh = warehouse.get_warehouse(data_dir, read_only=True)
    frame = board.board_frame(wh, Viewer("exec", "executive"))
    warehouse.close_all()
    owners = [u.username for u in users.list_users(data_dir) if u.role == "csm"]
    people = []
    for i in range(64):
        login = owners[i % len(owners)] if i % 2 and owners else "exec"
        book = frame if login == "exec" else frame[frame["csm_owner"] == login]
        account = str(book["customer_id"].iloc[i % len(book)])
        token, _ = users.issue_login_token(settings, login)
        plan = []
        for r in range(requests):
            page = pages[r % len(pages)]
            plan.append((page, f"customer_id={account}" if page == "customer_360" else ""))
        people.append((f"{settings.cookie_name}={token}", plan))
    return people


async def run_load(
    ports: list[int], people, sessions: int, think: float, stagger: float = 0.0
) -> tuple[Timings, float]:
    """Every session at once (stagger 0: all click in lockstep, the worst case), or sessions
    arriving over `stagger` seconds with think times varying +-50 %, as people do."""
    timings = Timings()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            person(ports[i % len(ports)], cookie, plan, think, timings, stagger * i / max(1, sessions))
            for i, (cookie, plan) in enumerate(people[:sessions])
        )
    )
    return timings, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=25)
    parser.add_argument("--requests", type=int, default=6, help="page runs per session (first one logs in)")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a person's clicks")
    parser.add_argument(
        "--stagger", type=float, default=0.0, help="spread session starts over this many seconds (0: lockstep)"
    )
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--pages", nargs="+", default=["risk_board", "customer_360"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="radar-load-") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            print("building a demo warehouse ...", flush=True)
            build_demo(data_dir)
        people = sessions_plan(data_dir, args.pages, args.requests)
        ports = [free_port() for _ in range(args.servers)]
        servers = [start_server(data_dir, port, read_only=args.servers > 1) for port in ports]
        try:
            # Warm each server once (first import of the page modules, cache fill), as after a deploy.
            asyncio.run(run_load(ports, people[: len(ports)], len(ports), 0))
            timings, wall = asyncio.run(run_load(ports, people, args.sessions, args.think, args.stagger))
        finally:
            for proc in servers:
                proc.terminate()
            for proc in servers:
                proc.wait(timeout=20)

    print(
        f"{args.sessions} sessions x {args.requests} runs, think {args.think:.1f} s, "
        f"{'lockstep' if not args.stagger else f'arriving over {args.stagger:.0f} s'}, "
        f"{args.servers} server process(es), {os.cpu_count()} cores, wall {wall:.1f} s"
    )
    for page, values in sorted(timings.by_page.items()):
        print(
            f"  {page:<28} n={len(values):>4}  p50 {statistics.median(values):6.2f} s  "
            f"p95 {percentile(values, 0.95):6.2f} s  max {max(values):6.2f} s"
        )
    print(f"  errors: {len(timings.errors)}")
    for error in timings.errors[:10]:
        print(f"    {error}")


if __name__ == "__main__":
    main()
