"""What was done about an account's end date, once per account and end date (see schema.py)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import end_date_notices

REMINDER, EXPIRY, EXPIRY_MAIL = "reminder", "expiry", "expiry-mail"


def claim(connection: Connection, uid: str, end_date: date, kind: str, *, at: datetime) -> bool:
    """Record `kind` as done for this account and end date; False if it was done already
    (by this run or another one at the same moment)."""
    try:
        with connection.begin_nested():
            connection.execute(end_date_notices.insert().values(
                uid=uid, end_date=end_date, kind=kind, at=at))
    except sa.exc.IntegrityError:
        return False
    return True


def release(connection: Connection, uid: str, end_date: date, kind: str) -> None:
    """Forget a claim whose work failed (a mail the server did not take), so the next run tries again."""
    connection.execute(end_date_notices.delete().where(
        end_date_notices.c.uid == uid, end_date_notices.c.end_date == end_date,
        end_date_notices.c.kind == kind))
