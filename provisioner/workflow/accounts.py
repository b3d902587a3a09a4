"""Accounts outside registration: the directory's first set-up, sysadmins, logging in."""

from __future__ import annotations

from ..catalogue import Catalogue
from ..directory import SYSADMINS_GROUP, AlreadyExists, Directory, NewPerson, Person, Status
from ..directory.layout import UID_PATTERN
from ..passwords import check_new_password
from .context import Portal


def initialise_directory(directory: Directory, catalogue: Catalogue, organisation: str) -> list[str]:
    """Create the tree and one group per working group; idempotent. Returns the DNs created."""
    return directory.ensure_tree(((wg.group, wg.description) for wg in catalogue), organisation)


def create_sysadmin(directory: Directory, uid: str, mail: str, display_name: str,
                    password: str) -> None:
    """Create an active account in cn=sysadmins.

    Running it again for the same uid and mail completes a half-done run (and sets
    the password anew); a uid or mail held by someone else is refused.
    """
    check_new_password(password)
    person = directory.people.find(uid)
    if person is None:
        person = directory.people.add(
            NewPerson(uid=uid, display_name=display_name, mail=mail, status=Status.ACTIVE),
            pending=False,
        )
    elif person.pending or person.mail.lower() != mail.lower():
        raise AlreadyExists(f"the uid {uid!r} is already taken by another person or request")
    directory.people.set_password(uid, password)
    directory.groups.add_member(SYSADMINS_GROUP, uid)


def is_sysadmin(portal: Portal, person: Person) -> bool:
    return SYSADMINS_GROUP in {portal.directory.layout.group_name(dn) for dn in person.member_of}


def log_in(portal: Portal, uid: str, password: str, *, remote_addr: str | None = None) -> Person | None:
    """The person, when an active account binds with this password; every try is audited."""
    uid = uid.strip().lower()
    person = portal.directory.people.find(uid)
    accepted = (person is not None and not person.pending and person.status == Status.ACTIVE
                and portal.directory.people.check_password(uid, password))
    # A uid that cannot exist is not written to the log as typed.
    subject = uid if UID_PATTERN.fullmatch(uid) else None
    portal.audit("login" if accepted else "login-failed", actor=subject if accepted else None,
                 subject=subject, remote_addr=remote_addr)
    return person if accepted else None
