"""The only part of the project that speaks LDAP.

`Directory(settings)` holds one connection; `directory.people`, `directory.groups`
and `directory.logins` are the operations. Every DN and filter is built here, escaped.
"""

from __future__ import annotations

from collections.abc import Iterable

from .connection import DirectoryConnection, DirectorySettings, usable_password
from .errors import AlreadyExists, DirectoryError, DirectoryUnavailable, InvalidValue, NotFound
from .groups import Group, Groups, TeamEntry
from .layout import SYSADMINS_GROUP, Layout
from .logins import Logins
from .people import NewPerson, People, Person, Status
from .tree import ensure_tree

__all__ = [
    "AlreadyExists", "Directory", "DirectoryError", "DirectorySettings", "DirectoryUnavailable",
    "Group", "InvalidValue", "NewPerson", "NotFound", "Person", "SYSADMINS_GROUP", "Status", "TeamEntry",
    "usable_password",
]


class Directory:
    def __init__(self, settings: DirectorySettings):
        self.settings = settings
        self.layout = Layout(settings.base_dn)
        self._connection = DirectoryConnection(settings)
        self.people = People(self._connection, self.layout)
        self.groups = Groups(self._connection, self.layout, self.people)
        self.logins = Logins(self._connection, self.layout)

    def ping(self) -> None:
        """Raise DirectoryUnavailable unless the server answers the portal's bind."""
        self._connection.read(self.layout.base_dn, attributes=["1.1"])

    def ensure_tree(self, working_groups: Iterable[tuple[str, str]], organisation: str,
                    teams: Iterable[tuple[str, str, str]] = ()) -> list[str]:
        return ensure_tree(self._connection, self.layout, self.groups, working_groups, organisation, teams)

    def close(self) -> None:
        self._connection.close()

    def abandon(self) -> None:
        """Close this process's socket without unbinding: for a connection a fork inherited,
        which the parent goes on using."""
        self._connection.abandon()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
