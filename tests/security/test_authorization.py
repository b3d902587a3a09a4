"""Approval, suspension and TOTP resets by a plain volunteer or a coordinator of another group."""

from __future__ import annotations

import pytest
from conftest import text

from ldap_helpers import snapshot
from portal_actions import Visitor, given_totp

SYSADMINS_ONLY = "Only sysadmins may do this."


@pytest.fixture
def people(app, make_account, visitor, inbox):
    """vera (volunteer), otto (coordinates media), tess (with TOTP), nina (verified request),
    and vera's request to join the kitchen."""
    browsers = {"vera": make_account("vera", groups=["tech"]),
                "otto": make_account("otto", groups=["media"], coordinates=["media"])}
    make_account("tess", log_in=False)
    given_totp(app, "tess")
    visitor.register(uid="nina", mail="nina@example.org", display_name="Nina")
    visitor.confirm(inbox.link_in("nina@example.org"))
    browsers["vera"].submit("/account/groups", {"group": "kitchen"}, action="/account/groups/join")
    inbox.clear()
    return browsers


@pytest.mark.parametrize("who", ["vera", "otto"])
@pytest.mark.parametrize("action", ["/admin/requests/nina/approve", "/admin/requests/nina/reject",
                                    "/admin/requests/approve-selected", "/admin/requests/reject-selected",
                                    "/admin/people/tess/suspend",
                                    "/admin/people/tess/reset-totp"])
def test_admin_actions_are_forbidden_to_non_sysadmins(people, inbox, slapd_server, store_rows,
                                                      who, action):
    before, rows = snapshot(slapd_server), store_rows()
    response = people[who].submit("/account", {"groups": ["kitchen"], "uid": "nina", "reason": "x"},
                                  action=action)
    assert response.status_code == 403 and SYSADMINS_ONLY in text(response)
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


@pytest.mark.parametrize("who, message", [
    ("vera", "Only the group's coordinators and the sysadmins decide this request."),
    ("otto", "Only the group's coordinators and the sysadmins decide this request."),
])
@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_a_join_request_is_decided_only_by_its_groups_coordinators(people, inbox, slapd_server,
                                                                   store_rows, who, message, verb):
    before, rows = snapshot(slapd_server), store_rows()
    response = people[who].submit("/account", {"reason": "no"}, action=f"/groups/requests/1/{verb}")
    assert response.status_code == 403 and message in text(response)
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


def test_an_anonymous_visitor_is_sent_to_log_in(app, people, slapd_server, store_rows):
    before, rows = snapshot(slapd_server), store_rows()
    anonymous = Visitor(app.test_client())
    response = anonymous.submit("/login", {}, action="/admin/people/tess/suspend")
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    assert "Log in" in text(anonymous.client.get(response.location))
    assert snapshot(slapd_server) == before and store_rows() == rows
