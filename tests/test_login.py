"""Logging in and out: bind checks, server-side sessions, the session cookie, safe redirects."""

from __future__ import annotations

from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.resources import get_store
from provisioner.store import audit
from provisioner.store.schema import sessions

from portal_actions import ADMIN_PASSWORD, Visitor, authenticator_code
from suite_config import app_config


def test_a_wrong_password_is_refused_and_audited(app, sysadmin, directory):
    visitor = Visitor(app.test_client())
    response = visitor.log_in("sam", ADMIN_PASSWORD + "!")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert visitor.client.get("/account").status_code == 302  # still logged out
    with app.app_context(), get_store().begin() as connection:
        actions = [entry.action for entry in audit.entries(connection, person="sam")]
    assert actions[0] == "login-failed"


def test_a_pending_request_cannot_log_in(app, visitor, directory):
    visitor.register()
    response = Visitor(app.test_client()).log_in("vera", "plum tuesday lantern orbit")
    assert response.status_code == 401


def test_the_username_is_not_case_sensitive(app, sysadmin):
    assert Visitor(app.test_client()).log_in("  SAM ", ADMIN_PASSWORD).status_code == 302


def test_the_session_is_renewed_at_login(app, sysadmin):
    visitor = Visitor(app.test_client())
    with visitor.client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_user_id"] = "a-token-the-attacker-knows"
    visitor.log_in("sam", ADMIN_PASSWORD)
    with visitor.client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] not in ("sam", "a-token-the-attacker-knows")
    assert visitor.client.get("/admin/requests").status_code == 200


def copy_of(app, visitor: Visitor) -> Visitor:
    """Another browser holding the same session cookie (a stolen or copied cookie)."""
    thief = Visitor(app.test_client())
    cookie = visitor.client.get_cookie("session")
    thief.client.set_cookie("session", cookie.value)
    return thief


def test_after_logout_a_copy_of_the_session_cookie_is_worthless(app, sysadmin):
    thief = copy_of(app, sysadmin)
    assert thief.client.get("/admin/requests").status_code == 200
    sysadmin.log_out()
    assert thief.client.get("/admin/requests").status_code == 302


def test_logging_out_everywhere_ends_every_session_of_the_person(app, sysadmin):
    laptop = Visitor(app.test_client())
    laptop.log_in("sam", ADMIN_PASSWORD)
    response = sysadmin.submit("/account", {}, action="/logout-everywhere")
    assert response.status_code == 302
    assert laptop.client.get("/admin/requests").status_code == 302
    assert sysadmin.client.get("/admin/requests").status_code == 302
    with app.app_context(), get_store().begin() as connection:
        assert audit.entries(connection, person="sam")[0].action == "logout-everywhere"


def age_sessions(app, *, created: timedelta, seen: timedelta) -> None:
    now = utc_now()
    with app.app_context(), get_store().begin() as connection:
        connection.execute(sessions.update().values(created_at=now - created, last_seen=now - seen))


@pytest.mark.parametrize("created, seen, still_in", [
    (timedelta(hours=1), timedelta(minutes=10), True),       # in use: goes on
    (timedelta(minutes=31), timedelta(minutes=31), False),   # idle past 30 minutes
    (timedelta(hours=13), timedelta(minutes=1), False),      # past 12 hours, however busy
])
def test_a_session_ends_when_idle_or_too_old(app, sysadmin, created, seen, still_in):
    age_sessions(app, created=created, seen=seen)
    assert (sysadmin.client.get("/admin/requests").status_code == 200) is still_in


@pytest.mark.parametrize("target, expected", [
    ("/admin/requests", "/admin/requests"),
    ("//evil.example/x", "/admin"),
    ("https://evil.example/", "/admin"),
    ("/\\evil.example", "/admin"),
    ("javascript:alert(1)", "/admin"),
    ("/\x0d\x0aSet-Cookie:x=1", "/admin"),
])
def test_after_login_the_redirect_only_goes_to_a_path_on_this_site(app, sysadmin, target,
                                                                   expected):
    visitor = Visitor(app.test_client())
    token = visitor.csrf_token("/login")
    response = visitor.client.post("/login", query_string={"next": target},
                                   data={"uid": "sam", "password": ADMIN_PASSWORD,
                                         "csrf_token": token})
    assert response.location == "/login/code"  # sam uses TOTP: the target waits for the code
    response = visitor.enter_code(authenticator_code(app, "sam"))
    assert response.status_code == 302
    assert response.location == expected     # else a sysadmin's home, the dashboard


def test_logging_out_ends_the_session(app, sysadmin):
    assert sysadmin.client.get("/admin/requests").status_code == 200
    sysadmin.log_out()
    assert sysadmin.client.get("/admin/requests").status_code == 302


def test_session_cookies_are_httponly_samesite_and_secure_outside_development(slapd_server,
                                                                             directory, inbox,
                                                                             tmp_path):
    config = app_config(slapd_server, f"sqlite:///{tmp_path / 's.sqlite'}",
                                        inbox.port)
    del config["SECURE_COOKIES"]  # the default, as deployed
    app = create_app(config)
    client = app.test_client()
    response = client.get("/login", base_url="https://localhost")
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_pages_carry_protective_headers(client, directory):
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"  # see HEADERS: no-referrer makes Origin null
