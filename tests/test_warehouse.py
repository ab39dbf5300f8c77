"""Schema migrations, cursors, read-only mode and the write-lock message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.core.errors import NotFoundError, WarehouseError, WarehouseLockedError
from engine.data import warehouse

ROOT = Path(__file__).resolve().parents[1]


def test_schema_has_every_table_of_the_data_model(empty_dir):
    wh = warehouse.get_warehouse(empty_dir)
    names = {r[0] for r in wh.rows("SELECT table_name FROM information_schema.tables")}
    assert set(warehouse.TABLES) <= names
    assert wh.schema_version() == warehouse.latest_schema_version()


def test_one_accounts_scores_are_read_through_an_index(empty_dir):
    # The API's churn lookup: without it every call scans each scoring run's rows.
    wh = warehouse.get_warehouse(empty_dir)
    indexed = wh.rows(
        "SELECT table_name, expressions FROM duckdb_indexes() WHERE index_name = 'predictions_by_customer'"
    )
    assert indexed == [("predictions", "[customer_id]")]


def test_a_server_reads_the_previous_snapshot_while_it_opens_the_new_one(empty_dir):
    """The API never stalls on opening a new snapshot: it answers from the previous one (whole,
    and current a moment ago) until the new one is open, then from the new one."""
    insert = "INSERT INTO customers (customer_id, name, plan_tier, signup_date, status) VALUES (?, ?, 'starter', ?, ?)"
    warehouse.get_warehouse(empty_dir).execute(insert, ["c1", "Acme", "2025-01-01", "active"])
    warehouse.close_all()
    first = warehouse.serving_reader(empty_dir)
    assert first.scalar("SELECT count(*) FROM customers") == 1
    writer = (
        "from engine.data import warehouse\n"
        f"warehouse.get_warehouse({str(empty_dir)!r}).execute({insert!r}, ['c2', 'Beta', '2025-02-01', 'active'])\n"
        "warehouse.close_all()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", writer], cwd=ROOT, env=env, check=True, timeout=120)
    assert warehouse.serving_reader(empty_dir) is first  # published, not yet open here
    deadline = time.monotonic() + 30
    while (newest := warehouse.serving_reader(empty_dir)) is first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert newest.generation > first.generation
    assert newest.scalar("SELECT count(*) FROM customers") == 2
    assert first.scalar("SELECT count(*) FROM customers") == 1  # still whole for a request on it


def test_migrations_are_idempotent(empty_dir):
    wh = warehouse.get_warehouse(empty_dir)
    wh.execute(
        "INSERT INTO customers (customer_id, name, plan_tier, signup_date, status) VALUES (?, ?, ?, ?, ?)",
        ["c1", "Acme", "starter", "2025-01-01", "active"],
    )
    assert wh.migrate() == []
    warehouse.close_all()
    again = warehouse.get_warehouse(empty_dir)
    assert again.migrate() == []
    assert again.scalar("SELECT count(*) FROM schema_version") == warehouse.latest_schema_version()
    assert again.scalar("SELECT name FROM customers WHERE customer_id = ?", ["c1"]) == "Acme"


def test_read_only_refuses_writes_and_missing_files(empty_dir, tmp_path):
    warehouse.close_all()
    ro = warehouse.get_warehouse(empty_dir, read_only=True)
    assert ro.read_only
    with pytest.raises(WarehouseError):
        ro.execute("DELETE FROM customers")
    with pytest.raises(NotFoundError, match="No warehouse"):
        warehouse.Warehouse(tmp_path / "nowhere" / "warehouse.duckdb", read_only=True)


def test_writer_request_reopens_a_read_only_holder(empty_dir):
    warehouse.close_all()
    ro = warehouse.get_warehouse(empty_dir, read_only=True)
    rw = warehouse.get_warehouse(empty_dir)
    assert rw is not ro and not rw.read_only
    assert warehouse.get_warehouse(empty_dir, read_only=True) is rw  # a writer serves readers


def test_failed_transaction_rolls_back(empty_dir):
    wh = warehouse.get_warehouse(empty_dir)
    with pytest.raises(RuntimeError), wh.transaction() as cur:
        cur.execute(
            "INSERT INTO customers (customer_id, name, plan_tier, signup_date, status) "
            "VALUES ('c1', 'A', 'starter', DATE '2025-01-01', 'active')"
        )
        raise RuntimeError("boom")
    assert wh.scalar("SELECT count(*) FROM customers") == 0


def test_lock_held_by_another_process_gives_advice(empty_dir):
    warehouse.close_all()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(empty_dir / "warehouse.duckdb")!r})
            print('locked', flush=True)
            time.sleep(30)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseLockedError, match="in use by process"):
            warehouse.Warehouse(empty_dir / "warehouse.duckdb")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_a_snapshot_copy_in_flushed_steps_is_byte_for_byte(tmp_path, monkeypatch, kernel_copy):
    """The writer's copy goes to disk in steps (here 4 KB); every byte arrives, by the kernel's
    sendfile or, where it has none, through a buffer."""
    from engine.data import snapshots

    source = tmp_path / "g000001.duckdb"
    source.write_bytes(os.urandom(50_000 + 123))
    monkeypatch.setattr(snapshots, "FLUSH_BYTES", 4096)
    if not kernel_copy:
        monkeypatch.delattr(snapshots.os, "sendfile")
    target = tmp_path / "g000002.duckdb"
    snapshots.copy_generation(snapshots.Snapshot(source, 1), target)
    assert target.read_bytes() == source.read_bytes()
