"""`python -m engine api` as a real server process: it starts on the test warehouse, answers
its probes and a scored request with an API key, and stops on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.auth import keys
from engine.core import store
from engine.data import health, warehouse

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 90  # a cold start imports pandas, DuckDB and FastAPI on a busy machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the API exited with {server.returncode}: {server.stdout.read() if server.stdout else ''}"
            )
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the API did not answer /v1/health within {START_SECONDS} s")


@pytest.fixture
def served(scored_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(scored_dir, data)
    _, secret = keys.create_key("process-test", "analyst", created_by="tests", data_dir=data)
    store.dispose_all()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GROQ_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "--data-dir", str(data), "api", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, server)
        yield base, secret, data
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_the_api_command_serves_scores_to_a_key(served):
    base, secret, data = served
    wh = warehouse.get_warehouse(data, read_only=True)
    as_of = health.latest_scoring_date(wh)
    cid, stored = wh.rows(
        "SELECT customer_id, churn_probability FROM predictions WHERE as_of = ? ORDER BY churn_probability DESC "
        "LIMIT 1",
        [as_of],
    )[0]
    warehouse.close_all()

    ready = httpx.get(f"{base}/v1/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["scored_as_of"] == as_of.isoformat()
    assert httpx.get(f"{base}/v1/customers/{cid}/churn", timeout=30).status_code == 401
    churn = httpx.get(f"{base}/v1/customers/{cid}/churn", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert churn.status_code == 200, churn.text
    assert churn.json()["churn_probability"] == pytest.approx(stored)
    assert httpx.get(f"{base}/docs", timeout=30).status_code == 200
