"""App state many users write (model registry, saved scenarios, the AI audit log, login
failures, API keys), through SQLAlchemy: a SQLite file in the data dir by default, any URL via
RADAR_STATE_URL. The tables below are the current schema; `engine.core.migrations` brings a
database to it when the store opens (a change to a table needs a migration there).
"""

from __future__ import annotations

import os
import threading

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

from engine.core import config, migrations

metadata = MetaData()

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "churn" (warehouse) or "table" (bring-your-own)
    Column("stage", String(16), nullable=False),  # candidate / production / archived
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("promoted_at", DateTime(timezone=True)),
    Column("params", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("data_window", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("artifact_path", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("notes", Text),
)

# Every AI text (summary, answer, portfolio query, draft, action plan), for later review.
ai_audit = Table(
    "ai_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("kind", String(24), nullable=False),  # summary / ask / portfolio / draft / actions
    Column("customer_id", String(128)),  # None for portfolio questions
    Column("provider", String(16), nullable=False),  # groq / offline
    Column("model", String(128), nullable=False),
    Column("facts_hash", String(64), nullable=False),  # sha256 of the facts the text was grounded in
    Column("flags", JSON, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("scope_exceeded", Boolean, nullable=False),
    Column("provider_requests", Integer, nullable=False),  # HTTP requests made to the provider
    Column("request", JSON, nullable=False),  # what was asked: audience, question, goal, ...
    Column("output", Text, nullable=False),
)

# Saved what-if plans (engine.scenarios): the assumptions and a JSON snapshot of the numbers,
# so a plan reopens exactly as it was saved; headline figures as columns for listing.
scenarios = Table(
    "scenarios",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("author", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("cloned_from", Integer),  # the id it was cloned from (kept when that one is deleted)
    Column("assumptions", JSON, nullable=False),  # the plan: every lever's settings and segment
    Column("result", JSON, nullable=False),  # the ScenarioResult as JSON
    Column("model_version", String(64)),
    Column("data_as_of", Date),
    Column("revenue_retained", Float, nullable=False),
    Column("cost", Float, nullable=False),
    Column("roi", Float),
)

# Failed logins (engine.auth.users), counted per hashed username or client to throttle guessing.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(80), nullable=False, index=True),  # u:<hash> or c:<hash>
    Column("failed_at", Float, nullable=False, index=True),  # unix seconds
)

# API keys for the HTTP API (engine.auth.keys): only the key's SHA-256 is kept, never the key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True, index=True),  # sha256 hex of the key
    Column("prefix", String(16), nullable=False),  # the key's first characters, to recognise it
    Column("role", String(16), nullable=False),
    Column("owner", String(128)),  # the CSM whose book a csm key sees
    Column("scopes", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# Model monitoring measured when scores are written (engine.churn.monitoring): drift of each
# scoring run's population, a version's out-of-time quality; pages read them instead of recomputing.
monitoring_results = Table(
    "monitoring_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # drift / quality
    Column("model_version", String(64), nullable=False),
    Column("scores_as_of", Date),  # the scoring date drift was measured for (None for quality)
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("payload", Text, nullable=False),  # the report as JSON
    Index("ix_monitoring_results_kind_version", "kind", "model_version"),
)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(data_dir: str | os.PathLike | None = None) -> Engine:
    """The process's SQLAlchemy engine for app state, its schema migrated to the newest on first use."""
    url = config.state_url(data_dir)
    with _lock:
        if url not in _engines:
            engine = create_engine(url, future=True)
            if url.startswith("sqlite"):
                # Several Streamlit sessions write at once: wait for the lock rather than fail.
                @event.listens_for(engine, "connect")
                def _sqlite_pragmas(dbapi_connection, _record):
                    cursor = dbapi_connection.cursor()
                    cursor.execute("PRAGMA busy_timeout = 10000")
                    cursor.execute("PRAGMA journal_mode = WAL")
                    cursor.close()

            migrations.upgrade(engine)
            _engines[url] = engine
        return _engines[url]


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
