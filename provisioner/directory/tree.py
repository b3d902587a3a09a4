"""The tree every occupation's directory starts from: base, OUs, password policy, groups."""

from __future__ import annotations

from collections.abc import Iterable

from .connection import DirectoryConnection
from .errors import InvalidValue
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


def _base_entry(base_dn: str, organisation: str) -> tuple[list[str], dict]:
    attribute, value = base_dn.split(",", 1)[0].split("=", 1)
    if attribute.lower() == "dc":
        return ["dcObject", "organization"], {"dc": value, "o": organisation}
    if attribute.lower() == "o":
        return ["organization"], {"o": value}
    raise InvalidValue(f"the base DN {base_dn!r} must start with dc= or o=")


def ensure_tree(connection: DirectoryConnection, layout: Layout, groups: Groups,
                working_groups: Iterable[tuple[str, str]], organisation: str) -> list[str]:
    """Create whatever is missing; return the DNs created (none on a second run)."""
    wanted: list[tuple[str, list[str], dict]] = [
        (layout.base_dn, *_base_entry(layout.base_dn, organisation)),
        *((dn, ["organizationalUnit"], {"ou": dn.split(",", 1)[0].split("=", 1)[1]})
          for dn in layout.organisational_units),
        (layout.password_policy, ["organizationalRole", "pwdPolicy"],
         {"cn": "default", **PASSWORD_POLICY}),
    ]
    created = []
    for dn, object_classes, attributes in wanted:
        if connection.read(dn, attributes=["objectClass"]) is None:
            connection.add(dn, object_classes, attributes)
            created.append(dn)
    all_groups = [(SYSADMINS_GROUP, "Sysadmins: approve volunteers and run the portal"),
                  *working_groups]
    for name, description in all_groups:
        if groups.ensure(name, description):
            created.append(layout.group_dn(name))
    return created
