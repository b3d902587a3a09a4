"""Requests to renew an account: opened by the volunteer, renewed or declined once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .schema import renewal_requests

OPEN, RENEWED, DECLINED = "open", "renewed", "declined"


@dataclass(frozen=True)
class RenewalRequest:
    id: int
    uid: str
    end_date: date | None
    note: str | None
    state: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    new_end_date: date | None
    reason: str | None


def _request(row: Row[Any]) -> RenewalRequest:
    return RenewalRequest(**row._mapping)


def open_request(connection: Connection, uid: str, end_date: date | None, note: str | None, *,
                 now: datetime) -> tuple[RenewalRequest, bool]:
    """The person's open request, made now if there was none: (request, made)."""
    try:
        with connection.begin_nested():
            key = connection.execute(renewal_requests.insert().values(
                uid=uid, end_date=end_date, note=note, state=OPEN, created_at=now)).inserted_primary_key
    except sa.exc.IntegrityError:   # one is open already
        waiting = find_open(connection, uid)
        if waiting is None:
            raise
        return waiting, False
    assert key is not None
    found = get(connection, key[0])
    assert found is not None
    return found, True


def find_open(connection: Connection, uid: str) -> RenewalRequest | None:
    row = connection.execute(sa.select(renewal_requests).where(
        renewal_requests.c.uid == uid, renewal_requests.c.state == OPEN)).first()
    return _request(row) if row else None


def get(connection: Connection, request_id: int) -> RenewalRequest | None:
    row = connection.execute(sa.select(renewal_requests).where(
        renewal_requests.c.id == request_id)).first()
    return _request(row) if row else None


def open_for(connection: Connection, uids: Iterable[str] | None) -> list[RenewalRequest]:
    """Open requests of these people (everyone's when None), oldest first."""
    query = (sa.select(renewal_requests).where(renewal_requests.c.state == OPEN)
             .order_by(renewal_requests.c.created_at, renewal_requests.c.id))
    if uids is not None:
        query = query.where(renewal_requests.c.uid.in_(list(uids)))
    return [_request(row) for row in connection.execute(query)]


def of_person(connection: Connection, uid: str) -> list[RenewalRequest]:
    """This person's requests, newest first."""
    query = (sa.select(renewal_requests).where(renewal_requests.c.uid == uid)
             .order_by(renewal_requests.c.created_at.desc(), renewal_requests.c.id.desc()))
    return [_request(row) for row in connection.execute(query)]


def decide(connection: Connection, request_id: int, state: str, *, by: str, at: datetime,
           new_end_date: date | None = None, reason: str | None = None) -> bool:
    """Close an open request as renewed or declined; False when it was no longer open."""
    if state not in (RENEWED, DECLINED):
        raise ValueError(f"a renewal is decided as {RENEWED} or {DECLINED}, not {state!r}")
    return connection.execute(renewal_requests.update().where(
        renewal_requests.c.id == request_id, renewal_requests.c.state == OPEN,
    ).values(state=state, decided_at=at, decided_by=by, new_end_date=new_end_date,
             reason=reason)).rowcount == 1


def reopen(connection: Connection, request_id: int) -> bool:
    """Undo a renewal whose steps failed, so that renewing again completes them."""
    try:
        with connection.begin_nested():
            return connection.execute(renewal_requests.update().where(
                renewal_requests.c.id == request_id, renewal_requests.c.state == RENEWED,
            ).values(state=OPEN, decided_at=None, decided_by=None, new_end_date=None)).rowcount == 1
    except sa.exc.IntegrityError:
        return False
