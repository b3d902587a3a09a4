"""What each service holds for the volunteers, read through the services' own APIs.

The faults bench checks with it that every volunteer was provisioned exactly once:
counted in Mailman's rosters and in Redmine's users and project memberships, and
asked of DokuWiki (its `wiki.aclCheck`, as the services bench's floor asks it: the
wiki holds no entry per volunteer, only each group's ACL line, so "once" is "granted").
"""

from __future__ import annotations

import base64
import xmlrpc.client
from collections import Counter
from collections.abc import Iterator

from services import AUTH_EDIT, JsonApi, Services, WikiSession

from provisioner.directory import NewPerson

PAGE = 100          # Redmine's largest page


def list_members(services: Services, list_id: str) -> Counter[str]:
    """How many times each address is a member of the list (Mailman REST)."""
    mailman = services.mailman
    token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
    api = JsonApi(mailman.port, {"Authorization": f"Basic {token}"})
    del api.headers["Content-Type"]     # Mailman reads a GET that names one as an empty JSON body
    try:
        status, data = api.request("GET", f"/3.1/lists/{list_id}/roster/member")
    finally:
        api.close()
    if status != 200:
        raise RuntimeError(f"Mailman's roster of {list_id}: HTTP {status} {data}")
    return Counter(entry["email"] for entry in data.get("entries", []))


def _pages(api: JsonApi, path: str, key: str) -> Iterator[dict]:
    offset = 0
    while True:
        separator = "&" if "?" in path else "?"
        status, data = api.request("GET", f"{path}{separator}limit={PAGE}&offset={offset}")
        if status != 200:
            raise RuntimeError(f"Redmine GET {path}: HTTP {status} {data}")
        yield from data.get(key, [])
        offset += PAGE
        if offset >= data.get("total_count", 0):
            return


def redmine_accounts(services: Services, projects: list[str]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """How many accounts have each login, and in each project how many memberships each login
    has (Redmine REST, every status of account)."""
    redmine = services.redmine
    api = JsonApi(redmine.port, {"X-Redmine-API-Key": redmine.api_key or ""})
    try:
        users = list(_pages(api, "/users.json?status=", "users"))
        login_of = {user["id"]: user["login"] for user in users}
        memberships = {project: Counter(login_of.get(member["user"]["id"], f"#{member['user']['id']}")
                                        for member in _pages(api, f"/projects/{project}/memberships.json",
                                                             "memberships") if "user" in member)
                       for project in projects}
    finally:
        api.close()
    return Counter(user["login"] for user in users), memberships


def wiki_refusals(services: Services, admin: tuple[str, str], people: list[NewPerson],
                  namespaces: list[str]) -> list[str]:
    """Each volunteer and namespace the wiki does not let them edit (DokuWiki's aclCheck)."""
    refused = []
    with xmlrpc.client.ServerProxy(services.wiki.xmlrpc_url, transport=WikiSession(*admin)) as wiki:
        for person in people:
            for namespace in namespaces:
                if wiki.wiki.aclCheck(f"{namespace}:start", person.uid) < AUTH_EDIT:
                    refused.append(f"{person.uid} on {namespace}")
    return refused
