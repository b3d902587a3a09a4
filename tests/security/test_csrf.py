"""Every state-changing route refuses a POST without a CSRF token, and one sent by another site."""

from __future__ import annotations

import re

import pytest
from conftest import text

from ldap_helpers import snapshot
from portal_actions import CSRF_TOKEN, Visitor, registration

VALUES = {"uid": "vera", "token": "eyJ4IjoxfQ.abc", "request_id": "1", "job_id": "1", "slug": "kitchen",
          "invitation_id": "1", "wg": "kitchen"}
FORM = {"group": "kitchen", "reason": "x", "uid": "vera", "mail": "vera@example.org",
        "display_name": "X", "password": "x" * 20, "code": "123456"}
# The suite's PUBLIC_URL is http://localhost, where Flask's test client sends its requests.
FOREIGN_SENDERS = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:8080"},
    {"Origin": "https://localhost"},
    {"Origin": "http://localhost.evil.example"},
    {"Referer": "https://evil.example/occupy/register"},
    {"Origin": "https://evil.example", "Referer": "http://localhost/register"},
]
SAME_SITE_SENDERS = [
    {"Origin": "http://localhost"},
    {"Origin": "HTTP://LOCALHOST:80"},
    {"Referer": "http://localhost/register"},
    {"Origin": "http://localhost", "Referer": "https://evil.example/"},
]


def concrete(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: VALUES[m.group(1)], rule)


def test_the_route_list_is_not_empty(app):
    assert len([r for r in app.url_map.iter_rules() if "POST" in r.methods]) >= 15


@pytest.fixture
def routes(app):
    return [concrete(rule.rule) for rule in app.url_map.iter_rules() if "POST" in rule.methods]


def test_every_post_without_a_token_is_refused_and_changes_nothing(app, make_account, sysadmin,
                                                                   routes, inbox, slapd_server,
                                                                   store_rows):
    make_account("vera", groups=["tech"], log_in=False)
    inbox.clear()
    before, rows = snapshot(slapd_server), store_rows()
    for route in routes:
        for browser in (sysadmin.client, app.test_client()):
            response = browser.post(route, data=FORM)
            assert response.status_code == 400, route
            assert "Form expired" in text(response), route
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []
    assert sysadmin.client.get("/admin/people").status_code == 200


def test_every_post_from_another_site_is_refused_with_a_valid_token_and_changes_nothing(
        app, make_account, sysadmin, routes, inbox, slapd_server, store_rows):
    make_account("vera", groups=["tech"], log_in=False)
    stranger = Visitor(app.test_client())
    browsers = [(sysadmin, sysadmin.csrf_token("/account")), (stranger, stranger.csrf_token("/register"))]
    inbox.clear()
    before, rows = snapshot(slapd_server), store_rows()
    for route in routes:
        for browser, token in browsers:
            for sender in FOREIGN_SENDERS:
                response = browser.client.post(route, data={**FORM, "csrf_token": token}, headers=sender)
                assert response.status_code == 403, (route, sender)
                page = text(response)
                assert "Sent from another site" in page and "open http://localhost and" in page
                assert len(page) < 2000
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []
    # The tokens were good: from the portal's own pages the same browsers get through.
    (sysadmin_token, stranger_token) = (token for _, token in browsers)
    assert stranger.client.post("/register", data={**registration(uid="rosa", mail="rosa@example.org"),
                                                   "csrf_token": stranger_token}).status_code == 302
    assert sysadmin.client.post("/logout", data={"csrf_token": sysadmin_token}).status_code == 302


def test_a_foreign_origin_is_refused_before_the_token_is_even_checked(client):
    response = client.post("/register", data=registration(), headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "Sent from another site" in text(response)


@pytest.mark.parametrize("sender", SAME_SITE_SENDERS)
def test_a_post_from_the_portals_own_pages_goes_through(visitor, directory, sender):
    token = visitor.csrf_token("/register")
    response = visitor.client.post("/register", data={**registration(), "csrf_token": token},
                                   headers=sender)
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    assert directory.people.get("vera").pending


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_post_with_neither_origin_nor_referer_relies_on_the_token(app, directory, scheme):
    """Some privacy tools strip both headers: the CSRF token alone decides then, over HTTPS
    too (where Flask-WTF's own check answered "Form expired" for a missing Referer)."""
    client = app.test_client()
    base = f"{scheme}://localhost"
    assert client.post("/register", base_url=base, data=registration()).status_code == 400
    page = client.get("/register", base_url=base).get_data(as_text=True)
    form = {**registration(), "csrf_token": CSRF_TOKEN.search(page).group(1)}
    assert client.post("/register", base_url=base, data=form).status_code == 302
    assert directory.people.get("vera").pending
