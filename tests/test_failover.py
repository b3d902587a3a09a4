"""The portal given several LDAP URLs (replicas) keeps working when the first stops answering."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioner import create_app
from provisioner.catalogue import load_catalogue
from provisioner.directory import Directory, DirectorySettings, DirectoryUnavailable, NewPerson, Status
from provisioner.resources import get_directory
from provisioner.workflow import initialise_directory

from ldap_helpers import eventually, holds
from portal_actions import VOLUNTEER_PASSWORD, Visitor
from suite_config import ORGANISATION, app_config, settings_for

PASSWORD = "correct horse battery staple"


def person(uid: str) -> NewPerson:
    return NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org")


def test_several_urls_are_separated_by_spaces_or_commas():
    settings = DirectorySettings(url=" ldap://a:1, ldap://b:2,ldaps://c\tldap://d ", base_dn="dc=x",
                                 bind_dn="cn=portal,ou=services,dc=x", bind_password="secret")
    assert settings.urls == ("ldap://a:1", "ldap://b:2", "ldaps://c", "ldap://d")


def test_a_directory_given_both_urls_keeps_working_when_the_first_stops(replicating_pair):
    first, second = replicating_pair
    with Directory(replace(settings_for(first), url=f"{first.url}, {second.url}")) as directory:
        initialise_directory(directory, load_catalogue(), ORGANISATION)
        directory.people.add(person("alice"), pending=False)
        directory.people.set_password("alice", PASSWORD)
        eventually(lambda: holds(second, directory.layout.person_dn("alice")))
        first.stop()
        assert directory.people.get("alice").mail == "alice@example.org"   # the open connection moved
        directory.people.add(person("bob"))
        assert holds(second, directory.layout.person_dn("bob", pending=True))
        assert directory.people.check_password("alice", PASSWORD) is True
        assert directory.people.check_password("alice", PASSWORD + "x") is False
        second.stop()
        with pytest.raises(DirectoryUnavailable, match=f"tried {first.url}: .*; {second.url}: "):
            directory.people.find("alice")
        first.start()
        assert directory.people.find("alice") is not None


def test_the_portal_given_both_urls_registers_and_logs_in_when_the_first_stops(
        replicating_pair, inbox, tmp_path):
    first, second = replicating_pair
    config = app_config(first, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port,
                        runner_dir=str(tmp_path / "runner"))
    app = create_app({**config, "LDAP_URL": f"{first.url} {second.url}"})
    with app.app_context():
        directory = get_directory()
        initialise_directory(directory, load_catalogue(), ORGANISATION)
        directory.people.add(person("alice"), pending=False)
        directory.people.set_status("alice", Status.ACTIVE)
        directory.people.set_password("alice", VOLUNTEER_PASSWORD)
    eventually(lambda: holds(second, directory.layout.person_dn("alice")))
    first.stop()
    visitor = Visitor(app.test_client())
    assert visitor.register().location.endswith("/register/sent")
    assert holds(second, directory.layout.person_dn("vera", pending=True))
    response = visitor.log_in("alice", VOLUNTEER_PASSWORD)
    assert response.status_code == 302 and response.location == "/account"
