"""Every table of the store, in one place so the whole schema reads at a glance."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Who did what to whom, and when. Never a password or a token.
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(64)),          # uid, or None for the public / the system
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(64), index=True),  # the uid acted upon
    sa.Column("detail", sa.Text),
    sa.Column("remote_addr", sa.String(45)),
)

# Single-use links: the SHA-256 of each token once used (never the token itself).
used_tokens = sa.Table(
    "used_tokens", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
)

# Approved volunteers waiting for provisioning, until the job queue takes them.
provisioning_requests = sa.Table(
    "provisioning_requests", metadata,
    sa.Column("uid", sa.String(64), primary_key=True),
    sa.Column("groups", sa.Text, nullable=False),   # space-separated working-group slugs
    sa.Column("requested_by", sa.String(64)),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
)
