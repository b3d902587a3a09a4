"""People using the portal through Flask's test client: forms filled in, CSRF tokens included."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VOLUNTEER_PASSWORD = "plum tuesday lantern orbit"
ADMIN_PASSWORD = "sysadmin passphrase for tests"


def registration(**overrides) -> dict:
    form = {
        "uid": "vera", "display_name": "Vera Volunteer", "mail": "vera@example.org",
        "password": VOLUNTEER_PASSWORD, "password_again": VOLUNTEER_PASSWORD,
        "groups": ["kitchen", "tech"], "skills": "cooking, first aid", "availability": "day",
        "note": "Free on weekends",
    }
    form.update(overrides)
    return form


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
        return self.submit("/login", {"uid": uid, "password": password})

    def log_out(self) -> TestResponse:
        return self.submit("/account", {}, action="/logout")

    def approve(self, uid: str, groups: list[str]) -> TestResponse:
        return self.submit("/admin/requests", {"groups": groups}, action=f"/admin/requests/{uid}/approve")

    def reject(self, uid: str, reason: str) -> TestResponse:
        return self.submit("/admin/requests", {"reason": reason}, action=f"/admin/requests/{uid}/reject")
