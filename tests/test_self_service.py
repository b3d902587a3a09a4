"""A logged-in person changes their name, email address and password: real slapd and SMTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store import audit, jobs
from provisioner.workflow import LinkInvalid, confirm_email_change

from ldap_helpers import root_connection, snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor

NEW_PASSWORD = "copper kettle under moonlight"


def make_account(directory, uid="vera", mail="vera@example.org", name="Vera Volunteer"):
    directory.people.add(NewPerson(uid=uid, display_name=name, mail=mail, status=Status.ACTIVE),
                         pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)


@pytest.fixture
def vera(app, directory, inbox):
    """Vera's browser, logged in."""
    make_account(directory)
    browser = Visitor(app.test_client())
    assert browser.log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    inbox.clear()
    return browser


def can_log_in(app, uid: str, password: str) -> bool:
    return Visitor(app.test_client()).log_in(uid, password).status_code == 302


def name_attributes(slapd_server, uid="vera") -> dict:
    with root_connection(slapd_server) as conn:
        conn.search(f"ou=people,{slapd_server.base_dn}", f"(uid={uid})",
                    attributes=["cn", "displayName", "givenName", "sn"])
        return {name: list(values) for name, values in conn.response[0]["attributes"].items()}


def audit_of(app, uid="vera") -> list:
    with app.app_context(), get_store().begin() as connection:
        return audit.entries(connection, person=uid)


# The name.

def test_a_new_name_shows_on_the_account_page_and_keeps_the_ldap_names_coherent(
        app, vera, slapd_server):
    response = vera.submit("/account/name", {"display_name": "  Vera   Maria Okafor "})
    assert response.status_code == 302 and response.location == "/account"
    page = vera.client.get("/account").get_data(as_text=True)
    assert "<h1>Vera Maria Okafor</h1>" in page and "Your name is changed." in page
    assert name_attributes(slapd_server) == {"cn": ["Vera Maria Okafor"],
                                             "displayName": ["Vera Maria Okafor"],
                                             "givenName": ["Vera Maria"], "sn": ["Okafor"]}
    vera.submit("/account/name", {"display_name": "Wiremu"})
    assert name_attributes(slapd_server) == {"cn": ["Wiremu"], "displayName": ["Wiremu"],
                                             "givenName": [], "sn": ["Wiremu"]}
    assert audit_of(app)[0].action == "name-changed"


def test_names_in_any_script_are_welcome(vera, directory):
    assert vera.submit("/account/name", {"display_name": "Zoë Ngô-Đặng (she/her)"}).status_code == 302
    assert directory.people.get("vera").display_name == "Zoë Ngô-Đặng (she/her)"


@pytest.mark.parametrize("name, message", [
    ("*)(uid=*", "use letters, digits"),
    ("Vera)(|(objectClass=*", "use letters, digits"),
    ("Vera\\2a", "use letters, digits"),
    ("<script>alert(1)</script>", "use letters, digits"),
    ("Vera\x00Admin", "remove the control characters"),
    ("x" * 10_000, "longer than 128"),
    ("   ", "This field is required"),
])
def test_a_hostile_name_is_refused_with_a_message_and_nothing_changes(vera, slapd_server, name,
                                                                      message):
    before = snapshot(slapd_server)
    response = vera.submit("/account/name", {"display_name": name})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert snapshot(slapd_server) == before


# The email address.

def confirm(visitor: Visitor, link: str):
    """Post the button of a confirmation link (the CSRF token from /reset, in case it is dead)."""
    return visitor.submit("/reset", {}, action=link.removeprefix("http://localhost"))


def ask_for_new_address(visitor: Visitor, mail: str, password: str = VOLUNTEER_PASSWORD):
    return visitor.submit("/account/email", {"mail": mail, "password": password})


def test_a_new_address_takes_effect_only_after_its_link_and_the_old_one_is_told(
        app, vera, directory, inbox):
    response = ask_for_new_address(vera, "vera.new@example.net")
    assert response.status_code == 302
    assert "We sent a link to vera.new@example.net" in vera.client.get("/account").get_data(as_text=True)
    assert directory.people.get("vera").mail == "vera@example.org"   # not yet
    notice = inbox.only_message("vera@example.org")
    assert "new email address" in notice["Subject"]
    assert "vera.new@example.net" in notice.get_content()
    link = inbox.link_in("vera.new@example.net")
    assert link.startswith("http://localhost/account/email/")

    page = Visitor(app.test_client()).client.get(link)     # GET shows a button only
    assert page.status_code == 200 and "vera.new@example.net" in page.get_data(as_text=True)
    assert directory.people.get("vera").mail == "vera@example.org"

    phone = Visitor(app.test_client())   # the mail may be opened anywhere, logged in or not
    done = confirm(phone, link)
    assert done.status_code == 200 and "Your address is changed" in done.get_data(as_text=True)
    assert directory.people.get("vera").mail == "vera.new@example.net"
    assert "vera.new@example.net" in vera.client.get("/account").get_data(as_text=True)

    again = confirm(phone, link)
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)
    actions = [entry.action for entry in audit_of(app)]
    assert actions[:2] == ["email-changed", "email-change-requested"]
    assert link.rsplit("/", 1)[1] not in repr(audit_of(app))
    assert VOLUNTEER_PASSWORD not in repr(audit_of(app))


def test_changing_the_address_needs_the_current_password(vera, directory, inbox):
    response = ask_for_new_address(vera, "vera.new@example.net", "not my password at all")
    assert response.status_code == 400
    assert "this is not your current password" in response.get_data(as_text=True)
    assert inbox.messages() == []
    assert directory.people.get("vera").mail == "vera@example.org"


@pytest.mark.parametrize("taken_by", ["account", "request"])
def test_an_address_of_someone_else_is_refused_without_saying_whose(app, vera, directory, inbox,
                                                                    slapd_server, taken_by):
    if taken_by == "account":
        make_account(directory, "bob", "bob@example.org", "Bob Builder")
    else:
        Visitor(app.test_client()).register(uid="bob", mail="bob@example.org",
                                            display_name="Bob Builder")
    inbox.clear()
    before = snapshot(slapd_server)
    response = ask_for_new_address(vera, "BOB@example.org")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "this address belongs to another account or request" in page
    assert "bob" not in page.replace("BOB@example.org", "") and "Builder" not in page
    assert inbox.messages() == []
    assert snapshot(slapd_server) == before


def test_an_address_taken_before_the_link_is_used_is_not_set(app, vera, directory, inbox):
    ask_for_new_address(vera, "shared@example.org")
    link = inbox.link_in("shared@example.org")
    make_account(directory, "bob", "shared@example.org", "Bob Builder")
    response = Visitor(app.test_client()).client.get(link)
    assert response.status_code == 200   # still looks fine: the directory decides at the POST
    response = confirm(Visitor(app.test_client()), link)
    assert response.status_code == 400
    assert "now belongs to another account" in response.get_data(as_text=True)
    assert directory.people.get("vera").mail == "vera@example.org"


@pytest.mark.parametrize("mail, message", [
    ("x*)(mail=*)@example.org", "an email address such as"),
    ("vera@example.org)(uid=*", "an email address such as"),
    ("*", "an email address such as"),
    ("vera@example.org\r\nBcc: victim@example.org", "remove the control characters"),
    ("a" * 10_000 + "@example.org", "longer than 254"),
    ("vera@example.org", "already your address"),
])
def test_a_hostile_or_useless_address_is_refused_with_a_message(vera, inbox, slapd_server, mail,
                                                               message):
    before = snapshot(slapd_server)
    response = ask_for_new_address(vera, mail)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert snapshot(slapd_server) == before
    assert inbox.messages() == []


def test_an_address_link_expires(app, vera, directory, inbox):
    ask_for_new_address(vera, "vera.new@example.net")
    token = inbox.link_in("vera.new@example.net").rsplit("/", 1)[1]
    with app.app_context():
        portal = get_portal()
        later = portal.clock() + timedelta(hours=49)
        with pytest.raises(LinkInvalid, match="expired"):
            confirm_email_change(replace(portal, clock=lambda: later), token)
    assert directory.people.get("vera").mail == "vera@example.org"


def test_a_password_change_cancels_a_pending_address_change(app, vera, directory, inbox):
    ask_for_new_address(vera, "thief@example.net")
    link = inbox.link_in("thief@example.net")
    vera.submit("/account/password", {"old_password": VOLUNTEER_PASSWORD, "password": NEW_PASSWORD,
                                      "password_again": NEW_PASSWORD})
    response = confirm(Visitor(app.test_client()), link)
    assert response.status_code == 400 and "changed since" in response.get_data(as_text=True)
    assert directory.people.get("vera").mail == "vera@example.org"


# The password.

def change_password(visitor: Visitor, old: str, new: str, again: str | None = None):
    return visitor.submit("/account/password",
                          {"old_password": old, "password": new, "password_again": again or new})


def test_a_password_change_needs_the_old_password_and_ends_the_other_sessions(app, vera, inbox):
    laptop = Visitor(app.test_client())
    laptop.log_in("vera", VOLUNTEER_PASSWORD)
    response = change_password(vera, VOLUNTEER_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    page = vera.client.get("/account").get_data(as_text=True)   # this session goes on
    assert "Your password is changed. 1 other session(s) were logged out." in page
    assert laptop.client.get("/account").status_code == 302      # the other one is over
    assert can_log_in(app, "vera", NEW_PASSWORD)
    assert not can_log_in(app, "vera", VOLUNTEER_PASSWORD)
    assert "was changed" in inbox.only_message("vera@example.org")["Subject"]
    entries = audit_of(app)
    assert "password-changed" in [entry.action for entry in entries]
    assert NEW_PASSWORD not in repr(entries) and VOLUNTEER_PASSWORD not in repr(entries)


def test_a_wrong_old_password_changes_nothing(app, vera, inbox):
    response = change_password(vera, "not my password at all", NEW_PASSWORD)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "this is not your current password" in page and NEW_PASSWORD not in page
    assert audit_of(app)[0].action == "password-change-refused"
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)
    assert inbox.messages() == []


@pytest.mark.parametrize("new, again, message", [
    ("short", "short", "at least 12"),
    ("vera-volunteer-rocks", "vera-volunteer-rocks", "cannot contain your username"),
    ("qwerty123456", "qwerty123456", "most common"),
    (VOLUNTEER_PASSWORD, VOLUNTEER_PASSWORD, "different from the current one"),
    (NEW_PASSWORD, NEW_PASSWORD + "!", "the two passwords differ"),
])
def test_the_password_rules_apply_to_a_change(app, vera, new, again, message):
    response = change_password(vera, VOLUNTEER_PASSWORD, new, again)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)


# Every form.

@pytest.mark.parametrize("path, data", [
    ("/account/name", {"display_name": "Mallory"}),
    ("/account/email", {"mail": "mallory@example.net", "password": VOLUNTEER_PASSWORD}),
    ("/account/password", {"old_password": VOLUNTEER_PASSWORD, "password": NEW_PASSWORD,
                           "password_again": NEW_PASSWORD}),
])
def test_a_post_without_csrf_token_is_refused_and_changes_nothing(vera, inbox, slapd_server, path,
                                                                 data):
    before = snapshot(slapd_server)
    response = vera.client.post(path, data=data)
    assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True)
    assert snapshot(slapd_server) == before
    assert inbox.messages() == []


@pytest.mark.parametrize("path", ["/account/name", "/account/email", "/account/password"])
def test_the_forms_are_for_logged_in_people(client, directory, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.location


def test_the_account_page_links_to_each_change(vera):
    page = vera.client.get("/account").get_data(as_text=True)
    for path in ("/account/name", "/account/email", "/account/password"):
        assert f'href="{path}"' in page


def queued_jobs(app) -> list:
    with app.app_context(), get_store().begin() as connection:
        return [jobs.get(connection, queued.id) for queued in jobs.recent(connection)]


def test_a_changed_address_queues_a_grant_of_the_groups_with_the_former_address(
        app, vera, directory, inbox):
    directory.groups.add_member("wg-kitchen", "vera")
    directory.groups.add_member("wg-tech", "vera")
    ask_for_new_address(vera, "vera.new@example.net")
    assert queued_jobs(app) == []                          # not before the link is used
    confirm(Visitor(app.test_client()), inbox.link_in("vera.new@example.net"))
    [grant] = queued_jobs(app)
    assert (grant.kind, grant.state, grant.created_by) == ("grant", "queued", "vera")
    assert grant.targets == {"vera": ["kitchen", "tech"]}
    assert grant.mails == {"vera": "vera@example.org"}     # what the services know her by


def test_a_changed_address_of_someone_in_no_group_queues_nothing(app, vera, directory, inbox):
    ask_for_new_address(vera, "vera.new@example.net")
    confirm(Visitor(app.test_client()), inbox.link_in("vera.new@example.net"))
    assert directory.people.get("vera").mail == "vera.new@example.net"
    assert queued_jobs(app) == []


def test_a_grant_already_waiting_for_the_same_groups_takes_the_former_address(
        app, vera, directory, inbox):
    directory.groups.add_member("wg-kitchen", "vera")
    with app.app_context():
        get_portal().queue_access("grant", {"vera": ["kitchen"]}, actor="test")   # an approval's
    ask_for_new_address(vera, "vera.new@example.net")
    confirm(Visitor(app.test_client()), inbox.link_in("vera.new@example.net"))
    [grant] = queued_jobs(app)
    assert grant.targets == {"vera": ["kitchen"]}
    assert grant.mails == {"vera": "vera@example.org"}
