"""Counted events for the abuse limits: failed logins and codes, mails sent, per key.

A sliding window: an event counts while it is younger than the window, so a
lockout ends by itself when its oldest events age out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import throttle_events

MAX_KEY = 320


@dataclass(frozen=True)
class LimitSettings:
    """The abuse limits (PROVISIONER_LOGIN_* and MAILS_PER_ADDRESS_PER_HOUR)."""

    max_failures: int = 10                # per account, in the window
    max_failures_per_address: int = 50    # per client address, in the window
    window: timedelta = timedelta(minutes=15)
    mails_per_address_per_hour: int = 3


def _key(key: str) -> str:
    return key.strip().lower()[:MAX_KEY]


def record(connection: Connection, kind: str, key: str, at: datetime) -> None:
    connection.execute(throttle_events.insert().values(kind=kind, key=_key(key), at=at))


def count(connection: Connection, kind: str, key: str, since: datetime) -> int:
    """How many events of this kind and key happened after `since`."""
    query = sa.select(sa.func.count()).select_from(throttle_events).where(
        throttle_events.c.kind == kind, throttle_events.c.key == _key(key),
        throttle_events.c.at > since)
    return connection.execute(query).scalar_one()


def nth_since(connection: Connection, kind: str, key: str, since: datetime, n: int) -> datetime | None:
    """The time of the n-th (0 = oldest) event after `since`, or None."""
    query = (sa.select(throttle_events.c.at)
             .where(throttle_events.c.kind == kind, throttle_events.c.key == _key(key),
                    throttle_events.c.at > since)
             .order_by(throttle_events.c.at, throttle_events.c.id).offset(max(n, 0)).limit(1))
    moment = connection.execute(query).scalar_one_or_none()
    # SQLite gives back naive times; they were stored in the clock's (UTC) zone.
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=since.tzinfo)


def forget(connection: Connection, kind: str, key: str) -> int:
    """Drop the events of one key (a successful login clears the account's failures)."""
    return connection.execute(throttle_events.delete().where(
        throttle_events.c.kind == kind, throttle_events.c.key == _key(key))).rowcount


def forget_before(connection: Connection, before: datetime) -> int:
    """Drop events too old to count in any window."""
    return connection.execute(throttle_events.delete().where(throttle_events.c.at < before)).rowcount
