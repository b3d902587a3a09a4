"""Fixtures: a real slapd for the session, a clean directory for each test, the app."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from ldap_helpers import wipe
from provisioner import create_app
from provisioner.catalogue import load_catalogue
from provisioner.directory import Directory, DirectorySettings
from provisioner.slapd import PrivateSlapd
from provisioner.workflow import initialise_directory

BASE_DN = "dc=test,dc=occupy"


@pytest.fixture(scope="session")
def slapd_server():
    """The suite's slapd. If slapd is missing this fails (SlapdError), never skips."""
    folder = tempfile.mkdtemp(prefix="slapd-")  # short: ldapi paths must stay under 108 bytes
    try:
        with PrivateSlapd(folder, BASE_DN, fast_writes=True) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def settings_for(server: PrivateSlapd) -> DirectorySettings:
    return DirectorySettings(url=server.url, base_dn=server.base_dn, bind_dn=server.root_dn,
                             bind_password=server.root_password, timeout=2.0)


@pytest.fixture
def catalogue():
    return load_catalogue()


@pytest.fixture
def empty_directory(slapd_server):
    """A Directory on an empty server: not even the base entry."""
    wipe(slapd_server)
    with Directory(settings_for(slapd_server)) as directory:
        yield directory
    wipe(slapd_server)


@pytest.fixture
def directory(empty_directory, catalogue):
    """A Directory on an initialised tree: OUs, policy, sysadmins and working groups."""
    initialise_directory(empty_directory, catalogue, "Occupy Test")
    return empty_directory


def app_config(server: PrivateSlapd) -> dict:
    return {
        "SECRET_KEY": "test-secret-key-not-for-production",
        "LDAP_URL": server.url,
        "LDAP_BASE_DN": server.base_dn,
        "LDAP_BIND_DN": server.root_dn,
        "LDAP_BIND_PASSWORD": server.root_password,
        "LDAP_TIMEOUT": 2.0,
        "TESTING": True,
    }


@pytest.fixture
def app(directory, slapd_server):
    return create_app(app_config(slapd_server))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def own_slapd():
    """A slapd of the test's own, which the test may stop."""
    folder = tempfile.mkdtemp(prefix="slapd-")
    server = PrivateSlapd(folder, BASE_DN, fast_writes=True)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
