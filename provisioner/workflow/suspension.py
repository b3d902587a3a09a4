"""Suspending and reinstating a person.

Suspension locks the LDAP account (ppolicy), so no login works anywhere that reads
LDAP, and queues a revoke of their services; reinstating unlocks and queues a
grant. Each step checks before it acts, so repeating a half-done call completes it.
"""

from __future__ import annotations

from ..directory import Person, Status
from ..jobs import GRANT, REVOKE
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .permissions import require_sysadmin

MAX_REASON = 2000


def _working_groups(portal: Portal, person: Person) -> list[str]:
    names = (portal.directory.layout.group_name(dn) for dn in person.member_of)
    return sorted(name.removeprefix("wg-") for name in names
                  if name and name.startswith("wg-") and name.removeprefix("wg-") in portal.catalogue)


def accounts(portal: Portal, *, actor: str) -> list[Person]:
    """Everyone with an account, active or suspended, by uid: what a sysadmin manages."""
    require_sysadmin(portal, actor)
    found = [person for status in (Status.ACTIVE, Status.SUSPENDED)
             for person in portal.directory.people.with_status(status)]
    return sorted(found, key=lambda person: person.uid)


def suspend(portal: Portal, uid: str, reason: str, *, actor: str,
            remote_addr: str | None = None) -> None:
    require_sysadmin(portal, actor)
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput({"reason": f"say why, in 1 to {MAX_REASON} characters"})
    if uid == actor:
        raise WorkflowError("you cannot suspend yourself")
    person = portal.directory.people.get(uid)
    if person.pending or person.status not in (Status.ACTIVE, Status.SUSPENDED):
        raise WorkflowError(f"{uid} has no active account to suspend")
    portal.directory.people.lock(uid)
    portal.queue_access(REVOKE, {uid: _working_groups(portal, person)}, actor=actor)
    portal.directory.people.set_status(uid, Status.SUSPENDED)
    portal.audit("suspended", actor=actor, subject=uid, remote_addr=remote_addr, detail=reason)


def reinstate(portal: Portal, uid: str, *, actor: str, remote_addr: str | None = None) -> None:
    require_sysadmin(portal, actor)
    person = portal.directory.people.get(uid)
    if person.status != Status.SUSPENDED:
        raise WorkflowError(f"{uid} is not suspended")
    portal.directory.people.unlock(uid)
    portal.queue_access(GRANT, {uid: _working_groups(portal, person)}, actor=actor)
    portal.directory.people.set_status(uid, Status.ACTIVE)
    portal.audit("reinstated", actor=actor, subject=uid, remote_addr=remote_addr)
