"""Turn the project's slapd.conf-style files into cn=config values.

The private slapd (provisioner/private_services/slapd.py) reads provisioner/schema/occupy.schema and
provisioner/schema/access.conf as they are; a deployed slapd keeps its configuration
in cn=config. These filters give the same schema and, through the private slapd's
own parser, the same access rules, so both servers get the same directory.
"""

from __future__ import annotations

import re

from provisioner.private_services.slapd import access_rules

_SCHEMA_KEYWORDS = {
    "objectidentifier": "olcObjectIdentifier",
    "attributetype": "olcAttributeTypes",
    "objectclass": "olcObjectClasses",
}


def _paragraph_statements(text: str) -> list[str]:
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
    """occupy.schema as {olcObjectIdentifier: [...], olcAttributeTypes: [...], olcObjectClasses: [...]}."""
    schema: dict[str, list[str]] = {name: [] for name in _SCHEMA_KEYWORDS.values()}
    for statement in _paragraph_statements(text):
        keyword, _, definition = statement.partition(" ")
        attribute = _SCHEMA_KEYWORDS.get(keyword.lower())
        if attribute is None:
            raise ValueError(f"unexpected statement in the schema file: {statement[:60]!r}")
        schema[attribute].append(re.sub(r"\s+", " ", definition.strip()))
    return schema


class FilterModule:
    def filters(self):
        return {"olc_schema": olc_schema, "access_rules": access_rules}
