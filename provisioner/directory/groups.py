"""Groups under ou=groups: one per working group (wg-<slug>) and sysadmins; each team's
(wg-<wg>--<team>) nested under its working group's entry, its name in `ou`.

groupOfNames needs at least one member, so every group keeps the empty DN as a
placeholder member; it names no entry, and listings leave it out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import ldap3
from ldap3.utils.conv import escape_filter_chars

from .connection import DirectoryConnection
from .errors import NotFound
from .layout import Layout
from .people import People, Person

PLACEHOLDER_MEMBER = ""


@dataclass(frozen=True)
class Group:
    name: str
    dn: str
    description: str | None
    members: tuple[str, ...]
    owners: tuple[str, ...]


@dataclass(frozen=True)
class TeamEntry:
    """A team's group as the directory holds it (its members are not read)."""

    name: str           # wg-<wg>--<team>
    title: str | None   # the team's name, in `ou`
    description: str | None


class Groups:
    def __init__(self, connection: DirectoryConnection, layout: Layout, people: People):
        self._conn = connection
        self._layout = layout
        self._people = people

    def ensure(self, name: str, description: str | None = None, *, title: str | None = None) -> bool:
        """Create the group if missing; True when it was created. `title` is a team's name
        (`ou`); a team's group needs its working group's to exist."""
        dn = self._layout.group_dn(name)
        if self._conn.read(dn, attributes=["cn"]) is not None:
            return False
        self._conn.add(dn, ["groupOfNames"], {
            "cn": name, "description": description, "member": [PLACEHOLDER_MEMBER],
            **({"ou": title} if title else {}),
        })
        return True

    def teams(self) -> list[TeamEntry]:
        """Every team's group (those nested under another group), in one search."""
        found = self._conn.search(self._layout.groups, "(objectClass=groupOfNames)",
                                  attributes=["cn", "ou", "description"])
        teams = []
        for record in found:
            name = self._layout.group_name(record.dn)
            if name and record.dn.split(",", 1)[1].lower() != self._layout.groups.lower():
                teams.append(TeamEntry(name, record.text("ou"), record.text("description")))
        return sorted(teams, key=lambda team: team.name)

    def get(self, name: str) -> Group:
        dn = self._layout.group_dn(name)
        record = self._conn.read(dn, attributes=["cn", "description", "member", "owner"])
        if record is None:
            raise NotFound(f"there is no group {name!r}")
        return Group(
            name=name, dn=dn, description=record.text("description"),
            members=self._uids(record.texts("member")), owners=self._uids(record.texts("owner")),
        )

    def _uids(self, dns: tuple[str, ...]) -> tuple[str, ...]:
        people = self._layout.people.lower()
        return tuple(sorted(
            dn.split(",", 1)[0].split("=", 1)[1]
            for dn in dns if dn and dn.split(",", 1)[1].lower() == people
        ))

    def add_member(self, name: str, who: str | Person) -> bool:
        """Add an active person, a uid or their entry as read (then not read again); False when
        they were a member already."""
        return self._changed(name, self._conn.add_value, "member", self._account_dn(who))

    def remove_member(self, name: str, uid: str) -> bool:
        """False when they were not a member."""
        return self._changed(name, self._conn.delete_value, "member", self._layout.person_dn(uid))

    def add_owner(self, name: str, who: str | Person) -> bool:
        """Make an active person a coordinator (an `owner`); False when they were one already."""
        return self._changed(name, self._conn.add_value, "owner", self._account_dn(who))

    def remove_owner(self, name: str, uid: str) -> bool:
        """False when they were not an owner."""
        return self._changed(name, self._conn.delete_value, "owner", self._layout.person_dn(uid))

    def _account_dn(self, who: str | Person) -> str:
        person = who if isinstance(who, Person) else self._people.get(who)
        if person.pending:
            raise NotFound(f"{person.uid!r} is still a registration request, not an account")
        return person.dn

    def _changed(self, name: str, change: Callable[[str, str, str], bool], attribute: str, dn: str) -> bool:
        """One value added to or removed from the group, written without reading the group
        first: slapd's noSuchObject says it is not there."""
        try:
            return change(self._layout.group_dn(name), attribute, dn)
        except NotFound:
            raise NotFound(f"there is no group {name!r}") from None

    def owned_by(self, uid: str) -> list[str]:
        """Names of the groups this person is an `owner` (a coordinator) of."""
        owner = escape_filter_chars(self._layout.person_dn(uid))
        found = self._conn.search(self._layout.groups, f"(&(objectClass=groupOfNames)(owner={owner}))",
                                  attributes=["cn"])
        names = (self._layout.group_name(record.dn) for record in found)
        return sorted(name for name in names if name)

    def owners_of(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The coordinators (owners' uids) of each of these groups, in one search however
        many there are: name -> uids. A group the directory does not hold is left out."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        any_of = "".join(f"(cn={escape_filter_chars(name)})" for name in wanted)
        found = self._conn.search(self._layout.groups, f"(&(objectClass=groupOfNames)(|{any_of}))",
                                  attributes=["owner"], scope=ldap3.SUBTREE)
        owners = {self._layout.group_name(record.dn): self._uids(record.texts("owner")) for record in found}
        return {name: owners[name] for name in wanted if name in owners}

    def of(self, uid: str) -> list[str]:
        """Names of the groups a person is a member of, from memberOf."""
        person = self._people.get(uid)
        names = (self._layout.group_name(dn) for dn in person.member_of)
        return sorted(name for name in names if name)
