"""Drift checks and their repair, the reconcile job (issue 17).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
ONE_RECONCILE = "kind = 'reconcile' AND state IN ('queued', 'running')"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("services", sa.String(64), nullable=True))
    op.create_index("jobs_one_reconcile", "jobs", ["kind"], unique=True,
                    sqlite_where=sa.text(ONE_RECONCILE), postgresql_where=sa.text(ONE_RECONCILE))
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("services", sa.String(64), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "drift_differences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("check_id", sa.Integer, sa.ForeignKey("drift_checks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("identity", sa.String(254), nullable=False),
        sa.Column("what", sa.Text, nullable=False),
    )
    op.create_index("ix_drift_differences_check_id", "drift_differences", ["check_id"])
