"""Join requests for teams (issue 17): a request's slug may be a team's qualified slug,
`<wg>.<team>`, up to 65 characters.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("group_requests") as batch:
        batch.alter_column("slug", type_=sa.String(80), existing_type=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("group_requests") as batch:
        batch.alter_column("slug", type_=sa.String(32), existing_type=sa.String(80), existing_nullable=False)
