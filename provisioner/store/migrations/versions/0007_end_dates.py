"""Accounts' end dates: their notices, done once, and renewal requests (issue 16).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "end_date_notices",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("end_date", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "renewal_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("end_date", sa.Date),
        sa.Column("note", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("new_end_date", sa.Date),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_renewal_requests_uid", "renewal_requests", ["uid"])
    op.create_index("renewal_requests_one_open", "renewal_requests", ["uid"], unique=True,
                    sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))
