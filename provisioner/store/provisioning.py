"""Approved volunteers waiting for provisioning: one row per person, replaced on re-approval."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import provisioning_requests


def request_provisioning(connection: Connection, uid: str, groups: Iterable[str], *,
                         requested_by: str | None, at: datetime) -> None:
    """Queue (or re-queue) a volunteer; approving twice never makes two requests."""
    connection.execute(provisioning_requests.delete().where(provisioning_requests.c.uid == uid))
    connection.execute(provisioning_requests.insert().values(
        uid=uid, groups=" ".join(sorted(groups)), requested_by=requested_by, requested_at=at))


def pending_provisioning(connection: Connection) -> dict[str, list[str]]:
    rows = connection.execute(sa.select(provisioning_requests).order_by(provisioning_requests.c.uid))
    return {row.uid: row.groups.split() for row in rows}


def provisioning_for(connection: Connection, uid: str) -> list[str] | None:
    """The working groups queued for this person, or None when nothing is queued."""
    row = connection.execute(
        sa.select(provisioning_requests.c.groups).where(provisioning_requests.c.uid == uid)).first()
    return row.groups.split() if row else None
