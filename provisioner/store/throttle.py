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
    """The abuse limits (PROVISIONER_LOGIN_*, *_PER_ADDRESS_PER_HOUR); see workflow/limits.py."""

    max_failures: int = 10                # per account, in the window: then refused unchecked
    window: timedelta = timedelta(minutes=15)
    address_failures_before_delay: int = 50   # per client address, in the window: then delays
    address_first_delay: timedelta = timedelta(seconds=2)    # doubling with each further failure
    address_max_delay: timedelta = timedelta(minutes=5)
    mails_per_address_per_hour: int = 3
    registrations_per_address_per_hour: int = 20


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
    return _aware(connection.execute(query).scalar_one_or_none(), since)


def _aware(moment: datetime | str | None, like: datetime) -> datetime | None:
    """SQLite gives back naive times (as text from an aggregate); they were stored in the
    clock's (UTC) zone."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def latest_since(connection: Connection, kind: str, key: str, since: datetime) -> datetime | None:
    """The time of the newest event of this kind and key after `since`, or None."""
    query = (sa.select(sa.func.max(throttle_events.c.at))
             .where(throttle_events.c.kind == kind, throttle_events.c.key == _key(key),
                    throttle_events.c.at > since))
    return _aware(connection.execute(query).scalar_one_or_none(), since)


def forget(connection: Connection, kind: str, key: str) -> int:
    """Drop the events of one key (a successful login clears the account's failures)."""
    return connection.execute(throttle_events.delete().where(
        throttle_events.c.kind == kind, throttle_events.c.key == _key(key))).rowcount


def forget_before(connection: Connection, before: datetime) -> int:
    """Drop events too old to count in any window."""
    return connection.execute(throttle_events.delete().where(throttle_events.c.at < before)).rowcount
