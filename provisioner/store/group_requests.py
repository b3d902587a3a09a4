"""Requests to join a working group: opened by a volunteer, approved or declined once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .schema import group_requests

OPEN, APPROVED, DECLINED = "open", "approved", "declined"


@dataclass(frozen=True)
class JoinRequest:
    id: int
    uid: str
    slug: str
    state: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


def _request(row: Row[Any]) -> JoinRequest:
    return JoinRequest(**row._mapping)


def open_request(connection: Connection, uid: str, slug: str, *,
                 now: datetime) -> tuple[JoinRequest, bool]:
    """The person's open request for this group, made now if there was none: (request, made)."""
    try:
        with connection.begin_nested():
            key = connection.execute(group_requests.insert().values(
                uid=uid, slug=slug, state=OPEN, created_at=now)).inserted_primary_key
    except sa.exc.IntegrityError:  # another request for the same group is open
        waiting = find_open(connection, uid, slug)
        if waiting is None:        # not that: another constraint, or it was decided since
            raise
        return waiting, False
    assert key is not None          # SQLAlchemy reports the key of a one-row insert
    row = connection.execute(sa.select(group_requests).where(group_requests.c.id == key[0])).one()
    return _request(row), True


def find_open(connection: Connection, uid: str, slug: str) -> JoinRequest | None:
    row = connection.execute(sa.select(group_requests).where(
        group_requests.c.uid == uid, group_requests.c.slug == slug,
        group_requests.c.state == OPEN)).first()
    return _request(row) if row else None


def get(connection: Connection, request_id: int) -> JoinRequest | None:
    row = connection.execute(sa.select(group_requests).where(group_requests.c.id == request_id)).first()
    return _request(row) if row else None


def open_for(connection: Connection, slugs: Iterable[str] | None) -> list[JoinRequest]:
    """Open requests for these groups (every group when None), oldest first."""
    query = (sa.select(group_requests).where(group_requests.c.state == OPEN)
             .order_by(group_requests.c.created_at, group_requests.c.id))
    if slugs is not None:
        query = query.where(group_requests.c.slug.in_(list(slugs)))
    return [_request(row) for row in connection.execute(query)]


def of_person(connection: Connection, uid: str, *, limit: int = 50) -> list[JoinRequest]:
    """This person's requests, newest first."""
    query = (sa.select(group_requests).where(group_requests.c.uid == uid)
             .order_by(group_requests.c.created_at.desc(), group_requests.c.id.desc()).limit(limit))
    return [_request(row) for row in connection.execute(query)]


def decide(connection: Connection, request_id: int, state: str, *, by: str, at: datetime,
           reason: str | None = None) -> bool:
    """Close an open request as approved or declined; False when it was no longer open."""
    if state not in (APPROVED, DECLINED):
        raise ValueError(f"a request is decided as {APPROVED} or {DECLINED}, not {state!r}")
    return connection.execute(group_requests.update().where(
        group_requests.c.id == request_id, group_requests.c.state == OPEN,
    ).values(state=state, decided_at=at, decided_by=by, reason=reason)).rowcount == 1


def reopen(connection: Connection, request_id: int) -> bool:
    """Undo an approval whose steps failed, so that approving again completes them.

    False when it cannot be reopened (no longer approved, or the person asked again meanwhile).
    """
    try:
        with connection.begin_nested():
            return connection.execute(group_requests.update().where(
                group_requests.c.id == request_id, group_requests.c.state == APPROVED,
            ).values(state=OPEN, decided_at=None, decided_by=None)).rowcount == 1
    except sa.exc.IntegrityError:
        return False
