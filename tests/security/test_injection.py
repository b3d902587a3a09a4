"""LDAP filter and DN injection in every field that reaches the directory."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import text

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor

BASE = "dc=occupy,dc=test"
PAYLOADS = ["*)(uid=*", "admin)(|(uid=*", "x,ou=groups", "\\00", "*",
            "cn=sysadmins,ou=groups,dc=example,dc=org"]
URL_PAYLOADS = ["*)(uid=*", "admin)(|(uid=*", "x,ou=groups", "vera)(objectClass=*", "*",
                "cn=sysadmins,ou=groups"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_registration_username_injection_is_refused(visitor, inbox, directory, slapd_server, payload):
    before = snapshot(slapd_server)
    response = visitor.register(uid=payload)
    assert response.status_code == 400
    assert "lowercase letters" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("payload", ["*)(mail=*", "vera@example.org)(uid=*", "x,ou=groups@example.org",
                                     "a\\00@example.org"])
def test_registration_address_injection_is_refused(visitor, inbox, directory, slapd_server, payload):
    before = snapshot(slapd_server)
    response = visitor.register(mail=payload)
    assert response.status_code == 400
    assert "an email address such as" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("field, payload", [
    ("display_name", "Vera, ou groups"), ("display_name", "Vera (she/her), Kitchen & Media"),
    ("skills", "admin)(|(uid=*"), ("note", "cn=sysadmins,ou=groups,dc=occupy,dc=test"),
])
def test_free_text_with_filter_characters_is_stored_as_typed_and_touches_nothing_else(
        visitor, inbox, directory, slapd_server, field, payload):
    directory_before = snapshot(slapd_server)
    response = visitor.register(**{field: payload})
    assert response.status_code == 302 and response.location.endswith("/register/sent")
    after = snapshot(slapd_server)
    added = set(after) - set(directory_before)
    assert [dn.split(",")[0] for dn in added] == ["uid=vera"]
    untouched = [dn for dn in directory_before if not dn.startswith("ou=pending,")]  # the parent
    assert {dn: after[dn] for dn in untouched} == {dn: directory_before[dn] for dn in untouched}
    person = directory.people.get("vera")
    stored = {"display_name": person.display_name, "skills": ",".join(person.skills), "note": person.note}
    assert stored[field] == payload


@pytest.mark.parametrize("payload", ["*)(uid=*", "{{ redmine_api_key }}", "<script>x</script>"])
def test_a_name_with_filter_template_or_markup_syntax_is_refused_as_in_self_service(
        visitor, inbox, directory, slapd_server, payload):
    """One rule for names, wherever they are typed (workflow/fields.py)."""
    before = snapshot(slapd_server)
    response = visitor.register(display_name=payload)
    assert response.status_code == 400 and "use letters, digits, spaces" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


def test_a_nul_in_the_display_name_is_refused(visitor, inbox, directory, slapd_server):
    before = snapshot(slapd_server)
    response = visitor.register(display_name="Vera\x00)(uid=*")
    assert response.status_code == 400 and "remove the control characters" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_login_username_injection_matches_nobody(app, make_account, slapd_server, payload):
    make_account("vera", log_in=False)
    before = snapshot(slapd_server)
    browser = Visitor(app.test_client())
    response = browser.enter_password(payload, VOLUNTEER_PASSWORD)
    assert response.status_code == 401
    assert "Wrong username or password" in text(response)
    assert browser.client.get("/account").status_code == 302
    assert snapshot(slapd_server) == before


@pytest.mark.parametrize("payload", ["*@example.org", "v*@example.org", "vera@*"])
def test_reset_address_wildcards_reach_nobody(app, make_account, inbox, slapd_server, payload):
    make_account("vera", log_in=False)
    before = snapshot(slapd_server)
    response = Visitor(app.test_client()).submit("/reset", {"mail": payload})
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.location == "/reset/sent"
    else:
        assert "an email address such as" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("payload, reason", [
    ("Vera\x00)(uid=*", "remove the control characters"),
    ("*)(uid=*", "use letters, digits, spaces"),
    ("admin)(|(uid=*", "use letters, digits, spaces"),
    ("cn=x,ou=groups", "use letters, digits, spaces"),
])
def test_self_service_name_with_filter_or_dn_syntax_is_refused(app, make_account, slapd_server, payload,
                                                               reason):
    vera = make_account("vera")
    before = snapshot(slapd_server)
    response = vera.submit("/account/name", {"display_name": payload})
    page = text(response)
    assert response.status_code == 400 and reason in page
    assert snapshot(slapd_server) == before


@pytest.mark.parametrize("payload", ["*)(mail=*", "vera@example.org)(uid=*", "*"])
def test_self_service_email_injection_is_refused(app, make_account, inbox, slapd_server, payload):
    vera = make_account("vera")
    inbox.clear()
    before = snapshot(slapd_server)
    response = vera.submit("/account/email", {"mail": payload, "password": VOLUNTEER_PASSWORD})
    assert response.status_code == 400 and "an email address such as" in text(response)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("route", ["join", "leave"])
@pytest.mark.parametrize("payload", ["*", "*)(cn=*", "tech,ou=groups", "wg-tech", "\\00",
                                     "cn=sysadmins,ou=groups"])
def test_group_slug_injection_is_refused(app, make_account, slapd_server, store_rows, route, payload):
    vera = make_account("vera", groups=["tech"])
    before, rows = snapshot(slapd_server), store_rows()
    response = vera.submit("/account/groups", {"group": payload}, action=f"/account/groups/{route}")
    assert response.status_code == 302
    page = text(vera.client.get(response.location))
    assert "there is no such working group in the catalogue" in page
    assert snapshot(slapd_server) == before and store_rows() == rows


@pytest.mark.parametrize("action", ["requests/{}/approve", "requests/{}/reject", "people/{}/suspend",
                                    "people/{}/reinstate", "people/{}/reset-totp"])
@pytest.mark.parametrize("payload", URL_PAYLOADS)
def test_admin_actions_with_an_injected_uid_change_nobody(app, make_account, sysadmin, inbox,
                                                          slapd_server, store_rows, action, payload):
    make_account("vera", log_in=False)
    inbox.clear()
    before, rows = snapshot(slapd_server), store_rows()
    response = sysadmin.submit("/admin/people", {"reason": "test", "groups": ["kitchen"]},
                               action="/admin/" + action.format(quote(payload, safe="")))
    assert response.status_code == 302
    page = text(sysadmin.client.get(response.location))
    assert f"{payload}: not " in page or f"{payload}: two-step login not reset" in page
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


@pytest.mark.parametrize("payload", PAYLOADS + ["%", "_", "' OR '1'='1"])
def test_the_audit_filter_shows_nothing_for_a_pattern(app, make_account, sysadmin, slapd_server, payload):
    make_account("vera", log_in=False)
    before = snapshot(slapd_server)
    response = sysadmin.client.get("/admin/audit?person=" + quote(payload, safe=""))
    page = text(response)
    assert response.status_code == 200
    assert f"Nothing recorded for {payload.strip()}." in page
    assert snapshot(slapd_server) == before


@pytest.mark.parametrize("payload", ["vera@example.org)(uid=*", "*", "vera@example.org)(|(mail=*"])
def test_an_address_with_filter_syntax_never_matches_an_existing_account(
        visitor, make_account, inbox, slapd_server, payload):
    make_account("vera", log_in=False)
    vera_before = {dn: entry for dn, entry in snapshot(slapd_server).items() if dn.startswith("uid=vera,")}
    visitor.register(uid="mallory", mail=payload, display_name="Mallory")
    assert {dn: entry for dn, entry in snapshot(slapd_server).items()
            if dn.startswith("uid=vera,")} == vera_before
    assert inbox.messages("vera@example.org") == []
