"""Invitations: sent by a sysadmin or a coordinator (their own groups only), accepted once
through the mailed link into an active account with no approval, expired, withdrawn,
listed. Real slapd, store and SMTP sink; the portal through Flask's test client."""

from __future__ import annotations

import html
import threading
from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from provisioner import create_app
from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.config import ConfigError
from provisioner.directory import DirectoryError, NewPerson, Status
from provisioner.jobs import GRANT
from provisioner.resources import get_portal, get_store
from provisioner.store import jobs
from provisioner.store.schema import audit_log, invitations
from provisioner.workflow import (
    HOST_OPERATOR,
    InvalidInput,
    LinkInvalid,
    NotAllowed,
    WorkflowError,
    create_sysadmin,
    initialise_directory,
)
from provisioner.workflow.invitation_acceptance import Acceptance, accept_invitation
from provisioner.workflow.invitations import AddressTaken, invite, withdraw
from provisioner.workflow.own_data import delete_account

from ldap_helpers import root_connection, snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD, Visitor, given_totp
from suite_config import app_config

PAGE = "/invitations"
PASSWORD = "marigold kettle harbour sunrise"


def account(app, directory, uid: str, *, coordinates=()) -> Visitor:
    """An active account, owner of `coordinates`, logged in in a browser of its own."""
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person",
                                   mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    for slug in coordinates:
        directory.groups.add_member(f"wg-{slug}", uid)
        directory.groups.add_owner(f"wg-{slug}", uid)
    if coordinates:
        given_totp(app, uid)
    browser = Visitor(app.test_client())
    assert browser.log_in(uid, VOLUNTEER_PASSWORD).status_code == 302
    return browser


@pytest.fixture
def sam(directory):
    """The sysadmin sam, for calls through the workflow."""
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    return "sam"


@pytest.fixture
def cora(app, directory):
    """Coordinator of the kitchen."""
    return account(app, directory, "cora", coordinates=["kitchen"])


def send(browser: Visitor, mail: str, groups: list[str], until: str = "", name: str = ""):
    return browser.submit(PAGE, {"mail": mail, "groups": groups, "until": until, "display_name": name})


def accept_form(uid: str = "ines", name: str = "Ines Invited", password: str = PASSWORD) -> dict:
    return {"uid": uid, "display_name": name, "password": password, "password_again": password}


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost")


def audited(app, action: str) -> list[tuple]:
    with app.app_context(), get_store().begin() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(audit_log.c.actor, audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.action == action).order_by(audit_log.c.id))]


def stored(app) -> list[tuple]:
    with app.app_context(), get_store().begin() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(invitations.c.mail, invitations.c.state, invitations.c.uid).order_by(invitations.c.id))]


def queued(app) -> list[tuple]:
    with app.app_context(), get_store().begin() as connection:
        return [(job.kind, job.targets) for job in jobs.recent(connection, state="queued")]


def as_portal(app, **changes):
    """Call the workflow as the app would, with its clock moved (`ago`) if asked."""
    ago = changes.pop("ago", None)
    portal = get_portal()
    if ago is not None:
        moment = utc_now() - ago
        portal = replace(portal, clock=lambda: moment)
    return replace(portal, **changes)


def test_an_invitation_makes_an_active_account_in_its_groups_once(app, sysadmin, client, directory,
                                                                   inbox):
    until = (date.today() + timedelta(days=30)).isoformat()
    response = send(sysadmin, "ines@example.org", ["kitchen", "media"], until, "Ines Invited")
    assert response.status_code == 302
    mail = inbox.only_message("ines@example.org")
    assert "Sam Admin invites you" in mail.get_content() and "Kitchen" in mail.get_content()
    link = inbox.link_in("ines@example.org")
    token = link.rsplit("/", 1)[1]
    with app.app_context(), get_store().begin() as connection:  # only the digest is kept
        assert token not in repr(connection.execute(sa.select(invitations)).all())
        assert token not in repr(connection.execute(sa.select(audit_log)).all())

    page = client.get(path_of(link)).get_data(as_text=True)
    assert 'id="invited-address">ines@example.org<' in page
    assert 'value="Ines Invited"' in page              # the name the inviter gave
    assert 'name="mail"' not in page                    # the address is not a field
    invitee = Visitor(client)
    answer = invitee.submit(path_of(link), accept_form())
    assert answer.status_code == 302 and answer.location == "/login"

    person = directory.people.get("ines")
    assert (person.status, person.pending, person.mail) == (Status.ACTIVE, False, "ines@example.org")
    assert person.end_date == date.fromisoformat(until)
    assert set(directory.groups.of("ines")) >= {"wg-kitchen", "wg-media"}
    assert directory.people.check_password("ines", PASSWORD)
    assert queued(app) == [(GRANT, {"ines": ["kitchen", "media"]})]
    assert [action[1] for action in audited(app, "invitation-accepted")] == ["ines"]
    assert len(audited(app, "invitation-sent")) == 1
    assert stored(app) == [("ines@example.org", "used", "ines")]
    assert any('your account "ines" is ready' in message.get_content()
               for message in inbox.messages("ines@example.org"))
    assert invitee.log_in("ines", PASSWORD).status_code == 302
    [held] = invitee.client.get("/account/data").get_json()["invitations"]   # her own data
    assert (held["mail"], held["groups"], held["state"], held["uid"], held["end_date"]) == (
        "ines@example.org", ["kitchen", "media"], "used", "ines", until)
    assert held["invited_by"] == "sam" and "digest" not in held

    # The link again: a clear page, and nothing more made.
    again = Visitor(app.test_client())
    reused = again.client.get(path_of(link))
    assert reused.status_code == 400
    assert "was used already: the account ines was made with it" in html.unescape(
        reused.get_data(as_text=True))
    second = again.submit("/register", accept_form(uid="ines-two"), action=path_of(link))
    assert second.status_code == 400
    assert directory.people.find("ines-two") is None
    assert len(queued(app)) == 1


def test_a_link_nobody_sent_gets_a_clear_page(client):
    for token in ("not-a-token", "x" * 5000):
        answer = client.get(f"/invitation/{token}")
        assert answer.status_code == 400
        assert "This invitation link is not valid" in answer.get_data(as_text=True)


def test_an_expired_invitation_is_refused_and_a_new_one_may_be_sent(app, sam, client, directory,
                                                                      inbox):
    with app.test_request_context():
        old = as_portal(app, ago=timedelta(days=15))   # INVITATION_DAYS is 14
        invite(old, "ines@example.org", ["kitchen"], until=None, actor="sam")
    link = inbox.link_in("ines@example.org")
    page = client.get(path_of(link))
    assert page.status_code == 400 and "This invitation expired on" in page.get_data(as_text=True)
    refused = Visitor(client).submit("/register", accept_form(), action=path_of(link))
    assert refused.status_code == 400
    assert directory.people.find("ines") is None
    with app.test_request_context():  # an expired one does not stand in the way
        invite(get_portal(), "ines@example.org", ["kitchen"], until=None, actor="sam")
    assert [state for _mail, state, _uid in stored(app)] == ["expired", "open"]


def test_a_withdrawn_invitation_is_refused(app, sysadmin, client, directory, inbox):
    send(sysadmin, "ines@example.org", ["kitchen"])
    link = inbox.link_in("ines@example.org")
    (invitation_id,) = [row.id for row in _rows(app)]
    answer = sysadmin.submit(PAGE, {}, action=f"{PAGE}/{invitation_id}/withdraw")
    assert answer.status_code == 302
    page = client.get(path_of(link))
    assert page.status_code == 400 and "This invitation was withdrawn" in page.get_data(as_text=True)
    listed = sysadmin.client.get(PAGE).get_data(as_text=True)
    assert "withdrawn" in listed and "by sam" in listed
    assert len(audited(app, "invitation-withdrawn")) == 1
    again = sysadmin.submit(PAGE, {}, action=f"{PAGE}/{invitation_id}/withdraw")
    shown = sysadmin.client.get(again.location).get_data(as_text=True)
    assert "was withdrawn already" in html.unescape(shown)
    assert len(audited(app, "invitation-withdrawn")) == 1


def _rows(app):
    with app.app_context(), get_store().begin() as connection:
        return connection.execute(sa.select(invitations).order_by(invitations.c.id)).all()


def test_a_coordinator_invites_into_their_groups_only(app, cora, directory, inbox):
    page = cora.client.get(PAGE).get_data(as_text=True)
    assert 'value="kitchen"' in page and 'value="tech"' not in page   # only their groups offered
    refused = send(cora, "ines@example.org", ["kitchen", "tech"])      # a forged form
    assert refused.status_code == 400
    with app.test_request_context(), pytest.raises(NotAllowed, match="not Tech"):
        invite(get_portal(), "ines@example.org", ["kitchen", "tech"], until=None, actor="cora")
    assert inbox.messages() == [] and stored(app) == []
    assert [(actor, detail) for actor, _subject, detail in audited(app, "invitation-refused")] == [
        ("cora", "tried to invite into tech")]

    assert send(cora, "ines@example.org", ["kitchen"]).status_code == 302
    assert stored(app) == [("ines@example.org", "open", None)]
    # Someone who neither coordinates nor administers may not invite, list or withdraw.
    volunteer = account(app, directory, "vera")
    assert volunteer.client.get(PAGE).status_code == 403
    assert ">Invitations</a>" in cora.client.get("/account").get_data(as_text=True)   # the nav
    assert ">Invitations</a>" not in volunteer.client.get("/account").get_data(as_text=True)
    assert send(volunteer, "otto@example.org", ["kitchen"]).status_code == 403
    (row,) = _rows(app)
    assert volunteer.submit("/account", {}, action=f"{PAGE}/{row.id}/withdraw").status_code == 403
    assert stored(app) == [("ines@example.org", "open", None)]


def test_a_coordinator_withdraws_only_invitations_into_groups_all_theirs(app, sam, cora, inbox):
    with app.test_request_context():
        portal = get_portal()
        both = invite(portal, "ines@example.org", ["kitchen", "tech"], until=None, actor="sam")
        kitchen = invite(portal, "otto@example.org", ["kitchen"], until=None, actor="sam")
        with pytest.raises(NotAllowed):
            withdraw(portal, both.id, actor="cora")
        assert withdraw(portal, kitchen.id, actor="cora").state == "withdrawn"


def test_refusals_say_why_and_change_nothing(app, sam, directory, inbox):
    directory.people.add(NewPerson(uid="vera", display_name="Vera", mail="vera@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.add(NewPerson(uid="una", display_name="Una", mail="una@example.org"))  # unverified
    with app.test_request_context():
        portal = get_portal()
        with pytest.raises(AddressTaken, match="has an account already"):
            invite(portal, "VERA@example.org", ["kitchen"], until=None, actor="sam")
        with pytest.raises(InvalidInput) as past:
            invite(portal, "ines@example.org", ["kitchen"], until=date.today() - timedelta(days=1),
                   actor="sam")
        assert "is in the past" in past.value.errors["until"]
        with pytest.raises(InvalidInput) as wrong:
            invite(portal, "not an address", ["nowhere"], until=None, actor="sam")
        assert set(wrong.value.errors) == {"mail", "groups"}
        assert stored(app) == [] and inbox.messages() == []

        invite(portal, "una@example.org", ["kitchen"], until=None, actor="sam")  # unverified: fine
        with pytest.raises(AddressTaken, match="has an open invitation already"):
            invite(portal, "Una@Example.org", ["tech"], until=None, actor=HOST_OPERATOR)
    assert stored(app) == [("una@example.org", "open", None)]
    assert len(inbox.messages("una@example.org")) == 1


def test_a_refused_username_leaves_the_link_usable(app, sam, directory, inbox):
    directory.people.add(NewPerson(uid="vera", display_name="Vera", mail="vera@example.org",
                                   status=Status.ACTIVE), pending=False)
    with app.test_request_context():
        invite(get_portal(), "ines@example.org", ["kitchen"], until=None, actor="sam")
    token = inbox.link_in("ines@example.org").rsplit("/", 1)[1]
    with app.test_request_context():
        portal = get_portal()
        with pytest.raises(InvalidInput) as taken:
            accept_invitation(portal, token, Acceptance("vera", "Ines", PASSWORD))
        assert taken.value.errors == {"uid": "this username is taken, please choose another"}
        with pytest.raises(InvalidInput) as weak:
            accept_invitation(portal, token, Acceptance("ines", "Ines", "password"))
        assert set(weak.value.errors) == {"password"}
        assert accept_invitation(portal, token, Acceptance("ines", "Ines", PASSWORD)).status == Status.ACTIVE
    assert directory.people.get("vera").mail == "vera@example.org"


def test_two_accepts_at_once_make_one_account(any_store_app, sam, directory, inbox):
    app = any_store_app
    with app.test_request_context():
        invite(get_portal(), "ines@example.org", ["kitchen"], until=None, actor="sam")
    token = inbox.link_in("ines@example.org").rsplit("/", 1)[1]
    ready = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def accept_as(uid: str) -> None:
        with app.test_request_context():
            portal = get_portal()
            ready.wait(timeout=30)
            try:
                outcomes[uid] = accept_invitation(portal, token, Acceptance(uid, "Ines", PASSWORD))
            except (WorkflowError, LinkInvalid) as error:
                outcomes[uid] = error

    threads = [threading.Thread(target=accept_as, args=(uid,)) for uid in ("ines", "ines-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    made = [uid for uid in ("ines", "ines-b") if directory.people.find(uid) is not None]
    assert len(made) == 1, outcomes
    assert not isinstance(outcomes[made[0]], Exception)
    assert len(queued(app)) == 1
    assert len(audited(app, "invitation-accepted")) == 1
    assert stored(app) == [("ines@example.org", "used", made[0])]


def test_an_acceptance_cut_short_is_completed_by_using_the_link_again(app, sam, directory, inbox):
    """A process that died after making the entry (its claim stale): the next use removes
    what it left and makes the account; one that died after its transaction is finished."""
    with app.test_request_context():
        invite(get_portal(), "ines@example.org", ["kitchen"], until=None, actor="sam")
    token = inbox.link_in("ines@example.org").rsplit("/", 1)[1]
    (row,) = _rows(app)
    directory.people.add(NewPerson(uid="ines-old", display_name="Ines", mail="ines@example.org",
                                   status=Status.VERIFIED, note=f"Invited by sam (invitation {row.id})"),
                         pending=False)
    with app.app_context(), get_store().begin() as connection:
        connection.execute(invitations.update().values(uid="ines-old",
                                                       claimed_at=utc_now() - timedelta(minutes=5)))
    with app.test_request_context():
        person = accept_invitation(get_portal(), token, Acceptance("ines", "Ines", PASSWORD))
    assert person.status == Status.ACTIVE
    assert directory.people.find("ines-old") is None

    directory.people.set_status("ines", Status.VERIFIED)   # as if cut short before its last step
    with app.test_request_context(), pytest.raises(LinkInvalid, match="used already"):
        accept_invitation(get_portal(), token, Acceptance("ines", "Ines", PASSWORD))
    assert directory.people.get("ines").status == Status.ACTIVE
    assert len(queued(app)) == 1


def test_the_list_shows_state_inviter_groups_and_dates(app, sysadmin, cora, inbox):
    send(sysadmin, "ines@example.org", ["kitchen", "tech"], (date.today() + timedelta(days=3)).isoformat())
    send(cora, "otto@example.org", ["kitchen"])
    send(sysadmin, "una@example.org", ["media"])
    page = html.unescape(sysadmin.client.get(PAGE).get_data(as_text=True))
    for text in ("ines@example.org", "Kitchen, Tech", "otto@example.org", "cora", "una@example.org",
                 (date.today() + timedelta(days=3)).isoformat(), "open until"):
        assert text in page
    # A coordinator sees what they sent and what invites into their groups, not the rest.
    theirs = html.unescape(cora.client.get(PAGE).get_data(as_text=True))
    assert "ines@example.org" in theirs and "otto@example.org" in theirs
    assert "una@example.org" not in theirs
    assert "Withdraw invitation" in theirs


def test_the_command_line_invites(app, directory, inbox):
    runner = app.test_cli_runner()
    until = (date.today() + timedelta(days=7)).isoformat()
    result = runner.invoke(cli, ["invite", "ines@example.org", "--group", "kitchen", "--group", "tech",
                                 "--until", until])
    assert result.exit_code == 0, result.output
    assert "sent to ines@example.org" in result.output
    assert len(inbox.messages("ines@example.org")) == 1
    again = runner.invoke(cli, ["invite", "ines@example.org", "--group", "kitchen"])
    assert again.exit_code == 1 and "has an open invitation already" in again.output
    past = runner.invoke(cli, ["invite", "otto@example.org", "--group", "kitchen", "--until", "2001-01-01"])
    assert past.exit_code == 1 and "2001-01-01 is in the past" in past.output
    assert [actor for actor, _s, _d in audited(app, "invitation-sent")] == ["(command line)"]


def test_deleting_the_account_forgets_its_invitation(app, sam, directory, inbox):
    with app.test_request_context():
        portal = get_portal()
        invite(portal, "ines@example.org", ["kitchen"], until=None, actor="sam")
        token = inbox.link_in("ines@example.org").rsplit("/", 1)[1]
        accept_invitation(portal, token, Acceptance("ines", "Ines", PASSWORD))
        invite(portal, "otto@example.org", ["kitchen"], until=None, actor="sam")
        delete_account(portal, "ines", PASSWORD, actor="ines")
    assert [(mail, state) for mail, state, _uid in stored(app)] == [("otto@example.org", "open")]


def test_invitation_days_must_be_at_least_one(slapd_server):
    with pytest.raises(ConfigError, match="PROVISIONER_INVITATION_DAYS is 0: it must be 1 or more"):
        create_app({**app_config(slapd_server), "INVITATION_DAYS": 0})


def test_an_acceptance_that_fails_half_way_leaves_nothing_and_the_link_works_again(
        app, sam, directory, slapd_server, catalogue, inbox):
    with app.test_request_context():
        invite(get_portal(), "ines@example.org", ["kitchen", "media"], until=None, actor="sam")
    token = inbox.link_in("ines@example.org").rsplit("/", 1)[1]
    media = f"cn=wg-media,ou=groups,{slapd_server.base_dn}"  # a group without teams
    with root_connection(slapd_server) as connection:   # its second group is gone: adding fails
        assert connection.delete(media)
    before = set(snapshot(slapd_server))
    with app.test_request_context(), pytest.raises(DirectoryError):
        accept_invitation(get_portal(), token, Acceptance("ines", "Ines", PASSWORD))
    assert set(snapshot(slapd_server)) == before              # the entry is removed again...
    assert directory.groups.get("wg-kitchen").members == ()    # ...and its first group's value
    assert queued(app) == [] and audited(app, "invitation-accepted") == []
    assert stored(app) == [("ines@example.org", "open", "ines")]

    initialise_directory(directory, catalogue, "Occupy Test")   # the group is back
    with app.test_request_context():                            # another username, at once
        person = accept_invitation(get_portal(), token, Acceptance("ines-b", "Ines", PASSWORD))
    assert person.status == Status.ACTIVE
    assert set(directory.groups.of("ines-b")) >= {"wg-kitchen", "wg-media"}
    assert queued(app) == [(GRANT, {"ines-b": ["kitchen", "media"]})]


def test_purge_expired_deletes_invitations_nobody_used_once_their_retention_ends(app, sam, inbox):
    """UNUSED_INVITATION_RETENTION_DAYS (90): an address that never joined is not kept for good."""
    with app.test_request_context():
        long_ago, weeks_ago, now = (as_portal(app, ago=timedelta(days=200)),
                                    as_portal(app, ago=timedelta(days=30)), get_portal())
        invite(long_ago, "old-expired@example.org", ["kitchen"], until=None, actor="sam")
        withdraw(long_ago, invite(long_ago, "old-withdrawn@example.org", ["kitchen"], until=None,
                                  actor="sam").id, actor="sam")
        invite(long_ago, "old-used@example.org", ["kitchen"], until=None, actor="sam")
        token = path_of(inbox.link_in("old-used@example.org")).rsplit("/", 1)[1]
        accept_invitation(long_ago, token, Acceptance("olga", "Olga Used", PASSWORD))
        invite(weeks_ago, "recent-expired@example.org", ["kitchen"], until=None, actor="sam")
        withdraw(now, invite(now, "recent-withdrawn@example.org", ["kitchen"], until=None,
                             actor="sam").id, actor="sam")
        invite(now, "open@example.org", ["kitchen"], until=None, actor="sam")

    result = app.test_cli_runner().invoke(cli, ["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 invitation(s) nobody used, closed more than 90 days ago." in result.output
    assert [mail for mail, _state, _uid in stored(app)] == [
        "old-used@example.org", "recent-expired@example.org", "recent-withdrawn@example.org",
        "open@example.org"]
    again = app.test_cli_runner().invoke(cli, ["purge-expired"])
    assert "Deleted 0 invitation(s)" in again.output
