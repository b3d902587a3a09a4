"""The tree every occupation's directory starts from: base, OUs, password policy, groups.

It is made in two steps. First, as the root DN (the deploy role, or the private
slapd), the base entry and the bind accounts of ou=services; then, as the portal
(init-directory), everything else. The portal binds as one of those accounts and
may neither create nor read them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from .connection import Attributes, DirectoryConnection
from .errors import AlreadyExists, InvalidValue
from .groups import Groups
from .layout import SYSADMINS_GROUP, Layout

# Accounts lock for 15 minutes after 10 bad binds within 15 minutes. slapd checks
# the length again when a password is set, behind the portal's own checks.
PASSWORD_POLICY = {
    "pwdAttribute": "userPassword",
    "pwdMinLength": "12",
    "pwdCheckQuality": "1",
    "pwdLockout": "TRUE",
    "pwdMaxFailure": "10",
    "pwdLockoutDuration": "900",
    "pwdFailureCountInterval": "900",
}
# The login decoy's policy: the same counting of failures (pwdFailureTime, and
# pwdAccountLockedTime at the tenth) so that a failed bind costs slapd the same work
# as one on an account, but no lock: a locked entry is refused without hashing the
# password, and every unknown name's login lands on the decoy, so it would soon be
# locked for good and answer quicker than any account.
DECOY_POLICY = {**PASSWORD_POLICY, "pwdLockout": "FALSE"}
SERVICE_ACCOUNTS = ("portal", "wiki", "redmine", "replicator")
# No password matches this value; password modify sets the real one.
_UNUSABLE_HASH = "{CRYPT}*"


def _base_entry(base_dn: str, organisation: str) -> tuple[list[str], dict[str, str]]:
    attribute, value = base_dn.split(",", 1)[0].split("=", 1)
    if attribute.lower() == "dc":
        return ["dcObject", "organization"], {"dc": value, "o": organisation}
    if attribute.lower() == "o":
        return ["organization"], {"o": value}
    raise InvalidValue(f"the base DN {base_dn!r} must start with dc= or o=")


def ensure_tree(connection: DirectoryConnection, layout: Layout, groups: Groups,
                working_groups: Iterable[tuple[str, str]], organisation: str,
                teams: Iterable[tuple[str, str, str]] = ()) -> list[str]:
    """Create whatever is missing; return the DNs created (none on a second run).

    `working_groups` are (group, description); `teams` (group, name, description), each
    made under its working group's entry once that is there."""
    wanted: list[tuple[str, list[str], Attributes]] = [
        (layout.base_dn, *_base_entry(layout.base_dn, organisation)),
        *((dn, ["organizationalUnit"], {"ou": _ou_name(dn)})
          for dn in layout.organisational_units if dn != layout.services),
        (layout.password_policy, ["organizationalRole", "pwdPolicy"],
         {"cn": "default", **PASSWORD_POLICY}),
        (layout.login_decoy_policy, ["organizationalRole", "pwdPolicy"],
         {"cn": "login-decoy-policy", **DECOY_POLICY}),
    ]
    created = _ensure_entries(connection, wanted)
    if _ensure_login_decoy(connection, layout):
        created.append(layout.login_decoy)
    all_groups = [(SYSADMINS_GROUP, "Sysadmins: approve volunteers and run the portal"),
                  *working_groups]
    for name, description in all_groups:
        if groups.ensure(name, description):
            created.append(layout.group_dn(name))
    for name, title, description in teams:
        if groups.ensure(name, description, title=title):
            created.append(layout.group_dn(name))
    return created


def ensure_service_accounts(connection: DirectoryConnection, layout: Layout, organisation: str,
                            passwords: Mapping[str, str], policy: Mapping[str, Any]) -> list[str]:
    """As the root DN: the base entry, ou=services and one bind account per service.

    Each account gets its password in `passwords` (password modify), anew at every
    run, so a run also rotates them. `policy` is the accounts' password policy entry,
    as provisioner/schema/slapd.yml's `service_policy` gives it (`dn`, `objectClass`,
    attributes), which the deploy role makes too. Returns the DNs created.
    """
    policy_dn = policy["dn"]
    policy_attributes = {name: value for name, value in policy.items() if name not in ("dn", "objectClass")}
    wanted: list[tuple[str, list[str], Attributes]] = [
        (layout.base_dn, *_base_entry(layout.base_dn, organisation)),
        (layout.services, ["organizationalUnit"], {"ou": _ou_name(layout.services)}),
        (policy_dn, list(policy["objectClass"]), policy_attributes),
        *((f"cn={name},{layout.services}", ["applicationProcess", "simpleSecurityObject"],
           {"cn": name, "userPassword": _UNUSABLE_HASH, "pwdPolicySubentry": policy_dn})
          for name in SERVICE_ACCOUNTS),
    ]
    created = _ensure_entries(connection, wanted)
    for name in SERVICE_ACCOUNTS:
        connection.set_password(f"cn={name},{layout.services}", passwords[name])
    return created


def _ensure_login_decoy(connection: DirectoryConnection, layout: Layout) -> bool:
    """Add the login decoy unless it is there; True when it was added.

    Its password is random, given in clear so that slapd hashes it (ppolicy's
    hash_cleartext) with the same argon2 settings as everyone's, and forgotten at
    once. The portal may add the entry but never read it (access.conf), so whether
    it is there shows only as the add's AlreadyExists.
    """
    try:
        connection.add(layout.login_decoy, ["applicationProcess", "simpleSecurityObject"], {
            "cn": "login-decoy",
            "userPassword": secrets.token_urlsafe(32),
            "pwdPolicySubentry": layout.login_decoy_policy,
        })
    except AlreadyExists:
        return False
    return True


def _ensure_entries(connection: DirectoryConnection,
                    wanted: list[tuple[str, list[str], Attributes]]) -> list[str]:
    created = []
    for dn, object_classes, attributes in wanted:
        if connection.read(dn, attributes=["objectClass"]) is None:
            connection.add(dn, object_classes, attributes)
            created.append(dn)
    return created


def _ou_name(dn: str) -> str:
    return dn.split(",", 1)[0].split("=", 1)[1]
