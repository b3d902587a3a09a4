"""Mailman's web parts (HyperKitty, Postorius) as the project runs them: the directory is the only
way in, nobody makes an account of their own, and the instance keeps its secrets to itself.

The private instance (private_services/mailman_web.py) runs Debian's mailman3-web with the
project's one settings file (provisioner/schema/mailman_web_settings.py and
mailman_web_rules.py), the one a deployed host installs. People log in through allauth's
form with their directory password, as in a browser; what Django then holds is read
from the instance's database.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import secrets
import sqlite3
import stat
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from provisioner.directory import NewPerson, Status
from provisioner.private_services.mailman_web import SETTINGS_FILE, PrivateMailmanWeb

from list_pages import ListBrowser, archive_path
from suite_config import LIST_DOMAIN

PASSWORD = "plum tuesday lantern orbit"


def add_person(directory, uid: str, *, pending: bool = False, mail: str | None = None) -> str:
    status = Status.UNVERIFIED if pending else Status.ACTIVE
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person",
                                   mail=mail or f"{uid}@example.org", status=status), pending=pending)
    directory.people.set_password(uid, PASSWORD)
    return uid


def rows(web: PrivateMailmanWeb, query: str, *parameters: object) -> list[tuple]:
    with sqlite3.connect(web.database) as connection:
        return connection.execute(query, parameters).fetchall()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the settings file --------------------------------------------------------------------------

def load_settings(values: Path, monkeypatch):
    """Import the settings file as Django would, in this process (it needs only the standard library)."""
    monkeypatch.setenv("OCCUPY_MAILMAN_WEB_VALUES", str(values))
    spec = importlib.util.spec_from_file_location(f"settings_{uuid.uuid4().hex}", SETTINGS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def values_file(tmp_path: Path, file_mode: int, **values) -> Path:
    path = tmp_path / "mailman-web.json"
    path.write_text(json.dumps({
        "secret_key": "s" * 50, "mailman_rest_url": "http://127.0.0.1:8001", "mailman_rest_user": "restadmin",
        "mailman_rest_password": "rest password", "archiver_key": "archiver key",
        "ldap_url": "ldap://127.0.0.1:389", "ldap_people_dn": "ou=people,dc=test,dc=occupy",
        "database": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/nonexistent/web.db"},
        "static_root": "/nonexistent/static", "fulltext_index": "/nonexistent/index",
        "log_file": "/nonexistent/web.log", **values}))
    path.chmod(file_mode)
    return path


def test_the_settings_refuse_values_others_may_read_and_name_what_is_missing(tmp_path, monkeypatch):
    settings = load_settings(values_file(tmp_path, 0o600), monkeypatch)
    assert settings.AUTH_LDAP_USER_DN_TEMPLATE == "uid=%(user)s,ou=people,dc=test,dc=occupy"
    with pytest.raises(RuntimeError, match="others may read it"):
        load_settings(values_file(tmp_path, 0o644), monkeypatch)
    with pytest.raises(RuntimeError, match="lacks secret_key, archiver_key"):
        load_settings(values_file(tmp_path, 0o600, secret_key="", archiver_key=""), monkeypatch)


# --- the running instance ---------------------------------------------------------------------

def test_the_secrets_stay_in_private_files_and_off_every_command_line(mailman_web, mailman):
    folder = mailman_web.folder
    assert mode(folder) == 0o700
    assert {name: mode(folder / name) for name in ("mailman-web.json", "web.sqlite3")} == {
        "mailman-web.json": 0o600, "web.sqlite3": 0o600}
    assert mode(mailman.archiver_config_path) == 0o600          # Mailman's copy of the archiver key
    values = json.loads((folder / "mailman-web.json").read_text())
    secrets_held = [values["secret_key"], values["archiver_key"], values["mailman_rest_password"]]
    assert mailman_web.archiver_key in secrets_held and mailman.admin_password in secrets_held
    command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in mailman_web.processes()]
    assert len(command_lines) >= 3                               # uwsgi's master and worker, the task queue
    assert [line for line in command_lines if any(secret.encode() in line for secret in secrets_held)] == []


def test_stopping_leaves_no_process_and_a_new_start_serves_again(mailman_web):
    mailman_web.stop()
    assert mailman_web.processes() == []
    mailman_web.start()
    assert ListBrowser(mailman_web).open("/hyperkitty/").status == 200


def test_only_an_account_with_its_directory_password_logs_in(mailman_web, directory):
    add_person(directory, "web-ada")
    add_person(directory, "web-pia", pending=True)           # a registration nobody approved yet
    for uid, password in (("web-ada", "not her password"), ("web-ada", ""), ("web-pia", PASSWORD),
                          ("web-nobody", PASSWORD), ("web-ada)(uid=*", PASSWORD)):
        browser = ListBrowser(mailman_web)
        refused = browser.log_in(uid, password)
        assert refused.status == 200 and not browser.logged_in, (uid, password)
    browser = ListBrowser(mailman_web)
    welcomed = browser.log_in("web-ada", PASSWORD)
    assert welcomed.status == 302 and welcomed.location == "/postorius/lists/" and browser.logged_in


def test_a_login_takes_the_directory_address_verified_and_never_admin_rights(mailman_web, directory):
    add_person(directory, "web-bea")
    # A local superuser of her name, as Debian's postinst makes one (mailman3-web/superuser-name):
    # the directory login lands in that account, which must not keep its rights.
    with sqlite3.connect(mailman_web.database) as connection:
        connection.execute("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
                           "email, is_staff, is_active, date_joined) VALUES ('!', 1, 'web-bea', '', '', "
                           "'root@localhost', 1, 1, '2026-01-01 00:00:00')")
    browser = ListBrowser(mailman_web)
    assert browser.log_in("web-bea", PASSWORD).status == 302
    addresses = ("SELECT e.email, e.verified, e.\"primary\" FROM account_emailaddress e "
                 "JOIN auth_user u ON u.id = e.user_id WHERE u.username = ?")
    assert rows(mailman_web, addresses, "web-bea") == [("web-bea@example.org", 1, 1)]
    assert rows(mailman_web, "SELECT is_staff, is_superuser FROM auth_user WHERE username = ?",
                "web-bea") == [(0, 0)]
    # Django's admin sends her to its own login, which refuses a non-staff account.
    assert browser.open("/admin/").status == 302
    admin = browser.submit("/admin/login/", {"username": "web-bea", "password": PASSWORD})
    assert admin.status == 200 and "staff account" in admin.text
    # The directory's address changes: the next login carries the new one, and only it.
    directory.people.set_mail("web-bea", "bea.new@example.org")
    assert ListBrowser(mailman_web).log_in("web-bea", PASSWORD).status == 302
    assert rows(mailman_web, addresses, "web-bea") == [("bea.new@example.org", 1, 1)]


def test_nobody_signs_up_not_even_with_a_members_address(mailman_web, directory, inbox):
    add_person(directory, "web-cal")
    attacker = ListBrowser(mailman_web)
    page = attacker.sign_up("web-cal-twin", "web-cal@example.org", "attacker's own passphrase")
    assert page.status == 200 and "closed" in page.text.lower()
    assert not attacker.logged_in
    assert rows(mailman_web, "SELECT username FROM auth_user WHERE username = ? OR email = ?",
                "web-cal-twin", "web-cal@example.org") == []
    assert ListBrowser(mailman_web).log_in("web-cal-twin", "attacker's own passphrase").status == 200
    # Nor does a password reset mail a link (the web's mail goes to the suite's sink).
    assert ListBrowser(mailman_web).log_in("web-cal", PASSWORD).status == 302     # she has an account
    reset = attacker.submit("/accounts/password/reset/", {"email": "web-cal@example.org"})
    assert reset.status == 302 and reset.location == "/accounts/password/reset/done/"
    assert inbox.messages() == []


def test_a_list_hyperkitty_has_not_heard_of_from_mailman_stays_closed(mailman_web):
    """HyperKitty makes a list public at its first archived message and asks Mailman for its real
    policy later: until then (here, for a list Mailman does not have) nobody reads it."""
    address = f"ghost-{secrets.token_hex(4)}@{LIST_DOMAIN}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "someone@example.org", address, "Ghost minutes"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    message.set_content("Nobody outside may read this.")
    assert archive(mailman_web, address, message, "not the key") == 401
    assert archive(mailman_web, address, message, mailman_web.archiver_key) == 200
    overview = ListBrowser(mailman_web).open(archive_path(address, "latest"))
    assert overview.status == 403 and not overview.shows("Ghost minutes")


def archive(web: PrivateMailmanWeb, address: str, message: EmailMessage, key: str) -> int:
    """What HyperKitty's archiving API answers Mailman's archiver (a multipart POST with its key)."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"mlist\"\r\n\r\n{address}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"message\"; filename=\"message.txt\"\r\n"
            "Content-Type: message/rfc822\r\n\r\n")
    body = head.encode() + message.as_bytes() + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        connection.request("POST", "/hyperkitty/api/mailman/archive", body=body, headers={
            "Authorization": f"Token {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
        return connection.getresponse().status
    finally:
        connection.close()
