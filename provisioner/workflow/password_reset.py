"""Password reset by email: a signed, single-use link that works for an hour.

The public answer is the same whether or not the address belongs to an account,
and only an active account's own address gets a mail. The link names the entry
(its entryUUID, so a new account with the same uid is not reached) and the state
of the password, so it dies as soon as the password is set, by this link or
any other way.
"""

from __future__ import annotations

from datetime import timedelta

from ..directory import Person
from ..languages import Text
from ..mail import MailError
from ..store import sessions, tokens
from .context import Portal
from .errors import InvalidInput, LinkInvalid
from .fields import check_address
from .limits import mail_allowed
from .links import make_token, read_token
from .permissions import has_open_account
from .self_service import check_password_rules, notify_password_changed, store_password

RESET_PURPOSE = "password-reset"
DEFAULT_LIFETIME = timedelta(minutes=60)
# The same words for a link to a pending, suspended, deleted or replaced account.
NO_LONGER_VALID = Text("This link no longer works. Ask for a new one if you still need it.")


def request_password_reset(portal: Portal, mail: str, *, lifetime: timedelta = DEFAULT_LIFETIME,
                           remote_addr: str | None = None) -> None:
    """Mail a reset link when `mail` is an active account's address; otherwise do nothing.

    Raises InvalidInput only for text that is not an address at all, which tells
    nothing about who has an account. A mail server failure is audited, not
    raised, so that it cannot show which addresses have an account either.
    """
    mail = mail.strip()
    if reason := check_address(mail):
        raise InvalidInput({"mail": reason})
    person = portal.directory.people.find_by_mail(mail)
    if not has_open_account(person):
        # The typed address is not recorded: it may be anyone's, or junk.
        portal.audit("password-reset-refused", subject=person.uid if person else None,
                     remote_addr=remote_addr,
                     detail="no account with this address" if person is None
                     else f"account is {'pending' if person.pending else person.status}")
        return
    if not mail_allowed(portal, person.mail, purpose="password reset", subject=person.uid,
                        remote_addr=remote_addr):
        return  # the same answer as ever; a link or three went out this hour already
    token = make_token(portal.secret_key, RESET_PURPOSE,
                       {"uid": person.uid, "entry": person.entry_id,
                        "pw": portal.directory.people.password_state(person.uid)},
                       portal.clock())
    try:
        portal.mailer.send(person.mail, "reset", language=person.language,
                           uid=person.uid, display_name=person.display_name,
                           minutes=int(lifetime.total_seconds() // 60),
                           link=portal.link(f"/reset/{token}"))
    except MailError as error:
        portal.audit("mail-failed", subject=person.uid, detail=f"reset: {error}")
        return
    portal.audit("password-reset-requested", subject=person.uid, remote_addr=remote_addr)


def check_reset_link(portal: Portal, token: str, *,
                     lifetime: timedelta = DEFAULT_LIFETIME) -> Person:
    """The person a reset link is for, while it can still be used; LinkInvalid otherwise."""
    payload = read_token(portal.secret_key, RESET_PURPOSE, token, max_age=lifetime,
                         now=portal.clock())
    person = portal.directory.people.find(str(payload.get("uid", "")))
    if not has_open_account(person) or person.entry_id != payload.get("entry"):
        raise LinkInvalid(NO_LONGER_VALID)
    with portal.store.begin() as connection:
        used = tokens.was_used(connection, token)
    if used or portal.directory.people.password_state(person.uid) != payload.get("pw"):
        raise LinkInvalid(Text("This link was used already, or your password has changed since it "
                               "was sent. Ask for a new one if you still need it."))
    return person


def reset_password(portal: Portal, token: str, password: str, *,
                   lifetime: timedelta = DEFAULT_LIFETIME, remote_addr: str | None = None) -> str:
    """Set the new password and end every session of the person; returns their uid.

    LinkInvalid for a bad, old, used or outdated link; InvalidInput when the
    password is refused (the link still works then).
    """
    person = check_reset_link(portal, token, lifetime=lifetime)
    check_password_rules(person, password)
    now = portal.clock()
    with portal.store.begin() as connection:
        # Marked in the same transaction as the change: if the directory refuses,
        # the link stays usable; if two tabs race, one of them wins.
        if not tokens.mark_used(connection, token, RESET_PURPOSE, now):
            raise LinkInvalid(Text("This link was used already. Ask for a new one if you still need it."))
        store_password(portal, person, password)
        ended = sessions.end_all(connection, person.uid, now=now)
    portal.audit("password-reset", actor=person.uid, subject=person.uid, remote_addr=remote_addr,
                 detail=f"by a link sent by mail; {ended} session(s) ended")
    notify_password_changed(portal, person)
    return person.uid

