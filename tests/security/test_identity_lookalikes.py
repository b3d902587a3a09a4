"""Usernames that differ from an existing one only by case, look-alike letters or width."""

from __future__ import annotations

import pytest
from conftest import text

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor

LOOKALIKES = ["Vera", "VERA", "v\u0435ra", "ver\u0430", "\uff56\uff45\uff52\uff41", "v\u0130ra",
              "ve\u200bra", "vera\u00a0"]


@pytest.mark.parametrize("uid", LOOKALIKES)
def test_a_lookalike_username_never_makes_a_second_account(visitor, make_account, inbox,
                                                           slapd_server, uid):
    make_account("vera", log_in=False)
    before = snapshot(slapd_server)
    response = visitor.register(uid=uid, mail="mallory@example.org", display_name="Mallory")
    page = text(response)
    assert (response.status_code == 400 and "lowercase letters" in page) or (
        response.status_code == 302 and response.location.endswith("/register/sent"))
    assert snapshot(slapd_server) == before
    assert inbox.messages("vera@example.org") == []


@pytest.mark.parametrize("uid", [name for name in LOOKALIKES if name.strip().lower() != "vera"])
def test_a_lookalike_username_never_logs_in(app, make_account, slapd_server, uid):
    make_account("vera", log_in=False)
    before = snapshot(slapd_server)
    browser = Visitor(app.test_client())
    response = browser.enter_password(uid, VOLUNTEER_PASSWORD)
    assert response.status_code == 401 and "Wrong username or password" in text(response)
    assert browser.client.get("/account").status_code == 302
    assert snapshot(slapd_server) == before
