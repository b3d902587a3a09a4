"""The drift checks' SQL: each check with what it found, the newest KEEP_CHECKS kept.

A check compares each service with the directory (`provisioner reconcile --check`, a
daily timer); the sysadmins' dashboard shows the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import drift_checks, drift_differences

KEEP_CHECKS = 30   # a month of the daily timer's checks; older ones are deleted


@dataclass(frozen=True)
class Difference:
    """Someone a service holds otherwise than the directory says."""

    service: str
    identity: str    # a uid, or the service's own name for someone the directory does not know
    what: str


@dataclass(frozen=True)
class DriftCheck:
    id: int
    checked_at: datetime
    services: tuple[str, ...]
    differences: tuple[Difference, ...]
    error: str | None    # the check could not finish (a service down): not clean


def record_check(connection: Connection, *, at: datetime, services: Sequence[str],
                 differences: Sequence[Difference], error: str | None = None) -> int:
    """Keep this check (and the KEEP_CHECKS - 1 before it); its id."""
    key = connection.execute(drift_checks.insert().values(
        checked_at=at, services=" ".join(services), error=error)).inserted_primary_key
    assert key is not None          # SQLAlchemy reports the key of a one-row insert
    check_id: int = key[0]
    if differences:
        connection.execute(drift_differences.insert(), [
            {"check_id": check_id, "service": difference.service, "identity": difference.identity,
             "what": difference.what} for difference in differences])
    kept = sa.select(drift_checks.c.id).order_by(drift_checks.c.id.desc()).limit(KEEP_CHECKS)
    old = list(connection.execute(sa.select(drift_checks.c.id).where(
        drift_checks.c.id.not_in(kept.scalar_subquery()))).scalars())
    if old:   # deleted here too, not only by the cascade: SQLite enforces it per connection
        connection.execute(drift_differences.delete().where(drift_differences.c.check_id.in_(old)))
        connection.execute(drift_checks.delete().where(drift_checks.c.id.in_(old)))
    return check_id


def last_check(connection: Connection) -> DriftCheck | None:
    """The newest check with its differences, None before the first."""
    row = connection.execute(sa.select(drift_checks).order_by(drift_checks.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    found = connection.execute(
        sa.select(drift_differences.c.service, drift_differences.c.identity, drift_differences.c.what)
        .where(drift_differences.c.check_id == row.id).order_by(drift_differences.c.id)).all()
    return DriftCheck(id=row.id, checked_at=row.checked_at, services=tuple(row.services.split()),
                      differences=tuple(Difference(*difference) for difference in found),
                      error=row.error)
