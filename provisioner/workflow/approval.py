"""Sysadmins approve or reject verified requests.

Approval is a sequence of steps that each check before they act (move the
entry, add each group, mark active, queue provisioning, welcome), so running it
again after a failure half-way completes it and never does a step twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..directory import NotFound, Person, Status
from ..jobs import GRANT
from ..mail import MailError
from .context import Portal
from .errors import InvalidInput, WorkflowError

MAX_REASON = 2000


def verified_requests(portal: Portal) -> list[Person]:
    """The approval queue: verified requests, including any whose approval was cut short."""
    return portal.directory.people.with_status(Status.VERIFIED)


def _awaiting_approval(portal: Portal, uid: str) -> Person:
    person = portal.directory.people.find(uid)
    if person is None:
        raise NotFound(f"there is no request from {uid!r}")
    if person.status != Status.VERIFIED:
        state = "already approved" if person.status == Status.ACTIVE else "not verified yet"
        raise WorkflowError(f"{uid} is {state}")
    return person


def approve(portal: Portal, uid: str, groups: Iterable[str] | None, *, actor: str,
            remote_addr: str | None = None) -> Person:
    """Approve into `groups` (slugs), or the groups they asked for when None."""
    person = _awaiting_approval(portal, uid)
    slugs = list(dict.fromkeys(person.requested_groups if groups is None else groups))
    if unknown := [slug for slug in slugs if slug not in portal.catalogue]:
        raise InvalidInput({"groups": f"no such working group: {', '.join(unknown)}"})
    directory = portal.directory
    directory.people.activate(uid)
    for slug in slugs:
        directory.groups.add_member(portal.catalogue.get(slug).group, uid)
    portal.queue_access(GRANT, {uid: slugs}, actor=actor)  # queued once, however often retried
    directory.people.set_status(uid, Status.ACTIVE)  # last: until then, the request stays in the queue
    portal.audit("approved", actor=actor, subject=uid, remote_addr=remote_addr,
                 detail="working groups: " + (", ".join(slugs) or "none"))
    try:
        portal.mailer.send(person.mail, "welcome", uid=uid, display_name=person.display_name,
                           groups=[portal.catalogue.get(slug).name for slug in slugs],
                           login_link=portal.link("/login"))
    except MailError as error:
        portal.audit("mail-failed", actor=actor, subject=uid, detail=f"welcome: {error}")
    return directory.people.get(uid)


def reject(portal: Portal, uid: str, reason: str, *, actor: str,
           remote_addr: str | None = None) -> None:
    """Delete the request and mail the reason to the volunteer."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput({"reason": f"say why, in 1 to {MAX_REASON} characters"})
    person = _awaiting_approval(portal, uid)
    if not person.pending:
        raise WorkflowError(f"{uid}'s approval has started: finish approving it instead")
    portal.mailer.send(person.mail, "rejected", uid=uid, display_name=person.display_name,
                       reason=reason)
    portal.directory.people.delete(uid)
    portal.audit("rejected", actor=actor, subject=uid, remote_addr=remote_addr, detail=reason)
