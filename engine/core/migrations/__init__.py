"""The app-state store's schema as alembic migrations (versions/), applied when the store opens.

Why a library rather than hand-written DDL: alembic records which migrations a database has had
(table `alembic_version`), runs only the missing ones in order, writes each change in the dialect
of whatever RADAR_STATE_URL names (SQLite by default, PostgreSQL for a team) and drafts the next
migration from the tables in `engine.core.store`, so no install is left with a half-known schema.

A schema change: edit the tables in engine/core/store.py, then run
    .venv/bin/python -m engine.core.migrations "what changed"
which drafts versions/<revision>_what_changed.py from the difference; review it and commit it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text

SCRIPTS = Path(__file__).resolve().parent
# Any constant: PostgreSQL installs take this advisory lock so two processes never migrate at once.
_PG_LOCK_KEY = 0x52414441  # "RADA"


def alembic_config(connection: Connection | None = None) -> Config:
    """alembic's settings in code (no alembic.ini): the scripts here, and the connection to use."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")  # r0002_...: an importable module name
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision: where every database ends after `upgrade`."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None, "engine/core/migrations/versions has no migration"
    return found


def current(connection: Connection) -> str | None:
    """The revision a database is at (None: never migrated, e.g. made by the pre-alembic store)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the head revision; nothing happens when it is there already.

    The whole upgrade is one transaction holding the database's write lock (SQLite: BEGIN
    IMMEDIATE; PostgreSQL: an advisory lock), so app processes starting together migrate once.
    """
    target = head()
    with engine.connect() as connection:
        if current(connection) == target:
            return
        connection.rollback()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        else:
            connection.begin()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()


def draft(message: str) -> Path:
    """Draft the next migration from the difference between the store's tables and the head
    schema (built in a scratch SQLite database); returns the new file to review."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade(engine)
            with engine.connect() as connection:
                cfg = alembic_config(connection)
                script = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{int(head()) + 1:04d}")
        finally:
            engine.dispose()
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic drafted no single migration")
    return Path(script.path)
