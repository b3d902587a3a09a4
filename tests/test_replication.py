"""Two private slapd servers replicating each other (multi-provider): writes reach both."""

from __future__ import annotations

from provisioner.catalogue import load_catalogue
from provisioner.directory import Directory, NewPerson
from provisioner.workflow import initialise_directory

from ldap_helpers import eventually, holds
from suite_config import ORGANISATION, settings_for

PASSWORD = "correct horse battery staple"


def person(uid: str) -> NewPerson:
    return NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org")


def test_a_write_on_either_server_appears_on_the_other(replicating_pair):
    first, second = replicating_pair
    with Directory(settings_for(first)) as on_first, Directory(settings_for(second)) as on_second:
        initialise_directory(on_first, load_catalogue(), ORGANISATION)
        eventually(lambda: holds(second, on_first.layout.group_dn("wg-kitchen")))
        on_second.people.add(person("alice"), pending=False)
        on_second.people.set_password("alice", PASSWORD)
        eventually(lambda: holds(first, on_first.layout.person_dn("alice")))
        eventually(lambda: on_first.people.check_password("alice", PASSWORD))
        on_first.groups.add_member("wg-kitchen", "alice")
        eventually(lambda: on_second.groups.get("wg-kitchen").members == ("alice",))
        assert on_second.groups.of("alice") == ["wg-kitchen"]


def test_a_stopped_server_catches_up_when_it_returns(replicating_pair):
    first, second = replicating_pair
    with Directory(settings_for(first)) as on_first:
        initialise_directory(on_first, load_catalogue(), ORGANISATION)
        eventually(lambda: holds(second, on_first.layout.people))
        second.stop()
        on_first.people.add(person("bob"), pending=False)
        second.start()
        eventually(lambda: holds(second, on_first.layout.person_dn("bob")))
        first.stop()
    with Directory(settings_for(second)) as on_second:
        on_second.people.add(person("carol"), pending=False)
    first.start()
    eventually(lambda: holds(first, on_second.layout.person_dn("carol")))


def test_the_replicators_password_is_only_in_the_servers_private_config(replicating_pair):
    first, _ = replicating_pair
    secret = first.service_passwords["replicator"].encode()
    assert first.config_path.stat().st_mode & 0o777 == 0o600
    holding = [path.name for path in first.folder.rglob("*")
               if path.is_file() and secret in path.read_bytes()]
    assert holding == ["slapd.conf"]
