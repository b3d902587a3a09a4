"""Password reset by email: by HTTP, against real slapd and a real SMTP server."""

from __future__ import annotations

import base64
import json
import logging
import re
import zlib
from dataclasses import replace
from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store import audit, outbox
from provisioner.workflow import LinkInvalid, check_reset_link, reset_password

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, deliver_outbox, without_csrf_token
from suite_config import app_config

NEW_PASSWORD = "copper kettle under moonlight"
NEUTRAL = "If the address you gave belongs to an active account"


def make_account(directory, uid="vera", mail="vera@example.org", name="Vera Volunteer",
                 status=Status.ACTIVE):
    directory.people.add(NewPerson(uid=uid, display_name=name, mail=mail, status=status),
                         pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    if status == Status.SUSPENDED:
        directory.people.lock(uid)


@pytest.fixture
def vera(directory):
    make_account(directory)
    return directory.people.get("vera")


def ask_for_reset(app, mail: str):
    return Visitor(app.test_client()).submit("/reset", {"mail": mail})


def reset_link(app, inbox, mail="vera@example.org") -> str:
    ask_for_reset(app, mail)
    link = inbox.link_in(mail)
    inbox.clear()
    return link.removeprefix("http://localhost")


def can_log_in(app, uid: str, password: str) -> bool:
    return Visitor(app.test_client()).log_in(uid, password).status_code == 302


def set_password_by(visitor: Visitor, link: str, password: str, again: str | None = None):
    """Post the form of a reset link (the CSRF token from /reset, in case the link is dead)."""
    return visitor.submit("/reset", {"password": password, "password_again": again or password},
                          action=link)


def audit_actions(app, uid: str) -> list:
    with app.app_context(), get_store().begin() as connection:
        return audit.entries(connection, person=uid)


def test_a_reset_sets_the_new_password_and_logs_out_everywhere(app, vera, inbox, directory):
    laptop = Visitor(app.test_client())
    assert laptop.log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    response = ask_for_reset(app, "vera@example.org")
    assert response.status_code == 302 and response.location == "/reset/sent"
    mail = inbox.only_message("vera@example.org")
    assert "new password" in mail["Subject"]
    link = inbox.link_in("vera@example.org")
    assert link.startswith("http://localhost/reset/")
    inbox.clear()

    phone = Visitor(app.test_client())
    form = phone.client.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.get_data(as_text=True)
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)  # opening the link changed nothing

    done = set_password_by(phone, link.removeprefix("http://localhost"), NEW_PASSWORD)
    assert done.status_code == 302 and done.location == "/login"
    assert "Your new password is set" in phone.client.get("/login").get_data(as_text=True)
    assert can_log_in(app, "vera", NEW_PASSWORD)
    assert not can_log_in(app, "vera", VOLUNTEER_PASSWORD)
    assert laptop.client.get("/account").status_code == 302  # the other session is over
    assert "was changed" in inbox.only_message("vera@example.org")["Subject"]

    entries = audit_actions(app, "vera")
    assert "password-reset" in [entry.action for entry in entries]
    dumped = repr(entries)
    token = link.rsplit("/", 1)[1]
    assert token not in dumped and NEW_PASSWORD not in dumped and VOLUNTEER_PASSWORD not in dumped


def test_the_link_works_once(app, vera, inbox):
    link = reset_link(app, inbox)
    visitor = Visitor(app.test_client())
    assert set_password_by(visitor, link, NEW_PASSWORD).status_code == 302
    again = set_password_by(Visitor(app.test_client()), link, "another quite long passphrase")
    # The form cannot even be opened a second time.
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)
    assert visitor.client.get(link).status_code == 400
    assert can_log_in(app, "vera", NEW_PASSWORD)


@pytest.mark.parametrize("who", ["unknown", "pending", "suspended"])
def test_the_answer_is_the_same_for_any_address_and_only_an_active_account_gets_mail(
        app, visitor, vera, directory, inbox, slapd_server, who):
    if who == "pending":
        visitor.register(uid="paula", mail="paula@example.org", display_name="Paula Pending")
    elif who == "suspended":
        make_account(directory, "sue", "sue@example.org", "Sue Suspended", Status.SUSPENDED)
    address = {"unknown": "nobody@example.org", "pending": "paula@example.org",
               "suspended": "sue@example.org"}[who]
    inbox.clear()

    known = ask_for_reset(app, "vera@example.org")
    before = snapshot(slapd_server)
    other = ask_for_reset(app, address)
    assert (other.status_code, other.location) == (known.status_code, known.location)
    assert without_csrf_token(other.get_data(as_text=True)) == without_csrf_token(
        known.get_data(as_text=True))
    client = app.test_client()
    assert without_csrf_token(client.get(other.location).get_data(as_text=True)) == \
        without_csrf_token(client.get(known.location).get_data(as_text=True))
    assert NEUTRAL in client.get(other.location).get_data(as_text=True)
    assert snapshot(slapd_server) == before
    assert [message["To"] for message in inbox.messages()] == ["vera@example.org"]


def test_an_address_in_other_case_gets_the_link_at_the_stored_address(app, vera, inbox):
    ask_for_reset(app, "  VERA@Example.ORG ")
    assert inbox.link_in("vera@example.org").startswith("http://localhost/reset/")


@pytest.mark.parametrize("typed", ["*)(mail=*", "x*)(mail=*)@example.org",
                                   "vera@example.org)(uid=*", "a" * 300 + "@example.org"])
def test_hostile_address_input_is_refused_with_a_message(app, vera, inbox, slapd_server, typed):
    before = snapshot(slapd_server)
    response = ask_for_reset(app, typed)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "an email address such as" in page or "longer than 254" in page
    assert snapshot(slapd_server) == before
    assert inbox.messages() == []


def test_when_the_mail_server_is_down_the_answer_is_still_the_same(slapd_server, vera, tmp_path):
    app = create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 's.sqlite'}", smtp_port=9))
    response = ask_for_reset(app, "vera@example.org")
    assert response.status_code == 302 and response.location == "/reset/sent"
    assert [entry.action for entry in audit_actions(app, "vera")] == ["password-reset-requested"]
    assert deliver_outbox(app) == 0     # the worker tries, and keeps it for later
    with app.extensions["store"].begin() as connection:
        assert [mail.template for mail in outbox.waiting(connection)] == ["reset"]


def test_an_expired_link_is_refused(app, vera, inbox):
    token = reset_link(app, inbox).rsplit("/", 1)[1]
    with app.app_context():
        portal = get_portal()
        soon = portal.clock() + timedelta(minutes=59)
        assert check_reset_link(replace(portal, clock=lambda: soon), token).uid == "vera"
        later = portal.clock() + timedelta(minutes=61)
        with pytest.raises(LinkInvalid, match="expired"):
            reset_password(replace(portal, clock=lambda: later), token, NEW_PASSWORD)
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)


def test_the_lifetime_is_a_setting(slapd_server, vera, inbox, tmp_path):
    config = app_config(slapd_server, f"sqlite:///{tmp_path / 's.sqlite'}", inbox.port)
    app = inbox.deliver_from(create_app({**config, "RESET_LINK_MINUTES": 5}))
    response = ask_for_reset(app, "vera@example.org")
    page = app.test_client().get(response.location).get_data(as_text=True)
    assert re.search(r"within\s+5 minutes", page)
    assert re.search(r"within\s+5 minutes", inbox.only_message("vera@example.org").get_content())


def test_a_tampered_link_is_refused(app, vera, inbox):
    link = reset_link(app, inbox)
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    response = Visitor(app.test_client()).client.get(tampered)
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)


def forged(link: str, **changes) -> str:
    """The link with its payload rewritten and the original signature kept."""
    token = link.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(".")
    compressed = payload.startswith(".")  # itsdangerous marks a zlib-compressed payload so
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    data = json.loads(zlib.decompress(raw) if compressed else raw)
    assert data["uid"] == "vera"
    data.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"/reset/{encoded.decode().rstrip('=')}.{signature}"


def test_a_link_for_one_account_cannot_set_another_accounts_password(app, vera, directory,
                                                                     inbox):
    make_account(directory, "bob", "bob@example.org", "Bob Builder")
    link = reset_link(app, inbox)
    response = Visitor(app.test_client()).client.get(forged(link, uid="bob"))
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)

    # Logged in as Bob, Vera's link sets Vera's password and only hers.
    bob = Visitor(app.test_client())
    bob.log_in("bob", VOLUNTEER_PASSWORD)
    assert set_password_by(bob, link, NEW_PASSWORD).status_code == 302
    assert can_log_in(app, "vera", NEW_PASSWORD)
    assert can_log_in(app, "bob", VOLUNTEER_PASSWORD)
    assert not can_log_in(app, "bob", NEW_PASSWORD)


def test_a_link_for_a_deleted_account_does_not_reach_a_new_one_with_the_same_name(
        app, vera, directory, inbox):
    link = reset_link(app, inbox)
    directory.people.delete("vera")
    make_account(directory, "vera", "vera@example.org", "Another Vera")
    response = Visitor(app.test_client()).client.get(link)
    assert response.status_code == 400 and "no longer works" in response.get_data(as_text=True)
    assert can_log_in(app, "vera", VOLUNTEER_PASSWORD)


def test_the_link_dies_when_the_password_changes_another_way(app, vera, directory, inbox):
    link = reset_link(app, inbox)
    directory.people.set_password("vera", "set by vera in another way")
    response = set_password_by(Visitor(app.test_client()), link, NEW_PASSWORD)
    assert response.status_code == 400 and "password has changed" in response.get_data(as_text=True)
    assert can_log_in(app, "vera", "set by vera in another way")


def test_a_newer_link_used_first_ends_the_older_one(app, vera, inbox):
    older = reset_link(app, inbox)
    newer = reset_link(app, inbox)
    assert set_password_by(Visitor(app.test_client()), newer, NEW_PASSWORD).status_code == 302
    assert Visitor(app.test_client()).client.get(older).status_code == 400


def test_a_link_stops_working_when_the_account_is_suspended(app, vera, sysadmin, inbox):
    link = reset_link(app, inbox)
    sysadmin.submit("/admin/people", {"reason": "Under review"}, action="/admin/people/vera/suspend")
    response = set_password_by(Visitor(app.test_client()), link, NEW_PASSWORD)
    assert response.status_code == 400 and "no longer works" in response.get_data(as_text=True)
    assert not can_log_in(app, "vera", NEW_PASSWORD)


@pytest.mark.parametrize("password, again, message", [
    ("short", "short", "at least 12"),
    ("vera-volunteer-rocks", "vera-volunteer-rocks", "cannot contain your username"),
    ("qwerty123456", "qwerty123456", "most common"),
    (NEW_PASSWORD, NEW_PASSWORD + "!", "the two passwords differ"),
    ("x" * 1025, "x" * 1025, "longer than 1024"),
])
def test_the_password_rules_apply_and_the_link_still_works_after_a_refusal(
        app, vera, inbox, slapd_server, password, again, message):
    link = reset_link(app, inbox)
    visitor = Visitor(app.test_client())
    before = snapshot(slapd_server)
    response = set_password_by(visitor, link, password, again)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert password not in page
    assert snapshot(slapd_server) == before
    assert set_password_by(visitor, link, NEW_PASSWORD).status_code == 302


def test_posts_without_a_csrf_token_are_refused(app, vera, inbox, slapd_server):
    client = app.test_client()
    assert client.post("/reset", data={"mail": "vera@example.org"}).status_code == 400
    assert inbox.messages() == []
    link = reset_link(app, inbox)
    before = snapshot(slapd_server)
    response = client.post(link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True)
    assert snapshot(slapd_server) == before


def test_the_reset_page_is_linked_for_people_who_are_logged_out(client, directory):
    assert 'href="/reset"' in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/reset/eyJ1aWQiOiJ2ZXJhIn0.secret-part",
                                  "/account/email/eyJ1aWQiOiJ2ZXJhIn0.secret-part"])
def test_request_logs_never_show_a_reset_or_email_token(app, caplog, path):
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "GET %s HTTP/1.1" 200 -', path)
    assert "secret-part" not in caplog.text and "/[token]" in caplog.text
