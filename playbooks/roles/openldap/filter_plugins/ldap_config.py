"""The directory server as provisioner/schema/ describes it, as cn=config values.

slapd.yml (modules, overlays, indexes, limits, the password hash, the bind accounts'
policy), access.conf and occupy.schema describe the server once; the private slapd of
the demo and the tests (provisioner/private_services/slapd.py) loads them too. Both
read them through provisioner/schema/directory_server.py, loaded here by path: this
plugin imports nothing from the provisioner package, which need not be installed
where the playbooks run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# playbooks/roles/openldap/filter_plugins/ -> the checkout
_READER = Path(__file__).resolve().parents[4] / "provisioner" / "schema" / "directory_server.py"


def _load_reader():
    spec = importlib.util.spec_from_file_location("occupy_directory_server", _READER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_reader = _load_reader()


def directory_server(base_dn: str) -> dict:
    """slapd.yml for this base DN: `modules`, `frontend`, `database`, `overlays`, `service_policy`..."""
    return _reader.description(base_dn)


def access_rules(base_dn: str) -> list[str]:
    """access.conf's rules for this base DN, as olcAccess values in order."""
    return _reader.access_rules(base_dn)


def olc_schema(text: str) -> dict[str, list[str]]:
    """occupy.schema's text as its olcObjectIdentifier, olcAttributeTypes and olcObjectClasses values."""
    return _reader.olc_schema(text)


class FilterModule:
    def filters(self):
        return {"directory_server": directory_server, "access_rules": access_rules, "olc_schema": olc_schema}
