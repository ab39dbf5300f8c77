"""Model monitoring kept when scores are written: drift per scoring run, quality per version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("scores_as_of", sa.Date),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_monitoring_results_kind_version", "monitoring_results", ["kind", "model_version"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_results_kind_version", table_name="monitoring_results")
    op.drop_table("monitoring_results")
