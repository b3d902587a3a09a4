"""Accepting an invitation: its link's holder chooses a username and password, and the
account is active at once in the invitation's groups, with its end date.

The lifecycle's `accept-invitation` (none -> active), done as an approval ends: the store
first claims the invitation (of two acceptances at once, one wins), then the entry is made
in ou=people and put in its groups, then one transaction queues the grant, writes the
audit entry and marks the invitation used; last, the status becomes active and the welcome
mail goes. A failure before that transaction removes the entry and releases the claim, so
the link works again; one whose process died leaves a claim that goes stale in minutes,
and the next acceptance removes what it left.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

from .. import languages
from ..directory import AlreadyExists, DirectoryError, NewPerson, Person, Status
from ..jobs import GRANT
from ..languages import Text
from ..mail import MailError
from ..store import StoreUnavailable
from ..store import invitations as stored
from ..store import jobs as queue
from ..store.invitations import EXPIRED, USED, WITHDRAWN, Invitation
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .fields import (
    check_display_name,
    check_password,
    check_username,
    normalise_display_name,
    personal_words,
)
from .invitations import described, group_name
from .lifecycle import ACCEPT_INVITATION, TransitionRefused

MAX_TOKEN = 128          # ours are 43 characters; anything longer is not worth hashing
INVITED_NOTE = "Invited by {inviter} (invitation {id})"  # marks the entry as the invitation's own
USERNAME_TAKEN = Text("this username is taken, please choose another")
NOT_VALID = Text("This invitation link is not valid. Copy the whole link from the mail.")


@dataclass(frozen=True)
class Acceptance:
    """What the invited person typed. The password is used once and never kept."""

    uid: str
    display_name: str
    password: str = field(repr=False)
    language: str | None = None  # the page's, when they chose one; else the invitation's


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
        raise LinkInvalid(Text("This invitation was used already: the account %(uid)s was made with it. "
                               "Log in with it, or reset its password if you forgot it.", uid=invitation.uid))
    if state == WITHDRAWN:
        raise LinkInvalid(Text("This invitation was withdrawn. Ask whoever invited you for a new one."))
    if state == EXPIRED:
        raise LinkInvalid(Text("This invitation expired on %(day)s. Ask whoever invited you (%(inviter)s) "
                               "for a new one.", day=f"{invitation.expires_at:%Y-%m-%d}",
                               inviter=invitation.invited_by))
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
        raise WorkflowError(Text("This invitation is being used right now. If you sent the form twice, "
                                 "wait a moment and log in; if it stopped half-way, try again in a few "
                                 "minutes."))
    try:
        _remove_leftover(portal, invitation)
        person = _make_account(portal, invitation, acceptance, claimed_at, remote_addr)
    except Exception:
        with suppress(StoreUnavailable), portal.store.begin() as connection:
            stored.release(connection, invitation.id, claimed_at)  # else it goes stale in minutes
        raise
    groups = [group_name(portal, slug) for slug in invitation.groups]
    try:
        portal.mailer.send(person.mail, "invitation_accepted", language=person.language,
                           uid=uid, groups=groups,
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
                raise WorkflowError(Text("%(mail)s has an account already: log in with it, or reset its "
                                         "password if you forgot it.", mail=invitation.mail))
            person = people.add(NewPerson(
                uid=uid, display_name=normalise_display_name(acceptance.display_name),
                mail=invitation.mail, status=Status.VERIFIED, requested_groups=invitation.groups,
                note=_note(invitation), end_date=invitation.end_date,
                language=languages.known(acceptance.language) or languages.or_source(invitation.language)),
                pending=False)
            try:
                people.set_password(uid, acceptance.password)
                for slug in invitation.groups:
                    if (group := portal.catalogue.get(slug)) is not None:
                        portal.directory.groups.add_member(group.group, uid)
                with portal.store.begin() as connection:  # the job, its audit entry, the used link
                    if not stored.mark_used(connection, invitation.id, uid, claimed_at,
                                            now=portal.clock()):
                        raise WorkflowError(Text("This invitation was used by another acceptance."))
                    queue.enqueue(connection, GRANT, {uid: list(invitation.groups)}, created_by=uid,
                                  now=portal.clock(), max_attempts=portal.jobs.max_attempts)
                    step.record(connection, detail=f"{described(invitation)}; invited by "
                                                   f"{invitation.invited_by}")
            except Exception:
                with suppress(DirectoryError):  # else the next acceptance removes it
                    people.delete(uid)
                raise
            # Last: cut short here, the invitation is used and its link's next use sets this.
            people.set_status(uid, ACCEPT_INVITATION.target_status)
    except TransitionRefused:
        raise InvalidInput({"uid": USERNAME_TAKEN}) from None
    except AlreadyExists:  # someone took the username, or the address, a moment ago
        if people.find(uid) is None:
            raise WorkflowError(Text("%(mail)s has an account already.", mail=invitation.mail)) from None
        raise InvalidInput({"uid": USERNAME_TAKEN}) from None
    return person
