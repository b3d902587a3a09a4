"""A job that failed for its own volunteers' data runs alone (commit 6050266).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # The server default fills the rows already there.
    op.add_column("jobs", sa.Column("runs_alone", sa.Boolean(), nullable=False, server_default=sa.false()))
