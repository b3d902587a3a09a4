"""The provisioner command: init-directory, create-admin and the others, as a sysadmin runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.resources import get_portal, get_store
from provisioner.store import audit, throttle
from provisioner.workflow import has_totp

from ldap_helpers import snapshot
from portal_actions import given_totp
from suite_config import app_config

PASSWORD = "a long enough steward password"


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args, input=None: runner.invoke(cli, list(args), input=input)


@pytest.fixture
def empty_app(empty_directory, slapd_server):
    return create_app(app_config(slapd_server))


def test_init_directory_creates_the_tree_then_reports_nothing_to_change(empty_app, slapd_server):
    runner = empty_app.test_cli_runner()
    first = runner.invoke(cli, ["init-directory"])
    assert first.exit_code == 0, first.output
    assert f"created cn=wg-kitchen,ou=groups,{slapd_server.base_dn}" in first.output
    before = snapshot(slapd_server)
    second = runner.invoke(cli, ["init-directory"])
    assert second.exit_code == 0
    assert "nothing to change" in second.output
    assert snapshot(slapd_server) == before


def test_create_admin_reads_the_password_from_stdin(run, directory):
    result = run("create-admin", "sam", "sam@example.org", "--name", "Sam Admin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert directory.groups.get("sysadmins").members == ("sam",)
    assert directory.people.get("sam").display_name == "Sam Admin"
    assert directory.people.check_password("sam", PASSWORD)


def test_create_admin_again_completes_and_a_taken_uid_is_refused(run, directory):
    assert run("create-admin", "sam", "sam@example.org", input=PASSWORD).exit_code == 0
    again = run("create-admin", "sam", "sam@example.org", input=PASSWORD + " new")
    assert again.exit_code == 0
    assert directory.people.check_password("sam", PASSWORD + " new")
    taken = run("create-admin", "sam", "other@example.org", input=PASSWORD)
    assert taken.exit_code == 1 and "already taken" in taken.output
    assert directory.people.get("sam").mail == "sam@example.org"


@pytest.mark.parametrize("uid, mail, password, message", [
    ("sam", "sam@example.org", "short", "at least 12 characters"),
    ("sam,ou=groups", "sam@example.org", PASSWORD, "a uid is"),
    ("sam", "not-an-address", PASSWORD, "a mail address"),
])
def test_create_admin_refuses_bad_input_and_changes_nothing(run, directory, slapd_server,
                                                           uid, mail, password, message):
    before = snapshot(slapd_server)
    result = run("create-admin", uid, mail, input=password)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(slapd_server) == before


def test_the_installed_command_works_from_environment_variables(empty_directory, slapd_server):
    """The console script itself, configured the way a sysadmin would: PROVISIONER_* only."""
    command = shutil.which("provisioner", path=os.path.dirname(os.sys.executable))
    assert command, "the provisioner console script is not installed"
    env = {**os.environ,
           "PROVISIONER_SECRET_KEY": "cli-test-secret-key",
           "PROVISIONER_LDAP_URL": slapd_server.url,
           "PROVISIONER_LDAP_BASE_DN": slapd_server.base_dn,
           "PROVISIONER_LDAP_BIND_DN": slapd_server.service_dn("portal"),
           "PROVISIONER_LDAP_BIND_PASSWORD": slapd_server.service_passwords["portal"]}
    init = subprocess.run([command, "init-directory"], env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    admin = subprocess.run([command, "create-admin", "root-admin", "ra@example.org"], env=env,
                           input=PASSWORD + "\n", capture_output=True, text=True)
    assert admin.returncode == 0, admin.stderr
    assert empty_directory.people.check_password("root-admin", PASSWORD)


def test_the_command_names_a_missing_setting(tmp_path):
    command = shutil.which("provisioner", path=os.path.dirname(os.sys.executable))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROVISIONER_")}
    result = subprocess.run([command, "init-directory"], env=env, capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode != 0
    assert "PROVISIONER_SECRET_KEY is not set" in result.stderr


def test_purge_expired_keeps_requests_whose_link_still_works(run, directory, visitor):
    visitor.register()
    result = run("purge-expired")
    assert result.exit_code == 0 and "Removed 0 expired request(s)." in result.output
    assert directory.people.find("vera") is not None


def test_set_coordinator_makes_and_unmakes_a_coordinator_and_says_a_job_is_queued(app, run, directory):
    run("create-admin", "cora", "cora@example.org", input=PASSWORD)
    made = run("set-coordinator", "cora", "kitchen")
    assert made.exit_code == 0, made.output
    assert made.output == ("cora is now a coordinator of Kitchen. They were not a member, so they are one "
                           "now. Job 1 is queued to hand them the keys of its list, wiki and project.\n")
    assert directory.groups.get("wg-kitchen").owners == ("cora",)
    assert "cora" in directory.groups.get("wg-kitchen").members
    removed = run("set-coordinator", "cora", "kitchen", "--remove")
    # Job 1 still waits: it reads the directory when it runs, so it does the removal too.
    assert removed.exit_code == 0 and removed.output == (
        "cora is no longer a coordinator of Kitchen. A job for its list, wiki and project is waiting "
        "already; it will do this.\n")
    assert directory.groups.get("wg-kitchen").owners == ()
    with app.app_context(), get_store().begin() as connection:
        entries = audit.entries(connection, person="cora")
    assert [(entry.action, entry.actor, entry.subject) for entry in entries[:2]] == [
        ("coordinator-removed", "(command line)", "cora"), ("coordinator-added", "(command line)", "cora")]
    refused = run("set-coordinator", "cora", "kitchen,ou=people")
    assert refused.exit_code == 1 and "Traceback" not in refused.output


def test_reset_totp_from_the_host_is_the_way_back_for_a_locked_out_sysadmin(app, run, directory,
                                                                           inbox):
    run("create-admin", "sam", "sam@example.org", input=PASSWORD)
    given_totp(app, "sam")
    result = run("reset-totp", "sam")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert not has_totp(get_portal(), "sam")
        with get_store().begin() as connection:
            entry = audit.entries(connection, person="sam")[0]
    assert (entry.action, entry.actor) == ("totp-reset", "(command line)")
    assert run("reset-totp", "sam").exit_code == 1     # nothing left to reset: said, not a traceback


def test_prune_limits_forgets_events_older_than_every_window(app, run):
    now = utc_now()
    with app.app_context(), get_store().begin() as connection:
        throttle.record(connection, "login", "vera", now - timedelta(days=2))
        throttle.record(connection, "login", "vera", now - timedelta(minutes=1))
    result = run("prune-limits")
    assert result.exit_code == 0, result.output
    assert "Removed 1 old abuse-limit event(s)." in result.output
    with app.app_context(), get_store().begin() as connection:
        assert throttle.count(connection, "login", "vera", since=now - timedelta(days=3)) == 1
