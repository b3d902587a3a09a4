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


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read; every value is compared whole, as a bound parameter."""

    person: str | None = None     # the actor or the subject
    action: str | None = None
    since: datetime | None = None   # from this moment on
    before: datetime | None = None  # up to, not including, this moment


def record(connection: Connection, *, at: datetime, action: str, actor: str | None = None,
           subject: str | None = None, detail: str | None = None,
           remote_addr: str | None = None) -> None:
    connection.execute(audit_log.insert().values(
        at=at, actor=actor, action=action, subject=subject, detail=detail, remote_addr=remote_addr,
    ))


def entries(connection: Connection, *, person: str | None = None,
            limit: int = 200) -> list[AuditEntry]:
    """Newest first; with `person`, only what they did or what was done to them."""
    return matching(connection, AuditFilter(person=person or None), limit=limit)


def matching(connection: Connection, which: AuditFilter, *, limit: int, offset: int = 0,
             older_than: AuditEntry | None = None) -> list[AuditEntry]:
    """Newest first; `older_than` continues a reading where its last entry stopped (an
    export in batches, which entries written meanwhile cannot shift)."""
    conditions = _conditions(which)
    if older_than is not None:
        conditions.append(sa.or_(
            audit_log.c.at < older_than.at,
            sa.and_(audit_log.c.at == older_than.at, audit_log.c.id < older_than.id)))
    query = (sa.select(audit_log).where(*conditions)
             .order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit).offset(offset))
    return [AuditEntry(**row._mapping) for row in connection.execute(query)]


def count(connection: Connection, which: AuditFilter) -> int:
    query = sa.select(sa.func.count()).select_from(audit_log).where(*_conditions(which))
    return int(connection.execute(query).scalar_one())


def actions(connection: Connection) -> list[str]:
    """Every action the log holds, for a filter's choices."""
    return list(connection.execute(sa.select(audit_log.c.action).distinct()
                                   .order_by(audit_log.c.action)).scalars())


def _conditions(which: AuditFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if which.person:
        conditions.append(sa.or_(audit_log.c.actor == which.person, audit_log.c.subject == which.person))
    if which.action:
        conditions.append(audit_log.c.action == which.action)
    if which.since is not None:
        conditions.append(audit_log.c.at >= which.since)
    if which.before is not None:
        conditions.append(audit_log.c.at < which.before)
    return conditions
