"""End dates: the approver's default, extending, the reminder, the end and renewal, on the real
slapd, store and mail sink (the services' side: test_end_dates_services.py)."""

from __future__ import annotations

import html
import re
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from end_date_helpers import coordinator, flashed

from provisioner import create_app
from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.config import ConfigError
from provisioner.directory import Status
from provisioner.resources import get_portal, get_store
from provisioner.store import end_date_notices as notices
from provisioner.store import schema
from provisioner.workflow.end_dates import expire_accounts
from provisioner.workflow.own_data import delete_account, own_data
from provisioner.workflow.renewals import request_renewal

from job_helpers import add_volunteers
from portal_actions import VOLUNTEER_PASSWORD, Visitor
from suite_config import app_config

TODAY = utc_now().date()


def days(count: int) -> str:
    return (TODAY + timedelta(days=count)).isoformat()


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, list(args))


def audited(app, action: str) -> list[tuple[str | None, str | None, str | None]]:
    log = schema.audit_log
    with app.app_context(), get_store().begin() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(log.c.actor, log.c.subject, log.c.detail).where(log.c.action == action)
            .order_by(log.c.id))]


def jobs_of(app, uid: str) -> list[str]:
    with app.app_context(), get_store().begin() as connection:
        return list(connection.execute(
            sa.select(schema.jobs.c.kind).join(schema.job_targets).where(schema.job_targets.c.uid == uid)
            .order_by(schema.jobs.c.id)).scalars())


@pytest.fixture
def vera(directory):
    """An active volunteer in kitchen and tech, with a password."""
    add_volunteers(directory, 1, prefix="vera")
    directory.people.set_password("vera0000", VOLUNTEER_PASSWORD)
    return "vera0000"


def register_verified(visitor, inbox, uid: str, availability: str) -> None:
    visitor.register(uid=uid, mail=f"{uid}@example.org", display_name=f"{uid.title()} Volunteer",
                     availability=availability)
    assert visitor.confirm(inbox.link_in(f"{uid}@example.org")).status_code == 200


@pytest.mark.parametrize(("availability", "end_date"), [("hour", days(7)), ("day", days(14)),
                                                        ("task", days(90)), ("ongoing", None)])
def test_the_approval_default_follows_the_availability_given(
        app, visitor, inbox, sysadmin, directory, availability, end_date):
    register_verified(visitor, inbox, "vera", availability)
    page = sysadmin.client.get("/admin/requests").get_data(as_text=True)
    assert re.search(rf'name="end_date" min="{TODAY.isoformat()}"\s+value="{end_date or ""}"', page)
    response = sysadmin.submit("/admin/requests", {"uid": "vera"}, action="/admin/requests/approve-selected")
    assert "vera is approved." in flashed(sysadmin, response)
    person = directory.people.get("vera")
    assert person.status == Status.ACTIVE
    assert person.end_date == (date.fromisoformat(end_date) if end_date else None)
    assert audited(app, "approved")[0][2].endswith(f"; end date {end_date or 'none'}")


def test_the_approver_changes_or_clears_the_end_date_and_a_past_one_is_refused(
        visitor, inbox, sysadmin, directory):
    register_verified(visitor, inbox, "vera", "hour")
    register_verified(visitor, inbox, "otto", "hour")
    response = sysadmin.submit("/admin/requests", {"groups": ["kitchen"], "end_date": days(-1)},
                               action="/admin/requests/vera/approve")
    assert f"vera: not approved: {days(-1)} is in the past" in flashed(sysadmin, response)
    assert directory.people.get("vera").status == Status.VERIFIED
    response = sysadmin.submit("/admin/requests", {"groups": ["kitchen"], "end_date": "31/12/2026"},
                               action="/admin/requests/vera/approve")
    assert "vera: not approved: give a date as YYYY-MM-DD" in flashed(sysadmin, response)
    sysadmin.submit("/admin/requests", {"groups": ["kitchen"], "end_date": days(30)},
                    action="/admin/requests/vera/approve")
    sysadmin.submit("/admin/requests", {"groups": ["kitchen"], "end_date": ""},
                    action="/admin/requests/otto/approve")
    assert directory.people.get("vera").end_date == TODAY + timedelta(days=30)
    assert directory.people.get("otto").end_date is None
    (welcome,) = (mail for mail in inbox.messages("vera@example.org") if "Welcome" in mail["Subject"])
    assert f"It runs until {days(30)}" in welcome.get_content()


def test_a_sysadmin_sets_anyone_s_end_date_from_the_people_page_and_the_command_line(
        app, sysadmin, directory, vera, run):
    response = sysadmin.submit("/admin/people", {"end_date": days(20), "back": "people"},
                               action=f"/people/{vera}/end-date")
    assert response.location == "/admin/people"
    assert f"{vera}'s account ends on {days(20)}." in flashed(sysadmin, response)
    assert directory.people.get(vera).end_date == TODAY + timedelta(days=20)
    result = run("set-end-date", vera, "none")
    assert result.exit_code == 0 and f"{vera} has no end date." in result.output
    assert directory.people.get(vera).end_date is None
    refused = run("set-end-date", vera, days(-3))
    assert refused.exit_code == 1 and "is in the past" in refused.output
    assert directory.people.get(vera).end_date is None
    assert [detail for _, _, detail in audited(app, "end-date-set")] == [f"end date {days(20)}",
                                                                        "end date none"]


def test_a_coordinator_extends_members_of_their_groups_only(app, directory, vera, sysadmin):
    add_volunteers(directory, 1, groups=("media",), prefix="otto")
    for uid in (vera, "otto0000"):
        directory.people.set_end_date(uid, TODAY + timedelta(days=5))
    cora = coordinator(app, directory)
    page = cora.client.get("/groups/requests").get_data(as_text=True)
    assert f'id="member-{vera}"' in page and "otto0000" not in page

    outside = cora.submit("/groups/requests", {"end_date": days(60), "back": "groups"},
                          action="/people/otto0000/end-date")
    assert outside.status_code == 403
    assert directory.people.get("otto0000").end_date == TODAY + timedelta(days=5)
    earlier = cora.submit("/groups/requests", {"end_date": days(2), "back": "groups"},
                          action=f"/people/{vera}/end-date")
    assert f"coordinators extend an end date: choose a day after {days(5)}" in flashed(cora, earlier)
    cleared = cora.submit("/groups/requests", {"end_date": "", "back": "groups"},
                          action=f"/people/{vera}/end-date")
    assert cleared.status_code == 403
    assert directory.people.get(vera).end_date == TODAY + timedelta(days=5)
    response = cora.submit("/groups/requests", {"end_date": days(60), "back": "groups"},
                           action=f"/people/{vera}/end-date")
    assert f"{vera}'s account ends on {days(60)}." in flashed(cora, response)
    assert directory.people.get(vera).end_date == TODAY + timedelta(days=60)
    assert audited(app, "end-date-set") == [("cora0000", vera, f"end date {days(60)}")]


def test_the_reminder_goes_once_per_end_date(app, directory, vera, inbox, run):
    directory.people.set_end_date(vera, TODAY + timedelta(days=2))
    for _ in range(2):
        result = run("expire")
        assert result.exit_code == 0, result.output
    (reminder,) = inbox.messages(f"{vera}@example.org")
    assert reminder["Subject"].endswith(f"ends on {days(2)}")
    assert "/renew/" in reminder.get_content()
    directory.people.set_end_date(vera, TODAY + timedelta(days=3))   # a new end date: reminded again
    assert f"Reminded 1 account(s): {vera}" in run("expire").output
    assert "Reminded 0 account(s)." in run("expire").output
    assert len(inbox.messages(f"{vera}@example.org")) == 2
    assert directory.people.get(vera).status == Status.ACTIVE


def test_expire_twice_ends_an_account_once(app, directory, vera, inbox, run):
    directory.people.set_end_date(vera, TODAY - timedelta(days=1))
    first = run("expire")
    assert first.exit_code == 0 and f"Ended 1 account(s): {vera}" in first.output
    second = run("expire")
    assert second.exit_code == 0 and "Ended 0 account(s)." in second.output
    person = directory.people.get(vera)
    assert person.status == Status.EXPIRED and person.locked_at is not None
    assert not directory.people.check_password(vera, VOLUNTEER_PASSWORD)
    assert jobs_of(app, vera) == ["revoke"]
    assert audited(app, "account-expired") == [("(command line)", vera, f"end date {days(-1)}")]
    (ended,) = inbox.messages(f"{vera}@example.org")
    assert "has ended" in ended["Subject"] and "/renew/" in ended.get_content()
    visitor = Visitor(app.test_client())
    right, wrong = visitor.log_in(vera, VOLUNTEER_PASSWORD), visitor.log_in(vera, "not her password")
    assert right.status_code == wrong.status_code == 401
    for answer in (right, wrong):   # the same words: nobody learns whose password was right
        assert "If your account has ended, ask for renewal" in html.unescape(answer.get_data(as_text=True))


def test_an_expire_run_cut_short_after_the_revoke_is_completed_once(app, directory, vera, inbox, run):
    """As if a run died between the revoke's transaction and the status: the next one finishes."""
    directory.people.set_end_date(vera, TODAY - timedelta(days=1))
    with app.app_context(), get_store().begin() as connection:
        notices.claim(connection, vera, TODAY - timedelta(days=1), notices.EXPIRY, at=utc_now())
    result = run("expire")
    assert result.exit_code == 0, result.output
    assert directory.people.get(vera).status == Status.EXPIRED
    assert jobs_of(app, vera) == [] and audited(app, "account-expired") == []   # done by the run cut short
    assert len(inbox.messages(f"{vera}@example.org")) == 1


def test_renewal_goes_to_the_coordinators_who_renew_and_the_link_then_stops(
        app, directory, vera, inbox, run, sysadmin):
    cora = coordinator(app, directory)
    directory.people.set_end_date(vera, TODAY - timedelta(days=1))
    run("expire")
    link = inbox.link_in(f"{vera}@example.org").removeprefix("http://localhost")
    inbox.clear()
    volunteer = Visitor(app.test_client())
    assert "ended after" in volunteer.client.get(link).get_data(as_text=True)
    asked = volunteer.submit(link, {"note": "Staying for the winter camp"})
    assert asked.status_code == 200 and "Your request is sent" in asked.get_data(as_text=True)
    again = volunteer.submit(link, {"note": "Again"})
    assert "You asked already" in again.get_data(as_text=True)
    (to_cora,) = inbox.messages("cora0000@example.org")
    assert f'("{vera}")' in to_cora.get_content() and "a coordinator of Kitchen" in to_cora.get_content()
    assert inbox.messages("sam@example.org") == []   # the group has a coordinator

    page = html.unescape(cora.client.get("/groups/requests").get_data(as_text=True))
    assert "Staying for the winter camp" in page
    request_id = int(page.split('id="renewal-request-')[1].split('"')[0])
    refused = cora.submit("/groups/requests", {"end_date": ""},
                          action=f"/groups/renewals/{request_id}/renew")
    assert refused.status_code == 403 and directory.people.get(vera).status == Status.EXPIRED
    renewed = cora.submit("/groups/requests", {"end_date": days(30)},
                          action=f"/groups/renewals/{request_id}/renew")
    assert f"{vera}'s account is renewed until {days(30)}." in flashed(cora, renewed)
    person = directory.people.get(vera)
    assert (person.status, person.end_date, person.locked_at) == (Status.ACTIVE, TODAY + timedelta(days=30),
                                                                  None)
    assert directory.people.check_password(vera, VOLUNTEER_PASSWORD)
    assert jobs_of(app, vera)[-1] == "grant"   # the queued revoke, never run, is superseded
    assert audited(app, "account-renewed") == [
        ("cora0000", vera, f"end date {days(30)}, renewal request {request_id}")]
    assert any("is renewed" in mail["Subject"] for mail in inbox.messages(f"{vera}@example.org"))
    gone = volunteer.client.get(link)
    assert gone.status_code == 400 and "has changed since" in gone.get_data(as_text=True)
    assert Visitor(app.test_client()).log_in(vera, VOLUNTEER_PASSWORD).status_code == 302


def test_without_coordinators_the_sysadmins_decide_and_a_decline_mails_the_reason(
        app, directory, vera, inbox, sysadmin):
    directory.people.set_end_date(vera, TODAY + timedelta(days=2))
    volunteer = Visitor(app.test_client())
    assert volunteer.log_in(vera, VOLUNTEER_PASSWORD).status_code == 302
    assert f"Last day</dt><dd>{days(2)}" in volunteer.client.get("/account").get_data(as_text=True)
    response = volunteer.submit("/account", {"note": "One more week"}, action="/account/renewal")
    assert "is sent to your working groups' coordinators" in flashed(volunteer, response)
    assert "asks to renew" in inbox.only_message("sam@example.org")["Subject"]
    page = sysadmin.client.get("/groups/requests").get_data(as_text=True)
    request_id = int(page.split('id="renewal-request-')[1].split('"')[0])
    refused = sysadmin.submit("/groups/requests", {"reason": " "},
                              action=f"/groups/renewals/{request_id}/decline")
    assert "say why" in flashed(sysadmin, refused)
    declined = sysadmin.submit("/groups/requests", {"reason": "The camp ends on Sunday."},
                               action=f"/groups/renewals/{request_id}/decline")
    assert f"{vera}'s renewal is declined" in flashed(sysadmin, declined)
    (declined_mail,) = inbox.messages(f"{vera}@example.org")
    assert "The camp ends on Sunday." in declined_mail.get_content()
    assert directory.people.get(vera).end_date == TODAY + timedelta(days=2)


def test_the_export_shows_the_end_date_and_renewals_and_deleting_the_account_leaves_neither(
        app, directory, vera, inbox, run):
    directory.people.set_end_date(vera, TODAY + timedelta(days=1))
    assert run("expire").exit_code == 0   # the reminder, noted in end_date_notices
    with app.app_context():
        portal = get_portal()
        request_renewal(portal, vera, "A few more days", actor=vera)
        data = own_data(portal, vera, actor=vera)
        assert data["account"]["end_date"] == days(1)
        assert [(item["note"], item["end_date"]) for item in data["renewal_requests"]] == [
            ("A few more days", days(1))]
        delete_account(portal, vera, VOLUNTEER_PASSWORD, actor=vera)
    with app.app_context(), get_store().begin() as connection:
        for table in (schema.renewal_requests, schema.end_date_notices):
            assert connection.execute(sa.select(table)).all() == [], table.name


def test_two_expire_runs_at_once_end_an_account_once_and_mail_once(app, directory, vera, inbox):
    directory.people.set_end_date(vera, TODAY - timedelta(days=1))
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def expire() -> None:
        with app.app_context():
            portal = get_portal()
            start.wait()
            try:
                outcomes.append(expire_accounts(portal))
            except Exception as error:  # noqa: BLE001 - shown by the assertion below
                outcomes.append(error)

    threads = [threading.Thread(target=expire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert directory.people.get(vera).status == Status.EXPIRED
    assert jobs_of(app, vera) == ["revoke"]
    assert len(audited(app, "account-expired")) == 1
    assert len(inbox.messages(f"{vera}@example.org")) == 1


def test_the_end_date_settings_give_the_default_and_a_negative_one_is_refused(
        directory, slapd_server, tmp_path):
    config = app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}")
    with pytest.raises(ConfigError, match="PROVISIONER_END_DATE_DAYS_TASK is -1"):
        create_app({**config, "END_DATE_DAYS_TASK": -1})
    app = create_app({**config, "END_DATE_DAYS_HOUR": "2", "END_DATE_DAYS_TASK": 0})
    with app.app_context():
        terms = get_portal().terms
    assert terms.default_end_date("hour", TODAY) == TODAY + timedelta(days=2)
    assert terms.default_end_date("task", TODAY) == TODAY
    assert terms.default_end_date("ongoing", TODAY) is None


def test_a_renewal_goes_to_the_sysadmins_when_no_coordinator_of_the_groups_can_act(
        app, directory, vera, inbox, sysadmin):
    add_volunteers(directory, 1, groups=("kitchen",), prefix="cora")
    directory.groups.add_owner("wg-kitchen", "cora0000")
    directory.people.set_status("cora0000", Status.SUSPENDED)
    directory.people.set_end_date(vera, TODAY + timedelta(days=2))
    with app.app_context():
        request_renewal(get_portal(), vera, "", actor=vera)
    assert inbox.messages("cora0000@example.org") == []
    assert "asks to renew" in inbox.only_message("sam@example.org")["Subject"]
