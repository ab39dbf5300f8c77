"""App-state store migrations (alembic): an install made before migrations upgrades in place
with every row kept, a new one lands at the newest revision, and opening again changes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, select

from engine.core import migrations, store

ROOT = Path(__file__).resolve().parents[1]

# The schema the store made before migrations (SQLAlchemy's create_all on SQLite), verbatim.
OLD_DDL = """
CREATE TABLE model_versions (
	version VARCHAR(64) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	stage VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	promoted_at DATETIME,
	params JSON NOT NULL,
	features JSON NOT NULL,
	data_window JSON NOT NULL,
	metrics JSON NOT NULL,
	artifact_path TEXT NOT NULL,
	artifact_sha256 VARCHAR(64) NOT NULL,
	notes TEXT,
	PRIMARY KEY (version)
);
CREATE TABLE ai_audit (
	id INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	username VARCHAR(128) NOT NULL,
	role VARCHAR(16) NOT NULL,
	kind VARCHAR(24) NOT NULL,
	customer_id VARCHAR(128),
	provider VARCHAR(16) NOT NULL,
	model VARCHAR(128) NOT NULL,
	facts_hash VARCHAR(64) NOT NULL,
	flags JSON NOT NULL,
	confidence FLOAT NOT NULL,
	scope_exceeded BOOLEAN NOT NULL,
	provider_requests INTEGER NOT NULL,
	request JSON NOT NULL,
	output TEXT NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_ai_audit_created_at ON ai_audit (created_at);
CREATE TABLE scenarios (
	id INTEGER NOT NULL,
	name VARCHAR(120) NOT NULL,
	tags JSON NOT NULL,
	author VARCHAR(128) NOT NULL,
	created_at DATETIME NOT NULL,
	cloned_from INTEGER,
	assumptions JSON NOT NULL,
	result JSON NOT NULL,
	model_version VARCHAR(64),
	data_as_of DATE,
	revenue_retained FLOAT NOT NULL,
	cost FLOAT NOT NULL,
	roi FLOAT,
	PRIMARY KEY (id)
);
CREATE INDEX ix_scenarios_created_at ON scenarios (created_at);
CREATE TABLE login_failures (
	id INTEGER NOT NULL,
	subject VARCHAR(80) NOT NULL,
	failed_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_login_failures_failed_at ON login_failures (failed_at);
CREATE INDEX ix_login_failures_subject ON login_failures (subject);
"""

OLD_ROWS = {
    "model_versions": (
        "churn-v1",
        "churn",
        "production",
        "2026-06-30 08:00:00.000000",
        "2026-06-30 08:05:00.000000",
        json.dumps({"num_leaves": 15}),
        json.dumps(["seats", "mrr"]),
        json.dumps({"start": "2024-01-01", "end": "2026-06-30"}),
        json.dumps({"auc": 0.81}),
        "models/churn-v1/model.pkl",
        "ab" * 32,
        None,
    ),
    "ai_audit": (
        1,
        "2026-06-30 09:00:00.000000",
        "ana.silva",
        "csm",
        "summary",
        "cust-0001",
        "offline",
        "offline-template",
        "cd" * 32,
        json.dumps([]),
        0.9,
        0,
        0,
        json.dumps({"audience": "csm"}),
        "Acme is a growth account.",
    ),
    "scenarios": (
        1,
        "Top 10 calls",
        json.dumps(["q3"]),
        "alex",
        "2026-06-30 10:00:00.000000",
        None,
        json.dumps({"outreach": {"top_n": 10}}),
        json.dumps({"revenue_retained": 12345.0, "cost": 2000.0}),
        "churn-v1",
        "2026-06-30",
        12345.0,
        2000.0,
        5.17,
    ),
    "login_failures": (1, "u:" + "ef" * 20, 1_782_806_400.0),
}


def _old_store(path: Path, tables: tuple[str, ...] = tuple(OLD_ROWS)) -> dict[str, list[tuple]]:
    """A state.db as the pre-migration store left it, with a row in each of `tables`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    statements = [s for s in OLD_DDL.split(";") if s.strip()]
    con.executescript(";".join(s for s in statements if any(f" {t} " in s for t in tables)) + ";")
    for table in tables:
        row = OLD_ROWS[table]
        con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    con.commit()
    con.close()
    return _rows(path, tables)


def _rows(path: Path, tables: tuple[str, ...] = tuple(OLD_ROWS)) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
    finally:
        con.close()


def _schema(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        con.close()


@pytest.fixture(autouse=True)
def _fresh_engines():
    store.dispose_all()
    yield
    store.dispose_all()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as con:
        return migrations.current(con)


def test_a_store_made_before_migrations_upgrades_in_place(tmp_path):
    data = tmp_path / "data"
    before = _old_store(data / "state.db")
    engine = store.get_engine(data)
    assert _revision(engine) == migrations.head()
    assert _rows(data / "state.db") == before  # nothing lost, nothing changed
    with engine.connect() as con:  # and the app reads them through its tables
        version = con.execute(select(store.model_versions)).one()
        saved = con.execute(select(store.scenarios)).one()
        audit = con.execute(select(store.ai_audit)).one()
    assert version.version == "churn-v1" and version.metrics == {"auc": 0.81}
    assert saved.name == "Top 10 calls" and saved.result["revenue_retained"] == 12345.0
    assert audit.output == "Acme is a growth account." and audit.scope_exceeded is False


def test_a_store_from_the_first_release_gains_the_later_tables(tmp_path):
    """The first store held the model registry only; the other tables arrived later."""
    data = tmp_path / "data"
    before = _old_store(data / "state.db", ("model_versions",))
    engine = store.get_engine(data)
    assert _revision(engine) == migrations.head()
    assert _rows(data / "state.db", ("model_versions",)) == before
    assert {name for kind, name, _ in _schema(data / "state.db") if kind == "table"} >= set(store.metadata.tables)
    with engine.connect() as con:
        assert con.execute(select(store.scenarios)).all() == []


def test_a_new_store_lands_at_head_with_the_tables_the_code_uses(tmp_path):
    engine = store.get_engine(tmp_path / "data")
    assert _revision(engine) == migrations.head()
    with engine.connect() as con:
        differences = compare_metadata(MigrationContext.configure(con, opts={"compare_type": True}), store.metadata)
    assert differences == []  # store's tables and the migrations agree: a table change needs a migration


def test_the_migrated_schema_is_the_one_the_old_store_made(tmp_path):
    """Same tables, columns and indexes as before, whichever way the database came to be."""
    _old_store(tmp_path / "old" / "state.db")
    store.get_engine(tmp_path / "old")
    store.get_engine(tmp_path / "new")
    store.dispose_all()

    def shape(path: Path) -> dict[str, object]:
        con = sqlite3.connect(path)
        try:
            tables = [n for k, n, _ in _schema(path) if k == "table" and n != "alembic_version"]
            return {
                t: (
                    con.execute(f"PRAGMA table_info({t})").fetchall(),
                    sorted(
                        (name, unique, con.execute(f"PRAGMA index_info({name})").fetchall())
                        for _seq, name, unique, *_ in con.execute(f"PRAGMA index_list({t})").fetchall()
                    ),
                )
                for t in sorted(tables)
            }
        finally:
            con.close()

    assert shape(tmp_path / "old" / "state.db") == shape(tmp_path / "new" / "state.db")


def test_opening_again_changes_nothing(tmp_path):
    data = tmp_path / "data"
    store.get_engine(data)
    store.dispose_all()
    schema, rows = _schema(data / "state.db"), _rows(data / "state.db")
    statements: list[str] = []

    def spy(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        store.get_engine(data)
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    writes = [s for s in statements if s.split()[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "BEGIN"}]
    assert writes == []
    assert _schema(data / "state.db") == schema and _rows(data / "state.db") == rows


def test_processes_starting_together_migrate_once(tmp_path):
    data = tmp_path / "data"
    code = "import sys; from engine.core import store; store.get_engine(sys.argv[1])"
    started = [
        subprocess.Popen([sys.executable, "-c", code, str(data)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in started]
    assert [p.returncode for p in started] == [0] * 4, errors
    con = sqlite3.connect(data / "state.db")
    try:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrations.head(),)]
    finally:
        con.close()


def test_every_migration_file_is_an_importable_module():
    """alembic loads them by path; mypy and the import linter need package-safe names too."""
    names = [p.stem for p in (migrations.SCRIPTS / "versions").glob("*.py") if p.stem != "__init__"]
    assert names and all(name.isidentifier() for name in names)
