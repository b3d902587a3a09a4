"""A person's own data: the download of everything held about them, deleting their account,
and the retention of rejected requests. Real slapd, SMTP and SQL store."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from provisioner.cli import cli
from provisioner.directory import NewPerson, Status
from provisioner.jobs import REVOKE
from provisioner.resources import get_directory, get_portal, get_store
from provisioner.store import jobs, schema
from provisioner.workflow import (
    HOST_OPERATOR,
    NotAllowed,
    Registration,
    WorkflowError,
    change_display_name,
    create_sysadmin,
    register,
    reject,
    request_email_change,
    request_to_join,
    verify_email,
)
from provisioner.workflow.links import make_token
from provisioner.workflow.own_data import (
    PSEUDONYM_PREFIX,
    delete_account,
    forget_rejected,
    own_data,
    pseudonym,
)
from provisioner.workflow.provisioning import cancel_job
from provisioner.workflow.registration import VERIFY_PURPOSE

from ldap_helpers import root_connection, snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD, Visitor, authenticator_code, enrol_totp

WRONG = "not the password at all, sorry"
SYSADMINS_ADDRESS = "198.51.100.9"


def make_account(directory, uid="vera", name="Vera Volunteer", groups=("kitchen", "tech")):
    directory.people.add(NewPerson(uid=uid, display_name=name, mail=f"{uid}@example.org",
                                   status=Status.ACTIVE, skills=("cooking",)), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    for slug in groups:
        directory.groups.add_member(f"wg-{slug}", uid)


def browser(app, uid="vera") -> Visitor:
    person = Visitor(app.test_client())
    assert person.log_in(uid, VOLUNTEER_PASSWORD).status_code == 302
    return person


def rows(app, table) -> list:
    with app.app_context(), get_store().begin() as connection:
        return connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()


def audit_rows(app) -> list:
    return rows(app, schema.audit_log)


def entry_secrets(slapd_server, uid="vera") -> list[bytes]:
    """The raw values of the entry's password hash and TOTP secret, as slapd holds them."""
    with root_connection(slapd_server) as conn:
        conn.search(slapd_server.layout.person_dn(uid), "(objectClass=*)",
                    attributes=["userPassword", "oathSecret"])
        raw = conn.response[0]["raw_attributes"]
    values = [value for name in ("userPassword", "oathSecret") for value in raw.get(name, [])]
    assert len(values) == 2, raw.keys()
    return values


@pytest.fixture
def vera(app, directory):
    """Vera: an account in kitchen and tech, coordinating kitchen, with two-step login, her
    recovery codes, and a request to join media."""
    make_account(directory)
    directory.groups.add_owner("wg-kitchen", "vera")
    codes = enrol_totp(app, "vera")
    with app.app_context():
        request_to_join(get_portal(), "vera", "media")
        # Audit entries whose details name her, her earlier name and an address of hers:
        change_display_name(get_portal(), "vera", "Vera Marie Volunteer")
        request_email_change(get_portal(), "vera", "vera.new@example.org", VOLUNTEER_PASSWORD)
        get_portal().audit("mail-failed", subject="sam", detail="copy to vera failed")
        get_portal().audit("coordinator-added", actor="sam", subject="vera", detail="kitchen",
                           remote_addr=SYSADMINS_ADDRESS)
    return codes


# The download.

def test_the_download_holds_her_groups_requests_and_audit_and_no_secret(app, vera, slapd_server):
    response = browser(app).client.get("/account/data")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="vera-data.json"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))

    assert data["account"]["uid"] == "vera" and data["account"]["mail"] == "vera@example.org"
    assert data["account"]["skills"] == ["cooking"]
    assert data["working_groups"] == ["kitchen", "tech"]
    assert data["coordinated_groups"] == ["kitchen"]
    assert [(r["slug"], r["state"]) for r in data["join_requests"]] == [("media", "open")]
    assert data["two_step_login"]["enrolled"] is True
    assert data["two_step_login"]["recovery_codes_left"] == 10
    assert {"totp-enrolled", "join-requested", "login", "totp-login"} <= {e["action"] for e in data["audit"]}

    by_sam = [e for e in data["audit"] if e["action"] == "coordinator-added"]
    assert [(e["actor"], e["remote_addr"]) for e in by_sam] == [("sam", None)]
    assert "127.0.0.1" in {e["remote_addr"] for e in data["audit"] if e["actor"] == "vera"}

    text = response.get_data(as_text=True)
    assert SYSADMINS_ADDRESS not in text   # another person's address is not hers to download
    password_hash, secret = entry_secrets(slapd_server)
    for forbidden in (password_hash.decode(), base64.b32encode(secret).decode(), secret.hex(),
                      "userPassword", "oathSecret", "pwd", VOLUNTEER_PASSWORD):
        assert forbidden not in text, forbidden
    for code in vera:
        assert code not in text and code.replace("-", "") not in text
    with app.app_context(), get_store().begin() as connection:
        digests = connection.execute(sa.select(schema.totp_recovery_codes.c.digest)).scalars().all()
    assert digests and not any(digest in text for digest in digests)


def test_nobody_gets_anothers_data(app, vera, directory):
    make_account(directory, "nadia", "Nadia Neighbour", groups=("media",))
    with app.app_context(), pytest.raises(NotAllowed):
        own_data(get_portal(), "vera", actor="nadia")
    nadia = browser(app, "nadia").client.get("/account/data")
    assert json.loads(nadia.get_data(as_text=True))["account"]["uid"] == "nadia"
    assert "vera" not in nadia.get_data(as_text=True)
    anonymous = app.test_client().get("/account/data")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login")


# Deleting an account.

def delete_form(person: Visitor, password: str, code: str = "") -> object:
    return person.submit("/account/delete", {"password": password, "code": code})


def without_failure_times(entries: dict) -> dict:
    """A snapshot without ppolicy's count of failed binds, which a wrong password adds."""
    return {dn: {name: values for name, values in attributes.items()
                 if name.lower() not in ("pwdfailuretime", "entrycsn", "modifytimestamp",
                                         "modifiersname")}
            for dn, attributes in entries.items()}


def test_a_wrong_password_deletes_nothing_and_counts_as_a_failed_login(app, vera, slapd_server):
    person = browser(app)
    directory_before = without_failure_times(snapshot(slapd_server))
    kept = [schema.jobs, schema.job_targets, schema.sessions, schema.totp_recovery_codes,
            schema.group_requests, schema.used_tokens]
    store_before = [rows(app, table) for table in kept]
    audit_before = len(audit_rows(app))

    response = delete_form(person, WRONG, authenticator_code(app, "vera"))
    assert response.status_code == 400
    assert "this is not your current password" in response.get_data(as_text=True)
    assert without_failure_times(snapshot(slapd_server)) == directory_before
    assert [rows(app, table) for table in kept] == store_before
    assert [row.action for row in audit_rows(app)[audit_before:]] == ["account-deletion-refused"]
    assert person.client.get("/account").status_code == 200   # still logged in

    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        delete_form(person, WRONG)
    locked = delete_form(person, VOLUNTEER_PASSWORD, authenticator_code(app, "vera"))
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert get_directory_person(app, "vera") is not None


def get_directory_person(app, uid):
    with app.app_context():
        return get_directory().people.find(uid)


def test_the_second_factor_is_asked_and_a_wrong_code_deletes_nothing(app, vera):
    person = browser(app)
    page = person.client.get("/account/delete").get_data(as_text=True)
    assert "authenticator" in page
    no_code = delete_form(person, VOLUNTEER_PASSWORD)
    assert no_code.status_code == 400 and "enter the 6-digit code" in no_code.get_data(as_text=True)
    wrong = delete_form(person, VOLUNTEER_PASSWORD, "000000")
    assert wrong.status_code == 400 and "That code is not right" in wrong.get_data(as_text=True)
    assert get_directory_person(app, "vera") is not None
    assert rows(app, schema.jobs) == []
    assert "account-deleted" not in [row.action for row in audit_rows(app)]


def test_after_deletion_no_entry_a_revoke_and_only_a_pseudonym_in_the_audit(app, vera, directory, inbox):
    person = browser(app)
    other_browser = browser(app)
    response = delete_form(person, VOLUNTEER_PASSWORD, authenticator_code(app, "vera"))
    assert response.status_code == 302 and response.location == "/"

    assert directory.people.find("vera") is None
    with app.app_context():
        name = pseudonym(get_portal(), "vera")
    assert name.startswith(PSEUDONYM_PREFIX)
    for slug in ("kitchen", "tech"):   # refint: no member or owner value is left behind
        group = directory.groups.get(f"wg-{slug}")
        assert "vera" not in group.members and "vera" not in group.owners

    entries = audit_rows(app)
    for row in entries:
        assert "vera" not in (row.actor, row.subject)
        for word in ("vera", "Marie", "Volunteer", "example.org"):
            assert word.lower() not in (row.detail or "").lower(), row
    assert any(row.detail == f"copy to {name} failed" for row in entries)
    theirs = [row for row in entries if name in (row.actor, row.subject)]
    assert len(theirs) > 3 and all(row.remote_addr is None for row in theirs)
    assert (entries[-1].action, entries[-1].actor, entries[-1].subject) == ("account-deleted", name, name)

    with app.app_context(), get_store().begin() as connection:
        revoke = jobs.latest_for(connection, "vera")
    assert revoke.kind == REVOKE and revoke.state == "queued"
    assert revoke.targets == {"vera": ["kitchen", "tech"]}
    assert revoke.mails == {"vera": "vera@example.org"}
    for table in (schema.sessions, schema.totp_recovery_codes, schema.group_requests):
        assert rows(app, table) == [], table.name

    assert other_browser.client.get("/account").status_code == 302   # every session ended
    assert person.client.get("/account").status_code == 302
    deleted = [message for message in inbox.messages("vera@example.org")
               if message["Subject"].endswith(" is deleted")]
    assert len(deleted) == 1 and '"vera"' in deleted[0].get_content()


def test_two_deletes_at_once_do_the_work_once(any_store_app, directory, inbox):
    app = any_store_app
    make_account(directory)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def delete() -> None:
        with app.app_context():
            portal = get_portal()
            barrier.wait()
            try:
                outcomes.append(delete_account(portal, "vera", VOLUNTEER_PASSWORD, actor="vera"))
            except WorkflowError as error:
                outcomes.append(error)

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert directory.people.find("vera") is None
    assert len(rows(app, schema.jobs)) == 1, (rows(app, schema.job_targets), outcomes)
    assert [row.action for row in audit_rows(app)].count("account-deleted") == 1
    assert len([m for m in inbox.messages("vera@example.org") if "deleted" in m["Subject"]]) == 1
    assert len(outcomes) == 2


def test_a_deletion_cut_short_is_completed_by_deleting_again(app, directory, slapd_server, inbox):
    """slapd refuses to delete an entry with a child: the first call stops after the store's
    part (job, pseudonyms, sessions); logging in and deleting again completes it, once."""
    make_account(directory)
    child = f"cn=blocker,{slapd_server.layout.person_dn('vera')}"
    with root_connection(slapd_server) as conn:
        assert conn.add(child, ["organizationalRole"], {"cn": "blocker"})
    person = browser(app)
    stopped = delete_form(person, VOLUNTEER_PASSWORD)
    assert stopped.status_code == 302 and stopped.location == "/login"
    assert "delete it again to finish" in person.client.get("/login").get_data(as_text=True)
    assert directory.people.find("vera") is not None
    assert len(rows(app, schema.jobs)) == 1 and rows(app, schema.sessions) == []
    assert "vera" not in {row.subject for row in audit_rows(app)}
    with root_connection(slapd_server) as conn:
        assert conn.delete(child)

    again = browser(app)   # the password still works: the entry is there
    assert delete_form(again, VOLUNTEER_PASSWORD).status_code == 302
    assert directory.people.find("vera") is None
    assert len(rows(app, schema.jobs)) == 1   # the revoke still waits: not queued twice
    entries = audit_rows(app)
    assert [row.action for row in entries].count("account-deleted") == 1
    assert "vera" not in {row.actor for row in entries} | {row.subject for row in entries}
    assert len([m for m in inbox.messages("vera@example.org") if m["Subject"].endswith(" is deleted")]) == 1


def test_deleting_again_queues_the_revoke_again_once_the_first_gave_up(app, directory, slapd_server):
    make_account(directory)
    child = f"cn=blocker,{slapd_server.layout.person_dn('vera')}"
    with root_connection(slapd_server) as conn:
        assert conn.add(child, ["organizationalRole"], {"cn": "blocker"})
    with app.app_context():
        portal = get_portal()
        with pytest.raises(Exception, match="(?i)non-leaf|subordinate"):
            delete_account(portal, "vera", VOLUNTEER_PASSWORD, actor="vera")
        first = rows(app, schema.jobs)[0].id
        cancel_job(portal, first, actor=HOST_OPERATOR)   # as if it had run out of attempts
        with root_connection(slapd_server) as conn:
            assert conn.delete(child)
        done = delete_account(portal, "vera", VOLUNTEER_PASSWORD, actor="vera")
        with portal.store.begin() as connection:
            revoke = jobs.get(connection, done.revoke_job)
    assert revoke.id != first and revoke.state == "queued"
    assert (revoke.kind, revoke.targets, revoke.mails) == (REVOKE, {"vera": ["kitchen", "tech"]},
                                                           {"vera": "vera@example.org"})


def test_the_last_sysadmin_cannot_delete_their_account(app, directory):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    with app.app_context():
        portal = get_portal()
        with pytest.raises(WorkflowError, match="last sysadmin"):
            delete_account(portal, "sam", ADMIN_PASSWORD, actor="sam")
        assert directory.people.find("sam") is not None
        create_sysadmin(directory, "tess", "tess@example.org", "Tess Admin", ADMIN_PASSWORD)
        delete_account(portal, "sam", ADMIN_PASSWORD, actor="sam")
    assert directory.people.find("sam") is None
    assert directory.groups.get("sysadmins").members == ("tess",)


def test_only_the_holder_deletes_an_account(app, directory):
    make_account(directory)
    make_account(directory, "nadia", "Nadia Neighbour")
    with app.app_context(), pytest.raises(NotAllowed):
        delete_account(get_portal(), "vera", VOLUNTEER_PASSWORD, actor="nadia")
    assert directory.people.find("vera") is not None


# Retention of rejected requests.

def verified_request(portal, uid: str) -> None:
    register(portal, Registration(uid=uid, display_name=f"{uid.title()} Person", mail=f"{uid}@example.org",
                                  password=VOLUNTEER_PASSWORD, groups=("kitchen",), availability="day"),
             remote_addr="192.0.2.7")
    person = portal.directory.people.get(uid)
    verify_email(portal, make_token(portal.secret_key, VERIFY_PURPOSE,
                                    {"uid": uid, "mail": person.mail, "entry": person.entry_id},
                                    portal.clock()), remote_addr="192.0.2.7")


def test_the_retention_purge_pseudonymises_old_rejected_requests_only(app, directory):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    with app.app_context():
        now = get_portal().clock()
        long_ago = replace(get_portal(), clock=lambda: now - timedelta(days=100))
        lately = replace(get_portal(), clock=lambda: now - timedelta(days=10))
        for portal, uid in ((long_ago, "rita"), (lately, "rosa")):
            verified_request(portal, uid)
            reject(portal, uid, f"{uid.title()} Person was not at the assembly", actor="sam")
        # Since then, someone else registered the uid rita and was rejected long ago once:
        verified_request(lately, "rita")
        before = audit_rows(app)

        assert forget_rejected(get_portal(), retention=timedelta(days=90)) == 1
        after = audit_rows(app)
        name = pseudonym(get_portal(), "rita")
        for old, new in zip(before, after, strict=True):
            if old.subject == "rita" and old.at <= (now - timedelta(days=100)).replace(tzinfo=None):
                assert (new.subject, new.detail, new.remote_addr) == (name, None, None), old
            else:
                assert new == old   # rosa's, sam's, and the later rita's stay
        assert {row.subject for row in after} >= {"rosa", "rita", name}
        assert forget_rejected(get_portal(), retention=timedelta(days=90)) == 0
        assert audit_rows(app) == after


def test_purge_expired_applies_the_retention(app, directory):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    with app.app_context():
        now = get_portal().clock()
        days = app.config["REJECTED_RETENTION_DAYS"] + 1
        long_ago = replace(get_portal(), clock=lambda: now - timedelta(days=days))
        verified_request(long_ago, "rita")
        reject(long_ago, "rita", "Not known to anyone", actor="sam")
    result = app.test_cli_runner().invoke(cli, ["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "Pseudonymised 1 rejected request(s)" in result.output
    assert "rita" not in {row.subject for row in audit_rows(app)}
