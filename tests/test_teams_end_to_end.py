"""Teams inside working groups (issue 17), against the real Mailman, DokuWiki and Redmine: a
team's member is on its list, edits its wiki sub-namespace and is in its Redmine subproject,
and loses them on leaving the team, or the working group; drift there is named and repaired
as a working group's is."""

from __future__ import annotations

import pytest
from test_group_requests import account

from provisioner.cli import cli
from provisioner.jobs import GRANT
from provisioner.resources import get_store
from provisioner.store import group_requests

from job_helpers import make_worker, queue
from portal_actions import VOLUNTEER_PASSWORD
from service_fixtures import offer
from service_views import add_stranger, members, remove_from_roster, roster, save_page

TEAM = "tech.digital-strategy"          # the bundled catalogue's team of tech
TEAM_LIST = "tech--digital-strategy"    # roster() adds wg-
TEAM_PROJECT = "wg-tech--digital-strategy"
TEAM_PAGE = "wg:tech:digital-strategy:notes"


def open_request(app, uid: str) -> int:
    with app.app_context(), get_store().begin() as connection:
        return next(request.id for request in group_requests.of_person(connection, uid)
                    if request.slug == TEAM and request.state == group_requests.OPEN)


@pytest.fixture
def in_team(app, directory, sysadmin, mailman, wiki, redmine, tmp_path):
    """vera and walt in tech, provisioned, then in its team by request, approved by a sysadmin."""
    offer(app, tmp_path / "inventory", mailman, wiki, redmine)
    browsers = {uid: account(app, directory, uid, groups=["tech"]) for uid in ("vera", "walt")}
    worker = make_worker(app, directory)
    queue(app, GRANT, {"vera": ["tech"], "walt": ["tech"]})
    assert worker.run_once() == 1
    for uid, browser in browsers.items():
        browser.submit("/account/groups", {"group": TEAM}, action="/account/groups/join")
        sysadmin.submit("/groups/requests", {}, action=f"/groups/requests/{open_request(app, uid)}/approve")
    assert {name for name in directory.groups.of("vera")} == {"wg-tech", "wg-tech--digital-strategy"}
    assert worker.run_once() == 2
    return browsers, worker


def test_a_team_member_has_the_teams_list_wiki_and_subproject_and_loses_them_leaving(
        app, in_team, directory, mailman, wiki, redmine):
    browsers, worker = in_team
    assert roster(mailman, TEAM_LIST) == {"vera@example.org", "walt@example.org"}
    assert members(redmine, TEAM_PROJECT) == {"Vera Person": ["Developer"], "Walt Person": ["Developer"]}
    status, project = redmine.request("GET", f"/projects/{TEAM_PROJECT}.json")
    assert status == 200 and project["project"]["parent"]["name"] == "Tech"
    assert save_page(wiki, "vera", VOLUNTEER_PASSWORD, TEAM_PAGE, "Tools we use") is True

    # Leaving the team: its list, page and subproject go; the working group's stay.
    browsers["vera"].submit("/account/groups", {"group": TEAM}, action="/account/groups/leave")
    # Leaving the working group: its teams go with it, in the same revoke.
    browsers["walt"].submit("/account/groups", {"group": "tech"}, action="/account/groups/leave")
    assert directory.groups.of("walt") == []
    assert worker.run_once() == 2

    assert roster(mailman, TEAM_LIST) == set()
    assert members(redmine, TEAM_PROJECT) == {}
    assert save_page(wiki, "vera", VOLUNTEER_PASSWORD, TEAM_PAGE, "Still mine?") == 403
    assert save_page(wiki, "walt", VOLUNTEER_PASSWORD, TEAM_PAGE, "Still mine?") == 403
    # (The working group's list and project may hold others' from earlier tests.)
    tech = roster(mailman, "tech")
    assert "vera@example.org" in tech and "walt@example.org" not in tech
    tech_members = members(redmine, "wg-tech")
    assert tech_members["Vera Person"] == ["Developer"] and "Walt Person" not in tech_members
    assert save_page(wiki, "vera", VOLUNTEER_PASSWORD, "wg:tech:notes", "Cables") is True


def test_drift_on_a_teams_list_and_subproject_is_named_and_repaired_like_a_working_groups(
        app, in_team, mailman, redmine):
    _, worker = in_team
    remove_from_roster(mailman, TEAM_LIST, "walt@example.org")
    add_stranger(redmine, TEAM_PROJECT, "mallory")
    reconcile = app.test_cli_runner()
    check = reconcile.invoke(cli, ["reconcile", "--check", "--service", "lists", "--service", "redmine"])
    assert check.exit_code == 1, check.output
    named = [line for line in check.output.splitlines() if "walt" in line or "mallory" in line]
    assert len(named) == 2 and TEAM_LIST in named[0] + named[1] and TEAM_PROJECT in named[0] + named[1]

    assert reconcile.invoke(cli, ["reconcile", "--service", "lists", "--service", "redmine"]).exit_code == 0
    assert worker.run_once() == 1
    assert roster(mailman, TEAM_LIST) == {"vera@example.org", "walt@example.org"}
    assert "Mal Lory" not in members(redmine, TEAM_PROJECT)
    again = reconcile.invoke(cli, ["reconcile", "--check", "--service", "lists", "--service", "redmine"])
    assert again.exit_code == 0, again.output
