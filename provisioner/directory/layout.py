"""Where things live in the tree, and which names may be used there.

Every DN is built here, from escaped RDN values, so no caller can place an entry
outside its OU by putting a comma or a `+` in a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldap3.utils.dn import escape_rdn, parse_dn

from .errors import InvalidValue

# ASCII only: slapd folds Unicode look-alikes (fullwidth letters, dotted I) when it
# compares uids, so a non-ASCII uid could match someone else's entry.
UID_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
GROUP_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,79}")
# A team's group, wg-<wg>--<team>, is nested under its working group's, wg-<wg>.
TEAM_JOINER = "--"

SYSADMINS_GROUP = "sysadmins"


def check_uid(uid: object) -> str:
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        raise InvalidValue(
            "a uid is 1 to 64 ASCII letters, digits and hyphens, starting with a letter"
        )
    return uid


def check_group_name(name: object) -> str:
    if not isinstance(name, str) or not GROUP_PATTERN.fullmatch(name):
        raise InvalidValue(
            "a group name is 1 to 80 lowercase letters, digits and hyphens, starting with a letter"
        )
    return name


@dataclass(frozen=True)
class Layout:
    base_dn: str

    @property
    def people(self) -> str:
        return f"ou=people,{self.base_dn}"

    @property
    def pending(self) -> str:
        return f"ou=pending,{self.base_dn}"

    @property
    def groups(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def services(self) -> str:
        return f"ou=services,{self.base_dn}"

    @property
    def policies(self) -> str:
        return f"ou=policies,{self.base_dn}"

    @property
    def password_policy(self) -> str:
        return f"cn=default,{self.policies}"

    @property
    def login_decoy(self) -> str:
        """The entry logins bind to when no account may log in (directory/logins.py)."""
        return f"cn=login-decoy,{self.policies}"

    @property
    def login_decoy_policy(self) -> str:
        """The decoy's password policy: the people's, except that it never locks."""
        return f"cn=login-decoy-policy,{self.policies}"

    @property
    def organisational_units(self) -> tuple[str, ...]:
        return (self.people, self.pending, self.groups, self.services, self.policies)

    def person_dn(self, uid: str, *, pending: bool = False) -> str:
        parent = self.pending if pending else self.people
        return f"uid={escape_rdn(check_uid(uid))},{parent}"

    def group_dn(self, name: str) -> str:
        """A group's DN: under ou=groups, or for a team's group (wg-<wg>--<team>) under its
        working group's entry, cn=wg-<wg>--<team>,cn=wg-<wg>,ou=groups."""
        check_group_name(name)
        parent, joiner, _ = name.partition(TEAM_JOINER)
        under = f"cn={escape_rdn(parent)},{self.groups}" if joiner and parent else self.groups
        return f"cn={escape_rdn(name)},{under}"

    def group_name(self, dn: str) -> str | None:
        """The cn of a group DN under ou=groups (a team's group included, nested under its
        working group's), or None for anything else."""
        parts = parse_dn(dn, escape=False)
        if len(parts) < 2 or parts[0][0].lower() != "cn":
            return None
        name = parts[0][1]
        if not GROUP_PATTERN.fullmatch(name):
            return None
        return name if self.group_dn(name).lower() == dn.lower() else None
