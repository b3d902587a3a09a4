"""Deleting an account takes every access away, end to end: a coordinator deletes their own
account on the account page, and the real worker runs the revoke on the real Mailman,
Redmine and DokuWiki after the directory entry is gone (the job carries the address
Mailman knows them by)."""

from __future__ import annotations

import pytest

from provisioner.jobs import GRANT
from provisioner.resources import get_portal
from provisioner.store import jobs
from provisioner.workflow import create_sysadmin, set_coordinator
from provisioner.workflow.own_data import pseudonym

from job_helpers import add_volunteers, job, make_worker, queue
from portal_actions import ADMIN_PASSWORD, Visitor, authenticator_code, given_totp
from service_fixtures import offer
from service_views import acl_lines, log_in, members, rest, roster, save_page

PASSWORD = "a coordinator's long password"


@pytest.fixture
def tools_app(app, mailman, redmine, wiki, tmp_path):
    return offer(app, tmp_path / "inventory", mailman, redmine, wiki)


def list_roles(mailman, slug: str, uid: str) -> set[str]:
    return {role for role in ("member", "owner", "moderator")
            if f"{uid}@example.org" in roster(mailman, slug, role)}


def test_a_deleted_coordinator_keeps_no_access_in_mailman_the_wiki_or_redmine(
        tools_app, directory, mailman, redmine, wiki):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    add_volunteers(directory, 1, groups=("kitchen", "tech"), prefix="del")
    uid = "del0000"
    directory.people.set_password(uid, PASSWORD)
    worker = make_worker(tools_app, directory)
    queue(tools_app, GRANT, {uid: ["kitchen", "tech"]})
    with tools_app.test_request_context():
        appointed = set_coordinator(get_portal(), uid, "kitchen", coordinates=True, actor="sam")
    worker.run_once()
    assert worker.run_once() == 1 and job(tools_app, appointed.job_id).state == "succeeded"
    assert list_roles(mailman, "kitchen", uid) == {"member", "owner", "moderator"}
    assert list_roles(mailman, "tech", uid) == {"member"}
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Manager"]}
    assert log_in(redmine, uid, PASSWORD) == 200
    assert any(uid in line for line in acl_lines(wiki, "wg:kitchen:*"))
    assert save_page(wiki, uid, PASSWORD, "wg:kitchen:notes", "Onions") is True

    assert rest(mailman, f"/addresses/{uid}@example.org")[0] == 200
    given_totp(tools_app, uid)
    person = Visitor(tools_app.test_client())
    assert person.log_in(uid, PASSWORD).status_code == 302
    deleted = person.submit("/account/delete", {"password": PASSWORD,
                                                "code": authenticator_code(tools_app, uid)})
    assert deleted.status_code == 302
    assert directory.people.find(uid) is None

    assert worker.run_once() == 1
    with tools_app.app_context(), get_portal().store.begin() as connection:
        name = pseudonym(get_portal(), uid)
        assert jobs.latest_for(connection, uid) is None   # the job's rows take the pseudonym
        revoke = jobs.latest_for(connection, name)
        earlier = jobs.get(connection, appointed.job_id)
    assert (revoke.kind, revoke.state) == ("revoke", "succeeded"), revoke.error
    assert revoke.mails == {} and revoke.forgotten == {}   # nothing carried is kept once done
    assert {result.service for result in revoke.results} >= {"lists", "redmine", "wiki"}
    assert all(result.message is None for result in revoke.results)
    assert list(earlier.targets) == [name] and {r.uid for r in earlier.results} == {name}
    for slug in ("kitchen", "tech"):
        assert list_roles(mailman, slug, uid) == set()
        assert members(redmine, f"wg-{slug}") == {}
    for kind in ("users", "addresses"):   # Mailman keeps no record of the address
        assert rest(mailman, f"/{kind}/{uid}@example.org")[0] == 404
    status, data = redmine.request("GET", f"/users.json?status=&name={uid}")
    assert status == 200 and data["users"] == []   # the Redmine account is deleted
    assert log_in(redmine, uid, PASSWORD) == 401
    assert not any(uid in line for line in acl_lines(wiki, "wg:kitchen:*"))
    assert save_page(wiki, uid, PASSWORD, "wg:kitchen:notes", "Still here?") == 401
