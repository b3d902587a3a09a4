"""Invitations into working groups (issue 16).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("mail", sa.String(254), nullable=False),
        sa.Column("mail_key", sa.String(254), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("end_date", sa.Date),
        sa.Column("display_name", sa.String(128)),
        sa.Column("invited_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("uid", sa.String(64)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.String(64)),
    )
    op.create_index("ix_invitations_mail_key", "invitations", ["mail_key"])
    op.create_index("invitations_one_open", "invitations", ["mail_key"], unique=True,
                    sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))
