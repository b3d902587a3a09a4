"""The one clock: timezone-aware UTC, so times compare the same in SQLite and PostgreSQL."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
