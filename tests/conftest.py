"""Shared fixtures: small warehouses generated fresh in tmp dirs."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from engine.auth import users
from engine.data import demo as synth
from engine.data import warehouse

DEMO_END = date(2026, 6, 30)

# A test that leaves a write open while a child process writes fails in seconds, not minutes.
os.environ.setdefault("RADAR_WRITE_WAIT_SECONDS", "20")


@pytest.fixture(autouse=True)
def _close_warehouses():
    """Every test starts and ends with no open DuckDB connection in the process."""
    warehouse.close_all()
    yield
    warehouse.close_all()


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory) -> Path:
    """A read-mostly warehouse of 800 generated customers (seed 7, data to 2026-06-30).

    Tests must not change it: copy it with `data_dir_copy` to write.
    """
    root = tmp_path_factory.mktemp("generated")
    wh = warehouse.get_warehouse(root)
    synth.generate(wh, customers=800, seed=7, end=DEMO_END)
    warehouse.close_all()
    return root


@pytest.fixture
def data_dir_copy(generated_dir, tmp_path) -> Path:
    """A private, writable copy of the generated data dir."""
    target = tmp_path / "data"
    shutil.copytree(generated_dir, target)
    return target


@pytest.fixture
def empty_dir(tmp_path) -> Path:
    """A data dir with an empty, migrated warehouse."""
    target = tmp_path / "empty"
    warehouse.get_warehouse(target)
    warehouse.close_all()  # published, so child processes see it too
    return target


@pytest.fixture(scope="session")
def scored_dir(generated_dir, tmp_path_factory) -> Path:
    """The generated warehouse with a production churn model, today's scores and six
    back-scored month ends. Read-only for tests: copy it to write."""
    from engine.churn import scoring, training

    root = tmp_path_factory.mktemp("scored") / "data"
    shutil.copytree(generated_dir, root)
    wh = warehouse.get_warehouse(root)
    training.train(wh, data_dir=root)
    scoring.score(wh, data_dir=root)
    scoring.backfill(wh, months=3, data_dir=root)
    warehouse.close_all()
    from engine.core import store

    store.dispose_all()
    return root


@pytest.fixture
def scored_copy(scored_dir, tmp_path) -> Path:
    target = tmp_path / "scored"
    shutil.copytree(scored_dir, target)
    return target


@pytest.fixture
def fast_logins(monkeypatch):
    """Cheap password hashes (bcrypt cost 4 instead of 12; the format is the same) and no cookie
    key from the environment, for tests that create users. Modules opt in with
    `pytestmark = pytest.mark.usefixtures("fast_logins")`."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    monkeypatch.delenv(users.COOKIE_KEY_ENV, raising=False)
