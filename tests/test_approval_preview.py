"""Issue 17's approval preview: a check-mode run of the grant playbook says what approving a
request would do in each service, writes nothing, and is what the approval then does."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from provisioner.clock import utc_now
from provisioner.preview_runs import fingerprint
from provisioner.resources import get_portal, get_store, runner_settings
from provisioner.runner import PlaybookRunner, Volunteer
from provisioner.store import Store, jobs, previews
from provisioner.workflow.approval_preview import approval_preview, items, summarise

from job_helpers import make_worker
from library_modules import library_module
from portal_actions import VOLUNTEER_PASSWORD, Visitor
from service_fixtures import offer
from service_views import rest
from suite_config import LIST_DOMAIN

GROUPS = ("kitchen", "tech")


def ask(sysadmin: Visitor, uid: str):
    return sysadmin.submit("/admin/requests", {}, action=f"/admin/requests/{uid}/preview")


def shown(app, uid: str):
    with app.test_request_context():
        return approval_preview(get_portal(), uid, actor="sam")


def services_state(mailman, wiki, redmine) -> dict:
    """What a check-mode run must leave as it is: Mailman's lists and their members, Redmine's
    accounts, projects and memberships, the wiki's ACL and pages."""
    lists = {entry["fqdn_listname"]: sorted(member["email"] for member in rest(
                 mailman, f"/lists/{entry['list_id']}/roster/member")[1].get("entries", []))
             for entry in rest(mailman, "/lists")[1].get("entries", [])}
    projects = redmine.request("GET", "/projects.json?limit=100")[1]["projects"]
    return {
        "lists": lists,
        "redmine users": sorted(user["login"] for user in
                                redmine.request("GET", "/users.json?status=&limit=100")[1]["users"]),
        "redmine projects": {project["identifier"]: redmine.request(
            "GET", f"/projects/{project['id']}/memberships.json")[1]["total_count"] for project in projects},
        "wiki acl": wiki.acl_path.read_text(),
        "wiki pages": sorted(str(path) for path in (wiki.data_dir / "pages").rglob("*")),
    }


def test_the_preview_lists_exactly_what_the_approval_then_does_and_writes_nothing(
        app, sysadmin, verified, directory, mailman, wiki, redmine, tmp_path):
    offer(app, tmp_path / "inventory", mailman, wiki, redmine)
    verified("prue", groups=GROUPS)
    worker = make_worker(app, directory)
    before = services_state(mailman, wiki, redmine)

    response = ask(sysadmin, "prue")
    assert response.location == "/admin/requests/prue/preview"
    waiting = sysadmin.client.get(response.location).get_data(as_text=True)
    assert "Working…" in waiting and '<meta http-equiv="refresh" content="2">' in waiting
    assert worker.run_once() == 1                               # the preview's own run, no job
    preview = shown(app, "prue")
    assert preview.state == "ready", preview
    page = sysadmin.client.get("/admin/requests/prue/preview").get_data(as_text=True)
    assert "http-equiv" not in page and "wg-kitchen@" in page and "wg:tech" in page
    assert services_state(mailman, wiki, redmine) == before    # check mode wrote nothing
    assert directory.people.get("prue").pending
    with app.app_context(), get_store().begin() as connection:
        assert jobs.latest_for(connection, "prue") is None

    sysadmin.approve("prue", list(GROUPS))
    assert worker.run_once() == 1
    with app.app_context(), get_store().begin() as connection:
        grant = jobs.latest_for(connection, "prue")
    assert grant is not None and grant.state == "succeeded", grant
    done = items(summarise(tuple(previews.PreviewOutcome(result.service, result.task, result.status,
                                                         result.message) for result in grant.results)))
    assert preview.lists_to_subscribe == done["lists_to_subscribe"] == (
        f"wg-kitchen@{LIST_DOMAIN}", f"wg-tech@{LIST_DOMAIN}")
    assert preview.namespaces_to_open == done["namespaces_to_open"] == ("wg:kitchen", "wg:tech")
    assert preview.projects_to_join == done["projects_to_join"] == ("wg-kitchen", "wg-tech")
    # The approval made the directory's account itself; the grant made Redmine's.
    assert preview.accounts_to_create == ("an account in the directory", "a Redmine account")
    assert done["accounts_to_create"] == ("a Redmine account",)
    assert not directory.people.get("prue").pending

    # Once the namespaces exist, the wiki is asked what the approval's groups would give.
    verified("quin", groups=GROUPS)
    ask(sysadmin, "quin")
    assert worker.run_once() == 1
    second = shown(app, "quin")
    assert second.state == "ready", second
    assert (second.lists_to_subscribe, second.namespaces_to_open, second.projects_to_join,
            second.accounts_to_create) == (preview.lists_to_subscribe, preview.namespaces_to_open,
                                           preview.projects_to_join, preview.accounts_to_create)


def test_a_preview_of_a_changed_request_or_an_old_one_is_not_current(app, sysadmin, verified, directory):
    """What the worker stored is shown only while it is the request's, and fresh (no services:
    the store holds what a run answered)."""
    verified("prue", groups=GROUPS)
    ask(sysadmin, "prue")
    assert shown(app, "prue").state == "working"
    person = directory.people.get("prue")
    answer(app, "prue", fingerprint(person), answered_ago=timedelta(minutes=1))
    assert shown(app, "prue").state == "ready"

    answer(app, "prue", fingerprint(person), answered_ago=timedelta(minutes=6))
    old = shown(app, "prue")
    assert old.state == "out of date" and "older than 5 minutes" in (old.error or "")

    answer(app, "prue", fingerprint(person), answered_ago=timedelta(minutes=1))
    directory.people.set_display_name("prue", "Prudence Volunteer")
    changed = shown(app, "prue")
    assert changed.state == "out of date" and "request changed" in (changed.error or "")
    page = sysadmin.client.get("/admin/requests/prue/preview").get_data(as_text=True)
    assert "Not current" in page and "lists-to-subscribe" not in page


def answer(app, uid: str, seen: str, *, answered_ago: timedelta) -> None:
    """Ask again and answer as a worker would have, `answered_ago`."""
    with app.test_request_context(), get_store().begin() as connection:
        now = get_portal().clock()
        asked = now - answered_ago - timedelta(seconds=5)
        previews.ask(connection, uid, asked_by="sam", now=asked)
        assert previews.claim(connection, "test", now=asked, lease=timedelta(minutes=5)) == [uid]
        previews.finish(connection, uid, "test", now=now - answered_ago, fingerprint=seen,
                        outcomes=[previews.PreviewOutcome("lists", "t", "changed",
                                                          "would be subscribed to wg-kitchen@x")],
                        error=None)


def test_a_volunteer_can_neither_ask_nor_see_a_preview(app, sysadmin, verified):
    verified("vera")
    sysadmin.approve("vera", ["kitchen"])
    verified("victor")
    volunteer = Visitor(app.test_client())
    volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    token = volunteer.csrf_token("/account")
    response = volunteer.client.post("/admin/requests/victor/preview", data={"csrf_token": token})
    assert response.status_code == 403
    assert volunteer.client.get("/admin/requests/victor/preview").status_code == 403
    with app.app_context(), get_store().begin() as connection:
        assert previews.get(connection, "victor") is None


def test_a_preview_is_refused_outside_check_mode_and_checked_as_the_request_it_is(app):
    """Nothing is ever granted to a request: the runner refuses a preview in a run that writes,
    and the directory check fails it there; in check mode it checks the request."""
    preview = Volunteer(uid="prue", action="grant", mail="prue@example.org", display_name="Prue",
                        groups=[{"slug": "kitchen", "group": "wg-kitchen", "group_dn": "cn=wg-kitchen"}],
                        preview=True)
    with app.app_context(), pytest.raises(ValueError, match="only in check mode"):
        PlaybookRunner(runner_settings(app)).run("volunteer_access.yml", [preview], lambda _: None)

    check = library_module("volunteer_directory").check_preview
    volunteer = {"uid": "prue", "action": "grant", "mail": "Prue@example.org", "preview": True,
                 "groups": [{"group": "wg-kitchen", "group_dn": "cn=wg-kitchen"}]}
    request = {"uid": "prue", "mail": "prue@example.org", "occupyStatus": "verified"}
    fine = {"check_mode": True, "mail_taken": False, "missing_groups": []}
    assert check(volunteer, None, request, **fine) == {
        "status": "changed",
        "message": "would be done: account created in ou=people; added to the LDAP group(s) wg-kitchen"}
    refusals = [
        (check(volunteer, None, request, **{**fine, "check_mode": False}), "only a check-mode run"),
        (check(volunteer, {"occupyStatus": "active"}, request, **fine), "already an account"),
        (check(volunteer, None, None, **fine), "not a request"),
        (check(volunteer, None, {**request, "occupyStatus": "unverified"}, **fine), "not verified"),
        (check(volunteer, None, {**request, "mail": "other@example.org"}, **fine), "not the request's"),
        (check(volunteer, None, request, **{**fine, "mail_taken": True}), "would be refused"),
        (check(volunteer, None, request, **{**fine, "missing_groups": ["wg-kitchen"]}), "do not exist"),
    ]
    for outcome, reason in refusals:
        assert outcome["status"] == "failed" and reason in outcome["message"], outcome


def test_two_previews_asked_at_once_leave_one_waiting_preview(postgres_url):
    """On PostgreSQL two clicks can both find no preview to replace: the second insert waits
    for the first's transaction, then meets its key, and must replace its row, not fail."""
    store = Store(postgres_url)
    store.create_schema()
    first_inserted, asked = threading.Event(), utc_now()
    failures: list[BaseException] = []

    def second_click() -> None:
        first_inserted.wait()
        try:
            with store.begin() as connection:
                previews.ask(connection, "vera", asked_by="tess", now=asked + timedelta(seconds=1))
        except BaseException as error:      # noqa: BLE001 (the test reports it)
            failures.append(error)

    second = threading.Thread(target=second_click)
    second.start()
    try:
        with store.begin() as connection:
            previews.ask(connection, "vera", asked_by="sam", now=asked)
            first_inserted.set()
            waiting_on_a_lock(store)        # the second click's insert, on this row's key
        second.join(timeout=30)
        assert not failures
        with store.begin() as connection:
            preview = previews.get(connection, "vera")
            assert preview is not None and (preview.asked_by, preview.state) == ("tess", "waiting")
            assert previews.claim(connection, "w", now=asked + timedelta(seconds=2),
                                  lease=timedelta(minutes=5)) == ["vera"]
    finally:
        second.join(timeout=30)
        store.dispose()


def waiting_on_a_lock(store: Store) -> None:
    """Return once a session of this database waits on a lock (a test's second transaction)."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with store.begin() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the second click never waited on the first's row")
