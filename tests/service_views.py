"""The services as a volunteer or their administrators see them: what the roles must change."""

from __future__ import annotations

import base64
import http.client
import json
import xmlrpc.client

from provisioner.private_services.dokuwiki import PrivateDokuWiki
from provisioner.private_services.mailman import PrivateMailman
from provisioner.private_services.redmine import PrivateRedmine

from service_fixtures import LIST_DOMAIN as DOMAIN


def rest(mailman: PrivateMailman, path: str) -> tuple[int, dict]:
    token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", mailman.port, timeout=10)
    try:
        connection.request("GET", f"/3.1{path}", headers={"Authorization": f"Basic {token}"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, json.loads(body) if response.status == 200 else {}


def roster(mailman: PrivateMailman, slug: str, role: str = "member") -> set[str]:
    """The addresses holding this role (member, owner, moderator) on a working group's list,
    as Mailman's roster shows them."""
    status, answer = rest(mailman, f"/lists/wg-{slug}.{DOMAIN}/roster/{role}")
    assert status == 200, f"no list wg-{slug}@{DOMAIN}"
    return {entry["email"] for entry in answer.get("entries", [])}


def members(redmine: PrivateRedmine, project: str) -> dict[str, list[str]]:
    """Member name -> role names, as Redmine's administrator sees the project's members."""
    status, data = redmine.request("GET", f"/projects/{project}/memberships.json?limit=100")
    assert status == 200, data
    return {membership["user"]["name"]: [role["name"] for role in membership["roles"]]
            for membership in data["memberships"] if "user" in membership}


def account(redmine: PrivateRedmine, uid: str) -> dict:
    """The volunteer's Redmine account, as its administrator sees it."""
    status, data = redmine.request("GET", f"/users.json?status=&name={uid}")
    assert status == 200
    found = next(user for user in data["users"] if user["login"] == uid)
    status, data = redmine.request("GET", f"/users/{found['id']}.json")
    assert status == 200
    return data["user"]


def log_in(redmine: PrivateRedmine, uid: str, password: str) -> int:
    """Redmine's answer to the volunteer's own login (HTTP basic auth on the REST API)."""
    status, data = redmine.request("GET", "/users/current.json", auth=(uid, password))
    assert status != 200 or data["user"]["login"] == uid
    return status


def as_person(wiki: PrivateDokuWiki, uid: str, password: str) -> xmlrpc.client.ServerProxy:
    """XML-RPC as this person, basic auth on every call (no session): the wiki asks LDAP each time."""
    credentials = base64.b64encode(f"{uid}:{password}".encode()).decode()
    transport = xmlrpc.client.Transport(headers=[("Authorization", f"Basic {credentials}")])
    return xmlrpc.client.ServerProxy(wiki.xmlrpc_url, transport=transport)


def save_page(wiki: PrivateDokuWiki, uid: str, password: str, page: str, text: str):
    """What saving the page gives this person: True, or the HTTP status of the refusal."""
    with as_person(wiki, uid, password) as proxy:
        try:
            return proxy.wiki.putPage(page, text, {"sum": "a test edit"})
        except xmlrpc.client.ProtocolError as refusal:
            return refusal.errcode


def edit_project(redmine: PrivateRedmine, uid: str, password: str, project: str) -> int:
    """Redmine's answer to this person changing the project's description, which a Manager may."""
    status, _ = redmine.request("PUT", f"/projects/{project}.json",
                                {"project": {"description": f"written by {uid}"}}, auth=(uid, password))
    return status


def acl_lines(wiki: PrivateDokuWiki, scope: str) -> set[str]:
    """The lines of the wiki's acl.auth.php about this scope, as DokuWiki wrote them."""
    return {line for line in wiki.acl_path.read_text().split("\n") if line.startswith(f"{scope}\t")}


# A 1x1 PNG: DokuWiki takes uploads of the types its mime.conf lists.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAX+XDSwAAAABJ"
                       "RU5ErkJggg==")


def delete_file(wiki: PrivateDokuWiki, uid: str, password: str, media: str, *, admin: tuple[str, str]):
    """Upload a file as the wiki's superuser `admin`, then delete it as this person (which takes
    DokuWiki's delete permission, 16): 0 when deleted, else the HTTP status of the refusal."""
    with as_person(wiki, *admin) as superuser:
        superuser.wiki.putAttachment(media, xmlrpc.client.Binary(PNG), {"ow": True})
    with as_person(wiki, uid, password) as person:
        try:
            return person.wiki.deleteAttachment(media)
        except xmlrpc.client.ProtocolError as refusal:
            return refusal.errcode


def assert_access(mailman: PrivateMailman, redmine: PrivateRedmine, wiki: PrivateDokuWiki, uid: str,
                  password: str, *, name: str, held: bool, groups=("kitchen", "tech")) -> None:
    """What a volunteer of `groups` meets in each service: every access (`held`), or none:
    on each group's list and in its Redmine project (alone), logging in to Redmine and
    writing in the kitchen's wiki namespace with their directory password."""
    for slug in groups:
        assert (f"{uid}@example.org" in roster(mailman, slug)) is held, slug
        assert members(redmine, f"wg-{slug}") == ({name: ["Developer"]} if held else {}), slug
    assert log_in(redmine, uid, password) == (200 if held else 401)
    assert save_page(wiki, uid, password, "wg:kitchen:notes", "Onions" if held else "Still here?") == (
        True if held else 401)


def remove_from_roster(mailman, slug: str, address: str) -> None:
    """What a Mailman administrator does over REST."""
    status, member = rest(mailman, f"/lists/wg-{slug}.{DOMAIN}/member/{address}")
    assert status == 200
    token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", mailman.port, timeout=10)
    try:
        connection.request("DELETE", f"/3.1/members/{member['member_id']}",
                           headers={"Authorization": f"Basic {token}"})
        assert connection.getresponse().status == 204
    finally:
        connection.close()


def add_stranger(redmine, project: str, login: str) -> None:
    """A Redmine administrator's account made by hand, and made a Developer of the project."""
    status, data = redmine.request("POST", "/users.json", {"user": {
        "login": login, "firstname": "Mal", "lastname": "Lory", "mail": f"{login}@example.net",
        "password": "a local password 123"}})
    assert status == 201, data
    role_ids = {role["name"]: role["id"] for role in redmine.request("GET", "/roles.json")[1]["roles"]}
    status, answer = redmine.request("POST", f"/projects/{project}/memberships.json", {"membership": {
        "user_id": data["user"]["id"], "role_ids": [role_ids["Developer"]]}})
    assert status == 201, answer
