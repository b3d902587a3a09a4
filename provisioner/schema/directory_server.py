"""The directory server's description, read: slapd.yml, access.conf and occupy.schema beside this file.

The one reader of these files for both slapds that load them: the private slapd
(provisioner/private_services/slapd.py imports it) and the deploy role openldap (its
filter plugin loads this file by path). So it imports nothing but the standard
library and PyYAML, and nothing from the provisioner package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent
DESCRIPTION_FILE = SCHEMA_DIR / "slapd.yml"
ACCESS_FILE = SCHEMA_DIR / "access.conf"
PROJECT_SCHEMA_FILE = SCHEMA_DIR / "occupy.schema"
BASE = "{base}"          # the occupation's base DN, in slapd.yml and access.conf

_SCHEMA_KEYWORDS = {
    "objectidentifier": "olcObjectIdentifier",
    "attributetype": "olcAttributeTypes",
    "objectclass": "olcObjectClasses",
}


def description(base_dn: str) -> dict[str, Any]:
    """slapd.yml for `base_dn`: every `{base}` in its values replaced."""
    document = yaml.safe_load(DESCRIPTION_FILE.read_text(encoding="utf-8"))
    described: dict[str, Any] = _with_base(document, base_dn)     # slapd.yml is a mapping
    return described


def _with_base(value: Any, base_dn: str) -> Any:
    if isinstance(value, str):
        return value.replace(BASE, base_dn)
    if isinstance(value, list):
        return [_with_base(item, base_dn) for item in value]
    if isinstance(value, dict):
        return {key: _with_base(item, base_dn) for key, item in value.items()}
    return value


def access_rules(base_dn: str) -> list[str]:
    """The rules of access.conf for `base_dn`, one string each, in order.

    A rule is a paragraph: its lines joined by spaces, comment lines dropped,
    `{base}` replaced by the base DN.
    """
    rules = []
    for paragraph in re.split(r"\n\s*\n", ACCESS_FILE.read_text(encoding="utf-8")):
        lines = [line.strip() for line in paragraph.splitlines()]
        rule = " ".join(line for line in lines if line and not line.startswith("#"))
        if rule:
            rules.append(rule.replace(BASE, base_dn))
    return rules


def _statements(text: str) -> list[str]:
    """Statements of a slapd.conf-style text: a line starting with blanks continues the one before."""
    statements: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and statements:
            statements[-1] += " " + line.strip()
        else:
            statements.append(line.strip())
    return statements


def olc_schema(text: str) -> dict[str, list[str]]:
    """occupy.schema (slapd.conf syntax) as its cn=config attributes:
    {olcObjectIdentifier: [...], olcAttributeTypes: [...], olcObjectClasses: [...]}."""
    schema: dict[str, list[str]] = {name: [] for name in _SCHEMA_KEYWORDS.values()}
    for statement in _statements(text):
        keyword, _, definition = statement.partition(" ")
        attribute = _SCHEMA_KEYWORDS.get(keyword.lower())
        if attribute is None:
            raise ValueError(f"unexpected statement in the schema file: {statement[:60]!r}")
        schema[attribute].append(re.sub(r"\s+", " ", definition.strip()))
    return schema
