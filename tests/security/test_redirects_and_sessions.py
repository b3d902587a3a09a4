"""Open redirects through next=, and session fixation."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from conftest import text

from portal_actions import VOLUNTEER_PASSWORD, Visitor

HOSTILE_NEXT = ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)",
                "\\\\evil.example", "/%2F%2Fevil.example", "http:evil.example", " //evil.example",
                "/\tevil", "//evil.example/%2e%2e"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leaves_the_site(app, make_account, target):
    make_account("vera", log_in=False)
    browser = Visitor(app.test_client())
    page = "/login?next=" + quote(target, safe="")
    response = browser.submit(page, {"uid": "vera", "password": VOLUNTEER_PASSWORD})
    location = response.location
    assert response.status_code == 302 and location.startswith("/")
    assert not location.startswith(("//", "/\\")) and urlsplit(location).netloc == ""
    assert "vera" in text(browser.client.get("/account"))


def test_next_to_a_page_of_the_site_is_kept(app, make_account):
    make_account("vera", log_in=False)
    browser = Visitor(app.test_client())
    response = browser.submit("/login?next=/account/groups",
                              {"uid": "vera", "password": VOLUNTEER_PASSWORD})
    assert response.location == "/account/groups"


def cookie(browser: Visitor, name: str = "session") -> str | None:
    found = browser.client.get_cookie(name)
    return found.value if found else None


def test_the_session_cookie_changes_at_login(app, make_account):
    make_account("vera", log_in=False)
    browser = Visitor(app.test_client())
    browser.csrf_token("/login")
    before = cookie(browser)
    assert browser.log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    assert cookie(browser) != before


def test_a_planted_session_gives_nothing(app, make_account):
    make_account("vera", log_in=False)
    victim = Visitor(app.test_client())
    victim.csrf_token("/login")
    planted = cookie(victim)
    assert victim.log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    attacker = Visitor(app.test_client())
    attacker.client.set_cookie("session", planted)
    response = attacker.client.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login")


@pytest.mark.parametrize("planted", ["vera", "1", "' OR 1=1 --"])
def test_a_forged_user_id_in_the_session_gives_nothing(app, make_account, planted):
    make_account("vera", log_in=False)
    attacker = Visitor(app.test_client())
    with attacker.client.session_transaction() as session:
        session["_user_id"] = planted
        session["_fresh"] = True
    response = attacker.client.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert "Log in" in text(attacker.client.get(response.location))
