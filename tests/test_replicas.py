"""Read-only app replicas (RADAR_READ_ONLY=1) serve one warehouse side by side.

Replicas behind a load balancer with sticky sessions serve every page and refuse (with
the reason) only the actions that write the warehouse; the command line writes meanwhile
and the replicas read the snapshot it publishes.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench import load
from components.shared import auth
from engine.auth import users
from engine.core.access import READ_ONLY_MESSAGE, AccessDenied, Viewer
from engine.data import snapshots, warehouse

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def test_a_replica_refuses_warehouse_writes_with_the_reason(monkeypatch):
    admin = Viewer("admin", "admin")
    assert admin.can("load_data") and admin.can("retrain")
    monkeypatch.setenv("RADAR_READ_ONLY", "1")
    for action in ("load_data", "retrain", "promote"):
        assert not admin.can(action)
        with pytest.raises(AccessDenied, match="read-only"):
            admin.require(action)
    assert admin.can("edit_scenarios"), "app-state writes (saved plans, users, audit) do not touch the warehouse"
    with pytest.raises(AccessDenied, match="role"):  # other roles still hear about their role
        Viewer("exec", "executive").require("load_data")


def test_admin_pages_on_a_replica_explain_and_disable_writes(scored_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    monkeypatch.setenv("RADAR_READ_ONLY", "1")
    for page in ("data", "model_data"):
        at = AppTest.from_file(APP, default_timeout=90)
        auth.log_in(at.session_state, auth.TEST_VIEWERS["admin"])
        at.run()
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, at.exception
        assert any(info.value == READ_ONLY_MESSAGE for info in at.info), page
        buttons = {b.label: b for b in at.button}
        if page == "data":
            assert buttons["Refresh scores"].disabled
        else:
            assert "Retrain" not in [t.label for t in at.tabs]


@pytest.fixture(scope="module")
def replicas(scored_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("replicas") / "data"
    shutil.copytree(scored_dir, data)
    wh = warehouse.get_warehouse(data)
    users.create_demo_users(wh, data)
    warehouse.close_all()
    ports = [load.free_port(), load.free_port()]
    servers = [load.start_server(data, port, read_only=True) for port in ports]
    yield data, ports
    for proc in servers:
        proc.terminate()
    for proc in servers:
        proc.wait(timeout=20)


def test_two_replicas_serve_logged_in_sessions_from_one_warehouse(replicas):
    data, ports = replicas
    people = load.sessions_plan(data, ["risk_board", "customer_360"], 4)
    timings, _ = asyncio.run(load.run_load(ports, people, 6, think=0.1))
    assert timings.errors == []
    assert len(timings.by_page["customer_360"]) == 6 * 2  # every session, on both replicas
    assert len(timings.by_page["risk_board"]) == 6


def test_a_writer_next_to_running_replicas_publishes_a_new_snapshot(replicas):
    data, ports = replicas
    before = snapshots.current(data / "warehouse.duckdb")
    run = subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(data), "score"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-1500:]
    after = snapshots.current(data / "warehouse.duckdb")
    assert before is not None and after is not None and after.generation == before.generation + 1
    people = load.sessions_plan(data, ["risk_board"], 2)  # the replicas keep serving, on the new snapshot
    timings, _ = asyncio.run(load.run_load(ports, people, 2, think=0.1))
    assert timings.errors == []
