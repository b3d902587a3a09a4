"""Claims on registration requests, so that each request is decided exactly once.

A sysadmin's approval or rejection first claims the request with an INSERT that
only one transaction can win (the request's entryUUID is the primary key); the
losers learn who decided. The claim is marked decided in the same transaction
that queues the provisioning job and writes the audit entry, so those happen
once; a decision that fails half-way releases its claim, and one whose process
died is taken over once the claim is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import request_decisions

# Far longer than any decision takes (a few directory writes and a mail).
STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Claim:
    won: bool
    decision: str            # the decision that holds the request: ours when won
    decided: bool            # whether that decision's effects are committed


def claim(connection: Connection, entry_id: str, uid: str, decision: str, *, actor: str | None,
          now: datetime) -> Claim:
    """Claim the request for `decision`; won is False when another decision holds it."""
    try:
        with connection.begin_nested():
            connection.execute(request_decisions.insert().values(
                entry_id=entry_id, uid=uid, decision=decision, actor=actor, claimed_at=now))
        return Claim(True, decision, False)
    except sa.exc.IntegrityError:
        pass
    taken_over = connection.execute(
        request_decisions.update()
        .where(request_decisions.c.entry_id == entry_id, request_decisions.c.decided_at.is_(None),
               request_decisions.c.claimed_at < now - STALE_AFTER)
        .values(decision=decision, actor=actor, claimed_at=now)).rowcount
    if taken_over:
        return Claim(True, decision, False)
    holder = connection.execute(
        sa.select(request_decisions.c.decision, request_decisions.c.decided_at)
        .where(request_decisions.c.entry_id == entry_id)).one()
    return Claim(False, holder.decision, holder.decided_at is not None)


def latest_claim(connection: Connection, uid: str) -> Claim | None:
    """The newest claim on a request from `uid` (decided or under way), if any is recorded.

    A rejection deletes the request before it marks its claim decided: a decision that
    finds no request learns from this whether one is deciding it or did."""
    row = connection.execute(
        sa.select(request_decisions.c.decision, request_decisions.c.decided_at)
        .where(request_decisions.c.uid == uid)
        .order_by(request_decisions.c.claimed_at.desc()).limit(1)).one_or_none()
    return Claim(False, row.decision, row.decided_at is not None) if row else None


def mark_decided(connection: Connection, entry_id: str, now: datetime) -> None:
    connection.execute(request_decisions.update()
                       .where(request_decisions.c.entry_id == entry_id)
                       .values(decided_at=now))


def release(connection: Connection, entry_id: str) -> None:
    """Give up an undecided claim, so that the decision can be tried again at once."""
    connection.execute(request_decisions.delete().where(
        request_decisions.c.entry_id == entry_id, request_decisions.c.decided_at.is_(None)))
