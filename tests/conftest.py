"""Fixtures: the private stack's real slapd for the session, a clean directory for each test, the app."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from provisioner import create_app
from provisioner.catalogue import load_catalogue
from provisioner.directory import Directory
from provisioner.private_services.postgres import start_private_postgres
from provisioner.private_services.slapd import PrivateSlapd
from provisioner.private_services.smtp import MAILDIR
from provisioner.private_services.stack import PrivateStack
from provisioner.store import Store
from provisioner.workflow import create_sysadmin, initialise_directory

from ldap_helpers import eventually, holds, wipe
from mail_sink import MailSink
from portal_actions import ADMIN_PASSWORD, Visitor, given_totp
from suite_config import BASE_DN, OCCUPATION, ORGANISATION, WIKI_ROBOT, app_config, settings_for

pytest_plugins = ["service_fixtures"]


@pytest.fixture(scope="session")
def private_stack(request, tmp_path_factory):
    """The suite's services (the demo's and the benchmarks' too), each started when a test first
    needs it. A missing Debian package fails the test needing it, never skips it."""
    cache = getattr(request.config, "cache", None)      # None with -p no:cacheprovider
    redmine_cache = cache.mkdir("redmine-golden") if cache else tmp_path_factory.mktemp("golden")
    web_cache = cache.mkdir("mailman-web-golden") if cache else tmp_path_factory.mktemp("web-golden")
    folder = tempfile.mkdtemp(prefix="stack-")  # short: ldapi paths must stay under 108 bytes
    try:
        with PrivateStack(folder, OCCUPATION, fast_writes=True, mail=MAILDIR, wiki_admin=WIKI_ROBOT,
                          redmine_cache=redmine_cache, mailman_web_cache=web_cache) as stack:
            yield stack
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def slapd_server(private_stack):
    """The suite's slapd, with its service accounts."""
    return private_stack.slapd()


@pytest.fixture
def catalogue():
    return load_catalogue()


@pytest.fixture
def empty_directory(slapd_server):
    """A Directory on a server as deployed: the base entry and the service accounts only."""
    wipe(slapd_server)
    with Directory(settings_for(slapd_server)) as directory:
        yield directory
    wipe(slapd_server)


@pytest.fixture
def directory(empty_directory, catalogue):
    """A Directory on an initialised tree: OUs, policy, sysadmins and working groups."""
    initialise_directory(empty_directory, catalogue, ORGANISATION)
    return empty_directory


@pytest.fixture(scope="session")
def mail_sink(private_stack):
    return MailSink(private_stack.smtp())


@pytest.fixture
def inbox(mail_sink):
    """The mail sink, emptied for this test, sending no earlier test's queued mail."""
    mail_sink.apps.clear()
    mail_sink.clear()
    return mail_sink


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory):
    """A SQLite store migrated to the current schema once: each test's app starts from a copy
    (the migrations take a sixth of a second; test_store_migrations runs them itself)."""
    path = tmp_path_factory.mktemp("store") / "store.sqlite"
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    store.dispose()   # the last connection closed: the WAL is in the file
    return path


@pytest.fixture
def app(directory, slapd_server, inbox, tmp_path, migrated_store):
    shutil.copyfile(migrated_store, tmp_path / "store.sqlite")
    return inbox.deliver_from(create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}",
                                                    inbox.port, runner_dir=str(tmp_path / "runner"))))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_app(request, app, slapd_server, inbox, tmp_path):
    """The app on the suite's SQLite store, or on a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield app
        return
    url = request.getfixturevalue("postgres_url")
    on_postgres = inbox.deliver_from(create_app(app_config(slapd_server, url, inbox.port,
                                                           runner_dir=str(tmp_path / "runner"))))
    yield on_postgres
    on_postgres.extensions["store"].dispose()


@pytest.fixture
def own_slapd():
    """A slapd of the test's own (with its service accounts), which the test may stop."""
    folder = tempfile.mkdtemp(prefix="stack-")
    try:
        with PrivateStack(folder, OCCUPATION, fast_writes=True) as stack:
            yield stack.slapd()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def replicating_pair():
    """Two slapd providers replicating each other, which the test may stop.

    Both ports are chosen before either starts (each names the other); the service
    accounts are made on the first only and reach the second by replication.
    """
    folders = [tempfile.mkdtemp(prefix="slapd-") for _ in range(2)]
    first, second = PrivateSlapd.providers(folders, BASE_DN, fast_writes=True)
    try:
        first.start()
        second.start()
        first.create_service_accounts(ORGANISATION)
        eventually(lambda: holds(second, second.service_dn("replicator")))
        yield first, second
    finally:
        for server in (first, second):
            server.stop()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def visitor(client):
    return Visitor(client)


@pytest.fixture
def sysadmin(app, directory):
    """A second browser, logged in as the sysadmin sam (who set up TOTP, as sysadmins must)."""
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    given_totp(app, "sam")
    admin = Visitor(app.test_client())
    assert admin.log_in("sam", ADMIN_PASSWORD).status_code == 302
    return admin


@pytest.fixture
def verified(visitor, inbox):
    """Register and verify a volunteer; returns a function doing it for more people."""
    def verify(uid="vera", mail=None, groups=("kitchen", "tech")):
        mail = mail or f"{uid}@example.org"
        visitor.register(uid=uid, mail=mail, display_name=f"{uid.title()} Volunteer",
                         groups=list(groups))
        assert visitor.confirm(inbox.link_in(mail)).status_code == 200
        return uid
    return verify


@pytest.fixture(scope="session")
def postgres_server():
    """The suite's PostgreSQL. If postgresql is missing this fails, never skips."""
    with start_private_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database for this test."""
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    return postgres_server.create_database(name)
