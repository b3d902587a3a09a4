"""Approval previews: what approving a request would do, from a check-mode run (issue 17).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "previews",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("asked_by", sa.String(64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(128)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("outcomes", sa.Text),
        sa.Column("error", sa.Text),
    )
