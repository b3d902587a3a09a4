"""Invitations into working groups: sent, then used once, withdrawn, or left to expire.

The store decides every race: one open invitation per address (a partial unique
index), an acceptance claims the row with an UPDATE only one transaction can win,
and marking it used or withdrawn succeeds only from `open`. The link's token is
never stored: only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .schema import invitations

OPEN, USED, WITHDRAWN, EXPIRED = "open", "used", "withdrawn", "expired"
# Far longer than an acceptance takes (an entry, a few groups, one transaction): a claim
# this old was left by a process that died, and the next acceptance takes it over.
STALE_AFTER = timedelta(minutes=2)


class AlreadyInvited(Exception):  # noqa: N818 - reads as what was found
    """The address has an open invitation already."""

    def __init__(self, invitation: Invitation):
        super().__init__(f"invitation {invitation.id} is open for this address")
        self.invitation = invitation


@dataclass(frozen=True)
class Invitation:
    id: int
    mail: str
    groups: tuple[str, ...]
    end_date: date | None
    display_name: str | None
    invited_by: str
    created_at: datetime
    expires_at: datetime
    state: str                  # as stored: an open one past expires_at is still `open` here
    uid: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    language: str | None        # of its mail and acceptance page; None (made before 0012): English

    def state_at(self, now: datetime) -> str:
        """The state as people see it: an open invitation past its time is expired."""
        return EXPIRED if self.state == OPEN and _aware(self.expires_at, now) <= now else self.state

    def claimed_by_another(self, now: datetime) -> bool:
        """An acceptance is under way (claimed recently); a stale claim counts for nothing."""
        return self.claimed_at is not None and _aware(self.claimed_at, now) > now - STALE_AFTER


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were stored in `like`'s zone (UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)


def _invitation(row: Row[Any]) -> Invitation:
    values = dict(row._mapping)
    values.pop("digest")
    values.pop("mail_key")
    values["groups"] = tuple(values["groups"].split())
    return Invitation(**values)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mail_key(mail: str) -> str:
    return mail.strip().lower()


def create(connection: Connection, *, mail: str, groups: Iterable[str], end_date: date | None,
           display_name: str | None, invited_by: str, now: datetime,
           lifetime: timedelta, language: str | None = None) -> tuple[Invitation, str]:
    """A new open invitation and its link's token; AlreadyInvited when one is open for the
    address. An open one past its time is closed as expired first, so it does not count."""
    key = mail_key(mail)
    connection.execute(invitations.update().where(
        invitations.c.mail_key == key, invitations.c.state == OPEN,
        invitations.c.expires_at <= now).values(state=EXPIRED, closed_at=now))
    token = secrets.token_urlsafe(32)
    try:
        with connection.begin_nested():
            key_row = connection.execute(invitations.insert().values(
                digest=digest(token), mail=mail, mail_key=key, groups=" ".join(groups),
                end_date=end_date, display_name=display_name, invited_by=invited_by,
                created_at=now, expires_at=now + lifetime, state=OPEN,
                language=language)).inserted_primary_key
    except sa.exc.IntegrityError:
        waiting = open_for(connection, mail)
        if waiting is None:       # not that: another constraint
            raise
        raise AlreadyInvited(waiting) from None
    assert key_row is not None    # SQLAlchemy reports the key of a one-row insert
    return get(connection, key_row[0]), token


def get(connection: Connection, invitation_id: int) -> Invitation:
    return _invitation(connection.execute(
        sa.select(invitations).where(invitations.c.id == invitation_id)).one())


def find(connection: Connection, invitation_id: int) -> Invitation | None:
    row = connection.execute(sa.select(invitations).where(invitations.c.id == invitation_id)).first()
    return _invitation(row) if row else None


def by_token(connection: Connection, token: str) -> Invitation | None:
    row = connection.execute(sa.select(invitations).where(invitations.c.digest == digest(token))).first()
    return _invitation(row) if row else None


def open_for(connection: Connection, mail: str) -> Invitation | None:
    row = connection.execute(sa.select(invitations).where(
        invitations.c.mail_key == mail_key(mail), invitations.c.state == OPEN)).first()
    return _invitation(row) if row else None


def used_for(connection: Connection, mail: str) -> Invitation | None:
    row = connection.execute(sa.select(invitations).where(
        invitations.c.mail_key == mail_key(mail), invitations.c.state == USED)
        .order_by(invitations.c.id.desc()).limit(1)).first()
    return _invitation(row) if row else None


def of_person(connection: Connection, uid: str, mail: str) -> list[Invitation]:
    """The invitations to this address, and the one their account was made with, newest first."""
    query = (sa.select(invitations)
             .where(sa.or_(invitations.c.mail_key == mail_key(mail),
                           sa.and_(invitations.c.state == USED, invitations.c.uid == uid)))
             .order_by(invitations.c.created_at.desc(), invitations.c.id.desc()))
    return [_invitation(row) for row in connection.execute(query)]


def delete_unused_before(connection: Connection, cutoff: datetime) -> int:
    """Delete the invitations nobody used that were withdrawn, or expired, before `cutoff`
    (an address of someone who never joined); returns how many."""
    return connection.execute(invitations.delete().where(sa.or_(
        sa.and_(invitations.c.state.in_((WITHDRAWN, EXPIRED)), invitations.c.closed_at < cutoff),
        sa.and_(invitations.c.state == OPEN, invitations.c.expires_at < cutoff),
    ))).rowcount


def recent(connection: Connection, *, limit: int = 500) -> list[Invitation]:
    """The newest invitations, newest first."""
    query = sa.select(invitations).order_by(invitations.c.created_at.desc(),
                                            invitations.c.id.desc()).limit(limit)
    return [_invitation(row) for row in connection.execute(query)]


def claim(connection: Connection, invitation_id: int, uid: str, *, now: datetime) -> datetime | None:
    """Claim an open, unexpired invitation for an acceptance by `uid`: the claim's time
    when won, None when it is not open any more or another acceptance holds it."""
    won = connection.execute(invitations.update().where(
        invitations.c.id == invitation_id, invitations.c.state == OPEN,
        invitations.c.expires_at > now,
        sa.or_(invitations.c.claimed_at.is_(None), invitations.c.claimed_at < now - STALE_AFTER),
    ).values(uid=uid, claimed_at=now)).rowcount
    return now if won == 1 else None


def release(connection: Connection, invitation_id: int, claimed_at: datetime) -> None:
    """Give up a claim, so that the link can be used again at once (the uid stays, naming
    what a failed acceptance may have left in the directory)."""
    connection.execute(invitations.update().where(
        invitations.c.id == invitation_id, invitations.c.state == OPEN,
        invitations.c.claimed_at == claimed_at).values(claimed_at=None))


def mark_used(connection: Connection, invitation_id: int, uid: str, claimed_at: datetime, *,
              now: datetime) -> bool:
    """Close the invitation as used by `uid`; False when the claim is no longer this one."""
    return connection.execute(invitations.update().where(
        invitations.c.id == invitation_id, invitations.c.state == OPEN,
        invitations.c.uid == uid, invitations.c.claimed_at == claimed_at,
    ).values(state=USED, closed_at=now, claimed_at=None)).rowcount == 1


def withdraw(connection: Connection, invitation_id: int, *, by: str, now: datetime) -> bool:
    """Close an open invitation that no acceptance holds; False otherwise."""
    return connection.execute(invitations.update().where(
        invitations.c.id == invitation_id, invitations.c.state == OPEN,
        invitations.c.expires_at > now,
        sa.or_(invitations.c.claimed_at.is_(None), invitations.c.claimed_at < now - STALE_AFTER),
    ).values(state=WITHDRAWN, closed_at=now, closed_by=by)).rowcount == 1
