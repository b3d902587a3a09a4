"""The account lifecycle as plain functions over the directory (and later the store).

No Flask here: the web views and the CLI both call these.
"""

from __future__ import annotations

from .catalogue import Catalogue
from .directory import SYSADMINS_GROUP, AlreadyExists, Directory, NewPerson, Status
from .passwords import check_new_password


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
