"""One warehouse, many processes (engine/data/snapshots.py), tested with real processes.

While a real `streamlit run` app serves ten logged-in sessions, a scheduler's `ingest`,
`train` and `score` succeed; readers see the old or the new state, never a mix; no page
run fails; the app shows the new scoring date without a restart. A second writer waits or
is refused with the holder named. `kill -9` of a writer leaves the previous state. App
state (the AI audit log, saved scenarios) is written while a writer holds the warehouse.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import websockets
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench import load
from engine.auth import users
from engine.data import snapshots, warehouse

ROOT = Path(__file__).resolve().parents[1]
STATE_SQL = "SELECT count(*), max(as_of), round(sum(churn_probability), 6) FROM predictions"


def cli(data: Path, *args: str, wait: str = "60", timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RADAR_WRITE_WAIT_SECONDS": wait}
    env.pop("GROQ_API_KEY", None)
    cmd = [sys.executable, "-m", "engine", "--data-dir", str(data), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def state(data: Path) -> tuple:
    """(predictions, latest scoring date, sum of probabilities) of the published snapshot."""
    found = warehouse.get_warehouse(data, read_only=True).rows(STATE_SQL)[0]
    warehouse.close_all()
    return found


def generation(data: Path) -> int:
    snapshot = snapshots.current(warehouse.config.warehouse_path(data))
    assert snapshot is not None
    return snapshot.generation


def next_day_events(data: Path, folder: Path) -> Path:
    """A scheduler's nightly export: one more day of events for 50 active accounts."""
    wh = warehouse.get_warehouse(data, read_only=True)
    last = wh.scalar("SELECT max(date) FROM usage_daily")
    kind = wh.scalar("SELECT event_type FROM usage_daily GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    ids = [r[0] for r in wh.rows("SELECT customer_id FROM customers WHERE churn_date IS NULL ORDER BY 1 LIMIT 50")]
    warehouse.close_all()
    day = last + timedelta(days=1)
    path = folder / "events.csv"
    lines = ["customer_id,timestamp,event_type"] + [f"{c},{day}T10:{i % 60:02d}:00,{kind}" for i, c in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def holder_script(data: Path, release: Path) -> subprocess.Popen:
    """A writer that takes the warehouse, says so, and keeps it until `release` exists."""
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from engine.data import warehouse
        with warehouse.writing({str(data)!r}, "nightly load") as wh:
            print("holding", flush=True)
            while not pathlib.Path({str(release)!r}).exists():
                time.sleep(0.1)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


async def _page_text(port: int, cookie: str, page: str) -> str:
    """Every markdown text of one run of `page`, as the browser would receive it."""
    texts = []
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], additional_headers={"Cookie": cookie}) as ws:
        await ws.send(load.rerun_message(page, ""))
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=120))
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "markdown":
                    texts.append(element.markdown.body)
            elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return "\n".join(texts)


@pytest.fixture(scope="module")
def served(scored_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("shared") / "data"
    shutil.copytree(scored_dir, data, symlinks=True)
    users.create_demo_users(warehouse.get_warehouse(data), data)
    warehouse.close_all()
    port = load.free_port()
    log_path = data.parent / "server.log"
    with log_path.open("w") as log:
        server = load.start_server(data, port, log=log)
        yield data, port, log_path
        server.terminate()
        server.wait(timeout=20)


def test_the_scheduler_writes_while_the_app_serves_ten_sessions(served, tmp_path):
    data, port, log_path = served
    before = state(data)
    people = load.sessions_plan(data, ["risk_board", "customer_360"], 10)
    exec_cookie = people[0][0]
    assert "Jun 30, 2026" in asyncio.run(_page_text(port, exec_cookie, "risk_board"))

    seen: set[tuple] = set()
    stop = threading.Event()

    def reader() -> None:  # a reader polling the published state the whole time
        while not stop.is_set():
            seen.add(warehouse.get_warehouse(data, read_only=True).rows(STATE_SQL)[0])
            time.sleep(0.05)

    outcome: dict = {}
    sessions = threading.Thread(target=lambda: outcome.update(load=asyncio.run(load.run_load([port], people, 10, 0.3))))
    polling = threading.Thread(target=reader)
    sessions.start()
    polling.start()
    runs = [
        cli(data, "ingest", "events", str(next_day_events(data, tmp_path))),
        cli(data, "train"),
        cli(data, "score"),
    ]
    sessions.join()
    stop.set()
    polling.join()
    warehouse.close_all()

    for run in runs:
        assert run.returncode == 0, run.args[-3:] + [run.stderr[-1500:]]
    timings, _ = outcome["load"]
    assert timings.errors == [], log_path.read_text()[-4000:]
    assert sum(len(v) for v in timings.by_page.values()) == 10 * 10
    after = state(data)
    assert after != before and str(after[1]) == "2026-07-01"
    assert seen <= {before, after}, "a reader saw a state that was neither the old nor the new one"
    # the running app shows the new scoring date, without a restart
    assert "Jul 1, 2026" in asyncio.run(_page_text(port, exec_cookie, "risk_board"))


def test_a_second_writer_waits_then_is_refused_with_the_holder_named(scored_copy, tmp_path):
    gen = generation(scored_copy)
    release = tmp_path / "release"
    holder = holder_script(scored_copy, release)
    try:
        refused = cli(scored_copy, "score", wait="1")
        assert refused.returncode == 2
        assert "nightly load" in refused.stderr and f"process {holder.pid}" in refused.stderr
        assert "waiting for the warehouse" in refused.stderr
        assert cli(scored_copy, "info").returncode == 0, "readers are not affected"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RADAR_WRITE_WAIT_SECONDS": "120"}
        cmd = [sys.executable, "-m", "engine", "--data-dir", str(scored_copy), "score"]
        waiting = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiting.stderr is not None
        assert "waiting for the warehouse: `nightly load`" in waiting.stderr.readline()
    finally:
        release.touch()
        holder.wait(timeout=60)
    _, rest = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, rest[-1500:]
    assert generation(scored_copy) == gen + 2  # the holder's write, then the one that waited


# Where the writer pauses itself (SIGSTOP) so the kill lands there however fast scoring is:
# computing features, scores written to the new snapshot but not published, and the very end.
STOP_AT = ("features", "written", "done")


def paused_writer(data: Path, stage: str) -> subprocess.Popen:
    """`score` in a child process that stops itself (SIGSTOP) at `stage`."""
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        import engine.churn.cli as churn_cli
        from engine.churn import scoring

        def pause():
            os.kill(os.getpid(), signal.SIGSTOP)

        told = churn_cli.progress
        def progress(fraction, message):
            told(fraction, message)
            if ({stage!r}, fraction) in {{("features", 0.05), ("done", 1.0)}}:
                pause()
        churn_cli.progress = progress

        write = scoring._write
        def written(*args, **kwargs):
            write(*args, **kwargs)
            if {stage!r} == "written":
                pause()
        scoring._write = written

        from engine.cli import main
        sys.argv = ["engine", "--data-dir", {str(data)!r}, "score", "--as-of", "2026-05-31"]
        raise SystemExit(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_until_stopped(process: subprocess.Popen, timeout: float = 300) -> None:
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the writer ended before its stage: " + process.stderr.read().decode()[-1500:]
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.05)
    raise AssertionError(f"the writer did not reach its stage in {timeout} s")


@pytest.mark.parametrize("stage", STOP_AT)
def test_kill_9_of_a_writer_leaves_the_previous_state(scored_copy, stage):
    """Killed while computing features, after writing scores but before publishing them, and at
    the very end (racing its publication): the warehouse is the old state, or the whole new one."""
    before, gen = state(scored_copy), generation(scored_copy)
    writer = paused_writer(scored_copy, stage)
    wait_until_stopped(writer)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    killed_at = (generation(scored_copy), state(scored_copy))
    assert cli(scored_copy, "info").returncode == 0
    again = cli(scored_copy, "score", "--as-of", "2026-05-31")  # the next writer clears what was left
    assert again.returncode == 0, again.stderr[-1500:]
    whole = state(scored_copy)
    if stage == "done":  # published or not, never in between
        assert killed_at in {(gen, before), (gen + 1, whole)}
    else:
        assert killed_at == (gen, before)
    assert whole != before
    leftovers = sorted(p.name for p in (scored_copy / snapshots.SNAPSHOT_DIR).iterdir())
    assert all(snapshots.generation_of(Path(name)) is not None for name in leftovers), leftovers


def test_a_failed_command_publishes_nothing(scored_copy, tmp_path):
    before, gen = state(scored_copy), generation(scored_copy)
    bad = tmp_path / "events.csv"
    bad.write_text("customer_id,timestamp,event_type\nnobody,2026-07-01T10:00:00,login\n")
    run = cli(scored_copy, "ingest", "events", str(bad))
    assert run.returncode == 2 and "load customers first" in run.stderr
    assert (generation(scored_copy), state(scored_copy)) == (gen, before)


def test_app_state_is_written_while_a_writer_holds_the_warehouse(scored_copy, tmp_path):
    holder = holder_script(scored_copy, tmp_path / "never")
    try:
        asked = cli(scored_copy, "ask-portfolio", "How many active customers are there?", wait="0")
        saved = cli(scored_copy, "scenario", "save", "Held plan", wait="0")
        audit = cli(scored_copy, "ai-audit", "--json", wait="0")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert asked.returncode == 0, asked.stderr[-1500:]
    assert saved.returncode == 0, saved.stderr[-1500:]
    assert audit.returncode == 0 and "How many active customers" in audit.stdout


@pytest.mark.parametrize(
    ("args", "setting", "niceness"),
    [
        (["score"], None, 10),
        (["--data-dir", "d", "ingest", "customers", "f.csv"], "4", 4),
        (["score", "--json"], "0", 0),
        (["--data-dir", "score", "info"], None, 0),
        (["api"], None, 0),
    ],
)
def test_batch_commands_yield_the_cpu_to_serving(args, setting, niceness):
    """A scheduler's `score` runs below the app and the API's priority, unless configured not to;
    reading and serving commands keep theirs."""
    env = {k: v for k, v in os.environ.items() if k != "RADAR_BATCH_NICE"} | {"PYTHONPATH": str(ROOT)}
    if setting is not None:
        env["RADAR_BATCH_NICE"] = setting
    code = (
        "import os; from engine.core import priority; base = os.nice(0); "
        f"priority.yield_cpu_to_serving(priority.command_of({args!r})); print(os.nice(0) - base)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == niceness


def test_a_batch_command_lowers_its_priority_before_its_imports(tmp_path):
    """`python -m engine score` is niced before `engine.cli` (two seconds of imports) loads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RADAR_BATCH_NICE": "7"}
    probe = (
        "import os, runpy, sys; base = os.nice(0); "
        "sys.argv = ['engine', '--data-dir', sys.argv[1], 'score']; "
        "import engine.core.priority as p; "
        "real = p.yield_cpu_to_serving; "
        "p.yield_cpu_to_serving = lambda c: (real(c), print(os.nice(0) - base, 'engine.cli' in sys.modules, flush=True)); "
        "runpy.run_module('engine', run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.stdout.split()[:2] == ["7", "False"], out
