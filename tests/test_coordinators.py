"""Sysadmins appoint and remove coordinators (the owners of a working group's LDAP group)
through the workflow and on their page; each change queues the job that brings the
group's services in line (the command line's output is in test_cli.py). Real slapd and
store, the portal through Flask's test client."""

from __future__ import annotations

import html
import threading

import pytest
import sqlalchemy as sa

from provisioner.directory import Status
from provisioner.jobs import GRANT, REVOKE
from provisioner.resources import get_portal, get_store
from provisioner.store import jobs
from provisioner.store.schema import audit_log
from provisioner.workflow import (
    NotAllowed,
    WorkflowError,
    create_sysadmin,
    set_coordinator,
    suspend,
)

from job_helpers import add_volunteers
from ldap_helpers import snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD, Visitor

PAGE = "/admin/coordinators"


def change(app, uid: str, slug: object, *, coordinates: bool = True, actor: str = "sam"):
    with app.test_request_context():
        return set_coordinator(get_portal(), uid, slug, coordinates=coordinates, actor=actor)


def queued(app) -> list[tuple[str, dict[str, list[str]]]]:
    """(kind, targets) of each queued job, oldest first."""
    with app.app_context(), get_store().begin() as connection:
        return [(job.kind, job.targets) for job in reversed(jobs.recent(connection, state="queued"))]


def audited(app, action: str) -> list[tuple[str, str, str]]:
    """(actor, subject, detail) of each audit entry of this action, oldest first."""
    with app.app_context(), get_store().begin() as connection:
        rows = connection.execute(sa.select(audit_log.c.actor, audit_log.c.subject, audit_log.c.detail)
                                  .where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [tuple(row) for row in rows]


@pytest.fixture
def sam(directory):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    return "sam"


def test_appointing_someone_outside_the_group_makes_them_a_member_and_queues_one_grant(app, directory, sam):
    add_volunteers(directory, 1, groups=("tech",))
    made = change(app, "vol0000", "kitchen")
    assert (made.changed, made.joined, made.coordinates) == (True, True, True)
    kitchen = directory.groups.get("wg-kitchen")
    assert kitchen.owners == ("vol0000",) and "vol0000" in kitchen.members
    assert queued(app) == [(GRANT, {"vol0000": ["kitchen"]})]
    assert audited(app, "coordinator-added") == [
        ("sam", "vol0000", "working group kitchen, made a member too")]
    assert made.summary() == ("vol0000 is now a coordinator of Kitchen. They were not a member, so they "
                              f"are one now. Job {made.job_id} is queued to hand them the keys of its "
                              "list, wiki and project.")

    # Asked again (a second click): nothing changes, the waiting job stands alone.
    again = change(app, "vol0000", "kitchen")
    assert (again.changed, again.joined, again.job_id) == (False, False, None)
    assert again.summary() == ("vol0000 was a coordinator of Kitchen already. A job for its list, wiki and "
                               "project is waiting already; it will do this.")
    assert queued(app) == [(GRANT, {"vol0000": ["kitchen"]})]
    assert len(audited(app, "coordinator-added")) == 1


def test_removing_a_coordinator_grants_a_member_again_and_revokes_someone_who_left(app, directory, sam):
    add_volunteers(directory, 2, groups=("kitchen",))
    for uid in ("vol0000", "vol0001"):
        directory.groups.add_owner("wg-kitchen", uid)
    directory.groups.remove_member("wg-kitchen", "vol0001")          # left, still an owner

    kept = change(app, "vol0000", "kitchen", coordinates=False)
    gone = change(app, "vol0001", "kitchen", coordinates=False)
    assert kept.changed and gone.changed
    assert directory.groups.get("wg-kitchen").owners == ()
    assert "vol0000" in directory.groups.get("wg-kitchen").members      # still a member
    assert queued(app) == [(GRANT, {"vol0000": ["kitchen"]}), (REVOKE, {"vol0001": ["kitchen"]})]
    assert audited(app, "coordinator-removed") == [("sam", "vol0000", "working group kitchen"),
                                                   ("sam", "vol0001", "working group kitchen")]
    assert kept.summary() == (f"vol0000 is no longer a coordinator of Kitchen. Job {kept.job_id} is queued "
                              "to take back the keys of its list, wiki and project.")


def test_a_call_cut_short_after_the_directory_changed_is_completed_by_calling_again(app, directory, sam):
    add_volunteers(directory, 1, groups=("kitchen",))
    directory.groups.add_owner("wg-kitchen", "vol0000")      # what the first call did before failing
    completed = change(app, "vol0000", "kitchen")
    assert not completed.changed and completed.job_id is not None
    assert queued(app) == [(GRANT, {"vol0000": ["kitchen"]})]
    assert len(audited(app, "coordinator-added")) == 1


def test_an_appoint_that_finds_the_owner_added_by_another_does_not_say_it_appointed(app, directory, sam):
    # Two appoints at once, interleaved: the other one added the owner value, this one
    # still finds the person outside the group. Only the owner value says who appointed,
    # so this one reports the membership it added and not an appointment.
    add_volunteers(directory, 1, groups=("tech",))
    directory.groups.add_owner("wg-kitchen", "vol0000")
    late = change(app, "vol0000", "kitchen")
    assert (late.changed, late.joined) == (False, True)
    assert late.summary().startswith("vol0000 was a coordinator of Kitchen already. They were not a "
                                     "member, so they are one now.")
    assert "vol0000" in directory.groups.get("wg-kitchen").members
    assert len(audited(app, "coordinator-added")) == 1


def test_volunteers_and_coordinators_cannot_appoint_or_remove(app, directory, sam, slapd_server):
    add_volunteers(directory, 2, groups=("kitchen",))
    directory.groups.add_owner("wg-kitchen", "vol0001")       # a coordinator, not a sysadmin
    before = snapshot(slapd_server)
    for actor in ("vol0000", "vol0001"):
        for coordinates in (True, False):
            with pytest.raises(NotAllowed, match="Only sysadmins may do this."):
                change(app, "vol0000", "kitchen", coordinates=coordinates, actor=actor)
    assert snapshot(slapd_server) == before
    assert queued(app) == []


def test_only_an_active_account_is_appointed_and_only_a_catalogue_group(app, directory, sam, slapd_server):
    add_volunteers(directory, 1, groups=("kitchen",))
    with app.test_request_context():
        suspend(get_portal(), "vol0000", "Away", actor="sam")
    before = snapshot(slapd_server)
    with pytest.raises(WorkflowError, match="vol0000 has no active account"):
        change(app, "vol0000", "kitchen")
    with pytest.raises(WorkflowError, match="nobody has no active account"):
        change(app, "nobody", "kitchen")
    with pytest.raises(WorkflowError):
        change(app, "vol0000", "kitchen,ou=people")
    with pytest.raises(WorkflowError, match="nobody has no account"):
        change(app, "nobody", "kitchen", coordinates=False)
    assert snapshot(slapd_server) == before


def test_two_appoints_at_once_end_in_one_coordinator_and_one_grant(app, directory, sam):
    add_volunteers(directory, 1, groups=("tech",))
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def appoint() -> None:
        start.wait()
        try:
            outcomes.append(change(app, "vol0000", "kitchen"))
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            outcomes.append(error)

    threads = [threading.Thread(target=appoint) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    kitchen = directory.groups.get("wg-kitchen")
    assert kitchen.owners == ("vol0000",) and kitchen.members.count("vol0000") == 1
    assert sum(outcome.changed for outcome in outcomes) == 1            # the directory took one
    # The same grant for the same group: queued once, or (two calls at the very same moment)
    # twice, each doing the same work.
    waiting = queued(app)
    assert waiting and all(job == (GRANT, {"vol0000": ["kitchen"]}) for job in waiting), waiting


# The sysadmins' page.

def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_sysadmin_appoints_and_removes_coordinators_on_their_page(app, directory, sysadmin):
    add_volunteers(directory, 1, groups=("tech",))
    page = page_text(sysadmin.client.get(PAGE))
    assert "Kitchen" in page and "No coordinator yet." in page

    response = sysadmin.submit(PAGE, {"uid": "vol0000", "group": "kitchen"})
    assert response.status_code == 302 and response.location == PAGE
    page = page_text(sysadmin.client.get(PAGE))
    assert "vol0000 is now a coordinator of Kitchen. They were not a member, so they are one now." in page
    assert "Volunteer 0 (vol0000)" in page and "Remove vol0000 as coordinator of Kitchen" in page
    assert directory.groups.get("wg-kitchen").owners == ("vol0000",)
    assert queued(app) == [(GRANT, {"vol0000": ["kitchen"]})]
    assert audited(app, "coordinator-added")[0][0] == "sam"

    response = sysadmin.submit(PAGE, {}, action=f"{PAGE}/kitchen/vol0000/remove")
    assert response.status_code == 302
    page = page_text(sysadmin.client.get(PAGE))
    assert "vol0000 is no longer a coordinator of Kitchen." in page and "Remove vol0000" not in page
    assert directory.groups.get("wg-kitchen").owners == ()


def test_the_page_refuses_what_cannot_be_appointed_in_words(app, directory, sysadmin, slapd_server):
    add_volunteers(directory, 1, groups=("tech",))
    before = snapshot(slapd_server)
    refused = sysadmin.submit(PAGE, {"uid": "vol0000\nx", "group": "kitchen"})
    assert refused.status_code == 400 and "remove the control characters" in page_text(refused)
    refused = sysadmin.submit(PAGE, {"uid": "vol0000", "group": "no-such-group"})
    assert refused.status_code == 400 and "Not a valid choice" in page_text(refused)
    sysadmin.submit(PAGE, {"uid": "nobody", "group": "kitchen"})
    assert "nobody has no active account" in page_text(sysadmin.client.get(PAGE))
    assert snapshot(slapd_server) == before
    assert queued(app) == []


def test_a_volunteer_gets_403_on_the_coordinators_page_and_changes_nothing(app, directory, sysadmin,
                                                                          slapd_server):
    add_volunteers(directory, 1, groups=("kitchen",))
    directory.people.set_password("vol0000", VOLUNTEER_PASSWORD)
    volunteer = Visitor(app.test_client())
    assert volunteer.log_in("vol0000", VOLUNTEER_PASSWORD).status_code == 302
    before = snapshot(slapd_server)
    token = volunteer.csrf_token("/account")
    assert volunteer.client.get(PAGE).status_code == 403
    for path, data in ((PAGE, {"uid": "vol0000", "group": "kitchen"}), (PAGE, {}),
                       (f"{PAGE}/kitchen/vol0000/remove", {})):
        assert volunteer.client.post(path, data={**data, "csrf_token": token}).status_code == 403
    assert snapshot(slapd_server) == before
    assert queued(app) == []
    assert directory.people.get("vol0000").status == Status.ACTIVE


# Teams' coordinators.

TEAM = "tech.digital-strategy"


def test_a_team_gets_coordinators_of_its_own_from_its_working_groups_members(app, directory, sam):
    add_volunteers(directory, 2, groups=("tech",))
    add_volunteers(directory, 1, groups=("kitchen",), prefix="cook")
    with pytest.raises(WorkflowError, match="cook0000 is not in Tech: only its members can coordinate"):
        change(app, "cook0000", TEAM)
    made = change(app, "vol0000", TEAM)
    assert (made.changed, made.joined) == (True, True)
    assert made.summary().startswith("vol0000 is now a coordinator of Digital strategy (Tech).")
    team = directory.groups.get("wg-tech--digital-strategy")
    assert team.owners == ("vol0000",) and "vol0000" in team.members
    assert directory.groups.get("wg-tech").owners == ()           # the working group's unchanged
    assert queued(app) == [(GRANT, {"vol0000": [TEAM]})]

    removed = change(app, "vol0000", TEAM, coordinates=False)
    assert removed.changed and directory.groups.get("wg-tech--digital-strategy").owners == ()
    assert queued(app)[-1] == (GRANT, {"vol0000": [TEAM]})       # still a member: a plain grant


def test_the_page_lists_teams_under_their_working_group_and_appoints_there(app, directory, sysadmin):
    add_volunteers(directory, 1, groups=("tech",))
    page = page_text(sysadmin.client.get(PAGE))
    assert page.index(">Tech<") < page.index("Digital strategy (Tech)") < page.index(">Legal<")
    sysadmin.submit(PAGE, {"uid": "vol0000", "group": TEAM})
    page = page_text(sysadmin.client.get(PAGE))
    assert "vol0000 is now a coordinator of Digital strategy (Tech)." in page
    assert "Remove vol0000 as coordinator of Digital strategy (Tech)" in page
