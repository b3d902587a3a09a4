"""Abuse limits: wrong passwords and codes per account and per client address, mails per address.

By HTTP against real slapd and a real SMTP server; the lockout's end is shown at the
workflow level, where the clock can be moved.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store import audit
from provisioner.store.schema import throttle_events
from provisioner.store.throttle import LimitSettings
from provisioner.workflow import InvalidInput
from provisioner.workflow.limits import TooManyAttempts, limited_log_in, limited_second_factor

from portal_actions import VOLUNTEER_PASSWORD, Visitor, authenticator_code, given_totp, without_csrf_token
from suite_config import app_config

LOCKED = "Too many attempts; try again in"


def make_account(directory, uid: str, mail: str | None = None) -> None:
    directory.people.add(NewPerson(uid=uid, display_name=uid.title(), mail=mail or f"{uid}@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)


@pytest.fixture
def vera(directory):
    make_account(directory, "vera")


def actions(app, uid: str | None = None) -> list[str]:
    """The audit's actions, oldest first."""
    with app.app_context(), get_store().begin() as connection:
        return [entry.action for entry in reversed(audit.entries(connection, person=uid, limit=1000))]


def browser(app, address: str = "127.0.0.1") -> Visitor:
    visitor = Visitor(app.test_client())
    visitor.client.environ_base["REMOTE_ADDR"] = address
    return visitor


def test_after_ten_wrong_passwords_even_the_right_one_is_refused_unchecked(app, vera):
    visitor = browser(app)
    for _ in range(10):
        assert visitor.enter_password("vera", "wrong guess").status_code == 401
    response = visitor.enter_password("vera", VOLUNTEER_PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.get_data(as_text=True)
    assert "try again in 15 minutes" in response.get_data(as_text=True)
    assert visitor.client.get("/account").status_code == 302  # not logged in
    # The password was not even checked: no login or login-failed after the tenth.
    audited = actions(app, "vera")
    assert audited.count("login-failed") == 10
    assert "login" not in audited
    assert audited.count("login-locked") == 1
    assert audited[-1] == "login-refused"


def test_the_lock_is_per_account_from_any_address_and_other_accounts_still_log_in(app, directory, vera):
    make_account(directory, "walt")
    for number in range(10):
        browser(app, f"10.0.0.{number}").enter_password("vera", "wrong guess")
    refused = browser(app, "10.9.9.9").enter_password("vera", VOLUNTEER_PASSWORD)
    assert LOCKED in refused.get_data(as_text=True)
    assert browser(app, "10.0.0.1").enter_password("walt", VOLUNTEER_PASSWORD).status_code == 302


def test_a_success_clears_the_accounts_failures(app, vera):
    visitor = browser(app)
    for _ in range(9):
        visitor.enter_password("vera", "wrong guess")
    assert browser(app).enter_password("vera", VOLUNTEER_PASSWORD).status_code == 302
    for _ in range(9):
        visitor.enter_password("vera", "wrong guess")
    assert browser(app).enter_password("vera", VOLUNTEER_PASSWORD).status_code == 302
    assert "login-locked" not in actions(app)


def slowed_app(slapd_server, inbox, tmp_path, **settings):
    """An app whose client addresses are slowed down after six failures."""
    return inbox.deliver_from(create_app({
        **app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port),
        "LOGIN_ADDRESS_FAILURES_BEFORE_DELAY": 6, **settings}))


def test_a_slowed_address_delays_accounts_with_failures_and_checks_the_others(
        slapd_server, directory, inbox, tmp_path):
    app = slowed_app(slapd_server, inbox, tmp_path)
    for uid in ("vera", "walt", "xena"):
        make_account(directory, uid)
    attacker = browser(app, "192.0.2.66")
    for uid in ("vera", "walt", "nobody-here", "vera", "walt", "nobody-here"):
        assert attacker.enter_password(uid, "wrong guess").status_code == 401
    # Six failures from the address: an account with failures of its own waits...
    response = attacker.enter_password("vera", VOLUNTEER_PASSWORD)
    assert response.status_code == 429
    # 2 s after vera's latest failure, a moment ago.
    assert re.search(r"Too many failed attempts from your network; try again in [12] seconds?\.",
                     response.get_data(as_text=True))
    assert response.headers["Retry-After"] in {"1", "2"}
    # ... an unknown name that failed waits the same (it tells nothing)...
    assert attacker.enter_password("nobody-here", "wrong guess").status_code == 429
    # ... and one without failures is checked at once, from the same address.
    assert browser(app, "192.0.2.66").enter_password("xena", VOLUNTEER_PASSWORD).status_code == 302
    # From elsewhere the accounts are fine: none of them had ten failures.
    assert browser(app, "198.51.100.7").enter_password("vera", VOLUNTEER_PASSWORD).status_code == 302
    audited = actions(app)
    assert audited.count("login-slowed") == 1 and "login-locked" not in audited


def test_the_address_delay_doubles_with_each_failure_up_to_its_cap(slapd_server, directory, inbox, tmp_path):
    app = slowed_app(slapd_server, inbox, tmp_path, LOGIN_ADDRESS_FIRST_DELAY_SECONDS=2,
                     LOGIN_ADDRESS_MAX_DELAY_SECONDS=20)
    make_account(directory, "vera")
    start = utc_now()
    waits = []
    with app.app_context():
        portal = get_portal()
        for number in range(6):      # the address reaches its threshold on names nobody has
            at = start + timedelta(milliseconds=number)
            limited_log_in(replace(portal, clock=lambda at=at: at), f"nobody{number}", "wrong",
                           remote_addr="192.0.2.66")
        for _ in range(6):           # then guesses at vera, each as soon as it is let through
            assert limited_log_in(replace(portal, clock=lambda at=at: at), "vera", "wrong",
                                  remote_addr="192.0.2.66") is None
            with pytest.raises(TooManyAttempts) as refused:
                limited_log_in(replace(portal, clock=lambda at=at: at), "vera", "wrong",
                               remote_addr="192.0.2.66")
            waits.append(refused.value.wait.total_seconds())
            at += refused.value.wait
    # The first guess at vera was checked at once (she had no failures); from then on
    # each wait doubles, from 2 s at the threshold, up to the cap.
    assert waits == [4, 8, 16, 20, 20, 20]


def test_an_ipv6_client_is_counted_by_its_64(slapd_server, directory, inbox, tmp_path):
    app = slowed_app(slapd_server, inbox, tmp_path)
    make_account(directory, "vera")
    for number in range(6):
        browser(app, f"2001:db8:1:2::{number + 1:x}").enter_password("vera", "wrong guess")
    assert browser(app, "2001:db8:1:2:ffff::9").enter_password("vera", VOLUNTEER_PASSWORD).status_code == 429
    assert browser(app, "2001:db8:1:3::1").enter_password("vera", VOLUNTEER_PASSWORD).status_code == 302


def test_behind_a_proxy_the_forwarded_client_address_is_counted(slapd_server, directory, inbox, tmp_path):
    app = slowed_app(slapd_server, inbox, tmp_path, TRUSTED_PROXIES=1)
    make_account(directory, "vera")

    def through_proxy(client_address: str) -> Visitor:
        visitor = browser(app, "127.0.0.1")
        visitor.client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
        return visitor

    for _ in range(6):
        through_proxy("192.0.2.66").enter_password("vera", "wrong guess")
    assert through_proxy("192.0.2.66").enter_password("vera", VOLUNTEER_PASSWORD).status_code == 429
    # Another client through the same proxy is another address.
    assert through_proxy("198.51.100.7").enter_password("vera", VOLUNTEER_PASSWORD).status_code == 302
    with app.app_context(), get_store().begin() as connection:
        addresses = {entry.remote_addr for entry in audit.entries(connection, limit=100)}
    assert addresses == {"192.0.2.66", "198.51.100.7"}


def test_the_limits_are_settings(slapd_server, directory, inbox, tmp_path):
    app = create_app({**app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port),
                      "LOGIN_MAX_FAILURES": 2, "LOGIN_WINDOW_MINUTES": 5,
                      "LOGIN_ADDRESS_FAILURES_BEFORE_DELAY": 7, "LOGIN_ADDRESS_FIRST_DELAY_SECONDS": 3,
                      "LOGIN_ADDRESS_MAX_DELAY_SECONDS": 30, "REGISTRATIONS_PER_ADDRESS_PER_HOUR": 4})
    make_account(directory, "vera")
    visitor = browser(app)
    visitor.enter_password("vera", "wrong")
    visitor.enter_password("vera", "wrong")
    text = visitor.enter_password("vera", VOLUNTEER_PASSWORD).get_data(as_text=True)
    assert "try again in 5 minutes" in text
    with app.app_context():
        assert get_portal().limits == LimitSettings(
            max_failures=2, window=timedelta(minutes=5), address_failures_before_delay=7,
            address_first_delay=timedelta(seconds=3), address_max_delay=timedelta(seconds=30),
            mails_per_address_per_hour=3, registrations_per_address_per_hour=4)


def test_the_lockout_ends_by_itself_when_the_window_has_passed(app, vera):
    start = utc_now()
    with app.app_context():
        # Three, not ten: at ten wrong binds the directory's own policy (ppolicy) locks the
        # entry for 15 minutes of real time, which this test cannot move.
        portal = replace(get_portal(), limits=LimitSettings(max_failures=3))
        for second in range(3):
            at = start + timedelta(seconds=second)
            assert limited_log_in(replace(portal, clock=lambda at=at: at), "vera", "wrong") is None
        later = replace(portal, clock=lambda: start + timedelta(minutes=14))
        with pytest.raises(TooManyAttempts, match="try again in 1 minute"):
            limited_log_in(later, "vera", VOLUNTEER_PASSWORD)
        after = replace(portal, clock=lambda: start + timedelta(minutes=15, seconds=1))
        assert limited_log_in(after, "vera", VOLUNTEER_PASSWORD).uid == "vera"
        with get_store().begin() as connection:  # the success cleared the account's count
            left = connection.execute(throttle_events.select().where(
                throttle_events.c.key == "vera")).all()
    assert left == []
    assert actions(app, "vera").count("login-locked") == 1


def test_wrong_codes_are_limited_the_same_way(app, vera):
    given_totp(app, "vera")
    visitor = browser(app)
    assert visitor.enter_password("vera", VOLUNTEER_PASSWORD).location == "/login/code"
    for _ in range(10):
        assert visitor.enter_code("000000").status_code == 401
    right = authenticator_code(app, "vera")
    response = visitor.enter_code(right)
    assert response.status_code == 429 and LOCKED in response.get_data(as_text=True)
    assert visitor.client.get("/account").status_code == 302
    # The right password does not unlock the codes: a new login meets the same lock.
    again = browser(app)
    assert again.enter_password("vera", VOLUNTEER_PASSWORD).location == "/login/code"
    assert again.enter_code(right).status_code == 429
    assert actions(app, "vera").count("login-locked") == 1


def test_the_code_lockout_ends_by_itself(app, vera):
    given_totp(app, "vera")
    start = utc_now()
    with app.app_context():
        portal = get_portal()
        for second in range(10):
            at = start + timedelta(seconds=second)
            with pytest.raises(InvalidInput):
                limited_second_factor(replace(portal, clock=lambda at=at: at), "vera", "000000")
        with pytest.raises(TooManyAttempts, match="try again in 5 minutes"):
            limited_second_factor(replace(portal, clock=lambda: start + timedelta(minutes=10)),
                                  "vera", "000000")
        # After the window the code is checked again: wrong, so InvalidInput, not the lock.
        after = replace(portal, clock=lambda: start + timedelta(minutes=15, seconds=1))
        with pytest.raises(InvalidInput):
            limited_second_factor(after, "vera", "000000")


def followed(visitor: Visitor, response) -> tuple:
    """What the person sees after posting: the status, where they were sent, that page's text
    (but for its forms' CSRF token, which is each visitor's own)."""
    page = visitor.client.get(response.location).get_data(as_text=True) if response.location else ""
    return response.status_code, response.location, without_csrf_token(page)


def test_registrations_mail_one_address_three_times_an_hour_and_answer_the_same(app, directory, inbox):
    answers = []
    for number in range(4):
        visitor = Visitor(app.test_client())
        response = visitor.register(uid=f"vera{number}x")
        answers.append(followed(visitor, response))
    assert len(inbox.messages("vera@example.org")) == 3
    assert answers[3] == answers[0]
    assert directory.people.find("vera3x") is None  # nothing made without a mail
    assert actions(app).count("mail-limited") == 1


def test_reset_mails_are_limited_per_address_and_the_answer_stays_the_same(app, vera, inbox, directory):
    answers = []
    for _ in range(4):
        visitor = Visitor(app.test_client())
        answers.append(followed(visitor, visitor.submit("/reset", {"mail": "vera@example.org"})))
    assert len(inbox.messages("vera@example.org")) == 3
    assert answers[3] == answers[0]
    assert actions(app, "vera").count("mail-limited") == 1
    # Another address is not affected.
    make_account(directory, "walt")
    Visitor(app.test_client()).submit("/reset", {"mail": "walt@example.org"})
    assert len(inbox.messages("walt@example.org")) == 1


def test_the_store_never_holds_a_password(app, vera):
    browser(app).enter_password("vera", "a secret guess")
    with app.app_context(), get_store().begin() as connection:
        rows = connection.execute(throttle_events.select()).all()
    assert rows and all("secret" not in row.key for row in rows)
