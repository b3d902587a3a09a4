"""Two-step login: enrolment, the code after the password, recovery codes, the sysadmin's reset,
and TOTP required of sysadmins and coordinators. Real slapd, real SMTP."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import unquote

import ldap3
import pyotp
import pytest
import sqlalchemy as sa

from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store import audit
from provisioner.store.schema import sessions, totp_recovery_codes
from provisioner.workflow import (
    InvalidInput,
    check_second_factor,
    confirm_enrolment,
    has_totp,
    new_secret,
)
from provisioner.workflow.totp import NOT_A_CODE, USED_CODE, WRONG_CODE

from ldap_helpers import bound_connection, snapshot
from portal_actions import VOLUNTEER_PASSWORD, Visitor, authenticator_code, enrol_totp

ENROL = "/account/totp/enrol"
KEY = re.compile(r'<code id="totp-key">([A-Z2-7 ]+)</code>')
RECOVERY_CODE = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")


def account(app, directory, uid: str, *, coordinates=()) -> None:
    """An active volunteer's account, coordinator (owner) of the working groups `coordinates`."""
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person", mail=f"{uid}@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    for slug in coordinates:
        directory.groups.add_owner(f"wg-{slug}", uid)


def logged_in(app, uid: str) -> Visitor:
    browser = Visitor(app.test_client())
    assert browser.log_in(uid, VOLUNTEER_PASSWORD).status_code == 302
    return browser


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def enrol_through_pages(browser: Visitor) -> tuple[str, list[str]]:
    """Open the set-up page, add the key to an 'app', confirm; returns the key and recovery codes."""
    page = browser.client.get(ENROL).get_data(as_text=True)
    key = KEY.search(page).group(1).replace(" ", "")
    response = browser.submit(ENROL, {"code": pyotp.TOTP(key).now()})
    assert response.status_code == 200, text(response)
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    return key, codes


def live_sessions(app, uid: str) -> int:
    with app.app_context(), get_store().begin() as connection:
        query = sa.select(sa.func.count()).select_from(sessions).where(
            sessions.c.uid == uid, sessions.c.ended_at.is_(None))
        return connection.execute(query).scalar_one()


def audit_of(app, person: str) -> list[audit.AuditEntry]:
    with app.app_context(), get_store().begin() as connection:
        return audit.entries(connection, person=person)


@pytest.fixture
def tess(app, directory):
    """A volunteer, logged in, without TOTP."""
    account(app, directory, "tess")
    return logged_in(app, "tess")


def test_a_volunteer_enrols_and_then_logs_in_with_a_code(app, directory, tess):
    page = tess.client.get(ENROL).get_data(as_text=True)
    # The QR code is drawn on the server, inline: nothing is fetched from anywhere else.
    assert re.search(r'<img class="qr-code" src="data:image/svg\+xml[^"]+" alt="[^"]+">', page)
    svg = unquote(html.unescape(re.search(r'src="data:image/svg\+xml[^,]*,([^"]+)"', page).group(1)))
    assert svg.startswith("<svg") and "href" not in svg and "<path" in svg
    key = KEY.search(page).group(1).replace(" ", "")
    # A reload keeps the key (an app may have scanned it already).
    assert key == KEY.search(tess.client.get(ENROL).get_data(as_text=True)).group(1).replace(" ", "")
    before = tess.client.get_cookie("session").value

    response = tess.submit(ENROL, {"code": pyotp.TOTP(key).now()})
    assert response.status_code == 200
    page = text(response)
    assert "Two-step login is on" in page and "This is the only time they are shown." in page
    codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(codes) == 10 == len(set(codes))
    token = directory.people.totp("tess")
    assert base64.b32encode(token.secret).decode() == key
    assert [entry.action for entry in audit_of(app, "tess")][0] == "totp-enrolled"
    # Renewed at confirmation: a new server-side session, the old one ended.
    assert tess.client.get_cookie("session").value != before
    assert live_sessions(app, "tess") == 1
    assert tess.client.get("/account").status_code == 200

    tess.log_out()
    browser = Visitor(app.test_client())
    response = browser.enter_password("tess", VOLUNTEER_PASSWORD)
    assert response.status_code == 302 and response.location == "/login/code"
    assert "Your password is right" in text(browser.client.get("/login/code"))
    response = browser.enter_code(authenticator_code(app, "tess"))
    assert response.status_code == 302 and response.location == "/account"
    assert browser.client.get("/account").status_code == 200
    assert [entry.action for entry in audit_of(app, "tess")][:2] == ["totp-login", "login"]


def test_no_session_exists_between_the_password_and_the_code(app, directory):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    browser = Visitor(app.test_client())
    with browser.client.session_transaction() as session:
        session["_user_id"] = "planted-by-an-attacker"
    assert browser.enter_password("tess", VOLUNTEER_PASSWORD).location == "/login/code"
    assert live_sessions(app, "tess") == 0
    with browser.client.session_transaction() as session:
        assert "_user_id" not in session
        assert session["second_factor_pending"]["uid"] == "tess"
    assert browser.client.get("/account").status_code == 302  # not logged in yet
    assert browser.enter_code(authenticator_code(app, "tess")).location == "/account"
    assert live_sessions(app, "tess") == 1
    with browser.client.session_transaction() as session:
        assert "second_factor_pending" not in session
        assert session["_user_id"] != "planted-by-an-attacker"


def test_a_replayed_code_fails(app, directory):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    code = authenticator_code(app, "tess")
    first = Visitor(app.test_client())
    first.enter_password("tess", VOLUNTEER_PASSWORD)
    assert first.enter_code(code).location == "/account"
    # Someone who saw the password and the code typed, a moment later:
    thief = Visitor(app.test_client())
    assert thief.enter_password("tess", VOLUNTEER_PASSWORD).location == "/login/code"
    response = thief.enter_code(code)
    assert response.status_code == 401
    assert USED_CODE in text(response)
    assert thief.client.get("/account").status_code == 302
    assert live_sessions(app, "tess") == 1
    failed = audit_of(app, "tess")[0]
    assert (failed.action, failed.detail, failed.actor) == ("totp-failed", "code used already", None)


def test_a_code_from_the_previous_or_next_step_works_once(app, directory):
    account(app, directory, "tess")
    secret = new_secret()
    totp = pyotp.TOTP(secret)
    start = utc_now().replace(microsecond=0) - timedelta(hours=1)
    with app.app_context():
        portal = get_portal()
        confirm_enrolment(replace(portal, clock=lambda: start), "tess", secret, totp.at(start))
        now = start + timedelta(minutes=10)
        later = replace(portal, clock=lambda: now)
        step = now.timestamp() // 30 * 30

        previous = totp.at(step - 30)
        assert check_second_factor(later, "tess", previous).person.uid == "tess"
        with pytest.raises(InvalidInput) as refused:
            check_second_factor(later, "tess", previous)
        assert refused.value.errors["code"] == USED_CODE

        following = totp.at(step + 30)
        assert check_second_factor(later, "tess", following).person.uid == "tess"
        for used in (following, totp.at(step)):  # the current step is older than the one used
            with pytest.raises(InvalidInput) as refused:
                check_second_factor(later, "tess", used)
            assert refused.value.errors["code"] == USED_CODE

        for outside in (totp.at(step - 60), totp.at(step + 90)):  # beyond one step either side
            with pytest.raises(InvalidInput) as refused:
                check_second_factor(later, "tess", outside)
            assert refused.value.errors["code"] == WRONG_CODE
    assert directory.people.totp("tess").last_step == step // 30 + 1


def test_only_one_of_two_logins_racing_for_a_step_records_it(directory):
    account(None, directory, "tess")
    directory.people.set_totp("tess", b"0" * 20, enrolled_at=utc_now(), last_step=100)
    assert directory.people.advance_totp_step("tess", 100, 101) is True
    assert directory.people.advance_totp_step("tess", 100, 101) is False  # the other process lost
    assert directory.people.advance_totp_step("tess", 100, 102) is False
    assert directory.people.totp("tess").last_step == 101


@pytest.mark.parametrize("typed, message", [
    ("000000", WRONG_CODE),
    ("12345", NOT_A_CODE),
    ("hello", NOT_A_CODE),
    ("aaaa-bbbb-cccc", WRONG_CODE),     # shaped like a recovery code, not one
    ("1" * 64, NOT_A_CODE),
])
def test_a_wrong_code_is_refused_with_a_clear_message(app, directory, slapd_server, typed, message):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    if typed == "000000" and authenticator_code(app, "tess") == typed:
        typed = "999999"
    browser = Visitor(app.test_client())
    browser.enter_password("tess", VOLUNTEER_PASSWORD)
    before = snapshot(slapd_server)
    response = browser.enter_code(typed)
    assert response.status_code == 401
    assert message in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)   # tied to the field
    assert "<title>Error: " in response.get_data(as_text=True)
    assert snapshot(slapd_server) == before
    assert browser.client.get("/account").status_code == 302
    assert live_sessions(app, "tess") == 0
    # The page stays open for another try.
    assert browser.enter_code(authenticator_code(app, "tess")).location == "/account"


def test_a_recovery_code_works_once_and_is_mailed(app, directory, inbox):
    account(app, directory, "tess")
    codes = enrol_totp(app, "tess")
    browser = Visitor(app.test_client())
    browser.enter_password("tess", VOLUNTEER_PASSWORD)
    typed = codes[3].upper().replace("-", " ")  # as someone copies it from paper
    response = browser.enter_code(typed)
    assert response.location == "/account"
    page = text(browser.client.get("/account"))
    assert "You logged in with a recovery code; 9 left" in page
    mail = inbox.only_message("tess@example.org")
    assert mail["Subject"] == "A recovery code was used to log in to Occupy Example"
    assert "Recovery codes left: 9" in mail.get_content()
    assert inbox.link_in("tess@example.org") == "http://localhost/account/totp"
    used = audit_of(app, "tess")[0]
    assert (used.action, used.detail) == ("totp-recovery-code-used", "9 left")

    again = Visitor(app.test_client())
    again.enter_password("tess", VOLUNTEER_PASSWORD)
    response = again.enter_code(codes[3])
    assert response.status_code == 401 and WRONG_CODE in text(response)
    assert len(inbox.messages("tess@example.org")) == 1
    assert "9 unused recovery codes" in text(browser.client.get("/account/totp"))


def test_the_stored_recovery_codes_are_salted_hashes(app, directory):
    account(app, directory, "tess")
    codes = enrol_totp(app, "tess")
    with app.app_context(), get_store().begin() as connection:
        rows = connection.execute(sa.select(totp_recovery_codes)).all()
    assert len(rows) == 10 and len({row.salt for row in rows}) == 10
    stored = " ".join(f"{row.salt} {row.digest}" for row in rows)
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_a_wrong_code_at_enrolment_stores_nothing(app, directory, slapd_server, tess):
    page = tess.client.get(ENROL).get_data(as_text=True)
    key = KEY.search(page).group(1).replace(" ", "")
    wrong = "000000" if pyotp.TOTP(key).now() != "000000" else "999999"
    before = snapshot(slapd_server)
    response = tess.submit(ENROL, {"code": wrong})
    assert response.status_code == 400
    assert "That code is not right. Check that the clock of your phone is right" in text(response)
    assert snapshot(slapd_server) == before
    with app.app_context():
        assert not has_totp(get_portal(), "tess")
    assert KEY.search(response.get_data(as_text=True)).group(1).replace(" ", "") == key  # try again


def test_a_new_authenticator_replaces_the_old_one_and_its_recovery_codes(app, directory, tess):
    old_key, old_codes = enrol_through_pages(tess)
    new_key, new_codes = enrol_through_pages(tess)
    assert new_key != old_key and not set(new_codes) & set(old_codes)
    assert base64.b32encode(directory.people.totp("tess").secret).decode() == new_key
    browser = Visitor(app.test_client())
    browser.enter_password("tess", VOLUNTEER_PASSWORD)
    assert browser.enter_code(old_codes[0]).status_code == 401
    assert browser.enter_code(new_codes[0]).location == "/account"
    enrolments = [entry.detail for entry in audit_of(app, "tess") if entry.action == "totp-enrolled"]
    assert enrolments == ["replaced the earlier authenticator", None]


def test_the_code_page_closes_five_minutes_after_the_password(app, directory):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    browser = Visitor(app.test_client())
    browser.enter_password("tess", VOLUNTEER_PASSWORD)
    with browser.client.session_transaction() as session:
        session["second_factor_pending"] = {**session["second_factor_pending"],
                                            "until": utc_now().timestamp() - 1}
    response = browser.client.get("/login/code")
    assert response.status_code == 302 and response.location == "/login"
    assert "enter your username and password again" in text(browser.client.get("/login"))
    assert live_sessions(app, "tess") == 0


def test_an_account_suspended_between_the_steps_does_not_log_in(app, directory):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    browser = Visitor(app.test_client())
    browser.enter_password("tess", VOLUNTEER_PASSWORD)
    directory.people.set_status("tess", Status.SUSPENDED)
    response = browser.enter_code(authenticator_code(app, "tess"))
    assert response.location == "/login"
    assert "This account cannot log in now." in text(browser.client.get("/login"))
    assert live_sessions(app, "tess") == 0


def gated_pages(app) -> list[tuple[str, str]]:
    """Every admin page (and the coordinators' pages), with made-up path parts, and its method."""
    values = {"uid": "tess", "job_id": "1", "request_id": "1", "invitation_id": "1"}
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/admin", "/groups/", "/invitations")):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values.get(m.group(1), "x"), rule.rule)
            pages.append((path, "GET" if "GET" in rule.methods else "POST"))
    assert len(pages) >= 10
    return pages


def assert_sent_to_enrolment_everywhere(app, browser: Visitor, slapd_server) -> None:
    token = browser.csrf_token(ENROL)
    before = snapshot(slapd_server)
    for path, method in gated_pages(app):
        if method == "GET":
            response = browser.client.get(path)
        else:
            response = browser.client.post(path, data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 302, (path, response.status_code)
        assert response.location.startswith(ENROL), (path, response.location)
    assert snapshot(slapd_server) == before
    page = text(browser.client.get(ENROL))
    assert "must use two-step login: set it up here before going on" in page


def test_a_sysadmin_without_totp_is_sent_to_enrolment_from_every_admin_page(app, directory,
                                                                            slapd_server):
    account(app, directory, "tess")
    directory.groups.add_member("sysadmins", "tess")
    browser = Visitor(app.test_client())
    response = browser.log_in("tess", VOLUNTEER_PASSWORD)
    assert response.location == ENROL                     # straight to the set-up after login
    assert browser.client.get("/admin/requests").location == f"{ENROL}?next=/admin/requests"
    assert_sent_to_enrolment_everywhere(app, browser, slapd_server)
    enrol_through_pages(browser)
    assert browser.client.get("/admin/requests").status_code == 200


def test_a_coordinator_without_totp_is_sent_to_enrolment_too(app, directory, slapd_server):
    account(app, directory, "cora", coordinates=["kitchen"])
    browser = Visitor(app.test_client())
    assert browser.log_in("cora", VOLUNTEER_PASSWORD).location == ENROL
    assert browser.client.get("/account").location.startswith(ENROL)
    assert_sent_to_enrolment_everywhere(app, browser, slapd_server)
    enrol_through_pages(browser)
    assert browser.client.get("/admin/requests").status_code == 403  # a coordinator, not a sysadmin
    assert browser.client.get("/account").status_code == 200


def test_a_volunteer_without_totp_is_not_asked_to_enrol(app, tess):
    assert tess.client.get("/account").status_code == 200
    assert "Two-step login is off" in text(tess.client.get("/account/totp"))


def test_a_sysadmin_resets_someones_totp_and_they_are_told(app, directory, inbox, sysadmin):
    account(app, directory, "tess")
    enrol_totp(app, "tess")
    tess = logged_in(app, "tess")
    account(app, directory, "uma")  # no two-step login: nothing to reset, no button
    page = text(sysadmin.client.get("/admin/people"))
    assert "Reset two-step login of tess" in page and "Reset two-step login of uma" not in page
    response = sysadmin.submit("/admin/people", {}, action="/admin/people/tess/reset-totp")
    assert response.location == "/admin/people"
    assert "tess's two-step login is reset" in text(sysadmin.client.get("/admin/people"))
    assert directory.people.totp("tess") is None
    with app.app_context(), get_store().begin() as connection:
        assert connection.execute(sa.select(totp_recovery_codes)
                                  .where(totp_recovery_codes.c.uid == "tess")).all() == []
    assert tess.client.get("/account").status_code == 302  # logged out everywhere
    reset = audit_of(app, "tess")[0]
    assert (reset.action, reset.actor) == ("totp-reset", "sam")
    mail = inbox.only_message("tess@example.org")
    assert mail["Subject"] == "Your two-step login at Occupy Example was reset"
    assert 'the sysadmin "sam" reset' in mail.get_content()
    assert inbox.link_in("tess@example.org") == "http://localhost/login"
    # With the password alone now.
    assert Visitor(app.test_client()).log_in("tess", VOLUNTEER_PASSWORD).location == "/account"


def test_a_sysadmin_cannot_reset_their_own_totp_or_someone_without_one(app, directory, sysadmin):
    account(app, directory, "tess")
    for uid, reason in (("sam", "ask another sysadmin"), ("tess", "tess has no two-step login to reset")):
        response = sysadmin.submit("/admin/people", {}, action=f"/admin/people/{uid}/reset-totp")
        assert reason in text(sysadmin.client.get(response.location))
    assert directory.people.totp("sam") is not None


def test_a_non_sysadmin_cannot_reset_totp(app, directory, inbox, sysadmin, slapd_server):
    account(app, directory, "tess")
    account(app, directory, "cora", coordinates=["kitchen"])
    enrol_totp(app, "cora")
    browsers = [logged_in(app, uid) for uid in ("tess", "cora")]  # a volunteer; an enrolled coordinator
    before = snapshot(slapd_server)
    for browser in browsers:
        response = browser.submit("/account", {}, action="/admin/people/sam/reset-totp")
        assert response.status_code == 403
    assert snapshot(slapd_server) == before
    assert inbox.messages("sam@example.org") == []
    without_csrf = sysadmin.client.post("/admin/people/cora/reset-totp")
    assert without_csrf.status_code == 400
    assert directory.people.totp("cora") is not None


def test_the_secret_is_only_readable_by_the_portal(app, directory, slapd_server, tess):
    enrol_through_pages(tess)
    account(app, directory, "otto")

    def tess_as_read_by(uid: str) -> list[dict]:
        with bound_connection(slapd_server, directory.layout.person_dn(uid), VOLUNTEER_PASSWORD,
                              raise_exceptions=False) as conn:
            conn.search(directory.layout.person_dn("tess"), "(objectClass=*)", ldap3.BASE,
                        attributes=["oathSecret", "oathTOTPLastTimeStep", "oathSecretTime", "uid"])
            return [{name: value for name, value in entry["attributes"].items() if value}
                    for entry in conn.response]

    assert directory.people.totp("tess") is not None         # the portal's account reads it
    assert tess_as_read_by("tess") == [{"uid": ["tess"]}]     # the owner: her entry, not its secret
    assert tess_as_read_by("otto") == []                      # another volunteer: not even the entry


def test_the_secret_is_in_no_audit_entry_mail_or_page_after_enrolment(app, directory, inbox, sysadmin):
    account(app, directory, "tess")
    tess = logged_in(app, "tess")
    key, codes = enrol_through_pages(tess)
    with tess.client.session_transaction() as session:
        assert "totp_enrolment" not in session
    tess.log_out()
    tess.enter_password("tess", VOLUNTEER_PASSWORD)
    tess.enter_code(codes[0])                                   # a recovery code: a mail
    pages = [tess.client.get(path) for path in ("/account", "/account/totp", "/")]
    pages += [sysadmin.client.get(path) for path in ("/admin/people", "/admin/audit")]
    sysadmin.submit("/admin/people", {}, action="/admin/people/tess/reset-totp")
    grouped = " ".join(key[i:i + 4] for i in range(0, len(key), 4))
    with app.app_context(), get_store().begin() as connection:
        logged = " ".join(f"{e.action} {e.detail}" for e in audit.entries(connection, limit=1000))
    mails = " ".join(m.get_content() for m in inbox.messages())
    for haystack in (logged, mails, *(text(page) for page in pages)):
        assert key not in haystack and grouped not in haystack and codes[0] not in haystack
