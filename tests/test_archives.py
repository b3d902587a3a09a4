"""A working group's archive and list pages, with the portal password, for its members only;
its coordinators moderate the list.

Everything is real: the mailing_lists role (run by the worker's PlaybookRunner on a batch
written here, with each group's `coordinator`) on the session's Mailman, which takes posts
over LMTP as Postfix hands them in and archives them to HyperKitty; people log in to
HyperKitty and Postorius through allauth's form with their directory password. What a
person sees is what the pages show them; what Mailman holds is read over its REST API.
Each test has people, subjects and message ids of its own: lists and archives persist.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import time
import uuid
from collections.abc import Callable

import pytest

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_catalogue, runner_settings
from provisioner.runner import PlaybookRunner, Volunteer

from list_pages import ListBrowser, archive_path, message_hash, post
from service_fixtures import LIST_DOMAIN as DOMAIN
from service_fixtures import offer
from service_views import rest

PASSWORD = "lentil soup for every assembly"
KITCHEN = f"wg-kitchen@{DOMAIN}"
KITCHEN_ID = f"wg-kitchen.{DOMAIN}"


@pytest.fixture
def grant(app, directory, mailman_web, mailman, tmp_path) -> Callable[..., dict[str, tuple[str, str]]]:
    """Run volunteer_access.yml as the worker does on a batch of (uid, action, {slug: coordinator});
    returns the lists role's outcome per uid."""
    offer(app, tmp_path / "inventory", mailman)
    with app.app_context():
        runner, catalogue = PlaybookRunner(runner_settings(app)), get_catalogue()

    def run(*entries: tuple[str, str, dict[str, bool]]) -> dict[str, tuple[str, str]]:
        volunteers = []
        for uid, action, groups in entries:
            person = directory.people.get(uid)
            volunteers.append(Volunteer(
                uid=uid, action=action, mail=person.mail, display_name=person.display_name,
                groups=[batch_group(directory, catalogue.get(slug), coordinator)
                        for slug, coordinator in groups.items()]))
        outcomes = []
        result = runner.run("volunteer_access.yml", volunteers, outcomes.extend,
                            extravars={"provisioner_ldap_people_dn": directory.layout.people})
        assert result.succeeded, result.error
        return {outcome.uid: (outcome.status, outcome.message) for outcome in outcomes
                if outcome.service == "lists"}
    return run


def batch_group(directory, wg, coordinator: bool) -> dict:
    """A group entry of the worker's batch (the doc fragment's shape)."""
    return {"slug": wg.slug, "name": wg.name, "group": wg.group,
            "group_dn": directory.layout.group_dn(wg.group), "list_name": wg.list_name,
            "wiki_namespace": wg.wiki_namespace,
            "redmine_project": wg.redmine_project, "coordinator": coordinator}


def volunteer(directory, uid: str, *slugs: str) -> str:
    """An active account with the portal password, in these working groups."""
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Volunteer",
                                   mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, PASSWORD)
    for slug in slugs:
        directory.groups.add_member(f"wg-{slug}", uid)
    return uid


def logged_in(web, uid: str) -> ListBrowser:
    browser = ListBrowser(web)
    assert browser.log_in(uid, PASSWORD).status == 302, f"{uid} could not log in"
    return browser


def eventually(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: still not so after {timeout:.0f} s"
        time.sleep(0.5)


def roles(mailman, uid: str) -> set[str]:
    """The roles Mailman gives this volunteer's address on the kitchen list."""
    return {role for role in ("member", "owner", "moderator")
            if rest(mailman, f"/lists/{KITCHEN_ID}/{role}/{uid}@example.org")[0] == 200}


def test_a_post_is_archived_for_the_groups_members_and_nobody_else(grant, directory, mailman_web, mailman):
    member, outsider = volunteer(directory, "arc-mia", "kitchen"), volunteer(directory, "arc-oli", "tech")
    assert grant((member, "grant", {"kitchen": False}), (outsider, "grant", {"tech": False})) == {
        member: ("changed", f"subscribed to {KITCHEN}"),
        outsider: ("changed", f"subscribed to wg-tech@{DOMAIN}")}
    token = uuid.uuid4().hex[:12]
    subject, words = f"Soup rota {token}", f"The lentil plan {token} stays in the group"
    message_id = f"<{token}@example.org>"
    post(mailman, KITCHEN, f"{member}@example.org", subject, words, message_id)

    reader = logged_in(mailman_web, member)
    thread = archive_path(KITCHEN, f"thread/{message_hash(message_id)}/")
    eventually(lambda: reader.open(thread).shows(words), "the post is in the member's archive")
    mailman_web.manage("update_index_one_list", KITCHEN)        # what the deployed minutely job does
    pages = {   # every way to the post's text: pages, the mbox export, the feed
        "latest": archive_path(KITCHEN, "latest"),
        "message": archive_path(KITCHEN, f"message/{message_hash(message_id)}/"),
        "thread": thread,
        "feed": archive_path(KITCHEN, "feed/"),
        "list search": f"/hyperkitty/search?mlist={KITCHEN}&q={token}",
    }
    for name, path in pages.items():
        page = reader.open(path)
        assert page.status == 200 and page.shows(subject), name
    export = reader.open(archive_path(KITCHEN, "export/kitchen.mbox.gz"))
    assert export.status == 200 and words.encode() in gzip.decompress(export.body)
    assert reader.open(f"/hyperkitty/search?q={token}").shows(subject)

    for name, visitor in (("a member of another group", logged_in(mailman_web, outsider)),
                          ("an anonymous visitor", ListBrowser(mailman_web))):
        for page_name, path in {**pages, "overview": archive_path(KITCHEN),
                                "export": archive_path(KITCHEN, "export/kitchen.mbox.gz")}.items():
            page = visitor.open(path)
            assert page.status == 403 and not page.shows(subject) and not page.shows(token), (name, page_name)
        everywhere = visitor.open(f"/hyperkitty/search?q={token}")    # the search over every list
        assert everywhere.status == 200 and not everywhere.shows(subject), name

    # HyperKitty's REST API is closed to everyone, the member too: in Debian 12's HyperKitty
    # a message and a thread answered there without the membership check.
    hashed = message_hash(message_id)
    in_api = f"/hyperkitty/api/list/{KITCHEN}"
    api = [f"{in_api}/emails/", f"{in_api}/email/{hashed}/", f"{in_api}/thread/{hashed}/",
           f"{in_api}/thread/{hashed}/emails/", f"//hyperkitty//api/list/{KITCHEN}/email/{hashed}/",
           "/hyperkitty/api/lists/"]
    visitors = (("the member", reader), ("a member of another group", logged_in(mailman_web, outsider)),
                ("an anonymous visitor", ListBrowser(mailman_web)))
    for name, visitor in visitors:
        for path in api:
            page = visitor.open(path)
            assert page.status in (403, 404), (name, path)
            assert not page.shows(subject) and not page.shows(token), (name, path)


def test_a_coordinator_sees_the_held_posts_and_a_member_does_not(grant, directory, mailman_web, mailman):
    coordinator = volunteer(directory, "hold-cora", "kitchen")
    member = volunteer(directory, "hold-max", "kitchen")
    outcomes = grant((coordinator, "grant", {"kitchen": True}), (member, "grant", {"kitchen": False}))
    assert outcomes == {
        coordinator: ("changed", f"subscribed to {KITCHEN}; made owner and moderator of {KITCHEN}"),
        member: ("changed", f"subscribed to {KITCHEN}")}
    assert roles(mailman, coordinator) == {"member", "owner", "moderator"}
    assert roles(mailman, member) == {"member"}

    subject = f"Cheap solar panels {uuid.uuid4().hex[:12]}"          # from outside the list: held
    post(mailman, KITCHEN, "stranger@elsewhere.example", subject, "Buy now.",
         f"<{uuid.uuid4().hex}@elsewhere.example>")
    eventually(lambda: any(held.get("subject") == subject for held in
                           rest(mailman, f"/lists/{KITCHEN_ID}/held")[1].get("entries", [])),
               "Mailman holds the stranger's post")
    queue = f"/postorius/lists/{KITCHEN_ID}/held_messages"
    seen = logged_in(mailman_web, coordinator).open(queue)
    assert seen.status == 200 and seen.shows(subject)
    refused = logged_in(mailman_web, member).open(queue)
    assert refused.status == 403 and not refused.shows(subject)
    anonymous = ListBrowser(mailman_web).open(queue)
    assert anonymous.status == 302 and anonymous.location.startswith("/accounts/login/")


def test_a_coordinator_no_more_loses_both_roles_once_and_a_revoke_takes_everything(
        grant, directory, mailman_web, mailman):
    coordinator = volunteer(directory, "keys-ida", "kitchen")
    grant((coordinator, "grant", {"kitchen": True}))
    queue = f"/postorius/lists/{KITCHEN_ID}/held_messages"
    assert logged_in(mailman_web, coordinator).open(queue).status == 200

    assert grant((coordinator, "grant", {"kitchen": False})) == {
        coordinator: ("changed", f"already on {KITCHEN}; no longer owner or moderator of {KITCHEN}")}
    assert roles(mailman, coordinator) == {"member"}
    assert logged_in(mailman_web, coordinator).open(queue).status == 403
    assert grant((coordinator, "grant", {"kitchen": False})) == {coordinator: ("ok", f"already on {KITCHEN}")}

    assert grant((coordinator, "grant", {"kitchen": True})) == {
        coordinator: ("changed", f"already on {KITCHEN}; made owner and moderator of {KITCHEN}")}
    assert grant((coordinator, "grant", {"kitchen": True})) == {
        coordinator: ("ok", f"already on {KITCHEN}; already owner and moderator of {KITCHEN}")}
    assert grant((coordinator, "revoke", {"kitchen": True})) == {
        coordinator: ("changed", f"unsubscribed from {KITCHEN}; no longer owner or moderator of {KITCHEN}")}
    assert roles(mailman, coordinator) == set()


def test_a_working_groups_list_is_closed_even_if_someone_opened_it(grant, directory, mailman_web, mailman):
    """A list set public or open to self-subscription (by hand, or before this rule) is closed
    again by the next grant; and a non-member's self-subscription from Postorius waits for
    the moderators instead of opening the archive."""
    member, outsider = volunteer(directory, "shut-eva", "kitchen"), volunteer(directory, "shut-ned", "tech")
    grant((member, "grant", {"kitchen": False}))
    set_config(mailman, {"archive_policy": "public", "subscription_policy": "open"})
    grant((member, "grant", {"kitchen": False}), (outsider, "grant", {"tech": False}))
    config = rest(mailman, f"/lists/{KITCHEN_ID}/config")[1]
    assert (config["archive_policy"], config["subscription_policy"]) == ("private", "moderate")

    nosy = logged_in(mailman_web, outsider)
    summary = f"/postorius/lists/{KITCHEN_ID}/"
    answer = nosy.submit(summary, {"subscriber": f"{outsider}@example.org", "display_name": "",
                                   "delivery_mode": "regular", "delivery_status": "enabled"},
                         action=f"/postorius/lists/{KITCHEN_ID}/subscribe")
    assert answer.status == 302
    pending = rest(mailman, f"/lists/{KITCHEN_ID}/requests")[1].get("entries", [])
    assert [request["email"] for request in pending if request["email"] == f"{outsider}@example.org"]
    assert "member" not in roles(mailman, outsider)      # what HyperKitty asks before showing the archive


def set_config(mailman, settings: dict) -> None:
    """Change the kitchen list's settings as Mailman's REST admin (or a list owner by hand) can."""
    token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", mailman.port, timeout=10)
    try:
        connection.request("PATCH", f"/3.1/lists/{KITCHEN_ID}/config", body=json.dumps(settings),
                           headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
        assert connection.getresponse().status == 204
    finally:
        connection.close()
