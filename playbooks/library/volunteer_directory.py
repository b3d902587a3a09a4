#!/usr/bin/python
"""Ansible module: check a batch of volunteers against the LDAP directory, in one bind."""

from __future__ import annotations

DOCUMENTATION = r"""
module: volunteer_directory
short_description: Check that volunteers' LDAP entries match what is about to be granted
description:
  - For each volunteer to grant, the entry must be in I(people_dn), active, and a member
    of each working group's LDAP group (each group's C(group_dn) in the batch). For each
    volunteer to revoke, the entry must be gone or no longer active. It only reads, never
    changes anything.
  - >-
    A volunteer marked C(preview) (an approval preview, issue 17) is a registration request
    the approval would make an account of, so it is checked as the request it still is, and
    only in check mode (a run that writes marks it failed); no account with its uid in
    I(people_dn), a verified request in I(pending_dn) with the batch's address, no account
    holding that address (the approval would refuse it), and each working group's LDAP group
    there to be added to. It then reports C(changed), saying what the approval would do.
  - Reads the batch from I(batch_file) and the bind password from I(secrets_file) itself,
    since values passed as module arguments would go through Ansible's templating, and a
    volunteer's data must never be a template.
  - Reports per volunteer under C(volunteers), with C(service=directory). The task
    fails only when the directory cannot be read at all.
extends_documentation_fragment: [volunteer_batch]
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
  people_dn:
    description: >-
      where the accounts are (ou=people), as the worker's directory layout names it; each
      working group's own DN comes in the batch (C(group_dn)), so the module builds no DN
    type: str
    required: true
  pending_dn:
    description: >-
      where the registration requests are (ou=pending), from the worker's directory layout;
      needed only by a batch with C(preview) volunteers
    type: str
    default: ""
  bind_dn: {description: bind DN, type: str, required: true}
  secrets_file:
    description: a JSON file whose C(ldap_bind_password) is the bind DN's password (the worker's)
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Check the volunteers in the directory
  volunteer_directory:
    url: ldaps://ldap.occupy.example
    people_dn: ou=people,dc=occupy,dc=example
    bind_dn: cn=portal,ou=services,dc=occupy,dc=example
    secrets_file: "{{ provisioner_secrets_file }}"
    batch_file: "{{ provisioner_batch_file }}"
"""

RETURN = r"""
service: {description: always C(directory), returned: always, type: str}
volunteers:
  description: >-
    by uid, C({status, message}): C(ok) when the entry matches the action, C(changed) for a
    preview whose approval would make the account (the message says what it would do),
    C(failed) with the reason otherwise
  returned: always
  type: dict
"""

import re
import ssl

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.volunteer_batch import BatchFileError, outcome_of, read_batch, read_secret

try:
    import ldap3
    from ldap3.utils.conv import escape_filter_chars
except ImportError:  # reported below, with the module's own failure message
    ldap3 = None

# LDAP result codes
SUCCESS = 0
NO_SUCH_OBJECT = 32


def check(volunteer: dict, entry: dict | None) -> dict:
    uid = volunteer["uid"]
    if unnamed := [str(group.get("group")) for group in volunteer["groups"]
                   if not isinstance(group.get("group_dn"), str)]:
        return {"status": "failed", "message": f"the batch gives no DN for the group(s) {', '.join(unnamed)}"}
    member_of = {dn.lower() for dn in entry["memberOf"]} if entry else set()
    in_group = {group["group"]: group["group_dn"].lower() in member_of for group in volunteer["groups"]}
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


def check_preview(volunteer: dict, account: dict | None, request: dict | None, *, check_mode: bool,
                  mail_taken: bool, missing_groups: list[str]) -> dict:
    """What approving the request `volunteer` names would do in the directory, or why it could not.

    Only a check-mode run may hold a preview: a run that writes grants nothing to a request."""
    uid = volunteer["uid"]
    if not check_mode:
        return {"status": "failed", "message": f"{uid} is marked as an approval preview, which only a "
                                               "check-mode run may hold: nothing is granted to a request"}
    if volunteer.get("action") != "grant":
        return {"status": "failed", "message": f"{uid}: an approval preview is a grant"}
    if unnamed := [str(group.get("group")) for group in volunteer["groups"]
                   if not isinstance(group.get("group_dn"), str)]:
        return {"status": "failed", "message": f"the batch gives no DN for the group(s) {', '.join(unnamed)}"}
    if account is not None:
        return {"status": "failed", "message": f"{uid} is already an account in ou=people, not a request"}
    if request is None:
        return {"status": "failed", "message": f"{uid} is not a request in ou=pending"}
    if request.get("occupyStatus") != "verified":
        return {"status": "failed", "message": f"{uid}'s request is {request.get('occupyStatus')}, "
                                               "not verified: it cannot be approved"}
    mail = volunteer.get("mail") or ""
    if mail.lower() != (request.get("mail") or "").lower():
        return {"status": "failed", "message": f"the batch's address for {uid} is not the request's"}
    if mail_taken:
        return {"status": "failed", "message": f"an account already has the address {mail}: "
                                               "the approval would be refused"}
    if missing_groups:
        return {"status": "failed", "message": f"the LDAP group(s) {', '.join(missing_groups)} do not exist"}
    groups = ", ".join(str(group["group"]) for group in volunteer["groups"]) or "none"
    return {"status": "changed", "message": f"would be done: account created in ou=people; "
                                            f"added to the LDAP group(s) {groups}"}


def connect(module: AnsibleModule, params: dict, password: str) -> ldap3.Connection:
    """Bound to the first server that answers; fails the task naming each one tried."""
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=params["ca_file"] or None)
    failures = []
    for url in (url for url in re.split(r"[\s,]+", params["url"]) if url):
        server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5, tls=tls)
        conn = ldap3.Connection(server, params["bind_dn"], password, receive_timeout=10)
        try:
            if conn.bind():
                return conn
            failures.append(f"{url}: {conn.result['description']}")
        except ldap3.core.exceptions.LDAPException as error:
            failures.append(f"{url}: {error}")
        if conn.socket is not None:  # ldap3 leaves a refused connection's socket open
            conn.socket.close()
    module.fail_json(msg=f"cannot bind to the directory: {'; '.join(failures)}")


def read_entries(module: AnsibleModule, conn: ldap3.Connection, people_dn: str,
                 uids: list[str], *, key: str = "uid") -> dict[str, dict]:
    """The entries under people_dn whose `key` (uid, or mail) is one of `uids`, by its
    lowercased value; fails the task if a search fails."""
    entries = {}
    for start in range(0, len(uids), 200):
        chunk = "".join(f"({key}={escape_filter_chars(uid)})" for uid in uids[start:start + 200])
        conn.search(people_dn, f"(&(objectClass=inetOrgPerson)(|{chunk}))",
                    search_scope=ldap3.LEVEL, attributes=["uid", "mail", "occupyStatus", "memberOf"])
        if conn.result["result"] not in (SUCCESS, NO_SUCH_OBJECT):     # no ou=people: nobody
            module.fail_json(msg=f"cannot search {people_dn}: {conn.result['description']} "
                                 f"{conn.result['message']}".strip())
        for item in conn.response or []:
            attributes = item["attributes"]
            found = {name: _one(attributes.get(name)) for name in ("uid", "mail", "occupyStatus")}
            if isinstance(found[key], str):
                entries[found[key].lower()] = {**found, "memberOf": attributes.get("memberOf") or []}
    return entries


def _one(value: object) -> object:
    return (value[0] if value else None) if isinstance(value, list) else value


def existing_groups(conn: ldap3.Connection, dns: set[str]) -> set[str]:
    """Which of these group DNs exist (lowercased)."""
    found = set()
    for dn in dns:
        if conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"]):
            found.add(dn.lower())
    return found


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "ca_file": {"type": "str", "default": ""},
        "people_dn": {"type": "str", "required": True},
        "pending_dn": {"type": "str", "default": ""},
        "bind_dn": {"type": "str", "required": True},
        "secrets_file": {"type": "path", "required": True},
        "batch_file": {"type": "path", "required": True},
    }, supports_check_mode=True)
    if ldap3 is None:
        module.fail_json(msg="the ldap3 Python package is missing on the worker's interpreter")
    params = module.params
    try:
        volunteers = read_batch(params["batch_file"])
        password = read_secret(params["secrets_file"], "ldap_bind_password")
    except BatchFileError as error:
        module.fail_json(msg=str(error))
    previews = [volunteer for volunteer in volunteers if volunteer.get("preview") is True]
    if previews and not params["pending_dn"]:
        module.fail_json(msg="the batch holds approval previews but the run gives no pending_dn")
    conn = connect(module, params, password)
    entries = read_entries(module, conn, params["people_dn"], [volunteer["uid"] for volunteer in volunteers])
    requests, taken, groups = {}, {}, set()
    if previews:
        requests = read_entries(module, conn, params["pending_dn"], [one["uid"] for one in previews])
        taken = read_entries(module, conn, params["people_dn"],
                             [one["mail"] for one in previews if one.get("mail")], key="mail")
        groups = existing_groups(conn, {group["group_dn"] for one in previews for group in one["groups"]
                                        if isinstance(group.get("group_dn"), str)})
    conn.unbind()

    def outcome(one: dict) -> dict:
        if one.get("preview") is not True:
            return check(one, entries.get(one["uid"].lower()))
        return check_preview(one, entries.get(one["uid"].lower()), requests.get(one["uid"].lower()),
                             check_mode=module.check_mode,
                             mail_taken=(one.get("mail") or "").lower() in taken,
                             missing_groups=[str(group["group"]) for group in one["groups"]
                                             if str(group.get("group_dn")).lower() not in groups])

    results = {volunteer["uid"]: outcome_of(volunteer, outcome) for volunteer in volunteers}
    module.exit_json(changed=any(result["status"] == "changed" for result in results.values()),
                     service="directory", volunteers=results)


if __name__ == "__main__":
    main()
