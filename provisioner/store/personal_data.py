"""One person's rows across the store: read for their own export, forgotten when their
account is deleted, pseudonymised when a rejected request's retention ends.

Forgetting keeps the audit log's history, under a pseudonym the workflow chooses:
the person's uid as actor or subject becomes the pseudonym, their client addresses
go, and detail texts lose the words that name them (uid, address, name). Rows that
exist only for the person (sessions, recovery codes, join and renewal requests, end
date notices, counted login failures) are deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from . import jobs
from .audit import AuditEntry
from .schema import (
    audit_log,
    end_date_notices,
    group_requests,
    invitations,
    renewal_requests,
    request_decisions,
    sessions,
    throttle_events,
    totp_recovery_codes,
    used_tokens,
)

# The abuse limits' kinds keyed by a uid (workflow/limits.py: "<kind>:uid").
UID_THROTTLE_KINDS = ("login:uid", "code:uid")
MAIL_THROTTLE_KIND = "mail"


def claim_once(connection: Connection, key: str, purpose: str, *, at: datetime) -> bool:
    """Record `key` (its SHA-256, among the used links) in the caller's transaction; False
    when it was there already. Of two transactions at once, the second waits for the first
    and gets False. No savepoint: on SQLite, pysqlite would commit one opened first at once,
    apart from the rest of the transaction."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(used_tokens).values(
        digest=hashlib.sha256(key.encode()).hexdigest(), purpose=purpose, used_at=at,
    ).on_conflict_do_nothing().returning(used_tokens.c.digest)
    return connection.execute(statement).first() is not None


def audit_entries(connection: Connection, uid: str) -> list[AuditEntry]:
    """Every audit entry by or about this person, oldest first."""
    query = (sa.select(audit_log)
             .where(sa.or_(audit_log.c.actor == uid, audit_log.c.subject == uid))
             .order_by(audit_log.c.at, audit_log.c.id))
    return [AuditEntry(**row._mapping) for row in connection.execute(query)]


def _naming(words: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern matching any of these words where it stands alone (not inside a longer name)."""
    alternatives = sorted({word for word in words if word}, key=len, reverse=True)
    if not alternatives:
        return None
    either = "|".join(re.escape(word) for word in alternatives)
    return re.compile(rf"(?<![\w.@-])(?:{either})(?![\w@-])", re.IGNORECASE)


def pseudonymise_audit(connection: Connection, uid: str, pseudonym: str, *,
                       words: Iterable[str] = (), until: datetime | None = None,
                       keep_details: bool = True, dropped_details: Iterable[str] = ()) -> int:
    """Name `pseudonym` instead of `uid` in the audit log; returns how many entries changed.

    Entries by or about the person (up to `until` when given: a uid rejected long ago may
    have been registered since by someone else) get the pseudonym as actor and subject,
    lose their client address, and any of `words` (and the uid) in their detail text is
    replaced by the pseudonym. Entries about others whose detail names the uid are
    rewritten the same way. Without `keep_details` the person's own entries lose their
    detail texts altogether (a rejection's reason may say anything about them), and so do
    their entries of the actions in `dropped_details` (whose details hold earlier names or
    addresses, which no word given can match). Running it again changes nothing more.
    """
    pattern = _naming([uid, *words])
    assert pattern is not None  # the uid is never empty
    theirs = sa.or_(audit_log.c.actor == uid, audit_log.c.subject == uid)
    mentions = audit_log.c.detail.ilike(f"%{_like_escaped(uid)}%", escape="\\")
    query = sa.select(audit_log).where(sa.or_(theirs, mentions))
    if until is not None:
        query = query.where(audit_log.c.at <= until)
    dropped = set(dropped_details)
    changed = 0
    for row in connection.execute(query).all():
        values: dict[str, object] = {}
        if row.actor == uid:
            values["actor"] = pseudonym
        if row.subject == uid:
            values["subject"] = pseudonym
        if (row.actor == uid or row.subject == uid) and row.remote_addr is not None:
            values["remote_addr"] = None
        if (not keep_details or row.action in dropped) and (row.actor == uid or row.subject == uid):
            if row.detail is not None:
                values["detail"] = None
        elif row.detail and (detail := pattern.sub(pseudonym, row.detail)) != row.detail:
            values["detail"] = detail
        if values:
            connection.execute(audit_log.update().where(audit_log.c.id == row.id).values(**values))
            changed += 1
    return changed


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def forget_person(connection: Connection, uid: str, pseudonym: str, *, mail: str,
                  words: Iterable[str] = (), dropped_details: Iterable[str] = ()) -> None:
    """Delete the rows that exist only for this person and pseudonymise the rest (the audit
    log, the decision on their registration, join requests they decided, the jobs that
    have ended: the revoke of their deletion takes the pseudonym when it ends)."""
    connection.execute(sessions.delete().where(sessions.c.uid == uid))
    connection.execute(totp_recovery_codes.delete().where(totp_recovery_codes.c.uid == uid))
    connection.execute(group_requests.delete().where(group_requests.c.uid == uid))
    connection.execute(group_requests.update().where(group_requests.c.decided_by == uid)
                       .values(decided_by=pseudonym))
    connection.execute(renewal_requests.delete().where(renewal_requests.c.uid == uid))
    connection.execute(renewal_requests.update().where(renewal_requests.c.decided_by == uid)
                       .values(decided_by=pseudonym))
    connection.execute(end_date_notices.delete().where(end_date_notices.c.uid == uid))
    connection.execute(throttle_events.delete().where(
        sa.or_(sa.and_(throttle_events.c.kind.in_(UID_THROTTLE_KINDS),
                       throttle_events.c.key == uid.lower()),
               sa.and_(throttle_events.c.kind == MAIL_THROTTLE_KIND,
                       throttle_events.c.key == mail.strip().lower()))))
    _pseudonymise_decisions(connection, uid, pseudonym)
    jobs.rename_rows(connection, uid, pseudonym, job_ids=jobs.finished_of(connection, uid))
    _forget_invitations(connection, uid, pseudonym, mail)
    pseudonymise_audit(connection, uid, pseudonym, words=[mail, *words],
                       dropped_details=dropped_details)


def _pseudonymise_decisions(connection: Connection, uid: str, pseudonym: str) -> None:
    connection.execute(request_decisions.update().where(request_decisions.c.uid == uid)
                       .values(uid=pseudonym))
    connection.execute(request_decisions.update().where(request_decisions.c.actor == uid)
                       .values(actor=pseudonym))


def _forget_invitations(connection: Connection, uid: str, pseudonym: str, mail: str) -> None:
    """The invitations to their address go; those they sent or withdrew name the pseudonym."""
    connection.execute(invitations.delete().where(sa.or_(
        invitations.c.mail_key == mail.strip().lower(),
        sa.and_(invitations.c.state == "used", invitations.c.uid == uid))))
    for column in (invitations.c.invited_by, invitations.c.closed_by):
        connection.execute(invitations.update().where(column == uid).values({column.name: pseudonym}))


def rejected_before(connection: Connection, before: datetime, *, action: str,
                    pseudonym_prefix: str) -> list[AuditEntry]:
    """The audit entries of rejections (`action`) older than `before` whose subject is not
    pseudonymised yet."""
    query = (sa.select(audit_log)
             .where(audit_log.c.action == action, audit_log.c.at < before,
                    audit_log.c.subject.is_not(None),
                    sa.not_(audit_log.c.subject.startswith(pseudonym_prefix, autoescape=True)))
             .order_by(audit_log.c.at, audit_log.c.id))
    return [AuditEntry(**row._mapping) for row in connection.execute(query)]


def pseudonymise_rejected(connection: Connection, uid: str, pseudonym: str, *,
                          until: datetime) -> int:
    """A rejected request's entries up to its rejection: pseudonymised, and the decision
    claim on it too. Returns how many audit entries changed."""
    connection.execute(request_decisions.update().where(
        request_decisions.c.uid == uid, request_decisions.c.claimed_at <= until)
        .values(uid=pseudonym))
    return pseudonymise_audit(connection, uid, pseudonym, until=until, keep_details=False)
