"""Who may do what, checked by the workflow itself.

Every sysadmin action calls `require_sysadmin` first, so a caller other than the
web (the command line, a future API) cannot skip the check; the web's decorators
only send anonymous visitors to the login page. The lifecycle's transitions name
a `Role` each (lifecycle.py), checked by `require`. Coordinators' rights over
their own groups are checked in memberships.py, where the group is known.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeGuard

from ..directory import SYSADMINS_GROUP, Person, Status
from ..languages import Text
from .context import Portal


class NotAllowed(Exception):  # noqa: N818 - reads as what happened, like the other refusals
    """The actor may not do this (the web answers 403). Not a WorkflowError, so that no
    caller that shows a refusal and carries on can swallow it by accident."""


class HostOperator(str):
    """Whoever runs `provisioner` on the portal's host: they hold the directory's
    credentials anyway, so the command line acts with every right."""


HOST_OPERATOR = HostOperator("(command line)")

Actor = str  # a person's uid, or HOST_OPERATOR


class Role(StrEnum):
    """Who may make a lifecycle transition."""

    ANYONE = "anyone"                # registration: nobody is logged in
    LINK_HOLDER = "link holder"      # whoever holds a link mailed to the address; the function
                                     # reads the signed link before the transition starts
    SYSADMIN = "sysadmin"            # an active sysadmin, or the host's operator
    ACCOUNT_HOLDER = "account holder"  # the person themselves, logged in (never the command line)
    HOST_OPERATOR = "host operator"  # the command line on the portal's host (and its timers)
    COORDINATOR = "coordinator"      # a coordinator of one of the subject's working groups, or
                                     # as SYSADMIN


def has_open_account(person: Person | None) -> TypeGuard[Person]:
    """Whether this person may log in and act: an account (under ou=people) that is active.
    Requests, suspended accounts and nobody at all may not."""
    return person is not None and not person.pending and person.status == Status.ACTIVE


def is_sysadmin(portal: Portal, person: Person) -> bool:
    return SYSADMINS_GROUP in {portal.directory.layout.group_name(dn) for dn in person.member_of}


def active_person(portal: Portal, uid: str) -> Person | None:
    person = portal.directory.people.find(uid)
    return person if has_open_account(person) else None


def acts_as_sysadmin(portal: Portal, actor: Actor) -> bool:
    """Whether `actor` is the host's operator or an active sysadmin."""
    if isinstance(actor, HostOperator):
        return True
    person = active_person(portal, actor)
    return person is not None and is_sysadmin(portal, person)


def require_sysadmin(portal: Portal, actor: Actor) -> None:
    """NotAllowed unless `actor` is the host's operator or an active sysadmin."""
    if not acts_as_sysadmin(portal, actor):
        raise NotAllowed(Text("Only sysadmins may do this."))


def require(portal: Portal, role: Role, actor: Actor | None, *, subject: str | None = None) -> None:
    """NotAllowed unless `actor` may act in `role` (on `subject`'s entry, for ACCOUNT_HOLDER)."""
    if role == Role.SYSADMIN:
        require_sysadmin(portal, actor or "")
    elif role == Role.ACCOUNT_HOLDER and (
            isinstance(actor, HostOperator) or actor is None or actor != subject):
        # Whether the account is open is the table's to say (its sources), with its refusal.
        raise NotAllowed(Text("Only the account's holder may do this, logged in to it."))
    elif role == Role.HOST_OPERATOR and not isinstance(actor, HostOperator):
        raise NotAllowed(Text("Only the host's operator may do this, from the command line."))
    elif role == Role.COORDINATOR:
        require_coordinator_of(portal, actor or "", subject or "")


def require_coordinator_of(portal: Portal, actor: Actor, subject: str) -> None:
    """NotAllowed unless `actor` may act as SYSADMIN, or coordinates (owns the LDAP group of)
    a working group `subject` is a member of."""
    if isinstance(actor, HostOperator):
        return
    person = active_person(portal, actor)
    if person is not None and is_sysadmin(portal, person):
        return
    member = portal.directory.people.find(subject) if person is not None else None
    layout = portal.directory.layout
    theirs = {name for dn in (member.member_of if member else ())
              if (name := layout.group_name(dn)) and name.startswith("wg-")}
    if person is None or not theirs & set(portal.directory.groups.owned_by(person.uid)):
        raise NotAllowed(Text("Only the coordinators of the person's working groups and the sysadmins "
                              "may do this."))
