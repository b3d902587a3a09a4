"""Accounts' end dates: setting and extending them, the reminder before, and the end.

Sysadmins set or remove anyone's end date; a coordinator extends those of their groups'
members (permissions.require_coordinator_of). Setting a date on an expired account
renews it: the lifecycle's `renew` unlocks it and queues the grant of its groups with
its audit entry in one transaction, and sets the status last.

`provisioner expire` (hourly, from a timer) mails each active account a reminder
END_DATE_REMINDER_DAYS before its end date, and ends every account past it (transition
`expire-account`): lock it (ppolicy), queue the revoke with the audit entry in one
transaction, set the status `expired` last, then mail the person. Each of these is
claimed once per account and end date in the store (store/end_date_notices.py): two
runs at once do it once, a run cut short is completed by the next, and a new end date
starts afresh. Both mails carry a signed link to ask for renewal (renewals.py), bound to
the uid and the end date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ..directory import DirectoryError, Person, Status
from ..jobs import GRANT, REVOKE
from ..languages import Text
from ..mail import MailError
from ..store import end_date_notices as notices
from ..store import jobs as queue
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .lifecycle import EXPIRE_ACCOUNT, RENEW
from .links import make_token
from .memberships import groups_of
from .permissions import (
    HOST_OPERATOR,
    Actor,
    NotAllowed,
    Role,
    active_person,
    acts_as_sysadmin,
    has_open_account,
    require,
    require_coordinator_of,
)
from .terms import check_not_past

RENEWAL_PURPOSE = "account-renewal"
RENEWAL_PAGE = "/renew/"


def renewal_link(portal: Portal, person: Person) -> str:
    """The link of the reminder and the ending mail, bound to the uid and the end date."""
    end = person.end_date.isoformat() if person.end_date else ""
    token = make_token(portal.secret_key, RENEWAL_PURPOSE, {"uid": person.uid, "end": end},
                       portal.clock())
    return portal.link(RENEWAL_PAGE + token)


def account_with_term(portal: Portal, uid: str) -> Person:
    """An account whose end date can be set: active or expired."""
    person = portal.directory.people.find(uid)
    if person is None or person.pending or person.status not in (Status.ACTIVE, Status.EXPIRED):
        raise WorkflowError(Text("%(uid)s has no active or expired account: there is no end date to set.",
                                 uid=uid))
    return person


def check_new_end_date(portal: Portal, actor: Actor, person: Person, end_date: date | None) -> None:
    """NotAllowed or InvalidInput unless `actor` may give `person` this end date: a sysadmin
    any day from today on, or none; a coordinator of their groups only a later day."""
    require_coordinator_of(portal, actor, person.uid)
    check_not_past(end_date, today=portal.clock().date())
    if acts_as_sysadmin(portal, actor):
        return
    if end_date is None:
        raise NotAllowed(Text("Only sysadmins may remove an end date."))
    if person.status == Status.ACTIVE and person.end_date and end_date <= person.end_date:
        raise InvalidInput({"end_date": Text("coordinators extend an end date: choose a day after %(day)s",
                                             day=person.end_date.isoformat())})


def set_end_date(portal: Portal, uid: str, end_date: date | None, *, actor: Actor,
                 remote_addr: str | None = None, detail: str = "") -> bool:
    """Give `uid` this end date (None: none); True when it renewed an expired account."""
    require_coordinator_of(portal, actor, uid)   # first: who may not act learns nothing
    person = account_with_term(portal, uid)
    said = f"end date {_said(end_date)}{detail}"
    if person.status == Status.EXPIRED:
        renew_account(portal, uid, end_date, actor=actor, remote_addr=remote_addr, detail=said)
        return True
    check_new_end_date(portal, actor, person, end_date)
    portal.directory.people.set_end_date(uid, end_date)
    portal.audit("end-date-set", actor=actor, subject=uid, remote_addr=remote_addr, detail=said)
    return False


def renew_account(portal: Portal, uid: str, end_date: date | None, *, actor: Actor,
                  remote_addr: str | None = None, detail: str | None = None) -> None:
    """The lifecycle's `renew` of an expired account, with its new end date (None: none)."""
    people = portal.directory.people
    with lifecycle.transition(portal, RENEW, uid, actor=actor, remote_addr=remote_addr) as step:
        check_new_end_date(portal, actor, step.entry, end_date)
        people.set_end_date(uid, end_date)   # first: no expire run ends it again
        people.unlock(uid)
        with portal.store.begin() as connection:
            queue.enqueue(connection, GRANT, {uid: groups_of(portal, uid)},
                          created_by=actor, now=portal.clock(), max_attempts=portal.jobs.max_attempts)
            step.record(connection, detail=detail or f"end date {_said(end_date)}")
        people.set_status(uid, RENEW.target_status)


def _said(end_date: date | None) -> str:
    return end_date.isoformat() if end_date else "none"


def members_with_end_dates(portal: Portal, actor: Actor) -> list[Person]:
    """The members of the working groups `actor` coordinates whose accounts have an end date
    (active or expired), soonest first: whom the coordinator may extend."""
    person = active_person(portal, actor)
    if person is None:
        return []
    owned = set(portal.directory.groups.owned_by(person.uid))
    uids = sorted({uid for name in owned for uid in portal.directory.groups.get(name).members})
    found = [member for member in portal.directory.people.find_many(uids).values()
             if member.end_date is not None and not member.pending
             and member.status in (Status.ACTIVE, Status.EXPIRED)]
    return sorted(found, key=lambda member: (member.end_date or date.max, member.uid))


# `provisioner expire`.

@dataclass
class ExpiryRun:
    """What a run did: uids reminded and ended, and why others failed (the next run retries)."""

    reminded: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def expire_accounts(portal: Portal, *, actor: Actor = HOST_OPERATOR) -> ExpiryRun:
    """Send the reminders due and end every account past its end date (see the module)."""
    require(portal, Role.HOST_OPERATOR, actor)
    today = portal.clock().date()
    run = ExpiryRun()
    for person in portal.directory.people.ending_by(today + timedelta(days=portal.terms.reminder_days)):
        end = person.end_date
        if end is None or person.pending:
            continue
        try:
            if end >= today:
                if has_open_account(person) and _remind(portal, person, end):
                    run.reminded.append(person.uid)
                continue
            if has_open_account(person):
                _end(portal, person, end, actor)
                run.expired.append(person.uid)
            if person.status in (Status.ACTIVE, Status.EXPIRED):   # as read: before _end
                _tell_ended(portal, person, end)
        except (WorkflowError, DirectoryError) as error:
            run.failed[person.uid] = str(error)
    return run


def _remind(portal: Portal, person: Person, end: date) -> bool:
    """Mail the reminder unless it went for this end date; True when it goes now."""
    days_left = (end - portal.clock().date()).days
    return _mail_once(portal, person, end, notices.REMINDER, "end_date_reminder",
                      end_date=end, days_left=days_left)


def _end(portal: Portal, person: Person, end: date, actor: Actor) -> None:
    people = portal.directory.people
    with lifecycle.transition(portal, EXPIRE_ACCOUNT, person.uid, actor=actor, person=person) as step:
        people.lock(person.uid)
        with portal.store.begin() as connection:
            if notices.claim(connection, person.uid, end, notices.EXPIRY, at=portal.clock()):
                queue.enqueue(connection, REVOKE, {person.uid: groups_of(portal, person.uid)},
                              created_by=actor, now=portal.clock(),
                              max_attempts=portal.jobs.max_attempts)
                step.record(connection, detail=f"end date {end.isoformat()}")
            else:   # a run cut short, or one at the same moment, did it
                step.recorded_earlier()
        people.set_status(person.uid, EXPIRE_ACCOUNT.target_status)


def _tell_ended(portal: Portal, person: Person, end: date) -> bool:
    """The mail that their access ended, once; False when it went before."""
    return _mail_once(portal, person, end, notices.EXPIRY_MAIL, "account_expired",
                      end_date=end)


def _mail_once(portal: Portal, person: Person, end: date, kind: str, template: str,
               **context: object) -> bool:
    with portal.store.begin() as connection:
        if not notices.claim(connection, person.uid, end, kind, at=portal.clock()):
            return False
    try:
        portal.mailer.send(person.mail, template, language=person.language,
                           display_name=person.display_name, uid=person.uid,
                           link=renewal_link(portal, person), **context)
    except MailError as error:
        with portal.store.begin() as connection:   # the next run tries again
            notices.release(connection, person.uid, end, kind)
        portal.audit("mail-failed", subject=person.uid, detail=f"{template}: {error}")
        raise WorkflowError(f"the {template.replace('_', ' ')} mail did not go: {error}") from None
    return True
