"""The directory layer against a real slapd: tree, people, groups, passwords, hostile input."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from provisioner.directory import (
    AlreadyExists,
    Directory,
    DirectoryUnavailable,
    InvalidValue,
    NewPerson,
    NotFound,
    Status,
)
from provisioner.workflow import initialise_directory

from ldap_helpers import root_connection, snapshot
from suite_config import settings_for

PASSWORD = "correct horse battery staple"


def person(uid="alice", mail=None, **extra) -> NewPerson:
    return NewPerson(uid=uid, display_name=f"{uid.title()} Example", mail=mail or f"{uid}@example.org",
                     **extra)


def active(directory, uid="alice", **extra):
    directory.people.add(person(uid, **extra), pending=False)
    directory.people.set_password(uid, PASSWORD)
    return directory.people.get(uid)


def test_the_tree_and_groups_are_created_once_and_a_second_run_changes_nothing(
        empty_directory, catalogue, slapd_server):
    created = initialise_directory(empty_directory, catalogue, "Occupy Test")
    base = slapd_server.base_dn
    for ou in ("people", "pending", "groups", "policies"):
        assert f"ou={ou},{base}" in created
    # The deploy step (here the private slapd) made these, as the root DN, before.
    assert base not in created and f"ou=services,{base}" not in created
    assert f"cn=sysadmins,ou=groups,{base}" in created
    for wg in catalogue:
        assert empty_directory.groups.get(wg.group).description == wg.description
    before = snapshot(slapd_server)

    assert initialise_directory(empty_directory, catalogue, "Occupy Test") == []
    assert snapshot(slapd_server) == before


def test_a_pending_person_is_stored_under_pending_with_volunteer_data(directory):
    new = person(requested_groups=("kitchen", "tech"), skills=("cooking",), availability="day",
                 note="Free on weekends")
    stored = directory.people.add(new)
    assert stored.dn == f"uid=alice,{directory.layout.pending}"
    assert stored.pending
    assert stored.status == "unverified"
    assert stored.requested_groups == ("kitchen", "tech")
    assert (stored.skills, stored.availability, stored.note) == (("cooking",), "day", "Free on weekends")
    assert stored.created_at is not None


def test_adding_a_person_twice_raises_already_exists(directory):
    directory.people.add(person())
    with pytest.raises(AlreadyExists):
        directory.people.add(person())


def test_mail_is_unique_among_accounts_and_requests_share_it_until_one_becomes_an_account(directory):
    active(directory, "alice", mail="shared@example.org")
    with pytest.raises(AlreadyExists):
        directory.people.add(person("carol", mail="SHARED@example.org"), pending=False)
    directory.people.add(person("bob", mail="shared@example.org"))  # a request proves nothing yet
    with pytest.raises(AlreadyExists):
        directory.people.activate("bob")
    assert directory.people.find("carol") is None
    assert directory.people.get("bob").pending
    assert directory.people.find_by_mail("shared@example.org").uid == "alice"


def test_a_uid_differing_only_by_case_is_the_same_uid(directory):
    directory.people.add(person("alice"))
    with pytest.raises(AlreadyExists):
        directory.people.add(person("Alice", mail="other@example.org"))


def test_activate_moves_the_entry_to_people_and_is_safe_to_repeat(directory):
    directory.people.add(person())
    moved = directory.people.activate("alice")
    assert moved.dn == f"uid=alice,{directory.layout.people}" and not moved.pending
    assert directory.people.activate("alice") == moved
    with pytest.raises(NotFound):
        directory.people.activate("nobody")


def test_the_entry_as_read_is_written_to_unread_and_a_move_made_meanwhile_is_no_clash(directory):
    """What an approval does with the entry it read: a second approval that read it before the
    first moved it finishes, rather than finding its own address among the accounts."""
    directory.people.add(person())
    request = directory.people.get("alice")
    account = directory.people.activate(request)
    assert account == directory.people.get("alice") and not account.pending
    assert directory.people.activate(request) == account          # read before that move
    assert directory.groups.add_member("wg-kitchen", account) is True
    assert directory.groups.add_member("wg-kitchen", account) is False
    with pytest.raises(NotFound, match="there is no group 'wg-nonexistent'"):
        directory.groups.add_member("wg-nonexistent", account)
    with pytest.raises(NotFound, match="still a registration request"):
        directory.groups.add_member("wg-kitchen", request)
    directory.people.set_status(account, Status.ACTIVE)
    assert directory.people.get("alice").status == Status.ACTIVE
    assert directory.groups.of("alice") == ["wg-kitchen"]


def test_an_address_an_account_has_keeps_a_request_from_becoming_an_account(directory, slapd_server):
    directory.people.add(person("bob", mail="Shared@example.org"))
    request = directory.people.get("bob")
    active(directory, "alice", mail="shared@example.org")   # after bob's request was read
    before = snapshot(slapd_server)
    with pytest.raises(AlreadyExists, match="another account has the address of 'bob'"):
        directory.people.activate(request)
    assert snapshot(slapd_server) == before


def test_member_of_appears_after_a_group_add_and_goes_after_a_remove(directory):
    active(directory)
    assert directory.groups.add_member("wg-kitchen", "alice") is True
    assert directory.groups.add_member("wg-kitchen", "alice") is False  # already: done
    directory.groups.add_member("wg-tech", "alice")
    assert directory.groups.of("alice") == ["wg-kitchen", "wg-tech"]
    assert directory.groups.get("wg-kitchen").members == ("alice",)

    assert directory.groups.remove_member("wg-kitchen", "alice") is True
    assert directory.groups.remove_member("wg-kitchen", "alice") is False
    assert directory.groups.of("alice") == ["wg-tech"]
    assert directory.groups.get("wg-kitchen").members == ()


def test_a_pending_request_cannot_join_a_group_and_unknown_groups_are_not_found(directory):
    directory.people.add(person())
    with pytest.raises(NotFound):
        directory.groups.add_member("wg-kitchen", "alice")
    active(directory, "bob")
    with pytest.raises(NotFound):
        directory.groups.add_member("wg-nonexistent", "bob")


def test_password_modify_stores_an_argon2_hash_and_binding_checks_it(directory, slapd_server):
    stored = active(directory)
    with root_connection(slapd_server) as conn:
        conn.search(stored.dn, "(objectClass=*)", attributes=["userPassword"])
        (hashed,) = conn.response[0]["attributes"]["userPassword"]
    hashed = hashed.decode() if isinstance(hashed, bytes) else hashed
    assert hashed.startswith("{ARGON2}$argon2")
    assert PASSWORD not in hashed
    assert directory.people.check_password("alice", PASSWORD) is True
    assert directory.people.check_password("alice", PASSWORD + "x") is False
    assert directory.people.check_password("alice", "") is False
    assert directory.people.check_password("nobody", PASSWORD) is False


def test_a_pending_request_cannot_log_in(directory):
    directory.people.add(person())
    directory.people.set_password("alice", PASSWORD)
    assert directory.people.check_password("alice", PASSWORD) is False


HOSTILE = [
    "*)(uid=*",
    "admin)(|(uid=*",
    "alice\x00",
    "eve,ou=groups",
    "x" * 10_000,
    "\u0430lice",            # Cyrillic a
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth alice
    "ALİCE",                  # dotted capital I
    "alice ",
    "*",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
def test_hostile_uids_match_nobody_and_create_nothing_outside_their_ou(directory, slapd_server,
                                                                        hostile):
    active(directory, "alice")
    active(directory, "admin")
    before = snapshot(slapd_server)

    assert directory.people.find(hostile) is None
    assert directory.people.check_password(hostile, PASSWORD) is False
    with pytest.raises(InvalidValue):
        directory.people.add(person("x", mail="x@example.org").__class__(
            uid=hostile, display_name="Eve", mail="eve@example.org"))
    with pytest.raises(InvalidValue):
        directory.groups.add_member(hostile, "alice")
    assert snapshot(slapd_server) == before


@pytest.mark.parametrize("hostile", ["*", "*)(mail=*", "alice@example.org\x00",
                                     "\uff41lice@example.org", "a" * 10_000 + "@example.org"], ids=repr)
def test_hostile_mail_lookups_match_nobody(directory, hostile):
    active(directory, "alice")
    assert directory.people.find_by_mail(hostile) is None


def test_find_by_mail_ignores_case(directory):
    active(directory, "alice")
    assert directory.people.find_by_mail("ALICE@example.org").uid == "alice"


def test_hostile_text_in_free_fields_is_stored_as_text_inside_the_ou(directory, slapd_server):
    sneaky = NewPerson(uid="mallory", display_name="M, ou=groups)(uid=*", mail="m@example.org",
                       note="cn=sysadmins,ou=groups\n*)(objectClass=*", skills=("*",))
    stored = directory.people.add(sneaky)
    assert stored.dn == f"uid=mallory,{directory.layout.pending}"
    assert stored.display_name == sneaky.display_name and stored.note == sneaky.note
    assert directory.groups.get("sysadmins").members == ()


def test_a_stopped_server_gives_directory_unavailable_not_a_traceback(own_slapd):
    with Directory(settings_for(own_slapd)) as directory:
        directory.ping()
        own_slapd.stop()
        with pytest.raises(DirectoryUnavailable, match="does not answer"):
            directory.ping()
        with pytest.raises(DirectoryUnavailable):
            directory.people.find("alice")
        own_slapd.start()
        directory.ping()  # a later call reconnects by itself


def test_a_wrong_bind_password_is_reported_as_the_portals_own_problem(own_slapd):
    settings = settings_for(own_slapd)
    wrong = replace(settings, bind_password="not the password")
    with (pytest.raises(DirectoryUnavailable, match="refused the portal's bind") as raised,
          Directory(wrong) as directory):
        directory.ping()
    assert "not the password" not in str(raised.value)


def test_find_many_returns_everyone_who_exists_in_few_searches(directory):
    for uid in ("alice", "bob", "carol"):
        active(directory, uid)
    found = directory.people.find_many(["alice", "CAROL", "nobody", "*)(uid=*", "bob"])
    assert {uid: person.uid for uid, person in found.items()} == {
        "alice": "alice", "CAROL": "carol", "bob": "bob"}


def test_an_end_date_is_kept_changed_and_removed_and_accounts_ending_are_found(directory):
    directory.people.add(person("ends", end_date=date(2027, 1, 31)), pending=False)
    directory.people.add(person("later"), pending=False)
    directory.people.add(person("open"), pending=False)
    directory.people.set_end_date("later", date(2027, 3, 1))   # an entry without the class yet
    assert directory.people.get("ends").end_date == date(2027, 1, 31)
    assert [p.uid for p in directory.people.ending_by(date(2027, 1, 30))] == []
    assert [p.uid for p in directory.people.ending_by(date(2027, 1, 31))] == ["ends"]
    assert [p.uid for p in directory.people.ending_by(date(2027, 3, 1))] == ["ends", "later"]
    directory.people.set_end_date("ends", date(2027, 2, 15))    # extended
    directory.people.set_end_date("later", None)                # open-ended again
    directory.people.set_end_date("open", None)                 # was open-ended: no change
    assert [(p.uid, p.end_date) for p in directory.people.ending_by(date(2030, 1, 1))] == [
        ("ends", date(2027, 2, 15))]
