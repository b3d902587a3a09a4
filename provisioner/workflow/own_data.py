"""A person's own data: all the project holds about them, to download; deleting their
account; and the retention of rejected requests in the audit log.

The export holds what the directory says of them (never a password hash, the TOTP
secret or recovery codes: only whether they use two-step login and how many codes are
left), their working groups and the groups they coordinate, their access to each
service (their newest job), their join requests and every audit entry by or about them
(with the client address only of what they did themselves).

Deleting asks for the password again, and the second factor when enrolled (both under
the login limits), then, in this order, so that a call cut short is completed by
calling again (the entry is still there, and the password still works):

1. one store transaction claims the deletion (a used-link row keyed by the entry's
   entryUUID: of two calls at once, one does it), queues the revoke of every working
   group carrying the address (Mailman knows them by it; the entry will be gone when
   the worker runs), deletes their sessions, recovery codes and join requests,
   pseudonymises their audit entries and writes `account-deleted` under the pseudonym;
2. the directory entry is deleted (slapd's refint overlay takes their `member` and
   `owner` values out of the groups);
3. entries written meanwhile are pseudonymised too, and the person is mailed.

A revoke that runs between 1 and 2 finds the entry still active and is retried by the
worker, as any failed job is, and succeeds once the entry is gone; deleting again after
a call cut short queues the revoke again unless one is waiting.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..directory import SYSADMINS_GROUP, NotFound, Person
from ..jobs import REVOKE
from ..languages import Text
from ..mail import MailError
from ..store import group_requests, invitations, personal_data, renewal_requests
from ..store import jobs as queue
from ..store.audit import AuditEntry
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .lifecycle import DELETE, REJECT
from .limits import limited_password_check, limited_second_factor
from .memberships import coordinated_groups, groups_of, working_groups_of
from .permissions import HOST_OPERATOR, Actor, Role, has_open_account, is_sysadmin, require
from .self_service import WRONG_CURRENT
from .totp import has_totp, totp_status

PSEUDONYM_PREFIX = "deleted:"   # a colon: no uid can look like a pseudonym (UID_PATTERN)
DELETION_PURPOSE = "account-deletion"
CODE_NEEDED = Text("enter the 6-digit code of your authenticator app, or a recovery code")
# Audit actions whose detail holds a person's earlier name or address: dropped on deletion.
EARLIER_VALUES = ("name-changed", "email-change-requested", "email-changed")
ALREADY_DELETED = Text("This account has just been deleted.")
LAST_SYSADMIN = Text("You are the last sysadmin: make someone else a sysadmin before deleting "
                     "your account.")


def pseudonym(portal: Portal, uid: str) -> str:
    """The stable name a deleted or forgotten person keeps in the audit log: the same for
    the same uid, and not to be turned back into it without the portal's secret key."""
    digest = hmac.new(portal.secret_key.encode(), f"pseudonym:{uid.lower()}".encode(),
                      hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]


# The export.

def own_data(portal: Portal, uid: str, *, actor: Actor) -> dict[str, Any]:
    """Everything the project holds about `uid`, for them only (NotAllowed for anyone else)."""
    require(portal, Role.ACCOUNT_HOLDER, actor, subject=uid)
    person = portal.directory.people.find(uid)
    if not has_open_account(person):
        raise WorkflowError(Text("Only an active account's data can be downloaded."))
    totp = totp_status(portal, uid)
    with portal.store.begin() as connection:
        job = queue.latest_for(connection, uid)
        joins = group_requests.of_person(connection, uid, limit=100_000)
        renewals = renewal_requests.of_person(connection, uid)
        invited = invitations.of_person(connection, uid, person.mail)
        entries = personal_data.audit_entries(connection, uid)
    return {
        "exported_at": _time(portal.clock()),
        "account": _account(person),
        "two_step_login": {"enrolled": totp is not None,
                           "enrolled_at": _time(totp.enrolled_at) if totp else None,
                           "recovery_codes_left": totp.recovery_codes_left if totp else 0},
        "sysadmin": is_sysadmin(portal, person),
        "working_groups": working_groups_of(portal, uid),
        "coordinated_groups": coordinated_groups(portal, uid),
        "services": _services(job),
        "join_requests": [_plain(asdict(request)) for request in joins],
        "renewal_requests": [_plain(asdict(request)) for request in renewals],
        "invitations": [_plain(asdict(invitation)) for invitation in invited],
        "audit": [_audit_entry(entry, uid) for entry in entries],
    }


def _account(person: Person) -> dict[str, Any]:
    # Named one by one, so that an attribute added to Person later is not exported unread.
    return {"uid": person.uid, "display_name": person.display_name, "mail": person.mail,
            "status": str(person.status) if person.status else None,
            "requested_groups": list(person.requested_groups), "skills": list(person.skills),
            "availability": person.availability, "note": person.note,
            "created_at": _time(person.created_at), "entry_id": person.entry_id,
            "end_date": person.end_date.isoformat() if person.end_date else None}


def _services(job: queue.Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    latest: dict[str, dict[str, Any]] = {}
    for result in job.results:  # in order: the last word on each service wins
        latest[result.service] = {"status": result.status, "task": result.task,
                                  "message": result.message, "at": _time(result.at)}
    return {"job": job.id, "kind": job.kind, "state": job.state, "created_at": _time(job.created_at),
            "finished_at": _time(job.finished_at), "by_service": latest}


def _audit_entry(entry: AuditEntry, uid: str) -> dict[str, Any]:
    """An entry as the person may see it: the client address only of what they did
    themselves (a sysadmin's or a stranger's address is theirs, not the person's)."""
    values = _plain(asdict(entry))
    if entry.actor != uid:
        values["remote_addr"] = None
    return values


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date) else value
            for key, value in values.items()}


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# Deleting an account.

@dataclass(frozen=True)
class AccountDeleted:
    pseudonym: str
    revoke_job: int | None   # None when one queued by a call before this one is waiting


def delete_account(portal: Portal, uid: str, password: str, code: str | None = None, *,
                   actor: Actor, remote_addr: str | None = None) -> AccountDeleted:
    """Delete `uid`'s own account (see the module's docstring). InvalidInput names a wrong
    `password` or `code` and nothing changes; TooManyAttempts under the login limits."""
    with lifecycle.transition(portal, DELETE, uid, actor=actor, remote_addr=remote_addr) as step:
        person = step.entry
        if person.pending:  # ACTIVE is only ever set in ou=people; checked all the same
            raise WorkflowError(Text("Only an account can be deleted."))
        if is_sysadmin(portal, person) and _open_sysadmins(portal) <= 1:
            raise WorkflowError(LAST_SYSADMIN)
        _check_it_is_them(portal, person, password, code, remote_addr)
        name = pseudonym(portal, uid)
        words = [person.display_name]
        try:
            groups = groups_of(portal, uid)
        except NotFound:   # a call at the same moment deleted it
            raise WorkflowError(ALREADY_DELETED) from None
        job_id = None
        with portal.store.begin() as connection:
            first = personal_data.claim_once(connection, _claim(person), DELETION_PURPOSE,
                                             at=portal.clock())
            if first:
                job_id = _queue_revoke(portal, connection, person, groups, name)
                personal_data.forget_person(connection, uid, name, mail=person.mail, words=words,
                                            dropped_details=EARLIER_VALUES)
                step.record(connection, pseudonym=name)
        if not first:   # an earlier call did the above: its revoke may have run out of attempts
            step.recorded_earlier()
            with portal.store.begin() as connection:   # one still waiting is not queued twice
                job_id = _queue_revoke(portal, connection, person, groups, name)
        try:
            portal.directory.people.delete(uid)
            deleted_now = True
        except NotFound:   # a call at the same moment deleted it
            deleted_now = False
        with portal.store.begin() as connection:  # what was written about them meanwhile
            personal_data.forget_person(connection, uid, name, mail=person.mail, words=words,
                                        dropped_details=EARLIER_VALUES)
    if deleted_now:
        try:
            portal.mailer.send(person.mail, "account_deleted", language=person.language, uid=uid,
                               display_name=person.display_name)
        except MailError as error:
            portal.audit("mail-failed", subject=name, detail=f"account deleted: {type(error).__name__}")
    return AccountDeleted(name, job_id)


def _queue_revoke(portal: Portal, connection: Connection, person: Person, groups: list[str],
                  name: str) -> int | None:
    """The revoke of all their groups, carrying the address the entry will no longer give."""
    return queue.enqueue(connection, REVOKE, {person.uid: groups},
                         mails={person.uid: person.mail}, forget_as={person.uid: name},
                         created_by=name, now=portal.clock(),
                         max_attempts=portal.jobs.max_attempts)


def _claim(person: Person) -> str:
    if person.entry_id is None:  # every entry read from the directory has its entryUUID
        raise RuntimeError(f"{person.uid}'s entry has no entryUUID: its deletion cannot be claimed")
    return f"{DELETION_PURPOSE}:{person.entry_id}"


def _open_sysadmins(portal: Portal) -> int:
    members = portal.directory.groups.get(SYSADMINS_GROUP).members
    found = portal.directory.people.find_many(list(members))
    return sum(1 for person in found.values() if has_open_account(person))


def _check_it_is_them(portal: Portal, person: Person, password: str, code: str | None,
                      remote_addr: str | None) -> None:
    """The password, then the second factor when enrolled; InvalidInput when either is wrong."""
    if not limited_password_check(portal, person.uid, password, remote_addr=remote_addr):
        if portal.directory.people.find(person.uid) is None:   # deleted by a call at once
            raise WorkflowError(ALREADY_DELETED)
        portal.audit("account-deletion-refused", actor=person.uid, subject=person.uid,
                     remote_addr=remote_addr, detail="wrong current password")
        raise InvalidInput({"password": WRONG_CURRENT})
    if not has_totp(portal, person.uid):
        return
    if not (code or "").strip():
        raise InvalidInput({"code": CODE_NEEDED})
    limited_second_factor(portal, person.uid, code or "", remote_addr=remote_addr)


# Retention of rejected requests.

def forget_rejected(portal: Portal, *, retention: timedelta, now: datetime | None = None,
                    actor: Actor = HOST_OPERATOR) -> int:
    """Pseudonymise the audit entries of requests rejected more than `retention` ago (up to
    their rejection: the uid may belong to someone else since); returns how many requests."""
    require(portal, Role.HOST_OPERATOR, actor)
    if retention < timedelta(0):
        raise WorkflowError(Text("the retention of rejected requests cannot be negative"))
    cutoff = (now or portal.clock()) - retention
    with portal.store.begin() as connection:
        rejections = personal_data.rejected_before(connection, cutoff, action=REJECT.audit_action,
                                                   pseudonym_prefix=PSEUDONYM_PREFIX)
    for rejection in rejections:
        uid = rejection.subject or ""
        with portal.store.begin() as connection:
            personal_data.pseudonymise_rejected(connection, uid, pseudonym(portal, uid),
                                                until=rejection.at)
    return len(rejections)
