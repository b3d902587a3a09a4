"""Turn the project's slapd.conf-style files into cn=config values.

The private slapd (provisioner/slapd.py) reads provisioner/schema/occupy.schema and
provisioner/schema/access.conf as they are; a deployed slapd keeps its configuration
in cn=config. These filters read the same two files, so both servers get the same
schema and the same access rules.
"""

from __future__ import annotations

import re

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


def access_rules(text: str, base_dn: str) -> list[str]:
    """access.conf as olcAccess values ("to ... by ..."), with {base} filled in, in order."""
    rules: list[str] = []
    for statement in _paragraph_statements(text):
        if not statement.startswith("to "):
            raise ValueError(f"an access rule must start with 'to': {statement[:60]!r}")
        rules.append(statement.replace("{base}", base_dn))
    return rules


class FilterModule:
    def filters(self):
        return {"olc_schema": olc_schema, "access_rules": access_rules}
