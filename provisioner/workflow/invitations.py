"""Invitations: a sysadmin (any working group) or a coordinator (their own groups) invites
an address; the link in the mail lets its holder choose a username and password, and
the account is active at once, with no approval, since the inviter approved it.

Sending stores the invitation (only the SHA-256 of the link's token), writes its audit
entry and mails the link in one transaction: a mail the server refused leaves nothing.
Accepting is the lifecycle's `accept-invitation` (none -> active), done as an approval
ends: the store first claims the invitation (of two acceptances at once, one wins), then
the entry is made in ou=people and put in its groups, then one transaction queues the
grant, writes the audit entry and marks the invitation used; last, the status becomes
active and the welcome mail goes. A failure before that transaction removes the entry
and releases the claim, so the link works again; one whose process died leaves a claim
that goes stale in minutes, and the next acceptance removes what it left.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..catalogue import WorkingGroup
from ..directory import AlreadyExists, DirectoryError, NewPerson, Person, Status
from ..jobs import GRANT
from ..mail import MailError
from ..store import audit
from ..store import invitations as stored
from ..store import jobs as queue
from ..store.invitations import EXPIRED, OPEN, USED, WITHDRAWN, AlreadyInvited, Invitation
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .fields import (
    check_address,
    check_display_name,
    check_password,
    check_username,
    normalise_display_name,
    personal_words,
)
from .lifecycle import ACCEPT_INVITATION, TransitionRefused
from .memberships import coordinated_groups
from .permissions import Actor, HostOperator, NotAllowed, active_person, is_sysadmin

PAGE = "/invitations"
MAX_TOKEN = 128          # ours are 43 characters; anything longer is not worth hashing
INVITED_NOTE = "Invited by {inviter} (invitation {id})"  # marks the entry as the invitation's own
USERNAME_TAKEN = "this username is taken, please choose another"
NOT_VALID = "This invitation link is not valid. Copy the whole link from the mail."


class AddressTaken(WorkflowError):
    """The address has an account, a request waiting for approval, or an open invitation."""


@dataclass(frozen=True)
class Acceptance:
    """What the invited person typed. The password is used once and never kept."""

    uid: str
    display_name: str
    password: str = field(repr=False)


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
        raise NotAllowed("Only sysadmins and working groups' coordinators send invitations.")
    return groups


def check_invitation(portal: Portal, mail: str, slugs: Iterable[str], until: date | None,
                     display_name: str = "") -> dict[str, str]:
    """Why these values cannot make an invitation, by field (empty when they can); checks
    neither the directory nor who invites."""
    slugs = list(slugs)
    errors = {}
    if reason := check_address(mail):
        errors["mail"] = reason
    unknown = [slug for slug in slugs if slug not in portal.catalogue]
    if not slugs:
        errors["groups"] = "choose at least one working group"
    elif unknown:
        errors["groups"] = "no such working group: " + ", ".join(unknown)
    if until is not None and until < portal.clock().date():
        errors["until"] = f"{until.isoformat()} is in the past"
    name = normalise_display_name(display_name)
    if name and (reason := check_display_name(name)):
        errors["display_name"] = reason
    return errors


def address_in_use(portal: Portal, mail: str) -> str | None:
    """Why this address cannot be invited (its account, a request waiting for approval, an
    open invitation), or None. A request nobody verified proves nothing: it does not count."""
    for person in portal.directory.people.with_mail(mail):
        if not person.pending:
            return f"{mail} has an account already ({person.uid})"
        if person.status == Status.VERIFIED:
            return f"{mail} has a registration request waiting for approval ({person.uid})"
    now = portal.clock()
    with portal.store.begin() as connection:
        waiting = stored.open_for(connection, mail)
    if waiting is not None and waiting.state_at(now) == OPEN:
        return (f"{mail} has an open invitation already, sent by {waiting.invited_by} on "
                f"{waiting.created_at:%Y-%m-%d}: withdraw it first to send another")
    return None


def invite(portal: Portal, mail: str, slugs: Iterable[str], *, until: date | None, actor: Actor,
           display_name: str = "", remote_addr: str | None = None) -> Invitation:
    """Invite `mail` into the working groups `slugs`: the invitation is stored, audited and
    mailed together, or not at all. InvalidInput for refused values, NotAllowed for a group
    the actor may not invite into, AddressTaken for an address in use."""
    allowed = {group.slug for group in _require_inviter(portal, actor)}
    mail, slugs = mail.strip(), list(dict.fromkeys(slugs))
    if errors := check_invitation(portal, mail, slugs, until, display_name):
        raise InvalidInput(errors)
    if outside := [slug for slug in slugs if slug not in allowed]:
        portal.audit("invitation-refused", actor=actor, remote_addr=remote_addr,
                     detail="tried to invite into " + ", ".join(outside))
        raise NotAllowed("You may invite only into the working groups you coordinate, not "
                         + ", ".join(_name(portal, slug) for slug in outside) + ".")
    if reason := address_in_use(portal, mail):
        raise AddressTaken(reason)
    inviter = portal.directory.people.find(actor)
    now = portal.clock()
    names = [_name(portal, slug) for slug in slugs]
    with portal.store.begin() as connection:
        try:
            invitation, token = stored.create(
                connection, mail=mail, groups=slugs, end_date=until,
                display_name=normalise_display_name(display_name) or None, invited_by=actor,
                now=now, lifetime=timedelta(days=portal.invitation_days))
        except AlreadyInvited as found:  # sent a moment ago, by another click or process
            raise AddressTaken(f"{mail} has an open invitation already, sent by "
                               f"{found.invitation.invited_by}") from None
        portal.mailer.send(mail, "invitation", groups=names, end_date=until,
                           inviter=inviter.display_name if inviter else "the sysadmins",
                           days=portal.invitation_days, link=portal.link(f"/invitation/{token}"),
                           display_name=invitation.display_name or "")
        audit.record(connection, at=now, action="invitation-sent", actor=actor,
                     remote_addr=remote_addr, detail=_described(invitation))
    return invitation


def _described(invitation: Invitation) -> str:
    """An invitation in the audit log: its number, groups and end date, not the address
    (the invitations list has it; the audit log keeps no address nobody confirmed)."""
    until = f"; until {invitation.end_date.isoformat()}" if invitation.end_date else ""
    return f"invitation {invitation.id}: working groups {', '.join(invitation.groups)}{until}"


def _name(portal: Portal, slug: str) -> str:
    group = portal.catalogue.get(slug)
    return group.name if group else slug


# The list, and withdrawing.

def invitation_list(portal: Portal, *, actor: Actor) -> list[InvitationLine]:
    """Newest first: every invitation for a sysadmin; for a coordinator, the ones they sent
    and the ones into a group they coordinate."""
    allowed = {group.slug for group in _require_inviter(portal, actor)}
    sees_all = allowed == {group.slug for group in portal.catalogue} and _is_sysadmin(portal, actor)
    now = portal.clock()
    with portal.store.begin() as connection:
        found = stored.recent(connection)
    return [InvitationLine(invitation, invitation.state_at(now),
                           [_name(portal, slug) for slug in invitation.groups],
                           invitation.state_at(now) == OPEN
                           and _may_withdraw(invitation, actor, allowed, sees_all))
            for invitation in found
            if sees_all or invitation.invited_by == actor or set(invitation.groups) & allowed]


def _is_sysadmin(portal: Portal, actor: Actor) -> bool:
    if isinstance(actor, HostOperator):
        return True
    person = active_person(portal, actor)
    return person is not None and is_sysadmin(portal, person)


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
            raise WorkflowError("There is no such invitation.")
        if not _may_withdraw(invitation, actor, allowed, _is_sysadmin(portal, actor)):
            raise NotAllowed("Only its inviter, a sysadmin or a coordinator of all its working "
                             "groups may withdraw this invitation.")
        if not stored.withdraw(connection, invitation.id, by=actor, now=now):
            state = invitation.state_at(now)
            if state == OPEN:
                raise WorkflowError(f"Invitation {invitation.id} is being used right now: "
                                    "it cannot be withdrawn.")
            raise WorkflowError(f"Invitation {invitation.id} was {state} already.")
        audit.record(connection, at=now, action="invitation-withdrawn", actor=actor,
                     remote_addr=remote_addr, detail=_described(invitation))
        return stored.get(connection, invitation.id)


# The link.

def invitation_for_link(portal: Portal, token: str) -> Invitation:
    """The open invitation behind a link; LinkInvalid, saying why, for any other."""
    now = portal.clock()
    with portal.store.begin() as connection:
        invitation = stored.by_token(connection, token) if len(token) <= MAX_TOKEN else None
    if invitation is None:
        raise LinkInvalid(NOT_VALID)
    state = invitation.state_at(now)
    if state == USED:
        _finish_used(portal, invitation)
        raise LinkInvalid(f"This invitation was used already: the account {invitation.uid} was made "
                          "with it. Log in with it, or reset its password if you forgot it.")
    if state == WITHDRAWN:
        raise LinkInvalid("This invitation was withdrawn. Ask whoever invited you for a new one.")
    if state == EXPIRED:
        raise LinkInvalid(f"This invitation expired on {invitation.expires_at:%Y-%m-%d}. Ask "
                          f"whoever invited you ({invitation.invited_by}) for a new one.")
    return invitation


def _finish_used(portal: Portal, invitation: Invitation) -> None:
    """An acceptance cut short after its transaction committed left the entry verified: the
    invitation is used, so the account is made; only its status was left to set."""
    person = portal.directory.people.find(invitation.uid or "")
    if person is not None and not person.pending and person.status == Status.VERIFIED:
        portal.directory.people.set_status(person.uid, ACCEPT_INVITATION.target_status)


def check_acceptance(invitation: Invitation, acceptance: Acceptance) -> None:
    """InvalidInput naming every refused field; checks nothing in the directory."""
    checks = {
        "uid": check_username(acceptance.uid),
        "display_name": check_display_name(normalise_display_name(acceptance.display_name)),
        "password": check_password(acceptance.password, personal_words(
            acceptance.uid, invitation.mail, acceptance.display_name)),
    }
    if errors := {name: reason for name, reason in checks.items() if reason}:
        raise InvalidInput(errors)


def accept_invitation(portal: Portal, token: str, acceptance: Acceptance, *,
                      remote_addr: str | None = None) -> Person:
    """Make the invited person's account, active in the invitation's groups, with its end date.

    LinkInvalid for a link that cannot be used, InvalidInput for refused fields (a username
    taken among them), WorkflowError when the invitation is being used at this moment."""
    invitation = invitation_for_link(portal, token)
    check_acceptance(invitation, acceptance)
    uid = acceptance.uid
    with portal.store.begin() as connection:
        claimed_at = stored.claim(connection, invitation.id, uid, now=portal.clock())
    if claimed_at is None:
        invitation_for_link(portal, token)  # used, withdrawn or expired meanwhile: say so
        raise WorkflowError("This invitation is being used right now. If you sent the form twice, "
                            "wait a moment and log in; if it stopped half-way, try again in a few "
                            "minutes.")
    try:
        _remove_leftover(portal, invitation)
        person = _make_account(portal, invitation, acceptance, claimed_at, remote_addr)
    except Exception:
        with suppress(Exception), portal.store.begin() as connection:
            stored.release(connection, invitation.id, claimed_at)
        raise
    groups = [_name(portal, slug) for slug in invitation.groups]
    try:
        portal.mailer.send(person.mail, "invitation_accepted", uid=uid, groups=groups,
                           display_name=person.display_name, end_date=invitation.end_date,
                           login_link=portal.link("/login"))
    except MailError as error:
        portal.audit("mail-failed", actor=uid, subject=uid, detail=f"welcome: {error}")
    return portal.directory.people.get(uid)


def _remove_leftover(portal: Portal, invitation: Invitation) -> None:
    """What an acceptance whose process died left in the directory (its entry, never
    committed in the store), found by the note it carries; the claim is ours now."""
    person = portal.directory.people.find(invitation.uid or "")
    if (person is not None and not person.pending and person.status == Status.VERIFIED
            and person.note == _note(invitation)):
        portal.directory.people.delete(person.uid)


def _note(invitation: Invitation) -> str:
    return INVITED_NOTE.format(inviter=invitation.invited_by, id=invitation.id)


def _make_account(portal: Portal, invitation: Invitation, acceptance: Acceptance,
                  claimed_at: datetime, remote_addr: str | None) -> Person:
    people, uid = portal.directory.people, acceptance.uid
    try:
        with lifecycle.transition(portal, ACCEPT_INVITATION, uid, actor=uid,
                                  remote_addr=remote_addr) as step:
            if any(not holder.pending for holder in people.with_mail(invitation.mail)):
                raise WorkflowError(f"{invitation.mail} has an account already: log in with it, "
                                    "or reset its password if you forgot it.")
            person = people.add(NewPerson(
                uid=uid, display_name=normalise_display_name(acceptance.display_name),
                mail=invitation.mail, status=Status.VERIFIED, requested_groups=invitation.groups,
                note=_note(invitation), end_date=invitation.end_date), pending=False)
            try:
                people.set_password(uid, acceptance.password)
                for slug in invitation.groups:
                    if (group := portal.catalogue.get(slug)) is not None:
                        portal.directory.groups.add_member(group.group, uid)
                with portal.store.begin() as connection:  # the job, its audit entry, the used link
                    if not stored.mark_used(connection, invitation.id, uid, claimed_at,
                                            now=portal.clock()):
                        raise WorkflowError("This invitation was used by another acceptance.")
                    queue.enqueue(connection, GRANT, {uid: list(invitation.groups)}, created_by=uid,
                                  now=portal.clock(), max_attempts=portal.jobs.max_attempts)
                    step.record(connection, detail=f"{_described(invitation)}; invited by "
                                                   f"{invitation.invited_by}")
            except Exception:
                with suppress(DirectoryError):  # else the next acceptance removes it
                    people.delete(uid)
                raise
            # Last: until then, a failure leaves the link usable.
            people.set_status(uid, ACCEPT_INVITATION.target_status)
    except TransitionRefused:
        raise InvalidInput({"uid": USERNAME_TAKEN}) from None
    except AlreadyExists:  # someone took the username, or the address, a moment ago
        if people.find(uid) is None:
            raise WorkflowError(f"{invitation.mail} has an account already.") from None
        raise InvalidInput({"uid": USERNAME_TAKEN}) from None
    return person
