"""A volunteer registers and verifies their address: by HTTP, against real slapd and SMTP."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.directory import Status
from provisioner.resources import get_catalogue, get_directory, get_portal
from provisioner.store import audit, outbox
from provisioner.workflow import LinkInvalid, initialise_directory, purge_expired, verify_email

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, deliver_outbox, registration
from suite_config import app_config


def test_registering_creates_a_pending_request_and_mails_a_link(visitor, inbox, directory):
    response = visitor.register()
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    person = directory.people.get("vera")
    assert person.pending and person.status == Status.UNVERIFIED
    assert person.requested_groups == ("kitchen", "tech")
    assert (person.skills, person.availability, person.note) == (
        ("cooking", "first aid"), "day", "Free on weekends")
    mail = inbox.only_message("vera@example.org")
    assert "Confirm your email" in mail["Subject"]
    assert inbox.link_in("vera@example.org").startswith("http://localhost/verify/")
    assert VOLUNTEER_PASSWORD not in mail.get_content()


def test_the_link_verifies_once(visitor, inbox, directory):
    visitor.register()
    link = inbox.link_in("vera@example.org")
    assert visitor.client.get(link).status_code == 200          # GET only shows a button
    assert directory.people.get("vera").status == Status.UNVERIFIED
    confirmed = visitor.confirm(link)
    assert confirmed.status_code == 200 and "address is confirmed" in confirmed.get_data(as_text=True)
    assert directory.people.get("vera").status == Status.VERIFIED
    again = visitor.confirm(link)
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)


def test_a_tampered_link_is_refused(visitor, inbox, directory):
    visitor.register()
    link = inbox.link_in("vera@example.org")
    response = visitor.confirm(link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb"))
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    assert directory.people.get("vera").status == Status.UNVERIFIED


def test_an_expired_link_is_refused_and_the_request_is_purged(app, visitor, inbox, directory):
    visitor.register()
    token = inbox.link_in("vera@example.org").rsplit("/", 1)[1]
    with app.app_context():
        portal = get_portal()
        later = portal.clock() + timedelta(hours=49)
        with pytest.raises(LinkInvalid, match="expired"):
            verify_email(replace(portal, clock=lambda: later), token)
        assert purge_expired(portal) == []          # not expired yet
        assert purge_expired(portal, now=later) == ["vera"]
    assert directory.people.find("vera") is None


def test_a_link_for_a_request_that_was_purged_does_not_verify_a_new_one(app, visitor, inbox,
                                                                       directory):
    visitor.register()
    old_link = inbox.link_in("vera@example.org")
    directory.people.delete("vera")
    inbox.clear()
    visitor.register()
    response = visitor.confirm(old_link)
    assert response.status_code == 400
    assert directory.people.get("vera").status == Status.UNVERIFIED


@pytest.mark.parametrize("field, value, message", [
    ("uid", "Vera", "lowercase letters"),
    ("uid", "ve", "3 to 32"),
    ("uid", "postmaster", "reserved"),
    ("uid", "wg-kitchen", "reserved"),
    ("uid", "vera*)(uid=*", "lowercase letters"),
    ("mail", "not an address", "email address"),
    ("password", "short", "at least 12"),
    ("password", "vera-is-my-password", "cannot contain your username"),
    ("password", "qwerty123456", "most common"),
    ("groups", ["kitchen", "nonexistent"], "choose from the list"),
    ("availability", "forever", "Not a valid choice"),
    ("note", "x" * 2001, "2000"),
])
def test_a_refused_field_says_why_keeps_the_rest_and_creates_nothing(visitor, inbox, directory,
                                                                     slapd_server, field, value,
                                                                     message):
    before = snapshot(slapd_server)
    overrides = {field: value}
    if field == "password":
        overrides["password_again"] = value
    response = visitor.register(**overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert 'value="Vera Volunteer"' in page  # what was typed stays
    assert VOLUNTEER_PASSWORD not in page and (field != "password" or value not in page)
    assert snapshot(slapd_server) == before
    assert inbox.messages() == []


def test_passwords_that_differ_are_refused(visitor, directory):
    response = visitor.register(password_again="plum tuesday lantern orbiT")
    assert response.status_code == 400
    assert "the two passwords differ" in response.get_data(as_text=True)
    assert directory.people.find("vera") is None


def test_a_taken_username_gets_the_neutral_answer_and_a_mail_to_the_new_address(visitor, inbox,
                                                                               directory,
                                                                               slapd_server):
    visitor.register()
    inbox.clear()
    before = snapshot(slapd_server)
    response = visitor.register(mail="someone.else@example.org", display_name="Someone Else")
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    assert snapshot(slapd_server) == before
    assert "Choose another username" in inbox.only_message("someone.else@example.org")["Subject"]
    assert inbox.messages("vera@example.org") == []


def test_a_confirmed_address_gets_the_neutral_answer_and_its_owner_is_told(visitor, inbox, directory,
                                                                          slapd_server):
    visitor.register()
    assert visitor.confirm(inbox.link_in("vera@example.org")).status_code == 200
    inbox.clear()
    before = snapshot(slapd_server)
    response = visitor.register(uid="mallory", mail="VERA@example.org")
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    assert snapshot(slapd_server) == before
    told = inbox.only_message("VERA@example.org")
    assert "tried to register with your address" in told["Subject"]
    assert '"vera"' in told.get_content() and "mallory" not in told.get_content()


def test_registration_while_slapd_is_down_shows_an_error_and_writes_nothing(own_slapd, inbox,
                                                                           tmp_path):
    app = inbox.deliver_from(create_app(app_config(own_slapd, f"sqlite:///{tmp_path / 's.sqlite'}",
                                                   inbox.port)))
    with app.app_context():
        initialise_directory(get_directory(), get_catalogue(), "Occupy Test")
    visitor = Visitor(app.test_client())
    token = visitor.csrf_token("/register")
    own_slapd.stop()
    response = visitor.client.post("/register", data={**registration(), "csrf_token": token})
    assert response.status_code == 503
    assert "nothing was saved" in response.get_data(as_text=True)
    own_slapd.start()
    with app.app_context():
        assert get_directory().people.find("vera") is None
    assert inbox.messages() == []


def test_when_the_mail_server_is_down_the_request_waits_for_its_mail(slapd_server, directory, tmp_path):
    app = create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 's.sqlite'}", smtp_port=9))
    response = Visitor(app.test_client()).register()
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    assert directory.people.get("vera").status == Status.UNVERIFIED
    assert deliver_outbox(app) == 0     # the worker tries, and keeps it for later
    with app.extensions["store"].begin() as connection:
        assert [mail.template for mail in outbox.waiting(connection)] == ["verify"]


def test_registration_and_verification_are_audited_without_secrets(app, visitor, inbox):
    visitor.register()
    link = inbox.link_in("vera@example.org")
    visitor.confirm(link)
    with app.app_context(), get_portal().store.begin() as connection:
        entries = audit.entries(connection, person="vera")
    assert [entry.action for entry in entries] == ["email-verified", "registered"]
    token = link.rsplit("/", 1)[1]
    dumped = repr(entries)
    assert VOLUNTEER_PASSWORD not in dumped and token not in dumped


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(client, directory, inbox):
    response = client.post("/register", data=registration())
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)
    assert directory.people.find("vera") is None
    assert inbox.messages() == []


def test_request_logs_never_show_a_verification_token(app, caplog):
    token = "eyJ1aWQiOiJ2ZXJhIn0.secret-part"
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /verify/%s HTTP/1.1" 200 -', token)
    assert token not in caplog.text and "/verify/[token]" in caplog.text
