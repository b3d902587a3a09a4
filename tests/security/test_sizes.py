"""Oversized fields and bodies are refused before anything is written."""

from __future__ import annotations

import pytest
from conftest import text

from ldap_helpers import snapshot
from portal_actions import registration


@pytest.mark.parametrize("field", ["uid", "display_name", "note", "skills", "mail"])
def test_a_one_megabyte_field_is_refused(visitor, inbox, directory, slapd_server, store_rows, field):
    before, rows = snapshot(slapd_server), store_rows()
    response = visitor.register(**{field: "x" * (1024 * 1024)})
    assert response.status_code in (400, 413)
    assert "What you sent is too large." in text(response) or "at most" in text(response)
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


@pytest.mark.parametrize("route", ["/register", "/login", "/reset"])
def test_a_ten_megabyte_body_is_refused(visitor, inbox, directory, slapd_server, route):
    before = snapshot(slapd_server)
    token = visitor.csrf_token(route)
    response = visitor.client.post(route, data={**registration(), "csrf_token": token,
                                                "filler": "y" * (10 * 1024 * 1024)})
    assert response.status_code == 413 and "What you sent is too large." in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []
