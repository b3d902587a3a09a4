"""Appointing a coordinator hands them the keys of their group's tools, end to end: a
sysadmin appoints or removes them through the workflow, the real worker runs the real
playbook on the real Mailman, Redmine and DokuWiki, and what changed is checked as the
coordinator meets it (their directory password: editing the Redmine project, deleting a
file in the wiki namespace) and as each service's administrator sees it (Mailman's
rosters of owners and moderators).

What each batch module does with the batch's coordinator flag is tested with each
service (test_mailing_lists_access.py, test_redmine_access.py, test_wiki_access.py); who
may appoint, in
test_coordinators.py.
"""

from __future__ import annotations

import pytest

from provisioner.jobs import GRANT
from provisioner.resources import get_portal
from provisioner.workflow import CoordinatorChange, create_sysadmin, reinstate, set_coordinator, suspend

from job_helpers import add_volunteers, job, make_worker, queue
from portal_actions import ADMIN_PASSWORD
from service_fixtures import WIKI_ADMIN, WIKI_ADMIN_PASSWORD, offer
from service_views import account, acl_lines, delete_file, edit_project, members, roster

PASSWORD = "a coordinator's long password"
LOCKED = 3
WIKI_SUPERUSER = (WIKI_ADMIN, WIKI_ADMIN_PASSWORD)
KITCHEN_MEMBERS = {"wg:kitchen:*\t@wg%2dkitchen\t8", "wg:kitchen:*\t@user\t1"}


@pytest.fixture
def tools_app(app, mailman, redmine, wiki, tmp_path):
    """The app, its worker pointed at an inventory offering the lists, Redmine and the wiki."""
    return offer(app, tmp_path / "inventory", mailman, redmine, wiki)


@pytest.fixture
def sam(directory):
    """A sysadmin, who appoints."""
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    return "sam"


def appoint(app, uid: str, slug: str, *, remove: bool = False, actor: str = "sam") -> CoordinatorChange:
    with app.test_request_context():
        return set_coordinator(get_portal(), uid, slug, coordinates=not remove, actor=actor)


def list_roles(mailman, slug: str, uid: str) -> set[str]:
    """The roles this volunteer's address holds on the group's list."""
    return {role for role in ("member", "owner", "moderator")
            if f"{uid}@example.org" in roster(mailman, slug, role)}


def run_job(app, worker, job_id: int | None) -> None:
    assert job_id is not None
    assert worker.run_once() == 1
    assert job(app, job_id).state == "succeeded", job(app, job_id).error


def test_appointing_someone_outside_the_group_hands_them_the_keys_and_removing_takes_them_back(
        tools_app, directory, mailman, redmine, wiki, sam):
    add_volunteers(directory, 2, groups=("kitchen",), prefix="co-ok")     # a hyphen: %2d in the wiki's ACL
    directory.groups.remove_member("wg-kitchen", "co-ok0000")             # she is in tech, not kitchen
    directory.groups.add_member("wg-tech", "co-ok0000")
    for uid in ("co-ok0000", "co-ok0001"):
        directory.people.set_password(uid, PASSWORD)
    worker = make_worker(tools_app, directory)
    queue(tools_app, GRANT, {"co-ok0000": ["tech"], "co-ok0001": ["kitchen"]})
    worker.run_once()

    appointed = appoint(tools_app, "co-ok0000", "kitchen")
    assert appointed.joined and appointed.changed
    run_job(tools_app, worker, appointed.job_id)
    assert "co-ok0000" in directory.groups.get("wg-kitchen").members
    # Mailman: subscribed, and the list's owner and moderator; the plain member neither.
    assert list_roles(mailman, "kitchen", "co-ok0000") == {"member", "owner", "moderator"}
    assert list_roles(mailman, "kitchen", "co-ok0001") == {"member"}
    # Redmine: a member of the project now, and its Manager; the plain member is not.
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Manager"],
                                              "Volunteer 1": ["Developer"]}
    assert edit_project(redmine, "co-ok0000", PASSWORD, "wg-kitchen") == 204
    assert edit_project(redmine, "co-ok0001", PASSWORD, "wg-kitchen") == 403
    # The wiki: a line of the coordinator's own; they may delete in the namespace, a member not.
    assert acl_lines(wiki, "wg:kitchen:*") == KITCHEN_MEMBERS | {"wg:kitchen:*\tco%2dok0000\t16"}
    assert delete_file(wiki, "co-ok0000", PASSWORD, "wg:kitchen:logo.png", admin=WIKI_SUPERUSER) == 0
    assert delete_file(wiki, "co-ok0001", PASSWORD, "wg:kitchen:logo.png", admin=WIKI_SUPERUSER) == 403

    removed = appoint(tools_app, "co-ok0000", "kitchen", remove=True)
    run_job(tools_app, worker, removed.job_id)
    assert list_roles(mailman, "kitchen", "co-ok0000") == {"member"}
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer"], "Volunteer 1": ["Developer"]}
    assert edit_project(redmine, "co-ok0000", PASSWORD, "wg-kitchen") == 403
    assert acl_lines(wiki, "wg:kitchen:*") == KITCHEN_MEMBERS
    assert delete_file(wiki, "co-ok0000", PASSWORD, "wg:kitchen:logo.png", admin=WIKI_SUPERUSER) == 403
    assert "co-ok0000" in directory.groups.get("wg-kitchen").members      # still a member


def test_suspending_a_coordinator_takes_every_key_and_reinstating_gives_them_back(tools_app, directory,
                                                                                 mailman, redmine, wiki,
                                                                                 sam):
    team = add_volunteers(directory, 1, groups=("kitchen", "tech"), prefix="cora")
    directory.people.set_password("cora0000", PASSWORD)
    worker = make_worker(tools_app, directory)
    queue(tools_app, GRANT, team)
    worker.run_once()
    run_job(tools_app, worker, appoint(tools_app, "cora0000", "kitchen").job_id)
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Manager"]}
    assert "wg:kitchen:*\tcora0000\t16" in acl_lines(wiki, "wg:kitchen:*")
    assert list_roles(mailman, "kitchen", "cora0000") == {"member", "owner", "moderator"}

    with tools_app.test_request_context():
        suspend(get_portal(), "cora0000", "Left the occupation for a month", actor="sam")
    worker.run_once()
    assert members(redmine, "wg-kitchen") == {}
    assert account(redmine, "cora0000")["status"] == LOCKED
    assert acl_lines(wiki, "wg:kitchen:*") == KITCHEN_MEMBERS
    assert list_roles(mailman, "kitchen", "cora0000") == set()
    # The directory keeps them an owner: the keys come back with their access.
    assert "cora0000" in directory.groups.get("wg-kitchen").owners

    with tools_app.test_request_context():
        reinstate(get_portal(), "cora0000", actor="sam")
    worker.run_once()
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Manager"]}
    assert members(redmine, "wg-tech") == {"Volunteer 0": ["Developer"]}
    assert edit_project(redmine, "cora0000", PASSWORD, "wg-kitchen") == 204
    assert "wg:kitchen:*\tcora0000\t16" in acl_lines(wiki, "wg:kitchen:*")
    assert list_roles(mailman, "kitchen", "cora0000") == {"member", "owner", "moderator"}
    assert list_roles(mailman, "tech", "cora0000") == {"member"}
    assert acl_lines(wiki, "wg:tech:*") == {"wg:tech:*\t@wg%2dtech\t8", "wg:tech:*\t@user\t1"}
