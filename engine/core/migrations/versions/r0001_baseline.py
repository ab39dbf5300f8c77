"""Baseline: the app-state tables as the store made them before migrations.

Model registry, AI audit log, saved scenarios and login failures. A database made by the
pre-alembic store holds some or all of them (each arrived with a later release): only the
missing ones are created, so it upgrades in place with every row kept.

Revision ID: 0001
Revises:
Create Date: 2026-07-01
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _model_versions() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("data_window", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("artifact_path", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text),
    )


def _ai_audit() -> None:
    op.create_table(
        "ai_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("customer_id", sa.String(128)),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("facts_hash", sa.String(64), nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("scope_exceeded", sa.Boolean, nullable=False),
        sa.Column("provider_requests", sa.Integer, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
    )
    op.create_index("ix_ai_audit_created_at", "ai_audit", ["created_at"])


def _scenarios() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cloned_from", sa.Integer),
        sa.Column("assumptions", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(64)),
        sa.Column("data_as_of", sa.Date),
        sa.Column("revenue_retained", sa.Float, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("roi", sa.Float),
    )
    op.create_index("ix_scenarios_created_at", "scenarios", ["created_at"])


def _login_failures() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("failed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_login_failures_subject", "login_failures", ["subject"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])


TABLES: dict[str, Callable[[], None]] = {
    "model_versions": _model_versions,
    "ai_audit": _ai_audit,
    "scenarios": _scenarios,
    "login_failures": _login_failures,
}


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES.items():
        if name not in present:
            create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
