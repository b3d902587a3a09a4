"""Every field of every form takes anything a person can type: never a 500, a bounded
answer, and a clear message for what is refused.

A property test (Hypothesis) posts generated values (template syntax, LDAP and DN
specials, control characters, any Unicode, floods of text and of repeated fields)
into each form with a valid CSRF token, as the kind of person the form is for; a
plain test puts a control character in each text field in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from conftest import text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.web.forms import CONTROL_REFUSED, MAX_SHOWN

from ldap_helpers import snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, registration

# Larger than any page the portal shows, far smaller than what the floods below send.
MAX_ANSWER = 64 * 1024
ANSWERS = {200, 302, 400, 401, 403, 404, 409, 413, 429}
SPECIALS = ["{{ redmine_api_key }}", "{% raw %}", "{#", "#}", "{{7*7}}", "${jndi:ldap://x}",
            "*)(uid=*", "\\2a", ",+\"\\<>;=", "\x00", "\r\nBcc: x@example.org", "<script>x</script>",
            "' OR 1=1 --", "=cmd|' /C calc'!A0", "‮evil", "a\u0301\u0301", "ｖｅｒａ", "İ", "😀" * 10]


def values() -> st.SearchStrategy[str]:
    """What a hostile or merely unusual person types into one field."""
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(SPECIALS),
        st.tuples(st.sampled_from(SPECIALS), st.text(max_size=10)).map("".join),
        st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5),
        st.integers(2_000, 200_000).map(lambda n: "x" * n),
    )


def repeated() -> st.SearchStrategy[list[str]]:
    """A field sent many times (checkboxes, selections), sometimes ten thousand times."""
    return st.one_of(st.lists(values(), max_size=4),
                     st.integers(1_000, 10_000).map(lambda n: [f"bogus{i}" for i in range(n)]))


@dataclass(frozen=True)
class Form:
    who: str                 # anonymous, volunteer, sysadmin
    page: str                # where the form (and its CSRF token) is
    action: str              # where it posts
    fields: tuple[str, ...]  # single-valued text fields
    lists: tuple[str, ...] = ()


FORMS = {
    "register": Form("anonymous", "/register", "/register",
                     ("uid", "display_name", "mail", "password", "password_again", "skills",
                      "availability", "note"), ("groups",)),
    "login": Form("anonymous", "/login", "/login", ("uid", "password")),
    "reset": Form("anonymous", "/reset", "/reset", ("mail",)),
    "name": Form("volunteer", "/account/name", "/account/name", ("display_name",)),
    "password": Form("volunteer", "/account/password", "/account/password",
                     ("old_password", "password", "password_again")),
    "email": Form("volunteer", "/account/email", "/account/email", ("mail", "password")),
    "delete-account": Form("volunteer", "/account/delete", "/account/delete", ("password", "code")),
    "join": Form("volunteer", "/account/groups", "/account/groups/join", ("group",)),
    "leave": Form("volunteer", "/account/groups", "/account/groups/leave", ("group",)),
    "approve": Form("sysadmin", "/admin/requests", "/admin/requests/{}/approve", (), ("groups",)),
    "approve-selected": Form("sysadmin", "/admin/requests", "/admin/requests/approve-selected",
                             (), ("uid",)),
    "reject": Form("sysadmin", "/admin/requests", "/admin/requests/{}/reject", ("reason",)),
    "reject-selected": Form("sysadmin", "/admin/requests", "/admin/requests/reject-selected",
                            ("reason",), ("uid",)),
    "suspend": Form("sysadmin", "/admin/people", "/admin/people/{}/suspend", ("reason",)),
    "decline": Form("sysadmin", "/admin/requests", "/groups/requests/1/decline", ("reason",)),
    "invite": Form("sysadmin", "/invitations", "/invitations",
                   ("mail", "display_name", "until", "language"),
                   ("groups",)),
    "end-date": Form("sysadmin", "/admin/people", "/people/{}/end-date", ("end_date", "back")),
    "ask-renewal": Form("volunteer", "/account", "/account/renewal", ("note",)),
    "renewal-link": Form("anonymous", "/login", "/renew/{}", ("note",)),
    "renew": Form("sysadmin", "/admin/requests", "/groups/renewals/1/renew", ("end_date", "back")),
    "decline-renewal": Form("sysadmin", "/admin/requests", "/groups/renewals/1/decline",
                            ("reason", "back")),
}


@pytest.fixture
def browsers(app, make_account, sysadmin):
    make_account("vera", groups=["tech"], log_in=False)
    volunteer = make_account("tess", groups=["kitchen"])
    return {"anonymous": Visitor(app.test_client()), "volunteer": volunteer, "sysadmin": sysadmin}


def post(browser: Visitor, form: Form, data: dict, path_value: str = "vera"):
    action = form.action.format(quote(path_value, safe="")) if "{}" in form.action else form.action
    return browser.submit(form.page, data, action=action)


def assert_answered_well(response) -> None:
    assert response.status_code in ANSWERS, response.status_code
    body = response.get_data()
    assert len(body) < MAX_ANSWER, f"{len(body)} bytes"
    if response.status_code == 400:  # refused: the page says why
        assert 'class="error"' in text(response) or "Form expired" in text(response)


@pytest.mark.parametrize("name", list(FORMS))
def test_any_value_in_any_field_gets_a_bounded_answer_and_never_a_500(browsers, name):
    form = FORMS[name]

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(st.fixed_dictionaries({field: values() for field in form.fields}
                                 | {field: repeated() for field in form.lists}),
           values())
    def check(data, path_value):
        assert_answered_well(post(browsers[form.who], form, data, path_value))

    check()


VALID = {"register": registration(uid="uma", mail="uma@example.org", display_name="Uma"),
         "login": {"uid": "tess", "password": VOLUNTEER_PASSWORD},
         "reset": {"mail": "tess@example.org"},
         "name": {"display_name": "Tess Tester"},
         "password": {"old_password": VOLUNTEER_PASSWORD, "password": "a new password for tess 1",
                      "password_again": "a new password for tess 1"},
         "email": {"mail": "tess.new@example.org", "password": VOLUNTEER_PASSWORD},
         "delete-account": {"password": VOLUNTEER_PASSWORD, "code": "123456"},
         "invite": {"mail": "ines@example.org", "display_name": "Ines", "groups": ["kitchen"],
                    "until": ""}}


CONTROLS = ["\n", "\x07", "\x1b[31m", "\x7f"]
TEXT_FORMS = ["register", "login", "reset", "name", "password", "email", "delete-account", "invite"]


@pytest.mark.parametrize("name", TEXT_FORMS)
def test_a_control_character_in_any_text_field_is_refused_with_a_clear_message(
        browsers, slapd_server, inbox, name):
    form = FORMS[name]
    before = snapshot(slapd_server)
    for field in form.fields:
        for control in CONTROLS:
            if field == "note" and control == "\n":
                continue  # a line break is text in the note, the one multi-line field
            if field == "until":
                continue  # a date, not text: anything else is "not a valid date"
            data = {**VALID[name], field: f"start{control}end"}
            if field == "password" and name != "login":
                data["password_again"] = data[field]
            response = post(browsers[form.who], form, data)
            assert response.status_code == 400, (field, control)
            assert CONTROL_REFUSED in text(response), (field, control)
    assert snapshot(slapd_server) == before and inbox.messages() == []


@pytest.mark.parametrize("name", TEXT_FORMS)
def test_a_flood_refused_in_any_field_is_not_shown_again(browsers, name):
    """A refused value longer than its field takes is dropped from the form shown again:
    a date or a choice repeats what was typed, not only a text field."""
    form = FORMS[name]
    for field in form.fields:
        data = {**VALID[name], field: "Z" * 5000}
        if field == "password" and name != "login":
            data["password_again"] = data[field]
        response = post(browsers[form.who], form, data)
        assert response.status_code == 400, field
        assert "Z" * (MAX_SHOWN + 1) not in text(response), field
