"""One-time things used twice: TOTP codes, recovery codes, reset links."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import text

from provisioner.resources import get_portal
from provisioner.workflow import LinkInvalid, reset_password

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, authenticator_code, enrol_totp, given_totp

NEW_PASSWORD = "copper kettle under moonlight"


def test_a_replayed_totp_code_fails(app, make_account, slapd_server, store_rows):
    make_account("tess", log_in=False)
    given_totp(app, "tess")
    code = authenticator_code(app, "tess")
    first = Visitor(app.test_client())
    first.enter_password("tess", VOLUNTEER_PASSWORD)
    assert first.enter_code(code).location == "/account"
    before, rows = snapshot(slapd_server), store_rows()
    thief = Visitor(app.test_client())
    thief.enter_password("tess", VOLUNTEER_PASSWORD)
    response = thief.enter_code(code)
    assert response.status_code == 401 and "used" in text(response)
    assert thief.client.get("/account").status_code == 302
    assert snapshot(slapd_server) == before and store_rows() == rows


def test_a_recovery_code_works_only_once(app, make_account, slapd_server, store_rows, inbox):
    make_account("tess", log_in=False)
    codes = enrol_totp(app, "tess")
    first = Visitor(app.test_client())
    first.enter_password("tess", VOLUNTEER_PASSWORD)
    assert first.enter_code(codes[0]).location == "/account"
    inbox.clear()
    before, rows = snapshot(slapd_server), store_rows()
    again = Visitor(app.test_client())
    again.enter_password("tess", VOLUNTEER_PASSWORD)
    response = again.enter_code(codes[0])
    assert response.status_code == 401 and "code" in text(response).lower()
    assert again.client.get("/account").status_code == 302
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


@pytest.fixture
def reset_link(app, make_account, inbox):
    make_account("vera", log_in=False)
    make_account("bob", log_in=False)
    Visitor(app.test_client()).submit("/reset", {"mail": "vera@example.org"})
    link = inbox.link_in("vera@example.org").removeprefix("http://localhost")
    inbox.clear()
    return link


def set_password(app, link: str, browser: Visitor | None = None):
    browser = browser or Visitor(app.test_client())
    return browser.submit("/reset", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
                          action=link)


def test_a_reset_link_used_twice_fails_the_second_time(app, reset_link, slapd_server, store_rows):
    assert set_password(app, reset_link).status_code == 302
    before, rows = snapshot(slapd_server), store_rows()
    response = set_password(app, reset_link)
    assert response.status_code == 400 and "used already" in text(response)
    assert snapshot(slapd_server) == before and store_rows() == rows


def test_an_expired_reset_link_changes_nothing(app, reset_link, slapd_server, store_rows):
    token = reset_link.rsplit("/", 1)[1]
    before, rows = snapshot(slapd_server), store_rows()
    with app.app_context():
        portal = get_portal()
        later = portal.clock() + timedelta(minutes=61)
        with pytest.raises(LinkInvalid, match="expired"):
            reset_password(replace(portal, clock=lambda: later), token, NEW_PASSWORD)
    assert snapshot(slapd_server) == before and store_rows() == rows


def test_a_reset_link_sets_only_its_own_accounts_password(app, reset_link, slapd_server):
    bob = Visitor(app.test_client())
    assert bob.log_in("bob", VOLUNTEER_PASSWORD).status_code == 302
    bob_before = {dn: entry for dn, entry in snapshot(slapd_server).items() if dn.startswith("uid=bob,")}
    assert set_password(app, reset_link, bob).status_code == 302
    assert {dn: entry for dn, entry in snapshot(slapd_server).items()
            if dn.startswith("uid=bob,")} == bob_before
    assert Visitor(app.test_client()).log_in("bob", NEW_PASSWORD).status_code == 401


def test_a_reset_link_with_another_accounts_name_pasted_in_is_refused(app, reset_link, slapd_server):
    token = reset_link.rsplit("/", 1)[1]
    before = snapshot(slapd_server)
    forged = "/reset/" + token.replace(token.split(".")[0], "eyJ1aWQiOiJib2IifQ", 1)
    response = set_password(app, forged)
    assert response.status_code == 400 and "not valid" in text(response)
    assert snapshot(slapd_server) == before
