"""People using the portal through Flask's test client: forms filled in, CSRF tokens included."""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from provisioner.clock import utc_now
from provisioner.outbox import deliver_due
from provisioner.resources import get_directory, get_portal
from provisioner.workflow import confirm_enrolment, new_secret
from provisioner.workflow.totp import PERIOD

CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VOLUNTEER_PASSWORD = "plum tuesday lantern orbit"
ADMIN_PASSWORD = "steward passphrase for tests"


def without_csrf_token(page: str) -> str:
    """A page as any visitor sees it: its forms' CSRF token is each visitor's own and
    carries the second it was signed in, so two renderings of one page differ there."""
    return CSRF_TOKEN.sub('name="csrf_token" value=""', page)


def registration(**overrides) -> dict:
    form = {
        "uid": "vera", "display_name": "Vera Volunteer", "mail": "vera@example.org",
        "password": VOLUNTEER_PASSWORD, "password_again": VOLUNTEER_PASSWORD,
        "groups": ["kitchen", "tech"], "skills": "cooking, first aid", "availability": "day",
        "note": "Free on weekends",
    }
    form.update(overrides)
    return form


def deliver_outbox(app: Flask, *, now: datetime | None = None, worker: str = "test-worker") -> int:
    """The worker's outbox step (what `provisioner worker` does on each poll): send the mail
    this app's requests queued, through its SMTP settings; return how many went."""
    return deliver_due(app.extensions["store"], app.extensions["mailer"], worker, now=now or utc_now())


def enrol_totp(app: Flask, uid: str, *, ago: timedelta = timedelta(minutes=5)) -> list[str]:
    """Set up TOTP for `uid` through the workflow, as if done `ago`, so the codes of the
    next steps are all still unused; returns the recovery codes."""
    with app.app_context():
        moment = utc_now() - ago
        portal = replace(get_portal(), clock=lambda: moment)
        secret = new_secret()
        return confirm_enrolment(portal, uid, secret, pyotp.TOTP(secret).at(moment))


def given_totp(app: Flask, uid: str, *, ago: timedelta = timedelta(minutes=5)) -> None:
    """`uid` set up TOTP `ago`, as enrolment leaves their entry, but with no recovery codes:
    their ten scrypt hashes take half a second, which a fixture that only logs in does
    not need. Tests of enrolment and of recovery codes use `enrol_totp`."""
    with app.app_context():
        moment = utc_now() - ago
        get_directory().people.set_totp(uid, secrets.token_bytes(20), enrolled_at=moment,
                                        last_step=int(moment.timestamp()) // PERIOD)


def authenticator_code(app: Flask, uid: str) -> str:
    """What `uid`'s authenticator app shows: the code of the first time step not used yet
    (now, or the next one), waiting when even the next one was used already."""
    with app.app_context():
        token = get_directory().people.totp(uid)
    assert token is not None, f"{uid} has not set up two-step login"
    now = int(time.time()) // PERIOD
    step = max(now, (token.last_step if token.last_step is not None else now - 1) + 1)
    if step > now + 1:  # the window accepts one step ahead: wait until this one is in reach
        time.sleep((step - 1) * PERIOD - time.time() + 0.1)
    return pyotp.TOTP(base64.b32encode(token.secret).decode()).generate_otp(step)


class Visitor:
    """One browser: a cookie jar, reading CSRF tokens from the pages it opens."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def csrf_token(self, page: str) -> str:
        match = CSRF_TOKEN.search(self.client.get(page).get_data(as_text=True))
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def submit(self, page: str, data: dict, action: str | None = None) -> TestResponse:
        """Open `page`, then post its form (to `action` if the form posts elsewhere)."""
        return self.client.post(action or page, data={**data, "csrf_token": self.csrf_token(page)})

    def register(self, **overrides) -> TestResponse:
        return self.submit("/register", registration(**overrides))

    def confirm(self, link: str) -> TestResponse:
        path = link.removeprefix("http://localhost")
        return self.submit(path, {})

    def log_in(self, uid: str, password: str) -> TestResponse:
        """Log in; when asked for a TOTP code, enter what the person's authenticator shows."""
        response = self.enter_password(uid, password)
        if response.status_code == 302 and response.location == "/login/code":
            response = self.enter_code(authenticator_code(self.client.application, uid.strip().lower()))
        return response

    def enter_password(self, uid: str, password: str) -> TestResponse:
        return self.submit("/login", {"uid": uid, "password": password})

    def enter_code(self, code: str) -> TestResponse:
        return self.submit("/login/code", {"code": code})

    def log_out(self) -> TestResponse:
        return self.submit("/account", {}, action="/logout")

    def approve(self, uid: str, groups: list[str]) -> TestResponse:
        return self.submit("/admin/requests", {"groups": groups}, action=f"/admin/requests/{uid}/approve")

    def reject(self, uid: str, reason: str) -> TestResponse:
        return self.submit("/admin/requests", {"reason": reason}, action=f"/admin/requests/{uid}/reject")
