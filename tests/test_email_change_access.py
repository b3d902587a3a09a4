"""A volunteer's changed address reaches the services, end to end: they change it through
the workflow, the real worker runs the real playbook on the real Mailman and Redmine, and
the lists and Redmine know them by the new address only (Mailman's rosters of members,
owners and moderators; Redmine's account as its administrator sees it).

That a change queues a grant carrying the former address, and none for someone in no
group, is tested in test_self_service.py.
"""

from __future__ import annotations

import time
import uuid

import pytest

from provisioner.jobs import GRANT
from provisioner.resources import get_portal, get_store
from provisioner.store import jobs
from provisioner.workflow import confirm_email_change, request_email_change

from job_helpers import add_volunteers, make_worker, queue
from list_pages import ListBrowser, archive_path, message_hash, post
from service_fixtures import LIST_DOMAIN as DOMAIN
from service_fixtures import offer
from service_views import account, roster

PASSWORD = "a volunteer's long password"


@pytest.fixture
def tools_app(app, mailman, redmine, tmp_path):
    """The app, its worker pointed at an inventory offering the lists and Redmine."""
    return offer(app, tmp_path / "inventory", mailman, redmine)


def change_address(app, inbox, uid: str, new_mail: str) -> None:
    """The volunteer asks for the new address and uses the link mailed to it."""
    with app.test_request_context():
        request_email_change(get_portal(), uid, new_mail, PASSWORD)
    token = inbox.link_in(new_mail).rsplit("/", 1)[1]
    with app.test_request_context():
        confirm_email_change(get_portal(), token)


def list_roles(mailman, slug: str, mail: str) -> set[str]:
    return {role for role in ("member", "owner", "moderator") if mail in roster(mailman, slug, role)}


def finished(app) -> list[jobs.Job]:
    """Every job, newest first, with its results."""
    with app.app_context(), get_store().begin() as connection:
        return [jobs.get(connection, done.id) for done in jobs.recent(connection)]


def outcomes(done: jobs.Job) -> dict[tuple[str, str], str]:
    """The lists' and Redmine's outcome for each volunteer of the job."""
    return {(result.uid, result.service): result.status for result in done.results
            if result.service in ("lists", "redmine")}


def test_a_changed_address_moves_the_lists_and_redmine_to_it_and_a_second_run_changes_nothing(
        tools_app, directory, mailman, redmine, inbox):
    add_volunteers(directory, 2, groups=("kitchen",), prefix="moved")
    member, coordinator = "moved0000", "moved0001"
    directory.groups.add_owner("wg-kitchen", coordinator)
    for uid in (member, coordinator):
        directory.people.set_password(uid, PASSWORD)
    worker = make_worker(tools_app, directory)
    queue(tools_app, GRANT, {member: ["kitchen"], coordinator: ["kitchen"]})
    worker.run_once()
    assert list_roles(mailman, "kitchen", f"{coordinator}@example.org") == {"member", "owner", "moderator"}
    inbox.clear()

    for uid in (member, coordinator):
        change_address(tools_app, inbox, uid, f"{uid}.new@example.net")
    assert worker.run_once() == 2
    for done in finished(tools_app)[:2]:
        assert done.state == "succeeded", done.error
        assert set(outcomes(done).values()) == {"changed"}, done.results
    assert list_roles(mailman, "kitchen", f"{member}@example.org") == set()
    assert list_roles(mailman, "kitchen", f"{member}.new@example.net") == {"member"}
    assert list_roles(mailman, "kitchen", f"{coordinator}@example.org") == set()
    assert list_roles(mailman, "kitchen", f"{coordinator}.new@example.net") == {
        "member", "owner", "moderator"}
    assert account(redmine, member)["mail"] == f"{member}.new@example.net"
    assert account(redmine, coordinator)["mail"] == f"{coordinator}.new@example.net"

    # The same job again (a retry after a run cut short): nothing left to change.
    with tools_app.app_context(), get_store().begin() as connection:
        jobs.enqueue(connection, GRANT, {member: ["kitchen"], coordinator: ["kitchen"]},
                     created_by="test", now=worker.clock(), max_attempts=1,
                     mails={member: f"{member}@example.org", coordinator: f"{coordinator}@example.org"})
    assert worker.run_once() == 1
    again = finished(tools_app)[0]
    assert again.state == "succeeded", again.error
    assert set(outcomes(again).values()) == {"ok"}, again.results
    assert list_roles(mailman, "kitchen", f"{coordinator}.new@example.net") == {
        "member", "owner", "moderator"}


def test_an_address_another_redmine_account_holds_fails_only_redmine_for_that_volunteer(
        tools_app, directory, mailman, redmine, inbox):
    add_volunteers(directory, 1, groups=("kitchen",), prefix="clash")
    directory.people.set_password("clash0000", PASSWORD)
    worker = make_worker(tools_app, directory)
    queue(tools_app, GRANT, {"clash0000": ["kitchen"]})
    worker.run_once()
    status, _ = redmine.request("POST", "/users.json", {"user": {
        "login": "local", "firstname": "Local", "lastname": "Account",
        "mail": "clash.new@example.net", "password": "a local password 123"}})
    assert status == 201
    inbox.clear()

    change_address(tools_app, inbox, "clash0000", "clash.new@example.net")
    worker.run_once()
    done = finished(tools_app)[0]
    results = {(result.uid, result.service): (result.status, result.message) for result in done.results}
    status, message = results[("clash0000", "redmine")]
    assert status == "failed"
    assert "did not change the account's address to clash.new@example.net" in message
    assert results[("clash0000", "lists")][0] == "changed"
    assert list_roles(mailman, "kitchen", "clash.new@example.net") == {"member"}
    assert account(redmine, "clash0000")["mail"] == "clash0000@example.org"


def test_with_the_new_address_the_volunteer_still_reads_the_groups_archive(
        app, directory, mailman_web, mailman, inbox, tmp_path):
    offer(app, tmp_path / "inventory", mailman)
    targets = add_volunteers(directory, 2, groups=("kitchen",), prefix="arcmove")
    uid, poster, kitchen = "arcmove0000", "arcmove0001", f"wg-kitchen@{DOMAIN}"
    directory.people.set_password(uid, PASSWORD)
    worker = make_worker(app, directory)
    queue(app, GRANT, targets)
    worker.run_once()
    before = ListBrowser(mailman_web)      # HyperKitty's account gets the old address first
    assert before.log_in(uid, PASSWORD).status == 302
    inbox.clear()

    change_address(app, inbox, uid, "arcmove.new@example.net")
    worker.run_once()
    token = uuid.uuid4().hex[:12]
    message_id = f"<{token}@example.org>"
    post(mailman, kitchen, f"{poster}@example.org", f"Moved {token}", f"Still here {token}", message_id)
    reader = ListBrowser(mailman_web)
    assert reader.log_in(uid, PASSWORD).status == 302
    thread = archive_path(kitchen, f"thread/{message_hash(message_id)}/")
    deadline = time.monotonic() + 90
    while not reader.open(thread).shows(f"Still here {token}"):
        assert time.monotonic() < deadline, "the post is not in the volunteer's archive"
        time.sleep(0.5)
