"""Every state-changing route refuses a POST without a CSRF token."""

from __future__ import annotations

import re

import pytest
from conftest import text

from ldap_helpers import snapshot

VALUES = {"uid": "vera", "token": "eyJ4IjoxfQ.abc", "request_id": "1", "job_id": "1"}




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
            response = browser.post(route, data={"group": "kitchen", "reason": "x", "uid": "vera",
                                                 "mail": "vera@example.org", "display_name": "X",
                                                 "password": "x" * 20, "code": "123456"})
            assert response.status_code == 400, route
            assert "Form expired" in text(response), route
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []
    assert sysadmin.client.get("/admin/people").status_code == 200
