"""Accounts outside registration: the directory's first set-up, sysadmins, logging in."""

from __future__ import annotations

from ..catalogue import Catalogue
from ..directory import SYSADMINS_GROUP, AlreadyExists, Directory, NewPerson, Person
from ..directory.layout import UID_PATTERN
from ..passwords import check_new_password
from ..store import sessions
from . import lifecycle
from .context import Portal
from .fields import personal_words
from .lifecycle import CREATE_ADMIN
from .permissions import HOST_OPERATOR, has_open_account


def initialise_directory(directory: Directory, catalogue: Catalogue, organisation: str) -> list[str]:
    """Create the tree, one group per working group and one per team the catalogue defines
    (nested under its working group's); idempotent. Returns the DNs created."""
    return directory.ensure_tree(((wg.group, wg.description) for wg in catalogue), organisation,
                                 ((team.group, team.name, team.description)
                                  for team in catalogue.defined_teams()))


def create_sysadmin(directory: Directory, uid: str, mail: str, display_name: str,
                    password: str, *, portal: Portal | None = None) -> None:
    """Create an active account in cn=sysadmins.

    Running it again for the same uid and mail completes a half-done run (and sets
    the password anew); a uid or mail held by someone else is refused, and so is an
    account the lifecycle does not allow (a suspended one stays suspended and locked).
    With `portal` (the command line) the creation is audited; fixtures, benchmarks and
    the demo that set a directory up before any portal runs leave it out.
    """
    check_new_password(password, personal=personal_words(uid, mail, display_name))
    person = directory.people.find(uid)
    if portal is None:
        lifecycle.check(CREATE_ADMIN, uid, person)
        _make_sysadmin(directory, person, uid, mail, display_name, password)
        return
    with lifecycle.transition(portal, CREATE_ADMIN, uid, actor=HOST_OPERATOR, person=person) as step:
        _make_sysadmin(directory, person, uid, mail, display_name, password)
        with portal.store.begin() as connection:
            step.record(connection)


def _make_sysadmin(directory: Directory, person: Person | None, uid: str, mail: str,
                   display_name: str, password: str) -> None:
    if person is None:
        person = directory.people.add(
            NewPerson(uid=uid, display_name=display_name, mail=mail, status=CREATE_ADMIN.target_status),
            pending=False,
        )
    elif person.pending or person.mail.lower() != mail.lower():
        raise AlreadyExists(f"the uid {uid!r} is already taken by another person or request")
    directory.people.set_password(uid, password)
    directory.groups.add_member(SYSADMINS_GROUP, uid)


def log_in(portal: Portal, uid: str, password: str, *, remote_addr: str | None = None) -> Person | None:
    """The person, when an active account binds with this password; every try is audited.

    Every try costs one search and one bind, whether or not the uid exists and may log
    in (directory/logins.py), so the time taken tells nobody which uids exist.
    """
    uid = uid.strip().lower()
    person = portal.directory.people.find(uid)
    accepted = portal.directory.logins.password_opens(person if has_open_account(person) else None,
                                                      password)
    # A uid that cannot exist is not written to the log as typed.
    subject = uid if UID_PATTERN.fullmatch(uid) else None
    portal.audit("login" if accepted else "login-failed", actor=subject if accepted else None,
                 subject=subject, remote_addr=remote_addr)
    return person if accepted else None


def start_session(portal: Portal, person: Person, *, remote_addr: str | None = None) -> str:
    """A new session after a successful login; returns the token for the session cookie."""
    with portal.store.begin() as connection:
        return sessions.begin(connection, person.uid, now=portal.clock(), remote_addr=remote_addr)


def resume_session(portal: Portal, token: str) -> Person | None:
    """The person behind a live session whose account is still active, else None."""
    with portal.store.begin() as connection:
        uid = sessions.resume(connection, token, now=portal.clock(), idle=portal.session_idle,
                              lifetime=portal.session_lifetime)
    person = portal.directory.people.find(uid) if uid else None
    return person if has_open_account(person) else None


def end_session(portal: Portal, token: str) -> None:
    with portal.store.begin() as connection:
        sessions.end(connection, token, now=portal.clock())


def end_all_sessions(portal: Portal, uid: str, *, actor: str, remote_addr: str | None = None) -> int:
    """Log this person out everywhere; returns how many sessions ended."""
    with portal.store.begin() as connection:
        ended = sessions.end_all(connection, uid, now=portal.clock())
    portal.audit("logout-everywhere", actor=actor, subject=uid, remote_addr=remote_addr,
                 detail=f"{ended} session(s) ended")
    return ended
