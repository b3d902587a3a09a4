"""A deleted account's revoke carries its pseudonym, which its job rows take once it ends
(issue 16).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("job_targets", sa.Column("forget_as", sa.String(80), nullable=True))
