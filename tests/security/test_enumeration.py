"""Registration and reset answer the same whether an address or a name is known or not."""

from __future__ import annotations

import re

from conftest import text

from portal_actions import Visitor, registration

VARIABLE = re.compile(r'name="csrf_token"[^>]*value="[^"]+"|[\w.+-]+@example\.org')


def answer(app, page: str, data: dict) -> tuple:
    browser = Visitor(app.test_client())
    response = browser.submit(page, data)
    shown = text(browser.client.get(response.location)) if response.status_code == 302 else ""
    return response.status_code, response.location, VARIABLE.sub("…", shown)


def test_reset_answers_the_same_for_known_and_unknown_addresses(app, make_account):
    make_account("vera", log_in=False)
    known = answer(app, "/reset", {"mail": "vera@example.org"})
    unknown = answer(app, "/reset", {"mail": "nobody@example.org"})
    assert known == unknown and known[:2] == (302, "/reset/sent")
    assert "If the address you gave belongs to an active account" in known[2]


def test_registration_answers_the_same_for_taken_and_free_names_and_addresses(app, make_account):
    make_account("vera", log_in=False)
    taken_name = answer(app, "/register", {**_form("vera", "x1@example.org")})
    taken_mail = answer(app, "/register", {**_form("xavier", "vera@example.org")})
    free = answer(app, "/register", {**_form("yolanda", "yolanda@example.org")})
    assert taken_name == taken_mail == free
    assert free[:2] == (302, "/register/sent")


def _form(uid: str, mail: str) -> dict:
    return registration(uid=uid, mail=mail, display_name="Someone Else")
