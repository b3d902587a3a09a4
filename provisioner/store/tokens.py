"""Which single-use links were used, kept as SHA-256 digests so the store never holds a token."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import used_tokens


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mark_used(connection: Connection, token: str, purpose: str, at: datetime) -> bool:
    """Record the token as used; False if it was used before (in this or another process)."""
    try:
        with connection.begin_nested():
            connection.execute(used_tokens.insert().values(
                digest=_digest(token), purpose=purpose, used_at=at))
    except sa.exc.IntegrityError:
        return False
    return True


def was_used(connection: Connection, token: str) -> bool:
    query = sa.select(used_tokens.c.digest).where(used_tokens.c.digest == _digest(token))
    return connection.execute(query).first() is not None


def forget_used_before(connection: Connection, before: datetime) -> int:
    """Drop digests of links that have expired anyway."""
    return connection.execute(used_tokens.delete().where(used_tokens.c.used_at < before)).rowcount
