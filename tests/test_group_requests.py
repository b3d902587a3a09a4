"""Volunteers ask to join working groups or leave them; the groups' coordinators decide."""

from __future__ import annotations

import html

import pytest

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.private_services.process import free_port
from provisioner.resources import get_store
from provisioner.store import Store, audit, group_requests, jobs, outbox

from job_helpers import make_worker
from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, deliver_outbox, given_totp
from suite_config import app_config

DECISIONS = "/groups/requests"
MINE = "/account/groups"


def account(app, directory, uid: str, *, groups=(), coordinates=()) -> Visitor:
    """An active account in `groups`, owner of `coordinates`, logged in in a browser of its own."""
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person",
                                   mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    for slug in groups:
        directory.groups.add_member(f"wg-{slug}", uid)
    for slug in coordinates:
        directory.groups.add_owner(f"wg-{slug}", uid)
    if coordinates:
        given_totp(app, uid)   # coordinators must use two-step login before their pages
    browser = Visitor(app.test_client())
    assert browser.log_in(uid, VOLUNTEER_PASSWORD).status_code == 302
    return browser


@pytest.fixture
def vera(app, directory):
    return account(app, directory, "vera", groups=["tech"])


@pytest.fixture
def cora(app, directory):
    """Coordinator of the kitchen."""
    return account(app, directory, "cora", groups=["kitchen"], coordinates=["kitchen"])


@pytest.fixture
def otto(app, directory):
    """Coordinator of another group: media."""
    return account(app, directory, "otto", groups=["media"], coordinates=["media"])


def followed(browser: Visitor, response) -> str:
    """The page a form's redirect leads to, as a person reads it."""
    assert response.status_code == 302, response.status_code
    return html.unescape(browser.client.get(response.location).get_data(as_text=True))


def ask(browser: Visitor, slug: str):
    return browser.submit(MINE, {"group": slug}, action=f"{MINE}/join")


def leave(browser: Visitor, slug: str):
    return browser.submit(MINE, {"group": slug}, action=f"{MINE}/leave")


def requests_of(app, uid: str) -> list[group_requests.JoinRequest]:
    with app.app_context(), get_store().begin() as connection:
        return group_requests.of_person(connection, uid)


def queued(app) -> list[tuple[str, dict[str, list[str]]]]:
    with app.app_context(), get_store().begin() as connection:
        return [(job.kind, job.targets) for job in reversed(jobs.recent(connection, state="queued"))]


def actions(app, person: str) -> list[str]:
    with app.app_context(), get_store().begin() as connection:
        return [entry.action for entry in reversed(audit.entries(connection, person=person))]


def test_a_request_reaches_the_coordinators_who_approve_it(app, directory, inbox, vera, cora, otto,
                                                           sysadmin):
    page = followed(vera, ask(vera, "kitchen"))
    assert "Your request to join Kitchen is sent to its coordinators" in page
    assert "Waiting for a decision" in page
    mail = inbox.only_message("cora@example.org")
    assert mail["Subject"] == "Vera Person asks to join Kitchen"
    assert "as a coordinator of Kitchen" in mail.get_content()
    link = inbox.link_in("cora@example.org")
    assert link == "http://localhost/groups/requests"          # PUBLIC_URL, behind login
    assert "as a sysadmin" in inbox.only_message("sam@example.org").get_content()
    assert inbox.messages("otto@example.org") == []            # not their group
    assert inbox.messages("vera@example.org") == []

    decisions = html.unescape(cora.client.get(link.removeprefix("http://localhost")).get_data(as_text=True))
    assert "Vera Person (vera) asks to join Kitchen" in decisions
    (request,) = requests_of(app, "vera")
    inbox.clear()
    page = followed(cora, cora.submit(DECISIONS, {}, action=f"{DECISIONS}/{request.id}/approve"))
    assert "vera is now in Kitchen; their access is being set up." in page
    assert "No request is waiting." in page

    assert directory.groups.of("vera") == ["wg-kitchen", "wg-tech"]
    assert queued(app) == [("grant", {"vera": ["kitchen"]})]
    (request,) = requests_of(app, "vera")
    assert (request.state, request.decided_by) == ("approved", "cora")
    assert inbox.only_message("vera@example.org")["Subject"] == "You are in Kitchen at Occupy Example"
    assert actions(app, "vera")[-2:] == ["join-requested", "join-approved"]
    mine = vera.client.get(MINE).get_data(as_text=True)
    assert "Leave Kitchen" in mine and "Ask to join Kitchen" not in mine


def test_declining_mails_the_reason_and_adds_no_membership(app, directory, inbox, vera, sysadmin):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    before = snapshot_of_people(directory)
    inbox.clear()
    page = followed(sysadmin, sysadmin.submit(DECISIONS, {"reason": "We are full until Monday."},
                                              action=f"{DECISIONS}/{request.id}/decline"))
    assert "vera's request to join Kitchen is declined and they have been told." in page
    mail = inbox.only_message("vera@example.org")
    assert mail["Subject"] == "Your request to join Kitchen at Occupy Example"
    assert "We are full until Monday." in mail.get_content()
    assert directory.groups.of("vera") == ["wg-tech"]
    assert snapshot_of_people(directory) == before
    assert queued(app) == []
    (request,) = requests_of(app, "vera")
    assert (request.state, request.decided_by, request.reason) == (
        "declined", "sam", "We are full until Monday.")
    assert "We are full until Monday." in html.unescape(vera.client.get(MINE).get_data(as_text=True))
    # Decided once: approving it afterwards changes nothing.
    page = followed(sysadmin, sysadmin.submit(DECISIONS, {}, action=f"{DECISIONS}/{request.id}/approve"))
    assert "Not approved: vera's request to join kitchen was declined already, by sam." in page
    assert directory.groups.of("vera") == ["wg-tech"] and queued(app) == []


def snapshot_of_people(directory) -> dict:
    return {uid: directory.groups.of(uid) for uid in ("vera", "cora", "sam") if directory.people.find(uid)}


def test_a_decline_without_a_reason_still_tells_the_volunteer(app, inbox, vera, cora):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    inbox.clear()
    cora.submit(DECISIONS, {"reason": "  "}, action=f"{DECISIONS}/{request.id}/decline")
    mail = inbox.only_message("vera@example.org")
    assert "was declined" in mail.get_content() and "reason given" not in mail.get_content()


def test_asking_again_while_a_request_is_open_changes_nothing(app, slapd_server, inbox, vera, cora):
    ask(vera, "kitchen")
    before, mails = snapshot(slapd_server), len(inbox.messages())
    page = followed(vera, ask(vera, "kitchen"))
    assert "You already asked to join Kitchen: your request is waiting for its coordinators." in page
    assert len(requests_of(app, "vera")) == 1
    assert len(inbox.messages()) == mails
    assert snapshot(slapd_server) == before
    assert actions(app, "vera").count("join-requested") == 1


def test_asking_to_join_a_group_you_are_in_is_refused(app, inbox, vera, cora):
    page = followed(vera, ask(vera, "tech"))
    assert "Not sent: You are already in Tech." in page
    assert requests_of(app, "vera") == [] and inbox.messages() == []


def test_a_coordinator_of_another_group_cannot_decide(app, slapd_server, directory, vera, cora, otto):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    page = otto.client.get(DECISIONS)
    assert page.status_code == 200
    assert "asks to join Kitchen" not in page.get_data(as_text=True)   # only media's requests
    before = snapshot(slapd_server)
    for verb, data in (("approve", {}), ("decline", {"reason": "no"})):
        response = otto.submit(DECISIONS, data, action=f"{DECISIONS}/{request.id}/{verb}")
        assert response.status_code == 403
        assert "Only the group's coordinators and the sysadmins" in html.unescape(
            response.get_data(as_text=True))
    assert snapshot(slapd_server) == before
    assert requests_of(app, "vera")[0].state == "open" and queued(app) == []
    assert actions(app, "otto").count("join-decision-refused") == 2


def test_a_volunteer_cannot_reach_the_decisions(app, slapd_server, directory, vera, cora):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    walt = account(app, directory, "walt", groups=["kitchen"])   # a member, not a coordinator
    before = snapshot(slapd_server)
    response = walt.client.get(DECISIONS)
    assert response.status_code == 403
    assert "Only coordinators and sysadmins decide join requests." in response.get_data(as_text=True)
    assert "Join requests" not in walt.client.get("/account").get_data(as_text=True)
    for verb in ("approve", "decline"):
        response = walt.submit(MINE, {}, action=f"{DECISIONS}/{request.id}/{verb}")
        assert response.status_code == 403
    # The person who asked may not approve their own request either.
    assert vera.submit(MINE, {}, action=f"{DECISIONS}/{request.id}/approve").status_code == 403
    assert snapshot(slapd_server) == before
    assert requests_of(app, "vera")[0].state == "open" and queued(app) == []


def test_anonymous_visitors_are_sent_to_log_in(app, visitor, vera, cora):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    for page in (DECISIONS, MINE):
        response = visitor.client.get(page)
        assert response.status_code == 302 and "/login" in response.location
    response = visitor.submit("/login", {}, action=f"{DECISIONS}/{request.id}/approve")
    assert response.status_code == 302 and "/login" in response.location
    response = visitor.submit("/login", {"group": "kitchen"}, action=f"{MINE}/join")
    assert response.status_code == 302 and "/login" in response.location
    assert requests_of(app, "vera")[0].state == "open" and queued(app) == []


def test_the_coordinators_page_lists_only_their_groups_and_the_nav_links_it(app, vera, cora, otto):
    ask(vera, "kitchen")
    ask(vera, "media")
    kitchen = html.unescape(cora.client.get(DECISIONS).get_data(as_text=True))
    assert "asks to join Kitchen" in kitchen and "asks to join Media" not in kitchen
    assert "Join requests" in cora.client.get("/account").get_data(as_text=True)
    media = html.unescape(otto.client.get(DECISIONS).get_data(as_text=True))
    assert "asks to join Media" in media and "asks to join Kitchen" not in media


def test_leaving_removes_the_membership_at_once_and_revokes_access(app, directory, vera):
    directory.groups.add_member("wg-kitchen", "vera")
    page = followed(vera, leave(vera, "kitchen"))
    assert "You left Kitchen. Your access to its mailing list, wiki and project is being removed." in page
    assert directory.groups.of("vera") == ["wg-tech"]
    assert queued(app) == [("revoke", {"vera": ["kitchen"]})]
    assert "left-group" in actions(app, "vera")
    # The worker's directory check accepts it: still active, no longer in wg-kitchen.
    make_worker(app, directory).run_once()
    with app.app_context(), get_store().begin() as connection:
        revoke = jobs.latest_for(connection, "vera")
    assert (revoke.kind, revoke.state) == ("revoke", "succeeded"), revoke.error


def test_a_coordinator_who_leaves_stops_coordinating(app, directory, vera, cora):
    ask(vera, "kitchen")
    followed(cora, leave(cora, "kitchen"))
    assert directory.groups.get("wg-kitchen").owners == ()
    assert "asks to join Kitchen" not in html.unescape(cora.client.get(DECISIONS).get_data(as_text=True))
    assert queued(app)[-1] == ("revoke", {"cora": ["kitchen"]})


def test_leaving_a_group_you_are_not_in_changes_nothing(app, slapd_server, vera):
    before = snapshot(slapd_server)
    assert "Not left: You are not in Kitchen." in followed(vera, leave(vera, "kitchen"))
    assert snapshot(slapd_server) == before and queued(app) == []


@pytest.mark.parametrize("slug", ["astronauts", "sysadmins", "wg-kitchen"])
def test_a_group_not_in_the_catalogue_is_refused(app, slapd_server, inbox, vera, cora, slug):
    before = snapshot(slapd_server)
    page = followed(vera, ask(vera, slug))
    assert "Not sent: there is no such working group in the catalogue" in page
    assert snapshot(slapd_server) == before
    assert requests_of(app, "vera") == [] and inbox.messages() == []


@pytest.mark.parametrize("slug", ["kitchen,ou=people", "*", "kitchen)(member=*", "tech\x00", "",
                                  "KITCHEN", "x" * 5000])
@pytest.mark.parametrize("verb", ["join", "leave"])
def test_hostile_group_names_are_refused_and_change_nothing(app, slapd_server, directory, inbox, vera,
                                                            cora, slug, verb):
    before = snapshot(slapd_server)
    response = vera.submit(MINE, {"group": slug}, action=f"{MINE}/{verb}")
    page = followed(vera, response)
    assert "there is no such working group in the catalogue" in page
    assert snapshot(slapd_server) == before
    assert requests_of(app, "vera") == [] and queued(app) == [] and inbox.messages() == []
    assert directory.groups.of("vera") == ["wg-tech"]


def test_forms_without_a_csrf_token_are_refused(app, slapd_server, vera, cora):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    before = snapshot(slapd_server)
    for browser, path, data in ((vera, f"{MINE}/join", {"group": "media"}),
                                (vera, f"{MINE}/leave", {"group": "tech"}),
                                (cora, f"{DECISIONS}/{request.id}/approve", {}),
                                (cora, f"{DECISIONS}/{request.id}/decline", {"reason": "x"})):
        assert browser.client.post(path, data=data).status_code == 400
    assert snapshot(slapd_server) == before
    assert [r.state for r in requests_of(app, "vera")] == ["open"] and queued(app) == []


def test_owners_are_added_and_removed_in_the_directory(directory):
    directory.people.add(NewPerson(uid="cora", display_name="Cora", mail="cora@example.org",
                                   status=Status.ACTIVE), pending=False)
    assert directory.groups.add_owner("wg-kitchen", "cora") is True
    assert directory.groups.add_owner("wg-kitchen", "cora") is False
    assert directory.groups.get("wg-kitchen").owners == ("cora",)
    assert directory.groups.owned_by("cora") == ["wg-kitchen"]
    assert directory.groups.remove_owner("wg-kitchen", "cora") is True
    assert directory.groups.remove_owner("wg-kitchen", "cora") is False
    assert directory.groups.owned_by("cora") == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_database_keeps_one_open_request_per_person_and_group(database, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'store.sqlite'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    store = Store(url)
    store.create_schema()
    try:
        with store.begin() as connection:
            first, made = group_requests.open_request(connection, "vera", "kitchen", now=utc_now())
            again, made_again = group_requests.open_request(connection, "vera", "kitchen", now=utc_now())
            assert (made, made_again, again.id) == (True, False, first.id)
            group_requests.open_request(connection, "vera", "media", now=utc_now())
            assert group_requests.decide(connection, first.id, group_requests.DECLINED, by="sam",
                                         at=utc_now(), reason="full")
            assert not group_requests.decide(connection, first.id, group_requests.APPROVED, by="sam",
                                             at=utc_now())
            later, made_later = group_requests.open_request(connection, "vera", "kitchen", now=utc_now())
            assert made_later and later.id != first.id   # a decided request does not block asking again
            assert [r.slug for r in group_requests.open_for(connection, ["kitchen"])] == ["kitchen"]
            assert len(group_requests.open_for(connection, None)) == 2
    finally:
        store.dispose()


def test_a_coordinator_without_two_step_login_is_sent_to_set_it_up(app, slapd_server, directory, vera):
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    directory.people.add(NewPerson(uid="nina", display_name="Nina New", mail="nina@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.set_password("nina", VOLUNTEER_PASSWORD)
    directory.groups.add_owner("wg-kitchen", "nina")
    nina = Visitor(app.test_client())
    nina.log_in("nina", VOLUNTEER_PASSWORD)
    response = nina.client.get(DECISIONS)
    assert response.status_code == 302 and response.location.startswith("/account/totp/enrol")
    before = snapshot(slapd_server)
    response = nina.submit("/account/totp/enrol", {}, action=f"{DECISIONS}/{request.id}/approve")
    assert response.status_code == 302 and response.location.startswith("/account/totp/enrol")
    assert snapshot(slapd_server) == before
    assert requests_of(app, "vera")[0].state == "open" and queued(app) == []


def test_a_request_is_kept_when_the_mail_server_is_down(directory, slapd_server, tmp_path):
    app = create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", free_port(),
                                runner_dir=str(tmp_path / "runner")))
    vera = account(app, directory, "vera")
    account(app, directory, "cora", coordinates=["kitchen"])
    page = followed(vera, ask(vera, "kitchen"))
    assert "Your request to join Kitchen is sent to its coordinators" in page
    assert [request.state for request in requests_of(app, "vera")] == ["open"]
    assert actions(app, "vera")[-1] == "join-requested"
    assert deliver_outbox(app) == 0     # the worker tries, and keeps it for later
    with app.extensions["store"].begin() as connection:
        assert [mail.template for mail in outbox.waiting(connection)] == ["join_request"]


def test_joining_one_group_and_leaving_another_keeps_both_decisions(app, directory, vera, cora):
    """A queued grant for kitchen survives a revoke for tech; a later revoke for kitchen wins over it."""
    ask(vera, "kitchen")
    (request,) = requests_of(app, "vera")
    cora.submit(DECISIONS, {}, action=f"{DECISIONS}/{request.id}/approve")
    leave(vera, "tech")
    assert queued(app) == [("grant", {"vera": ["kitchen"]}), ("revoke", {"vera": ["tech"]})]
    leave(vera, "kitchen")
    assert queued(app) == [("revoke", {"vera": ["tech"]}), ("revoke", {"vera": ["kitchen"]})]
    worker = make_worker(app, directory)
    while worker.run_once():
        pass
    with app.app_context(), get_store().begin() as connection:
        finished = [(job.kind, job.state, job.targets) for job in reversed(jobs.recent(connection))]
    assert finished == [("grant", "cancelled", {}), ("revoke", "succeeded", {"vera": ["tech"]}),
                        ("revoke", "succeeded", {"vera": ["kitchen"]})]
