"""Suspending and reinstating a person.

Suspension locks the LDAP account (ppolicy), so no login works anywhere that reads
LDAP, and queues a revoke of their services; reinstating unlocks and queues a
grant. The job and its audit entry are written in one transaction, and the status
changes last: a call cut short leaves the old status, and calling again completes
it (locking again changes nothing, and the queue leaves out a job already waiting).

A suspended coordinator stays an owner of their groups' LDAP groups: the revoke takes
the keys of those groups' tools with the rest of their access, and the grant of a
reinstatement gives them back, since the worker reads who coordinates when it runs
(coordinators.py). Removing them as coordinators is a separate, deliberate step.
"""

from __future__ import annotations

from ..directory import Person
from ..jobs import GRANT, REVOKE
from ..store import jobs as queue
from ..teams import slugs_of
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .lifecycle import REINSTATE, SUSPEND

MAX_REASON = 2000


def _working_groups(portal: Portal, person: Person) -> list[str]:
    """The person's working groups and teams (qualified slugs)."""
    return slugs_of((portal.directory.layout.group_name(dn) for dn in person.member_of), portal.catalogue)


def suspend(portal: Portal, uid: str, reason: str, *, actor: str,
            remote_addr: str | None = None) -> None:
    with lifecycle.transition(portal, SUSPEND, uid, actor=actor, remote_addr=remote_addr) as step:
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise InvalidInput({"reason": f"say why, in 1 to {MAX_REASON} characters"})
        if uid == actor:
            raise WorkflowError("you cannot suspend yourself")
        portal.directory.people.lock(uid)
        _queue_with_audit(portal, step, REVOKE, detail=reason)
        portal.directory.people.set_status(uid, SUSPEND.target_status)


def reinstate(portal: Portal, uid: str, *, actor: str, remote_addr: str | None = None) -> None:
    with lifecycle.transition(portal, REINSTATE, uid, actor=actor, remote_addr=remote_addr) as step:
        portal.directory.people.unlock(uid)
        _queue_with_audit(portal, step, GRANT)
        portal.directory.people.set_status(uid, REINSTATE.target_status)


def _queue_with_audit(portal: Portal, step: lifecycle.Step, kind: str, *,
                      detail: str | None = None) -> None:
    """Queue the grant or revoke of the person's working groups, and audit the transition,
    in one transaction."""
    with portal.store.begin() as connection:
        queue.enqueue(connection, kind, {step.uid: _working_groups(portal, step.entry)},
                      created_by=step.actor, now=portal.clock(), max_attempts=portal.jobs.max_attempts)
        step.record(connection, detail=detail)
