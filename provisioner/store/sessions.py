"""Logged-in sessions: begun at login, seen on each request, ended one by one or all at once.

The token is the bearer secret in the session cookie; the store keeps its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import sessions

# Writing last_seen on every request would make each page view a write.
SEEN_RESOLUTION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin(connection: Connection, uid: str, *, now: datetime, remote_addr: str | None) -> str:
    """A new session for this person; returns its token (for the cookie only)."""
    token = secrets.token_urlsafe(32)
    connection.execute(sessions.insert().values(
        digest=_digest(token), uid=uid, created_at=now, last_seen=now, remote_addr=remote_addr))
    return token


def resume(connection: Connection, token: str, *, now: datetime, idle: timedelta,
           lifetime: timedelta) -> str | None:
    """The uid of a live session (not ended, not idle too long, not too old); it is marked seen."""
    row = connection.execute(sa.select(sessions).where(sessions.c.digest == _digest(token))).first()
    if row is None or row.ended_at is not None:
        return None
    created, seen = _aware(row.created_at, now), _aware(row.last_seen, now)
    if now - seen > idle or now - created > lifetime:
        end(connection, token, now=now)
        return None
    if now - seen >= SEEN_RESOLUTION:
        connection.execute(sessions.update().where(sessions.c.digest == row.digest).values(last_seen=now))
    uid: str = row.uid
    return uid


def end(connection: Connection, token: str, *, now: datetime) -> None:
    connection.execute(sessions.update().where(
        sessions.c.digest == _digest(token), sessions.c.ended_at.is_(None)).values(ended_at=now))


def end_all(connection: Connection, uid: str, *, now: datetime, keep: str | None = None) -> int:
    """End every live session of this person (but `keep`); returns how many."""
    query = sessions.update().where(sessions.c.uid == uid, sessions.c.ended_at.is_(None))
    if keep is not None:
        query = query.where(sessions.c.digest != _digest(keep))
    return connection.execute(query.values(ended_at=now)).rowcount


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite gives back naive times: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)
