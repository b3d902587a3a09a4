"""The audit log: one row per thing that happened to an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    action: str
    subject: str | None
    detail: str | None
    remote_addr: str | None


def record(connection: Connection, *, at: datetime, action: str, actor: str | None = None,
           subject: str | None = None, detail: str | None = None,
           remote_addr: str | None = None) -> None:
    connection.execute(audit_log.insert().values(
        at=at, actor=actor, action=action, subject=subject, detail=detail, remote_addr=remote_addr,
    ))


def entries(connection: Connection, *, person: str | None = None,
            limit: int = 200) -> list[AuditEntry]:
    """Newest first; with `person`, only what they did or what was done to them."""
    query = sa.select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if person:
        query = query.where(sa.or_(audit_log.c.actor == person, audit_log.c.subject == person))
    return [AuditEntry(**row._mapping) for row in connection.execute(query)]
