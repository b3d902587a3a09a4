"""The wiki role against a real DokuWiki that reads the suite's slapd, run by the real worker.

Access is checked as the volunteer meets it: saving a page over XML-RPC, logged in
with their LDAP password (HTTP basic auth), in their group's namespace and in another's;
for a coordinator, deleting a file in their group's namespace.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.directory import Status
from provisioner.jobs import GRANT, REVOKE
from provisioner.private_services.dokuwiki import PrivateDokuWiki
from provisioner.resources import get_portal, get_store
from provisioner.store import jobs
from provisioner.workflow import suspend

from job_helpers import Clock, add_volunteers, job, make_worker, queue, runs
from library_modules import library_module
from service_fixtures import WIKI_ADMIN, WIKI_ADMIN_PASSWORD, offer
from service_views import acl_lines, as_person, delete_file, save_page

PASSWORD = "a volunteer's long password"
WIKI_TASK = "Give the working groups their wiki namespaces and report each volunteer's access"


@pytest.fixture
def wiki_app(app, wiki, tmp_path):
    """The app with an inventory that offers the wiki (and nothing else)."""
    return offer(app, tmp_path / "inventory", wiki)


def page_text(wiki: PrivateDokuWiki, page: str) -> str:
    with as_person(wiki, WIKI_ADMIN, WIKI_ADMIN_PASSWORD) as proxy:
        return proxy.wiki.getPage(page)


def wiki_outcomes(app, job_id: int) -> dict[str, tuple[str, str]]:
    return {result.uid: (result.status, result.message)
            for result in job(app, job_id).results if result.service == "wiki"}


def latest_job(app, uid: str) -> jobs.Job:
    with app.app_context(), get_store().begin() as connection:
        return jobs.latest_for(connection, uid)


def files_holding(app, secret: str) -> list[str]:
    """The files of the worker's runs (artifacts included) that hold this text."""
    return [str(path) for path in Path(app.config["RUNNER_DIR"]).rglob("*")
            if path.is_file() and secret.encode() in path.read_bytes()]


def wiki_task_results(app) -> list[dict]:
    """The wiki module's results in the latest run, read from ansible-runner's events."""
    latest = max(runs(app), key=lambda run: run.stat().st_mtime_ns)   # runs() sorts by name
    events = (json.loads(path.read_text()) for path in (latest / "job_events").glob("*.json"))
    return [event["event_data"]["res"] for event in events
            if event.get("event") in ("runner_on_ok", "runner_on_failed")
            and event["event_data"].get("task") == WIKI_TASK]


def test_members_edit_their_groups_namespaces_and_only_read_the_others(wiki_app, directory, wiki):
    cooks = add_volunteers(directory, 2)                                    # wg-kitchen, wg-tech
    press = add_volunteers(directory, 1, groups=("media",), prefix="press")
    for uid in [*cooks, *press]:
        directory.people.set_password(uid, PASSWORD)
    job_id = queue(wiki_app, GRANT, {**cooks, **press})
    assert make_worker(wiki_app, directory).run_once() == 1
    assert job(wiki_app, job_id).state == "succeeded", job(wiki_app, job_id).error
    assert wiki_outcomes(wiki_app, job_id) == {
        "vol0000": ("ok", "can edit wg:kitchen, wg:tech"),
        "vol0001": ("ok", "can edit wg:kitchen, wg:tech"),
        "press0000": ("ok", "can edit wg:media"),
    }
    [first] = wiki_task_results(wiki_app)
    assert first["changed"] is True
    acl = wiki.acl_path.read_text()
    assert "wg:kitchen:*\t@wg%2dkitchen\t8\n" in acl and "wg:kitchen:*\t@user\t1\n" in acl
    assert "wg:*\t@user\t1\n" in acl
    assert "====== Kitchen ======" in page_text(wiki, "wg:kitchen:start")

    # As the volunteers meet it: logged in with their LDAP password.
    assert save_page(wiki, "vol0000", PASSWORD, "wg:kitchen:menu", "Soup on Monday\n") is True
    assert page_text(wiki, "wg:kitchen:menu") == "Soup on Monday\n"
    assert save_page(wiki, "press0000", PASSWORD, "wg:media:contacts", "Press list\n") is True
    assert save_page(wiki, "vol0000", PASSWORD, "wg:media:contacts", "Defaced\n") == 403
    assert page_text(wiki, "wg:media:contacts") == "Press list\n"
    assert save_page(wiki, "vol0000", "a wrong password", "wg:kitchen:menu", "Nope\n") == 401
    with as_person(wiki, "vol0000", PASSWORD) as volunteer:
        assert volunteer.wiki.getPage("wg:media:contacts") == "Press list\n"     # read-only

    # The same batch again changes nothing.
    again = queue(wiki_app, GRANT, {**cooks, **press})
    make_worker(wiki_app, directory).run_once()
    assert job(wiki_app, again).state == "succeeded"
    assert {status for status, _ in wiki_outcomes(wiki_app, again).values()} == {"ok"}
    [second] = wiki_task_results(wiki_app)
    assert second["changed"] is False, second["changes"]
    assert wiki.acl_path.read_text() == acl
    assert files_holding(wiki_app, WIKI_ADMIN_PASSWORD) == []


def test_leaving_the_group_or_suspension_ends_editing(wiki_app, directory, wiki):
    targets = add_volunteers(directory, 2)
    for uid in targets:
        directory.people.set_password(uid, PASSWORD)
    queue(wiki_app, GRANT, targets)
    make_worker(wiki_app, directory).run_once()
    assert save_page(wiki, "vol0001", PASSWORD, "wg:kitchen:menu", "Soup\n") is True

    # Leaving the LDAP group: DokuWiki reads groups live, nothing to run.
    directory.groups.remove_member("wg-kitchen", "vol0001")
    assert save_page(wiki, "vol0001", PASSWORD, "wg:kitchen:menu", "Stew\n") == 403
    assert page_text(wiki, "wg:kitchen:menu") == "Soup\n"

    # Suspension locks the account and queues a revoke, which the wiki reports as done.
    assert save_page(wiki, "vol0000", PASSWORD, "wg:kitchen:menu", "Soup and bread\n") is True
    with wiki_app.test_request_context():
        suspend(get_portal(), "vol0000", "Harassment at the kitchen", actor=WIKI_ADMIN)
    make_worker(wiki_app, directory).run_once()
    revoke = latest_job(wiki_app, "vol0000")
    assert (revoke.kind, revoke.state) == ("revoke", "succeeded"), revoke.error
    status, message = wiki_outcomes(wiki_app, revoke.id)["vol0000"]
    assert status == "ok" and message.startswith("access follows LDAP")
    assert save_page(wiki, "vol0000", PASSWORD, "wg:kitchen:menu", "Defaced\n") == 401
    assert page_text(wiki, "wg:kitchen:menu") == "Soup and bread\n"


def test_a_run_while_the_wiki_is_down_fails_naming_it_and_a_retry_completes(wiki_app, directory, wiki):
    targets = add_volunteers(directory, 2)
    clock = Clock()
    worker = make_worker(wiki_app, directory, clock, retry_seconds=60)
    job_id = queue(wiki_app, GRANT, targets, now=clock(), max_attempts=3)
    wiki.stop()
    try:
        worker.run_once()
    finally:
        wiki.start()
    failed = job(wiki_app, job_id)
    assert failed.state == "queued" and failed.attempts == 1
    assert failed.error.startswith(f"The step “{WIKI_TASK}” failed: DokuWiki XML-RPC at {wiki.url} "
                                   "does not answer: ConnectionRefusedError")
    assert {status for status, _ in wiki_outcomes(wiki_app, job_id).values()} == {"failed"}
    clock.advance(seconds=61)
    worker.run_once()
    done = job(wiki_app, job_id)
    assert done.state == "succeeded" and done.attempts == 2
    assert {result.message for result in done.results
            if result.service == "wiki" and result.attempt == 2} == {"can edit wg:kitchen, wg:tech"}


def test_a_wrong_superuser_password_fails_the_job_in_plain_words_and_stays_secret(
        wiki_app, directory, wiki):
    job_id = queue(wiki_app, GRANT, add_volunteers(directory, 1), max_attempts=1)
    inventory = Path(wiki_app.config["INVENTORY"]) / "hosts.yml"
    wrong = "not the wiki superuser's passphrase"
    inventory.write_text(inventory.read_text().replace(WIKI_ADMIN_PASSWORD, wrong))
    make_worker(wiki_app, directory).run_once()
    assert job(wiki_app, job_id).error == (
        f"The step “{WIKI_TASK}” failed: DokuWiki at {wiki.url} refused the login of {WIKI_ADMIN}: "
        "a wrong password, or an account that is locked or not in LDAP")
    assert files_holding(wiki_app, wrong) == []


def test_the_bind_password_stays_in_the_wikis_private_conf_file(wiki, slapd_server):
    secret = slapd_server.service_passwords["wiki"].encode()
    assert wiki.conf_dir.stat().st_mode & 0o777 == 0o700
    local_conf = wiki.conf_dir / "local.php"
    assert local_conf.stat().st_mode & 0o777 == 0o600
    assert secret not in Path(f"/proc/{wiki.pid}/cmdline").read_bytes()
    assert secret not in Path(f"/proc/{wiki.pid}/environ").read_bytes()
    # base64-encoded there, as DokuWiki's own config manager writes passwords
    encoded = base64.b64encode(secret)
    holding = [path.name for path in wiki.folder.rglob("*")
               if path.is_file() and (secret in path.read_bytes() or encoded in path.read_bytes())]
    assert holding == ["local.php"]

# Coordinators (the owners of a group's LDAP group, as the batch says) administer its namespace.

ADMIN = (WIKI_ADMIN, WIKI_ADMIN_PASSWORD)
MEMBERS_LINES = {"wg:kitchen:*\t@wg%2dkitchen\t8", "wg:kitchen:*\t@user\t1"}


def test_a_coordinator_gets_a_line_of_their_own_on_the_namespace_until_no_longer_one(wiki_app, directory,
                                                                                     wiki):
    team = add_volunteers(directory, 2, groups=("kitchen",), prefix="co-ok")   # a hyphen: %2d in the ACL
    for uid in team:
        directory.people.set_password(uid, PASSWORD)
    directory.groups.add_owner("wg-kitchen", "co-ok0000")
    worker = make_worker(wiki_app, directory)
    granted = queue(wiki_app, GRANT, team)
    worker.run_once()
    assert wiki_outcomes(wiki_app, granted) == {
        "co-ok0000": ("changed", "coordinator's line on wg:kitchen:* written; administers wg:kitchen as "
                                 "coordinator"),
        "co-ok0001": ("ok", "can edit wg:kitchen")}
    assert acl_lines(wiki, "wg:kitchen:*") == MEMBERS_LINES | {"wg:kitchen:*\tco%2dok0000\t16"}
    assert delete_file(wiki, "co-ok0000", PASSWORD, "wg:kitchen:logo.png", admin=ADMIN) == 0
    assert delete_file(wiki, "co-ok0001", PASSWORD, "wg:kitchen:logo.png", admin=ADMIN) == 403

    again = queue(wiki_app, GRANT, {"co-ok0000": ["kitchen"]})
    worker.run_once()
    assert wiki_outcomes(wiki_app, again) == {"co-ok0000": ("ok", "administers wg:kitchen as coordinator")}
    [result] = wiki_task_results(wiki_app)
    assert result["changed"] is False, result["changes"]

    directory.groups.remove_owner("wg-kitchen", "co-ok0000")
    stopped = queue(wiki_app, GRANT, {"co-ok0000": ["kitchen"]})
    worker.run_once()
    assert wiki_outcomes(wiki_app, stopped) == {
        "co-ok0000": ("changed", "coordinator's line on wg:kitchen:* removed; can edit wg:kitchen")}
    assert acl_lines(wiki, "wg:kitchen:*") == MEMBERS_LINES
    assert delete_file(wiki, "co-ok0000", PASSWORD, "wg:kitchen:logo.png", admin=ADMIN) == 403

    # A revoke takes the line even from an owner (suspension keeps the owner value).
    directory.groups.add_owner("wg-kitchen", "co-ok0000")
    queue(wiki_app, GRANT, {"co-ok0000": ["kitchen"]})
    worker.run_once()
    assert "wg:kitchen:*\tco%2dok0000\t16" in acl_lines(wiki, "wg:kitchen:*")
    directory.people.set_status("co-ok0000", Status.SUSPENDED)
    revoked = queue(wiki_app, REVOKE, {"co-ok0000": ["kitchen"]})
    worker.run_once()
    status, message = wiki_outcomes(wiki_app, revoked)["co-ok0000"]
    assert status == "changed" and message.startswith("coordinator's line on wg:kitchen:* removed; access "
                                                      "follows LDAP")
    assert acl_lines(wiki, "wg:kitchen:*") == MEMBERS_LINES


# No uid gets an ACL line beyond its own. DokuWiki's ACL plugin encodes the name it is
# given (auth_nameencode); but it never encodes its wildcards, and takes a name starting
# with @ as a group's. Checked for any text, not only what registration lets through.

def auth_nameencode(name: str) -> str:
    """DokuWiki's auth_nameencode(name, skip_group=true) for a name that is not a group:
    every ASCII byte but letters and digits as %<hex> (no leading zero), the rest as is."""
    return "".join(f"%{ord(character):x}" if ord(character) < 0x80 and not character.isalnum()
                   else character for character in name)


KITCHEN = {"slug": "kitchen", "name": "Kitchen", "group": "wg-kitchen", "wiki_namespace": "wg:kitchen"}
TRICKY_UIDS = ["@wg-kitchen", "@user", "@ALL", "%USER%", "%GROUP%", "", "*", "wg:kitchen:*",
               "cora\nwg:* @ALL 16", "cora\t16", "cora 16", "cora#note", "co%2dra", "%25", "x\x85y",
               "Ünïcode", "cora\u2028wg:* @ALL 16", "\uffff"]


@pytest.fixture
def coordinator_lines(wiki):
    module = library_module("dokuwiki_namespaces")
    params = {"member_permission": 8, "reader_group": "user", "reader_permission": 1, "start_page": None}
    session = module.Wiki(wiki.url, WIKI_ADMIN, WIKI_ADMIN_PASSWORD, timeout=10, validate_certs=False)
    namespaces = module.Namespaces(session, params, check_mode=False)
    namespaces.ensure([KITCHEN])
    assert not namespaces.errors
    yield module, module.CoordinatorLines(namespaces, 16)
    session.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uid=st.one_of(st.sampled_from(TRICKY_UIDS), st.text(max_size=12)))
def test_no_uid_gets_an_acl_line_but_its_own_and_removing_it_leaves_every_other(coordinator_lines, wiki,
                                                                                uid):
    module, lines = coordinator_lines
    before = wiki.acl_path.read_text()
    try:
        def converge(action: str, coordinator: bool) -> list[str]:
            try:
                _, problems = lines.converge({"uid": uid, "action": action,
                                              "groups": [{**KITCHEN, "coordinator": coordinator}]})
            except module.WikiRefused as refusal:
                problems = [str(refusal)]
            return problems

        problems = converge("grant", True)
        written = set(wiki.acl_path.read_text().split("\n")) - set(before.split("\n"))
        assert set(before.split("\n")) <= set(wiki.acl_path.read_text().split("\n"))
        if problems:
            assert written == set(), problems
        else:
            assert written == {f"wg:kitchen:*\t{auth_nameencode(uid)}\t16"}
            [line] = written
            subject = line.split("\t")[1]
            assert not subject.startswith("@") and subject not in module.ACL_WILDCARDS
        for action, coordinator in (("grant", False), ("revoke", True)):
            converge(action, coordinator)
            assert wiki.acl_path.read_text() == before
    finally:
        wiki.acl_path.write_text(before)
        lines.namespaces.read_acls()
