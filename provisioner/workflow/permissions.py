"""Who may do what, checked by the workflow itself.

Every sysadmin action calls `require_sysadmin` first, so a caller other than the
web (the command line, a future API) cannot skip the check; the web's decorators
only send anonymous visitors to the login page. Coordinators' rights over their
own groups are checked in memberships.py, where the group is known.
"""

from __future__ import annotations

from ..directory import Person, Status
from .accounts import is_sysadmin
from .context import Portal


class NotAllowed(Exception):  # noqa: N818 - reads as what happened, like the other refusals
    """The actor may not do this (the web answers 403). Not a WorkflowError, so that no
    caller that shows a refusal and carries on can swallow it by accident."""


class HostOperator(str):
    """Whoever runs `provisioner` on the portal's host: they hold the directory's
    credentials anyway, so the command line acts with every right."""


HOST_OPERATOR = HostOperator("(command line)")

Actor = str  # a person's uid, or HOST_OPERATOR


def active_person(portal: Portal, uid: str) -> Person | None:
    person = portal.directory.people.find(uid)
    if person is None or person.pending or person.status != Status.ACTIVE:
        return None
    return person


def require_sysadmin(portal: Portal, actor: Actor) -> None:
    """NotAllowed unless `actor` is the host's operator or an active sysadmin."""
    if isinstance(actor, HostOperator):
        return
    person = active_person(portal, actor)
    if person is None or not is_sysadmin(portal, person):
        raise NotAllowed("Only sysadmins may do this.")
