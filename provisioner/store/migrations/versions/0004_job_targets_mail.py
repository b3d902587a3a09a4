"""A revoke carries the address of an account deleted before it runs (issue 16).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("job_targets", sa.Column("mail", sa.String(254), nullable=True))
