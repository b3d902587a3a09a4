"""The private slapd and the openldap deploy role configure the same directory server.

Both render provisioner/schema/slapd.yml, access.conf and occupy.schema: the private slapd
as slapd.conf, the role as cn=config values set over ldapi. These tests read cn=config of
the suite's running private slapd and compare it with what the role's tasks and first
configuration would set (openldap_role.py renders them with Ansible): a module, schema,
index, limit, access rule, overlay setting, password hash or policy that only one of
them has fails here, before a deploy shows it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import ldap3
import pytest
from deploy.site_runs import UPGRADE_FROM

from provisioner.private_services.slapd import SlapdError, directives
from provisioner.schema.directory_server import olc_schema

from ldap_helpers import root_connection
from openldap_role import render_role
from suite_config import BASE_DN, ORGANISATION

CONFIG = "cn=config"
MODULES = "cn=module{0},cn=config"
SCHEMAS = "cn=schema,cn=config"
FRONTEND = "olcDatabase={-1}frontend,cn=config"
DATABASE = "olcDatabase={1}mdb,cn=config"
# What slapd shows in an overlay's entry for a setting nobody made: the deployed server
# shows the same, as the role sets none of them.
UNSET_OVERLAY_SETTINGS = {
    "olcmemberofdangling": ["ignore"],
    "olcmemberofrefint": ["FALSE"],
    "olcppolicyforwardupdates": ["FALSE"],
    "olcppolicydisablewrite": ["FALSE"],
    "olcppolicysendnetscapecontrols": ["FALSE"],
}
# The fixed parts of a database's configuration the role writes in its first
# configuration and the private slapd writes differently by design (paths, root).
ORDER_PREFIX = re.compile(r"^\{-?\d+\}")


def unordered(value: str) -> str:
    """A cn=config value without its {n} position."""
    return ORDER_PREFIX.sub("", value)


def as_slapd_shows(rule: str) -> str:
    """An access rule or limit as slapd prints what it read from slapd.conf: dn.exact is
    its synonym dn.base (slapd.access(5)), and the spacing is its own."""
    return " ".join(unordered(rule).replace("dn.exact=", "dn.base=").split())


def as_text(item: dict) -> dict[str, list[str]]:
    """An ldap3 search result's attributes as slapd sent them: lists of strings."""
    return {name: [value.decode() for value in values] for name, values in item["raw_attributes"].items()}


def lower_keys(attributes: dict) -> dict:
    return {name.lower(): value if isinstance(value, list) else [value] for name, value in attributes.items()}


def ldif_entries(text: str) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """The entries ({dn: {attribute: values}}) and the `include:` URLs of a simple LDIF."""
    entries: dict[str, dict[str, list[str]]] = {}
    includes: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        pairs = [line.split(": ", 1) for line in lines]
        if pairs and pairs[0][0] == "dn":
            attributes: dict[str, list[str]] = {}
            for name, value in pairs[1:]:
                attributes.setdefault(name, []).append(value)
            entries[pairs[0][1]] = attributes
        includes += [value for name, value in pairs if name == "include"]
    return entries, includes


@pytest.fixture(scope="module")
def role(tmp_path_factory):
    """What the openldap role would set, for the suite's base DN."""
    return render_role(tmp_path_factory.mktemp("openldap-role"), BASE_DN, ORGANISATION)


@pytest.fixture(scope="module")
def bootstrap(role):
    return ldif_entries(role.bootstrap_ldif)


@pytest.fixture(scope="module")
def loaded(slapd_server):
    """The private slapd's cn=config, read as its root ({dn: {attribute: values}}), and its schema."""
    server = ldap3.Server(slapd_server.url, get_info=ldap3.SCHEMA)
    conn = ldap3.Connection(server, CONFIG, slapd_server.root_password, auto_bind=True)
    try:
        conn.search(CONFIG, "(objectClass=*)", attributes=["*"])
        entries = {item["dn"]: as_text(item) for item in conn.response}
    finally:
        conn.unbind()
    return entries, server.schema


def test_both_load_the_same_modules_from_the_same_path(role, bootstrap, loaded):
    entries, _ = loaded
    first = bootstrap[0][MODULES]
    role_modules = [unordered(module) for module in first["olcModuleLoad"]]
    role_modules += [module for module in role.attributes(MODULES)["olcModuleLoad"]
                     if module not in role_modules]
    assert [unordered(module) for module in entries[MODULES]["olcModuleLoad"]] == role_modules
    assert entries[MODULES]["olcModulePath"] == first["olcModulePath"]


def test_both_load_the_same_schemas_in_the_same_order(role, bootstrap, loaded):
    entries, _ = loaded
    role_schemas = [f"{{{number}}}{url.rsplit('/', 1)[-1].removesuffix('.ldif')}"
                    for number, url in enumerate(bootstrap[1])]
    (project,) = role.entries_under(SCHEMAS)
    role_schemas.append(project["dn"].split(",", 1)[0].removeprefix("cn="))
    loaded_schemas = sorted((dn for dn in entries if dn.endswith("," + SCHEMAS)),
                            key=lambda dn: int(dn[4:dn.index("}")]))
    assert [dn.split(",", 1)[0].removeprefix("cn=") for dn in loaded_schemas] == role_schemas

    def oids(definitions: list[str]) -> list[str]:
        return [unordered(definition).split()[1] for definition in definitions]

    ours = entries[f"cn={role_schemas[-1]},{SCHEMAS}"]
    for kind in ("olcAttributeTypes", "olcObjectClasses"):
        assert oids(ours[kind]) == oids(project["attributes"][kind])


def test_both_hash_passwords_alike(role, loaded):
    entries, _ = loaded
    wanted = lower_keys(role.attributes(FRONTEND))
    assert wanted, "the role sets nothing on the frontend"
    assert {name: value for name, value in lower_keys(entries[FRONTEND]).items() if name in wanted} == wanted


def test_both_index_size_and_limit_the_database_alike(role, bootstrap, loaded):
    entries, _ = loaded
    ours, theirs = entries[DATABASE], role.attributes(DATABASE)
    assert sorted(ours["olcDbIndex"]) == sorted(theirs["olcDbIndex"])
    assert ours["olcDbMaxSize"] == bootstrap[0][DATABASE]["olcDbMaxSize"]
    assert [as_slapd_shows(limit) for limit in ours["olcLimits"]] == \
        [as_slapd_shows(limit) for limit in theirs["olcLimits"]]


def test_both_apply_the_same_access_rules_in_order(role, loaded):
    entries, _ = loaded
    assert [as_slapd_shows(rule) for rule in entries[DATABASE]["olcAccess"]] == \
        [as_slapd_shows(rule) for rule in role.attributes(DATABASE)["olcAccess"]]


def test_both_stack_the_same_overlays_with_the_same_settings(role, loaded):
    entries, schema = loaded
    added = role.entries_under(DATABASE)
    ours = sorted((dn for dn in entries if dn.startswith("olcOverlay=") and dn.endswith("," + DATABASE)),
                  key=lambda dn: int(dn[12:dn.index("}")]))
    assert [unordered(entries[dn]["olcOverlay"][0]) for dn in ours] == \
        [call["attributes"]["olcOverlay"] for call in added]
    for dn, call in zip(ours, added, strict=True):
        name = call["attributes"]["olcOverlay"]
        # The class by its OID: slapd names it by its first name, the role may use another.
        assert {schema.object_classes[oc].oid for oc in entries[dn]["objectClass"]} == \
            {schema.object_classes[oc].oid for oc in call["objectClass"]}, name
        wanted = lower_keys({**call["attributes"], **role.attributes(call["dn"])})
        loaded_settings = lower_keys({key: value for key, value in entries[dn].items()
                                      if key != "objectClass"})
        loaded_settings["olcoverlay"] = [unordered(value) for value in loaded_settings["olcoverlay"]]
        assert {key: value for key, value in loaded_settings.items() if key in wanted} == wanted, name
        extra = {key: value for key, value in loaded_settings.items() if key not in wanted}
        assert all(UNSET_OVERLAY_SETTINGS.get(key) == value for key, value in extra.items()), (name, extra)


def test_both_give_the_bind_accounts_the_same_password_policy(role, slapd_server):
    policies = [call for call in role.calls if call["module"] == "ldap_entry"
                and "pwdPolicy" in call.get("objectClass", [])]
    assert len(policies) == 1, policies
    (policy,) = policies
    with root_connection(slapd_server) as conn:
        conn.search(policy["dn"], "(objectClass=*)", ldap3.BASE, attributes=["*"])
        (entry,) = conn.response
        conn.search(slapd_server.layout.services, "(objectClass=simpleSecurityObject)",
                    attributes=["pwdPolicySubentry"])
        accounts = {item["dn"]: as_text(item)["pwdPolicySubentry"][0] for item in conn.response}
    loaded_policy = lower_keys(as_text(entry))
    assert sorted(oc.lower() for oc in loaded_policy.pop("objectclass")) == \
        sorted(oc.lower() for oc in policy["objectClass"])
    assert loaded_policy == lower_keys(policy["attributes"])
    role_accounts = [call for call in role.calls if call["module"] == "ldap_entry"
                     and call["dn"].endswith("," + slapd_server.layout.services) and call is not policy]
    assert role_accounts and {call["attributes"]["pwdPolicySubentry"] for call in role_accounts} == \
        {policy["dn"]}
    assert set(accounts.values()) == {policy["dn"]}


def test_a_setting_slapd_conf_cannot_express_is_named():
    with pytest.raises(SlapdError, match="olcMemberOfDN.*DIRECTIVES"):
        list(directives({"olcMemberOfDN": "cn=someone"}))


def test_the_schema_only_gains_elements_since_the_release_upgrades_start_from():
    """A deployed slapd's schema is only ever added to (the openldap role adds what a host
    lacks): an element changed in place, even its DESC, would be added a second time under
    the same OID, and slapd refuses that, failing the upgrade."""
    checkout = Path(__file__).resolve().parents[1]
    released = subprocess.run(
        ["git", "-C", str(checkout), "show", f"{UPGRADE_FROM}:provisioner/schema/occupy.schema"],
        capture_output=True, text=True, check=False)
    assert released.returncode == 0, f"this clone lacks {UPGRADE_FROM}: {released.stderr}"
    before = olc_schema(released.stdout)
    now = olc_schema((checkout / "provisioner" / "schema" / "occupy.schema").read_text())
    for attribute, values in before.items():
        changed = [value for value in values if value not in now[attribute]]
        assert changed == [], f"{attribute}: released elements changed or gone: {changed}"
