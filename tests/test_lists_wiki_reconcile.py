"""A complete batch (issue 17's reconciliation) on the real Mailman and DokuWiki: the batch modules'
classes called directly, the services changed by hand in between as a person with admin
rights would, and read back as the services hold them.

Mailman's lists live as long as the session: these tests use lists of their own (wg-rc-*).
"""

from __future__ import annotations

import base64
import http.client
import json

from job_helpers import add_volunteers
from library_modules import library_module
from service_fixtures import LIST_DOMAIN as DOMAIN
from service_fixtures import WIKI_ADMIN, WIKI_ADMIN_PASSWORD
from service_views import acl_lines, rest, roster

lists_module = library_module("mailman_members")
wiki_module = library_module("dokuwiki_namespaces")


def working_group(slug: str, namespace: str | None = None) -> dict:
    return {"slug": slug, "name": slug.title(), "group": f"wg-{slug}", "group_dn": f"cn=wg-{slug}",
            "list_name": f"wg-{slug}", "wiki_namespace": namespace or f"wg:{slug}",
            "redmine_project": f"wg-{slug}"}


def volunteer(uid: str, action: str, groups: list[dict], coordinates: tuple[str, ...] = ()) -> dict:
    return {"uid": uid, "action": action, "mail": f"{uid}@example.org", "display_name": uid,
            "previous_mail": None,
            "groups": [{**group, "coordinator": group["slug"] in coordinates} for group in groups]}


# Mailman


def run_lists(mailman, volunteers: list[dict], complete: list[dict] | None, *, check: bool = False):
    """(changed, outcomes by uid, extra) of one mailman_members run."""
    api = lists_module.MailmanAPI(mailman.url, mailman.admin_user, mailman.admin_password, 10)
    lists = lists_module.ListsProvisioner(api, DOMAIN, welcome_message=False, dry_run=check)
    outcomes: dict[str, dict] = {}
    try:
        extra = lists_module.provision(lists, volunteers, outcomes, complete)
    finally:
        api.close()
    return lists.changed, outcomes, extra


def by_hand(mailman, method: str, path: str, body: dict | None = None) -> int:
    """What a Mailman administrator does over REST: the answer's status."""
    token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", mailman.port, timeout=10)
    headers = {"Authorization": f"Basic {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, f"/3.1{path}", body=json.dumps(body) if body else None, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status


def subscribe_by_hand(mailman, slug: str, address: str, role: str = "member") -> None:
    assert by_hand(mailman, "POST", "/members", {
        "list_id": f"wg-{slug}.{DOMAIN}", "subscriber": address, "role": role, "pre_verified": True,
        "pre_confirmed": True, "pre_approved": True, "send_welcome_message": False}) == 201


def rosters(mailman, *slugs: str) -> dict[tuple[str, str], set[str]]:
    return {(slug, role): roster(mailman, slug, role) for slug in slugs for role in lists_module.ROLES}


def test_a_complete_batch_takes_the_lists_from_strangers_and_gives_them_back_to_the_volunteers(mailman):
    kitchen, tech = working_group("rc-kitchen"), working_group("rc-tech")   # nobody is in rc-tech
    batch = [volunteer("ana", "grant", [kitchen], coordinates=("rc-kitchen",)),
             volunteer("bo", "grant", [kitchen]),
             volunteer("cy", "revoke", [kitchen, tech])]                       # suspended, say
    changed, _, extra = run_lists(mailman, batch, [kitchen, tech])
    assert changed is True and extra == {}
    assert roster(mailman, "rc-tech") == set()                                 # created all the same

    subscribe_by_hand(mailman, "rc-kitchen", "stranger@example.net")
    subscribe_by_hand(mailman, "rc-tech", "stranger@example.net")
    subscribe_by_hand(mailman, "rc-kitchen", "boss@example.net", role="owner")
    subscribe_by_hand(mailman, "rc-kitchen", "bo@example.org", role="moderator")
    subscribe_by_hand(mailman, "rc-kitchen", "cy@example.org")
    status, bo = rest(mailman, f"/lists/wg-rc-kitchen.{DOMAIN}/member/bo@example.org")
    assert status == 200 and by_hand(mailman, "DELETE", f"/members/{bo['member_id']}") == 204
    found = rosters(mailman, "rc-kitchen", "rc-tech")

    kitchen_list, tech_list = f"wg-rc-kitchen@{DOMAIN}", f"wg-rc-tech@{DOMAIN}"
    taken = {"stranger@example.net": f"removed from {kitchen_list}'s members, {tech_list}'s members: the "
                                     "directory does not give them these groups",
             "boss@example.net": f"removed from {kitchen_list}'s owners: the directory does not give "
                                 "them this group"}
    changed, outcomes, extra = run_lists(mailman, batch, [kitchen, tech], check=True)
    assert changed is True
    assert extra == {address: {"status": "changed", "message": f"would be done: {message}"}
                     for address, message in taken.items()}
    assert outcomes["bo"]["message"] == (f"would be subscribed to {kitchen_list}; would be no longer "
                                         f"owner or moderator of {kitchen_list}")
    assert rosters(mailman, "rc-kitchen", "rc-tech") == found                 # check mode wrote nothing

    changed, outcomes, extra = run_lists(mailman, batch, [kitchen, tech])
    assert changed is True
    assert extra == {address: {"status": "changed", "message": message} for address, message in taken.items()}
    assert outcomes["cy"] == {"status": "changed",
                              "message": f"unsubscribed from {kitchen_list}; not on {tech_list}"}
    assert rosters(mailman, "rc-kitchen", "rc-tech") == {
        ("rc-kitchen", "member"): {"ana@example.org", "bo@example.org"},
        ("rc-kitchen", "owner"): {"ana@example.org"}, ("rc-kitchen", "moderator"): {"ana@example.org"},
        ("rc-tech", "member"): set(), ("rc-tech", "owner"): set(), ("rc-tech", "moderator"): set()}

    changed, outcomes, extra = run_lists(mailman, batch, [kitchen, tech])
    assert (changed, extra) == (False, {})
    assert {outcome["status"] for outcome in outcomes.values()} == {"ok"}


def test_a_list_rebuilt_empty_is_refilled_for_every_volunteer_at_once(mailman):
    crowd = working_group("rc-crowd")
    batch = [volunteer(f"crowd{number:03d}", "grant", [crowd]) for number in range(60)]
    run_lists(mailman, batch, [crowd])
    assert by_hand(mailman, "DELETE", f"/lists/wg-rc-crowd.{DOMAIN}") == 204   # Mailman rebuilt empty

    changed, outcomes, extra = run_lists(mailman, batch, [crowd])
    assert (changed, extra) == (True, {})
    assert {outcome["status"] for outcome in outcomes.values()} == {"changed"}
    assert roster(mailman, "rc-crowd") == {f"crowd{number:03d}@example.org" for number in range(60)}
    status, config = rest(mailman, f"/lists/wg-rc-crowd.{DOMAIN}/config")
    assert status == 200 and config["archive_policy"] == "private"
    assert config["subscription_policy"] == "moderate"


# DokuWiki

KITCHEN, TECH = working_group("kitchen"), working_group("tech")
PARAMS = {"admin_user": WIKI_ADMIN, "admin_password": WIKI_ADMIN_PASSWORD, "member_permission": 8,
          "coordinator_permission": 16, "reader_group": "user", "reader_permission": 1, "start_page": None,
          "timeout": 10, "validate_certs": False}


def run_wiki(wiki, volunteers: list[dict], complete: list[dict] | None, *, check: bool = False):
    """(changes, outcomes by uid, extra) of one dokuwiki_namespaces run."""
    return wiki_module.provision({**PARAMS, "url": wiki.url}, volunteers, check, complete)


def by_hand_acl(wiki, replace: dict[str, str], add: list[str]) -> None:
    """A superuser editing acl.auth.php: lines replaced, lines added."""
    text = wiki.acl_path.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    wiki.acl_path.write_text(text + "".join(f"{line}\n" for line in add))


def test_a_complete_batch_puts_the_namespaces_acl_lines_back_to_the_modules(wiki, directory):
    add_volunteers(directory, 2, groups=("kitchen",), prefix="wk")
    batch = [volunteer("wk0000", "grant", [KITCHEN], coordinates=("kitchen",)),
             volunteer("wk0001", "grant", [KITCHEN])]
    changes, outcomes, extra = run_wiki(wiki, batch, [KITCHEN, TECH])
    assert extra == {} and {outcome["status"] for outcome in outcomes.values()} == {"changed", "ok"}
    wanted = {"wg:kitchen:*\t@wg%2dkitchen\t8", "wg:kitchen:*\t@user\t1", "wg:kitchen:*\twk0000\t16"}
    assert acl_lines(wiki, "wg:kitchen:*") == wanted
    assert acl_lines(wiki, "wg:tech:*") == {"wg:tech:*\t@wg%2dtech\t8", "wg:tech:*\t@user\t1"}

    by_hand_acl(wiki, replace={"wg:kitchen:*\t@wg%2dkitchen\t8": "wg:kitchen:*\t@wg%2dkitchen\t16"},
                add=["wg:kitchen:*\tmallory\t8", "wg:kitchen:*\t@wg%2dtech\t8", "wg:tech:*\twk0001\t16",
                     "wg:kitchen:private:*\tmallory\t8"])     # a finer rule inside: left alone
    edited = wiki.acl_path.read_text()
    found = {"@wg-kitchen": "put back to permission 8 on wg:kitchen:* (it was 16): the provisioner's line "
                            "for this group",
             "mallory": "line on wg:kitchen:* (permission 8) removed: the directory does not give them "
                        "this group",
             "@wg-tech": "line on wg:kitchen:* (permission 8) removed: not a line the provisioner gives",
             "wk0001": "line on wg:tech:* (permission 16) removed: the directory does not give them this "
                       "group"}
    changes, _, extra = run_wiki(wiki, batch, [KITCHEN, TECH], check=True)
    assert changes and wiki.acl_path.read_text() == edited                   # check mode wrote nothing
    assert extra == {who: {"status": "changed", "message": f"would be done: {message}"}
                     for who, message in found.items()}

    changes, outcomes, extra = run_wiki(wiki, batch, [KITCHEN, TECH])
    assert extra == {who: {"status": "changed", "message": message} for who, message in found.items()}
    assert acl_lines(wiki, "wg:kitchen:*") == wanted
    assert acl_lines(wiki, "wg:tech:*") == {"wg:tech:*\t@wg%2dtech\t8", "wg:tech:*\t@user\t1"}
    assert acl_lines(wiki, "wg:kitchen:private:*") == {"wg:kitchen:private:*\tmallory\t8"}
    assert {outcome["status"] for outcome in outcomes.values()} == {"ok"}

    changes, outcomes, extra = run_wiki(wiki, batch, [KITCHEN, TECH])
    assert (changes, extra) == ([], {})


def test_an_ordinary_batch_never_touches_anyone_outside_it(mailman, wiki, directory):
    add_volunteers(directory, 1, groups=("kitchen",), prefix="wo")
    alone = working_group("rc-alone")
    subscriber = volunteer("wo0000", "grant", [alone])
    run_lists(mailman, [subscriber], None)
    subscribe_by_hand(mailman, "rc-alone", "stranger@example.net")
    subscribe_by_hand(mailman, "rc-alone", "boss@example.net", role="owner")
    found = rosters(mailman, "rc-alone")
    assert run_lists(mailman, [subscriber], None) == (False, {"wo0000": {
        "status": "ok", "message": f"already on wg-rc-alone@{DOMAIN}"}}, {})
    assert rosters(mailman, "rc-alone") == found

    by_hand_acl(wiki, replace={}, add=["wg:kitchen:*\tmallory\t8"])
    changes, _, extra = run_wiki(wiki, [volunteer("wo0000", "grant", [KITCHEN])], None)
    assert extra == {} and "wg:kitchen:*\tmallory\t8" in acl_lines(wiki, "wg:kitchen:*")
