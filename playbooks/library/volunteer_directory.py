#!/usr/bin/python
"""Ansible module: check a batch of volunteers against the LDAP directory, in one bind."""

from __future__ import annotations

DOCUMENTATION = r"""
module: volunteer_directory
short_description: Check that volunteers' LDAP entries match what is about to be granted
description:
  - For each volunteer to grant, the entry must be in ou=people, active, and a member
    of each working group's LDAP group. For each volunteer to revoke, the entry must be
    gone or no longer active. It only reads, never changes anything.
  - Reports per volunteer under C(volunteers), with C(service=directory). The task
    fails only when the directory cannot be read at all.
options:
  url:
    description: LDAP URL, or several separated by spaces or commas, tried in order (the
      portal's LDAP_URL); ldaps certificates are always checked
    type: str
    required: true
  ca_file:
    description: the CA certificate (PEM) of the ldaps servers; empty for the system's CAs
    type: str
    default: ""
  base_dn: {description: the occupation's base DN, type: str, required: true}
  bind_dn: {description: bind DN, type: str, required: true}
  bind_password: {description: its password, type: str, required: true, no_log: true}
  volunteers: {description: the batch, type: list, elements: dict, required: true}
"""

import re
import ssl

from ansible.module_utils.basic import AnsibleModule

try:
    import ldap3
    from ldap3.utils.conv import escape_filter_chars
except ImportError:  # reported below, with the module's own failure message
    ldap3 = None


def check(volunteer: dict, entry: dict | None, groups_dn: str) -> dict:
    uid = volunteer["uid"]
    member_of = {dn.lower() for dn in entry["memberOf"]} if entry else set()
    in_group = {group["group"]: f"cn={group['group']},{groups_dn}".lower() in member_of
                for group in volunteer["groups"]}
    if volunteer["action"] == "revoke":
        # Suspended (or gone), or still active but out of these groups (left them).
        if entry is None or entry.get("occupyStatus") != "active":
            return {"status": "ok", "message": "no longer active in the directory"}
        if still := [name for name, member in in_group.items() if member]:
            return {"status": "failed", "message": f"{uid} is still active and in {', '.join(still)}"}
        return {"status": "ok", "message": "no longer in these working groups' LDAP groups"}
    if entry is None:
        return {"status": "failed", "message": f"{uid} is not an account in ou=people"}
    if entry.get("occupyStatus") != "active":
        return {"status": "failed", "message": f"{uid} is {entry.get('occupyStatus')}, not active"}
    missing = [name for name, member in in_group.items() if not member]
    if missing:
        return {"status": "failed",
                "message": f"{uid} is not in the LDAP group(s) {', '.join(missing)}"}
    return {"status": "ok", "message": "account and working groups in place"}


def connect(module: AnsibleModule, params: dict) -> ldap3.Connection:
    """Bound to the first server that answers; fails the task naming each one tried."""
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=params["ca_file"] or None)
    failures = []
    for url in (url for url in re.split(r"[\s,]+", params["url"]) if url):
        server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5, tls=tls)
        conn = ldap3.Connection(server, params["bind_dn"], params["bind_password"], receive_timeout=10)
        try:
            if conn.bind():
                return conn
            failures.append(f"{url}: {conn.result['description']}")
        except ldap3.core.exceptions.LDAPException as error:
            failures.append(f"{url}: {error}")
        if conn.socket is not None:  # ldap3 leaves a refused connection's socket open
            conn.socket.close()
    module.fail_json(msg=f"cannot bind to the directory: {'; '.join(failures)}")


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "ca_file": {"type": "str", "default": ""},
        "base_dn": {"type": "str", "required": True},
        "bind_dn": {"type": "str", "required": True},
        "bind_password": {"type": "str", "required": True, "no_log": True},
        "volunteers": {"type": "list", "elements": "dict", "required": True},
    }, supports_check_mode=True)
    if ldap3 is None:
        module.fail_json(msg="the ldap3 Python package is missing on the worker's interpreter")
    params = module.params
    people_dn = f"ou=people,{params['base_dn']}"
    groups_dn = f"ou=groups,{params['base_dn']}"
    conn = connect(module, params)
    entries = {}
    uids = [volunteer["uid"] for volunteer in params["volunteers"]]
    for start in range(0, len(uids), 200):
        chunk = "".join(f"(uid={escape_filter_chars(uid)})" for uid in uids[start:start + 200])
        conn.search(people_dn, f"(&(objectClass=inetOrgPerson)(|{chunk}))",
                    search_scope=ldap3.LEVEL, attributes=["uid", "occupyStatus", "memberOf"])
        for item in conn.response:
            attributes = item["attributes"]
            uid = attributes["uid"][0] if isinstance(attributes["uid"], list) else attributes["uid"]
            status = attributes.get("occupyStatus")
            entries[uid.lower()] = {
                "occupyStatus": status[0] if isinstance(status, list) and status else status,
                "memberOf": attributes.get("memberOf") or [],
            }
    conn.unbind()
    results = {volunteer["uid"]: check(volunteer, entries.get(volunteer["uid"].lower()), groups_dn)
               for volunteer in params["volunteers"]}
    module.exit_json(changed=False, service="directory", volunteers=results)


if __name__ == "__main__":
    main()
