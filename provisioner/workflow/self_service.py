"""A logged-in person looks after their own account: name, email address, password.

A new address takes effect only once a link mailed to it is used, and the old
address is told. Changing the address or the password needs the current
password, so a session left open (or stolen) is not enough to take the account.
A changed address queues a grant of the person's working groups carrying the former
address, so that the services that know them by address (Mailman's memberships and
roles, Redmine's account) move to the new one.
"""

from __future__ import annotations

from datetime import timedelta

from ..directory import AlreadyExists, InvalidValue, Person
from ..jobs import GRANT
from ..languages import Text
from ..mail import MailError
from ..store import audit, sessions, tokens
from ..store import jobs as queue
from .context import Portal
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .fields import (
    check_address,
    check_display_name,
    check_password,
    normalise_display_name,
    personal_words,
)
from .lifecycle import STATES
from .links import make_token, read_token
from .memberships import groups_of
from .permissions import has_open_account

EMAIL_CHANGE_PURPOSE = "email-change"
UNCHANGED_HINT = Text("choose a password different from the current one")
WRONG_CURRENT = Text("this is not your current password")


def _active_person(portal: Portal, uid: str) -> Person:
    person = portal.directory.people.get(uid)
    if not has_open_account(person):
        raise WorkflowError(Text("Only an active account can be changed."))
    return person


def check_password_rules(person: Person, password: str) -> None:
    """InvalidInput({"password": why}) unless the password will do for this person."""
    if reason := check_password(password, personal_words(person.uid, person.mail, person.display_name)):
        raise InvalidInput({"password": reason})


def store_password(portal: Portal, person: Person, password: str) -> None:
    """Set the password by password-modify (slapd hashes it).

    slapd's ppolicy clears every lock when a password is set, the suspension lock
    too, so a person suspended meanwhile (a status the lifecycle keeps locked) is
    locked again at once.
    """
    people = portal.directory.people
    try:
        people.set_password(person.uid, password)
    except InvalidValue as error:  # the directory's own password policy
        raise InvalidInput({"password": Text("the directory refused this password (%(reason)s)",
                                             reason=str(error))}) from None
    if STATES[people.get(person.uid).status].locked:
        people.lock(person.uid)


def notify_password_changed(portal: Portal, person: Person) -> None:
    """Tell the owner, so that a change they did not make does not go unnoticed."""
    try:
        portal.mailer.send(person.mail, "password_changed", language=person.language, uid=person.uid,
                           display_name=person.display_name, reset_link=portal.link("/reset"))
    except MailError as error:
        portal.audit("mail-failed", subject=person.uid, detail=f"password changed: {error}")


def set_language(portal: Portal, person: Person, language: str) -> None:
    """Remember the language the person chose, for their pages and every mail to them."""
    if person.language != language:
        portal.directory.people.set_language(person, language)


def change_display_name(portal: Portal, uid: str, display_name: str, *,
                        remote_addr: str | None = None) -> str:
    """Set cn, displayName, givenName and sn from the new name; returns it as stored."""
    display_name = normalise_display_name(display_name)
    if reason := check_display_name(display_name):
        raise InvalidInput({"display_name": reason})
    person = _active_person(portal, uid)
    if display_name == person.display_name:
        return display_name
    portal.directory.people.set_display_name(uid, display_name)
    portal.audit("name-changed", actor=uid, subject=uid, remote_addr=remote_addr,
                 detail=f"from {person.display_name!r} to {display_name!r}")
    return display_name


def change_password(portal: Portal, uid: str, old_password: str, new_password: str, *,
                    keep_session: str | None = None, remote_addr: str | None = None) -> int:
    """Set a new password once the old one binds; ends every other session.

    Returns how many sessions ended. InvalidInput names the refused field.
    """
    person = _active_person(portal, uid)
    if not portal.directory.people.check_password(uid, old_password):
        portal.audit("password-change-refused", actor=uid, subject=uid, remote_addr=remote_addr,
                     detail="wrong current password")
        raise InvalidInput({"old_password": WRONG_CURRENT})
    if new_password == old_password:
        raise InvalidInput({"password": UNCHANGED_HINT})
    check_password_rules(person, new_password)
    store_password(portal, person, new_password)
    with portal.store.begin() as connection:
        ended = sessions.end_all(connection, uid, now=portal.clock(), keep=keep_session)
    portal.audit("password-changed", actor=uid, subject=uid, remote_addr=remote_addr,
                 detail=f"{ended} other session(s) ended")
    notify_password_changed(portal, person)
    return ended


def email_link_lifetime(portal: Portal) -> timedelta:
    return timedelta(hours=portal.verify_link_hours)


def request_email_change(portal: Portal, uid: str, new_mail: str, password: str, *,
                         remote_addr: str | None = None) -> str:
    """Mail a confirmation link to the new address and a notice to the old one.

    Nothing changes in the directory until the link is used. Returns the new address.
    """
    new_mail = new_mail.strip()
    if reason := check_address(new_mail):
        raise InvalidInput({"mail": reason})
    person = _active_person(portal, uid)
    if not portal.directory.people.check_password(uid, password):
        portal.audit("email-change-refused", actor=uid, subject=uid, remote_addr=remote_addr,
                     detail="wrong current password")
        raise InvalidInput({"password": WRONG_CURRENT})
    if new_mail == person.mail:
        raise InvalidInput({"mail": Text("this is already your address")})
    _refuse_if_taken(portal, person, new_mail, remote_addr=remote_addr)
    token = make_token(portal.secret_key, EMAIL_CHANGE_PURPOSE,
                       {"uid": uid, "entry": person.entry_id, "from": person.mail, "to": new_mail,
                        "pw": portal.directory.people.password_state(uid)},
                       portal.clock())
    portal.mailer.send(new_mail, "email_change", language=person.language,
                       uid=uid, display_name=person.display_name,
                       hours=portal.verify_link_hours,
                       link=portal.link(f"/account/email/{token}"))
    try:
        portal.mailer.send(person.mail, "email_change_notice", language=person.language, uid=uid,
                           display_name=person.display_name, new_mail=new_mail,
                           hours=portal.verify_link_hours)
    except MailError as error:
        portal.audit("mail-failed", subject=uid, detail=f"email change notice: {error}")
    portal.audit("email-change-requested", actor=uid, subject=uid, remote_addr=remote_addr,
                 detail=f"to {new_mail}, waiting for confirmation")
    return new_mail


def _refuse_if_taken(portal: Portal, person: Person, mail: str, *,
                     remote_addr: str | None) -> None:
    holder = portal.directory.people.find_by_mail(mail)
    if holder is not None and holder.uid != person.uid:
        portal.audit("email-change-refused", actor=person.uid, subject=person.uid,
                     remote_addr=remote_addr, detail="address used by another account")
        raise InvalidInput({"mail": Text("this address belongs to another account or request: "
                                         "use another one")})


def check_email_change_link(portal: Portal, token: str) -> tuple[Person, str]:
    """The person and the new address of a confirmation link that still works."""
    person, _, new_mail = _read_email_change_link(portal, token)
    return person, new_mail


def _read_email_change_link(portal: Portal, token: str) -> tuple[Person, str, str]:
    """The person, their former and their new address, for a link that still works.

    A confirmation cut short after the directory took the new address (the store's
    transaction lost) left the link unused: it still works, to finish the change.
    """
    payload = read_token(portal.secret_key, EMAIL_CHANGE_PURPOSE, token,
                         max_age=email_link_lifetime(portal), now=portal.clock())
    person = portal.directory.people.find(str(payload.get("uid", "")))
    former, new_mail = payload.get("from"), payload.get("to")
    if (not has_open_account(person) or person.entry_id != payload.get("entry")
            or not isinstance(new_mail, str) or not isinstance(former, str)):
        raise LinkInvalid(Text("This link no longer matches an account."))
    with portal.store.begin() as connection:
        used = tokens.was_used(connection, token)
    if used:
        raise LinkInvalid(Text("This link was used already: your address is changed."))
    if (person.mail not in (former, new_mail)
            or portal.directory.people.password_state(person.uid) != payload.get("pw")):
        raise LinkInvalid(Text("This link no longer works: the address or the password of the account "
                               "changed since it was sent. Ask for a new one if you still need it."))
    return person, former, new_mail


def confirm_email_change(portal: Portal, token: str, *, remote_addr: str | None = None) -> str:
    """Make the new address the account's; returns it. LinkInvalid for a link that cannot be used.

    The link is marked used, the grant of the person's working groups (with the former
    address, which the services may still know them by) queued and the change audited in
    one transaction, which the directory's change ends: a directory that refuses leaves
    none of them, and a transaction lost after it leaves the link unused, so using it
    again completes the change.
    """
    person, former, new_mail = _read_email_change_link(portal, token)
    groups = groups_of(portal, person.uid)
    now = portal.clock()
    with portal.store.begin() as connection:
        if not tokens.mark_used(connection, token, EMAIL_CHANGE_PURPOSE, now):
            raise LinkInvalid(Text("This link was used already: your address is changed."))
        if groups:
            queue.enqueue(connection, GRANT, {person.uid: groups}, created_by=person.uid, now=now,
                          max_attempts=portal.jobs.max_attempts, mails={person.uid: former})
        audit.record(connection, at=now, action="email-changed", actor=person.uid,
                     subject=person.uid, remote_addr=remote_addr,
                     detail=f"from {former} to {new_mail}")
        try:
            portal.directory.people.set_mail(person.uid, new_mail)
        except AlreadyExists:  # someone took the address after the link was sent
            raise LinkInvalid(Text("This address now belongs to another account or request, so your "
                                   "address was not changed.")) from None
    return new_mail
