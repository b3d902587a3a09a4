"""Invitations: a sysadmin (any working group) or a coordinator (their own groups) invites
an address into working groups; the link in the mail makes an active account with no
approval, since the inviter approved it (invitation_acceptance.py). Invitations are
listed with their state and may be withdrawn.

Sending stores the invitation (only the SHA-256 of the link's token), writes its audit
entry and mails the link in one transaction: a mail the server refused leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .. import languages
from ..catalogue import WorkingGroup
from ..directory import Status
from ..languages import Text
from ..store import audit
from ..store import invitations as stored
from ..store.invitations import EXPIRED, OPEN, USED, WITHDRAWN, AlreadyInvited, Invitation
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .fields import check_address, check_display_name, normalise_display_name
from .memberships import coordinated_groups
from .permissions import (
    Actor,
    HostOperator,
    NotAllowed,
    Role,
    active_person,
    acts_as_sysadmin,
    is_sysadmin,
    require,
)
from .terms import check_not_past

# Why an invitation can no longer be withdrawn, by its state; the number is filled in.
CLOSED_ALREADY = {USED: Text("Invitation %(number)d was used already."),
                  WITHDRAWN: Text("Invitation %(number)d was withdrawn already."),
                  EXPIRED: Text("Invitation %(number)d expired already.")}


class AddressTaken(WorkflowError):
    """The address has an account, a request waiting for approval, or an open invitation."""


@dataclass(frozen=True)
class InvitationLine:
    """An invitation as the list shows it to one person."""

    invitation: Invitation
    state: str
    groups: list[str]            # names, from the catalogue
    may_withdraw: bool


def invitable_groups(portal: Portal, actor: Actor) -> list[WorkingGroup]:
    """The working groups `actor` may invite into: all for a sysadmin or the command line,
    the ones they coordinate for a coordinator, none for anyone else."""
    if isinstance(actor, HostOperator):
        return list(portal.catalogue)
    person = active_person(portal, actor)
    if person is None:
        return []
    if is_sysadmin(portal, person):
        return list(portal.catalogue)
    mine = set(coordinated_groups(portal, person.uid))
    return [group for group in portal.catalogue if group.slug in mine]


def _require_inviter(portal: Portal, actor: Actor) -> list[WorkingGroup]:
    groups = invitable_groups(portal, actor)
    if not groups:
        raise NotAllowed(Text("Only sysadmins and working groups' coordinators send invitations."))
    return groups


def check_invitation(portal: Portal, mail: str, slugs: Iterable[str], until: date | None,
                     display_name: str = "", language: str = languages.SOURCE_LANGUAGE) -> dict[str, str]:
    """Why these values cannot make an invitation, by field (empty when they can); checks
    neither the directory nor who invites."""
    slugs = list(slugs)
    errors = {}
    if reason := check_address(mail):
        errors["mail"] = reason
    unknown = [slug for slug in slugs if slug not in portal.catalogue]
    if not slugs:
        errors["groups"] = Text("choose at least one working group")
    elif unknown:
        errors["groups"] = Text("no such working group: %(slugs)s", slugs=", ".join(unknown))
    try:
        check_not_past(until, today=portal.clock().date(), field_name="until")
    except InvalidInput as refused:
        errors.update(refused.errors)
    name = normalise_display_name(display_name)
    if name and (reason := check_display_name(name)):
        errors["display_name"] = reason
    if reason := check_language(language):
        errors["language"] = reason
    return errors


def check_language(language: str) -> str | None:
    """Why an invitation cannot be in this language (it has no compiled catalogue), or None."""
    if languages.known(language) is None:
        return Text("choose one of the languages offered: %(offered)s",
                    offered=", ".join(languages.available()))
    return None


def address_in_use(portal: Portal, mail: str) -> str | None:
    """Why this address cannot be invited (its account, a request waiting for approval, an
    open invitation), or None. A request nobody verified proves nothing: it does not count."""
    for person in portal.directory.people.with_mail(mail):
        if not person.pending:
            return Text("%(mail)s has an account already (%(uid)s)", mail=mail, uid=person.uid)
        if person.status == Status.VERIFIED:
            return Text("%(mail)s has a registration request waiting for approval (%(uid)s)",
                        mail=mail, uid=person.uid)
    now = portal.clock()
    with portal.store.begin() as connection:
        waiting = stored.open_for(connection, mail)
    if waiting is not None and waiting.state_at(now) == OPEN:
        return Text("%(mail)s has an open invitation already, sent by %(inviter)s on %(day)s: "
                    "withdraw it first to send another", mail=mail, inviter=waiting.invited_by,
                    day=f"{waiting.created_at:%Y-%m-%d}")
    return None


def invite(portal: Portal, mail: str, slugs: Iterable[str], *, until: date | None, actor: Actor,
           display_name: str = "", language: str = languages.SOURCE_LANGUAGE,
           remote_addr: str | None = None) -> Invitation:
    """Invite `mail` into the working groups `slugs`, in `language` (its mail, its page, the
    account's): the invitation is stored, audited and mailed together, or not at all.
    InvalidInput for refused values (a language without a catalogue among them), NotAllowed
    for a group the actor may not invite into, AddressTaken for an address in use."""
    allowed = {group.slug for group in _require_inviter(portal, actor)}
    mail, slugs = mail.strip(), list(dict.fromkeys(slugs))
    if errors := check_invitation(portal, mail, slugs, until, display_name, language):
        raise InvalidInput(errors)
    if outside := [slug for slug in slugs if slug not in allowed]:
        portal.audit("invitation-refused", actor=actor, remote_addr=remote_addr,
                     detail="tried to invite into " + ", ".join(outside))
        raise NotAllowed(Text("You may invite only into the working groups you coordinate, not "
                              "%(groups)s.", groups=", ".join(group_name(portal, slug) for slug in outside)))
    if reason := address_in_use(portal, mail):
        raise AddressTaken(reason)
    inviter = portal.directory.people.find(actor)
    now = portal.clock()
    names = [group_name(portal, slug) for slug in slugs]
    with portal.store.begin() as connection:
        try:
            invitation, token = stored.create(
                connection, mail=mail, groups=slugs, end_date=until,
                display_name=normalise_display_name(display_name) or None, invited_by=actor,
                now=now, lifetime=timedelta(days=portal.invitation_days),
                language=languages.known(language))
        except AlreadyInvited as found:  # sent a moment ago, by another click or process
            raise AddressTaken(Text("%(mail)s has an open invitation already, sent by %(inviter)s",
                                    mail=mail, inviter=found.invitation.invited_by)) from None
        portal.mailer.send_in(connection, mail, "invitation", language=invitation.language,
                              groups=names, end_date=until,
                              inviter=inviter.display_name if inviter else "",
                              days=portal.invitation_days, link=portal.link(f"/invitation/{token}"),
                              display_name=invitation.display_name or "")
        audit.record(connection, at=now, action="invitation-sent", actor=actor,
                     remote_addr=remote_addr, detail=described(invitation))
    return invitation


def described(invitation: Invitation) -> str:
    """An invitation in the audit log: its number, groups and end date, not the address
    (the invitations list has it; the audit log keeps no address nobody confirmed)."""
    until = f"; until {invitation.end_date.isoformat()}" if invitation.end_date else ""
    return f"invitation {invitation.id}: working groups {', '.join(invitation.groups)}{until}"


def group_name(portal: Portal, slug: str) -> str:
    group = portal.catalogue.get(slug)
    return group.name if group else slug


# The list, and withdrawing.

def invitation_list(portal: Portal, *, actor: Actor) -> list[InvitationLine]:
    """Newest first: every invitation for a sysadmin; for a coordinator, the ones they sent
    and the ones into a group they coordinate."""
    allowed = {group.slug for group in _require_inviter(portal, actor)}
    sees_all = acts_as_sysadmin(portal, actor)
    now = portal.clock()
    with portal.store.begin() as connection:
        found = stored.recent(connection)
    return [InvitationLine(invitation, invitation.state_at(now),
                           [group_name(portal, slug) for slug in invitation.groups],
                           invitation.state_at(now) == OPEN
                           and _may_withdraw(invitation, actor, allowed, sees_all))
            for invitation in found
            if sees_all or invitation.invited_by == actor or set(invitation.groups) & allowed]


def _may_withdraw(invitation: Invitation, actor: Actor, allowed: set[str], sysadmin: bool) -> bool:
    """The inviter, a sysadmin, or a coordinator of every group it invites into."""
    return sysadmin or invitation.invited_by == actor or set(invitation.groups) <= allowed


def withdraw(portal: Portal, invitation_id: int, *, actor: Actor,
             remote_addr: str | None = None) -> Invitation:
    """Withdraw an open invitation: its link stops working. WorkflowError when it is not
    open (used, withdrawn, expired, or being used right now)."""
    allowed = {group.slug for group in _require_inviter(portal, actor)}
    now = portal.clock()
    with portal.store.begin() as connection:
        invitation = stored.find(connection, invitation_id)
        if invitation is None:
            raise WorkflowError(Text("There is no such invitation."))
        if not _may_withdraw(invitation, actor, allowed, acts_as_sysadmin(portal, actor)):
            raise NotAllowed(Text("Only its inviter, a sysadmin or a coordinator of all its working "
                                  "groups may withdraw this invitation."))
        if not stored.withdraw(connection, invitation.id, by=actor, now=now):
            state = invitation.state_at(now)
            if state == OPEN:
                raise WorkflowError(Text("Invitation %(number)d is being used right now: it cannot be "
                                         "withdrawn.", number=invitation.id))
            raise WorkflowError(Text(CLOSED_ALREADY[state].msgid, number=invitation.id))
        audit.record(connection, at=now, action="invitation-withdrawn", actor=actor,
                     remote_addr=remote_addr, detail=described(invitation))
        return stored.get(connection, invitation.id)


def forget_unused(portal: Portal, *, retention: timedelta, actor: Actor) -> int:
    """Delete the invitations withdrawn or expired more than `retention` ago, with the address
    of someone who never joined (purge-expired); returns how many."""
    require(portal, Role.HOST_OPERATOR, actor)
    if retention < timedelta(0):
        raise WorkflowError("the retention of unused invitations cannot be negative")
    with portal.store.begin() as connection:
        return stored.delete_unused_before(connection, portal.clock() - retention)
