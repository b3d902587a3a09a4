"""A complete batch (issue 17's reconciliation) on a real Redmine: redmine_members' `run`,
called as the task calls it, converges the working groups' projects on the directory."""

from __future__ import annotations

import pytest

from library_modules import library_module
from service_views import account, members

LOCKED, ACTIVE = 3, 1
CATALOGUE = [{"slug": slug, "name": slug.title(), "redmine_project": f"wg-{slug}"}
             for slug in ("kitchen", "tech", "garden")]    # nobody is in the garden

module = library_module("redmine_members")


class CountingClient(module.ClientPerThread):
    """The module's own client, noting each request it makes."""

    def __init__(self, *arguments):
        super().__init__(*arguments)
        self.asked: list[tuple[str, str, dict]] = []

    def request(self, method, path, body=None, query=None):
        self.asked.append((method, path, query or {}))
        return super().request(method, path, body, query)


def grant(uid: str, *slugs: str, coordinates: str = "") -> dict:
    return {"uid": uid, "action": "grant", "mail": f"{uid}@example.org",
            "display_name": f"Volunteer {uid}",
            "groups": [{**group, "coordinator": group["slug"] == coordinates}
                       for group in CATALOGUE if group["slug"] in slugs]}


def revoke(uid: str) -> dict:
    return {"uid": uid, "action": "revoke", "groups": CATALOGUE}


def run(redmine, volunteers: list[dict], *, complete: bool = True, check_mode: bool = False):
    """(volunteers' outcomes, extra, changed, the requests made) of one run of the task."""
    client = CountingClient(redmine.url, redmine.api_key, 30, False)
    access = module.RedmineAccess(client, redmine.auth_source_id, False, check_mode=check_mode)
    results, extra = {}, {}
    try:
        module.run(access, ("Developer", "Manager"), volunteers, CATALOGUE if complete else None,
                   4, results, extra)
    finally:
        client.close()
    return results, extra, access.changed, client.asked


def add_by_hand(redmine, project: str, principal_id: int, *roles: str) -> None:
    role_ids = {role["name"]: role["id"] for role in redmine.request("GET", "/roles.json")[1]["roles"]}
    status, data = redmine.request("POST", f"/projects/{project}/memberships.json", {"membership": {
        "user_id": principal_id, "role_ids": [role_ids[role] for role in roles]}})
    assert status == 201, data


def make_user(redmine, login: str) -> int:
    status, data = redmine.request("POST", "/users.json", {"user": {
        "login": login, "firstname": "Someone", "lastname": login, "mail": f"{login}@example.org",
        "password": "a local password 123"}})
    assert status == 201, data
    return data["user"]["id"]


def principals(redmine, project: str) -> dict[str, list[str]]:
    """Every member of the project, users and groups, with their roles."""
    status, data = redmine.request("GET", f"/projects/{project}/memberships.json?limit=100")
    assert status == 200
    return {next(membership[kind]["name"] for kind in ("user", "group", "group_non_member")
                 if kind in membership): sorted(role["name"] for role in membership["roles"])
            for membership in data["memberships"]}


@pytest.fixture
def helpers_group(redmine):
    """A Redmine group made by hand, with a stranger in it."""
    status, data = redmine.request("POST", "/groups.json", {"group": {
        "name": "Helpers", "user_ids": [make_user(redmine, "helper")]}})
    assert status == 201, data
    yield data["group"]["id"]
    assert redmine.request("DELETE", f"/groups/{data['group']['id']}.json")[0] == 204


def test_a_complete_batch_takes_what_hands_added_and_gives_back_what_they_took(redmine, helpers_group):
    # cook coordinates the kitchen, techie is in kitchen and tech; gone is suspended (it
    # has an account, active), ghost expired without ever having one.
    make_user(redmine, "gone")
    batch = [grant("cook", "kitchen", coordinates="kitchen"), grant("techie", "kitchen", "tech"),
             revoke("gone"), revoke("ghost")]
    results, extra, changed, asked = run(redmine, batch)
    assert results["gone"] == {"status": "changed", "message": "Redmine account locked"}
    assert results["ghost"] == {"status": "ok", "message": "no Redmine account"}
    assert extra == {}
    assert not [query for _, _, query in asked if query.get("name") == "ghost"]
    listings = [path for method, path, _ in asked if path.endswith("/memberships.json") and method == "GET"]
    assert len(listings) == len(CATALOGUE)      # one listing per project, none per volunteer
    assert principals(redmine, "wg-garden") == {}

    # By hand: a stranger made Manager of the kitchen, the Helpers group put in tech,
    # techie taken out of tech, gone unlocked; the non-member role of the kitchen set.
    stranger = make_user(redmine, "stranger")
    add_by_hand(redmine, "wg-kitchen", stranger, "Manager")
    add_by_hand(redmine, "wg-tech", helpers_group, "Reporter")
    techie = next(membership["id"] for membership in redmine.request(
        "GET", "/projects/wg-tech/memberships.json")[1]["memberships"]
        if membership.get("user", {}).get("name") == "Volunteer techie")
    assert redmine.request("DELETE", f"/memberships/{techie}.json")[0] == 204
    gone = account(redmine, "gone")["id"]
    assert redmine.request("PUT", f"/users/{gone}.json", {"user": {"status": ACTIVE}})[0] == 204
    non_member = next(group["id"] for group in redmine.request("GET", "/groups.json?builtin=1")[1]["groups"]
                      if group["name"] == "Non member users")
    add_by_hand(redmine, "wg-kitchen", non_member, "Reporter")
    drifted = {project: principals(redmine, project) for project in ("wg-kitchen", "wg-tech")}

    expected = {
        "results": {"cook": ("ok", "already a member of wg-kitchen; Manager of wg-kitchen"),
                    "techie": ("changed", "member of wg-tech"),
                    "gone": ("changed", "Redmine account locked"),
                    "ghost": ("ok", "no Redmine account")},
        "extra": {"stranger": "removed from the project wg-kitchen: the directory does not give "
                              "them this group",
                  "Helpers": "removed from the project wg-tech: the directory gives working groups "
                             "to its accounts, never to a Redmine group"}}
    preview, preview_extra, changed, _ = run(redmine, batch, check_mode=True)
    assert changed is True
    assert {uid: (outcome["status"], outcome["message"]) for uid, outcome in preview.items()} == {
        uid: (status, f"would be done: {message}" if status == "changed" else message)
        for uid, (status, message) in expected["results"].items()}
    assert preview_extra == {name: {"status": "changed", "message": f"would be done: {message}"}
                             for name, message in expected["extra"].items()}
    assert {project: principals(redmine, project) for project in drifted} == drifted
    assert account(redmine, "gone")["status"] == ACTIVE

    results, extra, changed, _ = run(redmine, batch)
    assert changed is True
    assert {uid: (outcome["status"], outcome["message"]) for uid, outcome in results.items()} == \
        expected["results"]
    assert extra == {name: {"status": "changed", "message": message}
                     for name, message in expected["extra"].items()}
    # The built-in non-member group is the project's setting, not a person: it stays.
    assert principals(redmine, "wg-kitchen") == {"Volunteer cook": ["Developer", "Manager"],
                                                 "Volunteer techie": ["Developer"],
                                                 "Non member users": ["Reporter"]}
    assert principals(redmine, "wg-tech") == {"Volunteer techie": ["Developer"]}
    assert account(redmine, "gone")["status"] == LOCKED
    assert account(redmine, "stranger")["status"] == ACTIVE     # extra loses access, not the account

    results, extra, changed, _ = run(redmine, batch)
    assert (changed, extra) == (False, {})
    assert {outcome["status"] for outcome in results.values()} == {"ok"}


def test_an_ordinary_batch_never_touches_anyone_outside_it(redmine):
    run(redmine, [grant("cook", "kitchen")])
    add_by_hand(redmine, "wg-kitchen", make_user(redmine, "stranger"), "Manager")

    results, extra, changed, asked = run(redmine, [grant("cook", "kitchen"), revoke("ghost")],
                                         complete=False)
    assert changed is False and extra == {}
    assert results["ghost"] == {"status": "ok", "message": "no Redmine account"}
    assert members(redmine, "wg-kitchen") == {"Volunteer cook": ["Developer"],
                                              "Someone stranger": ["Manager"]}
    assert not [path for _, path, _ in asked if path.endswith("/memberships.json")]
