"""A camp's Wi-Fi: hundreds of volunteers behind one client address, and one prankster.

The prankster's wrong passwords slow the address down, never lock it: whoever has no
failures of their own still logs in from it at once, and the prankster's guesses wait
longer and longer. Registrations from one address are limited per hour, with a clear
answer. By HTTP against the real slapd and store; where time must pass, at the
workflow level with the portal's clock moved.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import text

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal
from provisioner.workflow import Registration, register
from provisioner.workflow.limits import TooManyAttempts, limited_log_in

from portal_actions import VOLUNTEER_PASSWORD, Visitor
from suite_config import app_config

CAMP = "203.0.113.7"          # the camp's Wi-Fi, as the portal sees it
ELSEWHERE = "198.51.100.20"
CAMPERS = [f"camper{number:02d}" for number in range(30)]
SLOWED = re.compile(r"Too many failed attempts from your network; try again in (\d+) (second|minute)s?\.")


@pytest.fixture
def campers(directory):
    for uid in CAMPERS:
        directory.people.add(NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org",
                                       status=Status.ACTIVE), pending=False)
        directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    return CAMPERS


def at_camp(app, address: str = CAMP) -> Visitor:
    visitor = Visitor(app.test_client())
    visitor.client.environ_base["REMOTE_ADDR"] = address
    return visitor


def test_a_prankster_slows_the_camp_address_but_locks_nobody_out(app, campers):
    prankster = at_camp(app)
    # 60 wrong passwords from the camp (past the 50 that slow an address down): one
    # each at 20 campers' accounts, and at 40 names nobody has.
    targets = campers[:20] + [f"nobody{number}" for number in range(40)]
    assert [prankster.enter_password(uid, "wrong guess").status_code for uid in targets] == [401] * 60
    # Every camper who never mistyped logs in from the camp, at once.
    for uid in campers[20:]:
        assert at_camp(app).enter_password(uid, VOLUNTEER_PASSWORD).status_code == 302
    # The prankster's second guess at anyone waits, and is told how long.
    for uid in (campers[0], "nobody0"):
        refused = prankster.enter_password(uid, "another guess")
        assert refused.status_code == 429
        assert SLOWED.search(text(refused)), text(refused)
        assert int(refused.headers["Retry-After"]) > 60
    # The campers it targeted are slowed at the camp only: from elsewhere they log in.
    assert at_camp(app, ELSEWHERE).enter_password(campers[0], VOLUNTEER_PASSWORD).status_code == 302


def test_the_pranksters_waits_grow_and_a_camper_who_mistyped_waits_at_most_the_cap(app, campers):
    start = utc_now()
    with app.app_context():
        portal = get_portal()
        settings = portal.limits

        def attempt(uid: str, password: str, at):
            return limited_log_in(replace(portal, clock=lambda: at), uid, password, remote_addr=CAMP)

        assert attempt(campers[29], "a typo", start) is None          # a camper mistypes once
        for number in range(settings.address_failures_before_delay):  # the prankster's spray
            assert attempt(f"nobody{number}", "wrong", start + timedelta(seconds=1)) is None
        # The prankster at one camper: each guess let through makes the next wait longer.
        at, waits = start + timedelta(seconds=2), []
        for _ in range(5):
            assert attempt(campers[0], "wrong", at) is None
            with pytest.raises(TooManyAttempts) as refused:
                attempt(campers[0], "wrong", at)
            waits.append(refused.value.wait)
            at += refused.value.wait
        # 52 failures from the camp at the first wait (its typo, the spray, the first guess at
        # this camper, which was checked at once): 2 s doubled twice, then doubling on.
        assert waits == [timedelta(seconds=seconds) for seconds in (8, 16, 32, 64, 128)]
        # The camper who mistyped waits no longer than the cap after their own typo, then
        # is checked: the right password lets them in.
        with pytest.raises(TooManyAttempts):
            attempt(campers[29], VOLUNTEER_PASSWORD, start + timedelta(seconds=3))
        later = start + settings.address_max_delay
        assert attempt(campers[29], VOLUNTEER_PASSWORD, later).uid == campers[29]
        # And anyone who never mistyped was never slowed at all.
        assert attempt(campers[28], VOLUNTEER_PASSWORD, start + timedelta(seconds=3)).uid == campers[28]


def test_per_account_lockout_is_unchanged_at_the_camp(app, campers):
    """Ten wrong passwords lock the account everywhere, however they came."""
    for number in range(10):
        at_camp(app, f"192.0.2.{number + 1}").enter_password(campers[0], "wrong guess")
    refused = at_camp(app, ELSEWHERE).enter_password(campers[0], VOLUNTEER_PASSWORD)
    assert refused.status_code == 429
    assert "Too many attempts; try again in 15 minutes." in text(refused)
    assert at_camp(app).enter_password(campers[1], VOLUNTEER_PASSWORD).status_code == 302


@pytest.fixture
def limited_app(slapd_server, directory, inbox, tmp_path):
    """An app that takes three registrations an hour from one address."""
    return inbox.deliver_from(create_app({
        **app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port),
        "REGISTRATIONS_PER_ADDRESS_PER_HOUR": 3}))


def test_registrations_from_one_address_are_limited_with_a_clear_answer(limited_app, directory, inbox):
    for number in range(3):
        sent = at_camp(limited_app).register(uid=f"vera{number}", mail=f"vera{number}@example.org")
        assert sent.status_code == 302 and sent.location == "/register/sent"
    refused = at_camp(limited_app).register(uid="vera3", mail="vera3@example.org")
    assert refused.status_code == 429
    page = text(refused)
    assert "Too many registrations from your network; try again in 60 minutes." in page
    assert refused.headers["Retry-After"] == "3600"
    # The same page as any refused registration, what was typed kept, the password not.
    assert '<form method="post"' in page and 'value="vera3"' in page
    assert VOLUNTEER_PASSWORD not in page
    # Nothing made, nothing sent.
    assert directory.people.find("vera3") is None
    assert inbox.messages("vera3@example.org") == []
    # Another address registers as usual.
    assert at_camp(limited_app, ELSEWHERE).register(uid="walt", mail="walt@example.org").status_code == 302
    assert directory.people.find("walt") is not None


def test_a_refused_form_does_not_count_and_the_limit_ends_after_an_hour(limited_app, directory):
    for _ in range(5):
        assert at_camp(limited_app).register(uid="x", mail="not-an-address").status_code == 400
    start = utc_now()
    with limited_app.app_context():
        portal = get_portal()

        def registers(uid: str, at) -> None:
            register(replace(portal, clock=lambda: at), Registration(
                uid=uid, display_name=uid.title(), mail=f"{uid}@example.org", password=VOLUNTEER_PASSWORD,
                groups=("kitchen",), availability="day", skills=(), note=""), remote_addr=CAMP)

        for number in range(3):
            registers(f"vera{number}", start + timedelta(minutes=number))
        with pytest.raises(TooManyAttempts, match="try again in 58 minutes"):
            registers("vera3", start + timedelta(minutes=2, seconds=30))
        registers("vera3", start + timedelta(hours=1, seconds=1))
    assert directory.people.find("vera3") is not None

