"""The mail outbox's rows: queued by a web request, claimed and sent by a worker.

A row holds the whole rendered mail, a verification or reset link included: the mail
must carry it, and the row lives only until the mail server has taken the mail (it is
deleted then), so the store holds a link no longer than the mail queue of any server
would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import mail_outbox


@dataclass(frozen=True)
class QueuedMail:
    id: int
    template: str
    sender: str
    recipient: str
    message: bytes = b""
    attempts: int = 0


def enqueue(connection: Connection, *, template: str, sender: str, recipient: str,
            message: bytes, now: datetime) -> int:
    mail_id = connection.execute(mail_outbox.insert().values(
        template=template, sender=sender, recipient=recipient, message=message,
        queued_at=now, next_attempt_at=now, attempts=0).returning(mail_outbox.c.id)).scalar_one()
    return int(mail_id)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    unclaimed = sa.or_(mail_outbox.c.claimed_until.is_(None), mail_outbox.c.claimed_until < now)
    return sa.and_(mail_outbox.c.next_attempt_at <= now, unclaimed)


def claim(connection: Connection, worker: str, *, now: datetime, lease: timedelta,
          limit: int) -> list[QueuedMail]:
    """Take up to `limit` mails that are due, each won by one worker.

    One conditional UPDATE: it writes first, so SQLite takes its write lock before reading
    (no read-then-upgrade to fail), and PostgreSQL skips the rows another worker holds
    and checks `due` again on any it waited for.
    """
    until = now + lease
    due_ids = (sa.select(mail_outbox.c.id).where(_due(now)).order_by(mail_outbox.c.id).limit(limit)
               .with_for_update(skip_locked=True))
    connection.execute(mail_outbox.update().where(mail_outbox.c.id.in_(due_ids), _due(now)).values(
        claimed_by=worker, claimed_until=until, attempts=mail_outbox.c.attempts + 1))
    rows = connection.execute(sa.select(
        mail_outbox.c.id, mail_outbox.c.template, mail_outbox.c.sender, mail_outbox.c.recipient,
        mail_outbox.c.message, mail_outbox.c.attempts,
    ).where(mail_outbox.c.claimed_by == worker, mail_outbox.c.claimed_until == until)
        .order_by(mail_outbox.c.id)).all()
    return [QueuedMail(id=row.id, template=row.template, sender=row.sender, recipient=row.recipient,
                       message=bytes(row.message), attempts=row.attempts) for row in rows]


def forget(connection: Connection, mail_id: int, worker: str) -> None:
    """The mail was taken (or given up): the row, and the link it carried, go."""
    connection.execute(mail_outbox.delete().where(
        mail_outbox.c.id == mail_id, mail_outbox.c.claimed_by == worker))


def retry_later(connection: Connection, mail_id: int, worker: str, *, at: datetime, error: str) -> None:
    connection.execute(mail_outbox.update().where(
        mail_outbox.c.id == mail_id, mail_outbox.c.claimed_by == worker).values(
        claimed_by=None, claimed_until=None, next_attempt_at=at, last_error=error))


def waiting(connection: Connection) -> list[QueuedMail]:
    """Every queued mail, without its text (for tests and the health of the queue)."""
    rows = connection.execute(sa.select(
        mail_outbox.c.id, mail_outbox.c.template, mail_outbox.c.sender, mail_outbox.c.recipient,
        mail_outbox.c.attempts).order_by(mail_outbox.c.id)).all()
    return [QueuedMail(id=row.id, template=row.template, sender=row.sender, recipient=row.recipient,
                       attempts=row.attempts) for row in rows]
