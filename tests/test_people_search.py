"""Sysadmins find accounts by what they type and a few filters, a page at a time (issue 16).

What is typed is data: it never reaches an LDAP filter, and no text, however hostile,
finds someone whose name, username, address or skills do not hold it."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal
from provisioner.workflow import InvalidInput
from provisioner.workflow.finding import MAX_SEARCH, PeopleQuery, find_people

from ldap_helpers import snapshot

PEOPLE = "/admin/people"
ROW = re.compile(r'<tr id="person-([a-z0-9-]+)">')
HOSTILE = ["*", "*)(uid=*", "admin)(|(uid=*", "\\2a", "\\00", "\x00", "(", ")", "\\", "ou=people",
           "cn=sysadmins,ou=groups", "%", "_", "' OR '1'='1", "{{7*7}}", "<script>", "\u200b", "İ"]


def add_account(directory, uid: str, name: str, *, groups=(), skills=(), availability=None,
                status=Status.ACTIVE) -> None:
    directory.people.add(NewPerson(uid=uid, display_name=name, mail=f"{uid}@example.org",
                                   status=Status.ACTIVE, skills=tuple(skills),
                                   availability=availability), pending=False)
    for slug in groups:
        directory.groups.add_member(f"wg-{slug}", uid)
    if status != Status.ACTIVE:
        directory.people.set_status(uid, status)


@pytest.fixture
def accounts(directory, sysadmin):
    """sam (the sysadmin) and four volunteers."""
    add_account(directory, "alice", "Alice Archer", groups=["kitchen"], skills=["Cooking", "first aid"],
                availability="day")
    add_account(directory, "bruno", "Bruno Baker", groups=["kitchen", "tech"], skills=["soldering"],
                availability="hour")
    add_account(directory, "chloe", "Chloé Carpenter", groups=["tech"], skills=["cooking"],
                availability="day", status=Status.SUSPENDED)
    add_account(directory, "dmitri", "Дмитрий Д", groups=["legal"], availability="ongoing")
    return {"sam", "alice", "bruno", "chloe", "dmitri"}


def found(sysadmin, query: str) -> list[str]:
    response = sysadmin.client.get(f"{PEOPLE}?{query}")
    assert response.status_code == 200
    return ROW.findall(response.get_data(as_text=True))


@pytest.mark.parametrize("query, expected", [
    ("", ["alice", "bruno", "chloe", "dmitri", "sam"]),
    ("text=archer", ["alice"]),                             # a name, any case
    ("text=BRU", ["bruno"]),                                # part of a username
    ("text=chloe%40example", ["chloe"]),                    # an address
    ("text=cooking", ["alice", "chloe"]),                   # a skill
    ("text=" + quote("ｃｏｏｋ"), ["alice", "chloe"]),       # full-width letters
    ("text=" + quote("дмитрий"), ["dmitri"]),              # any script, any case
    ("text=cook+aid", ["alice"]),                           # every word, in any field
    ("group=kitchen", ["alice", "bruno"]),
    ("group=tech&text=cook", ["chloe"]),
    ("status=suspended", ["chloe"]),
    ("status=active&group=tech", ["bruno"]),
    ("availability=day", ["alice", "chloe"]),
    ("availability=day&status=active&group=kitchen&text=alice", ["alice"]),
])
def test_search_and_filters(accounts, sysadmin, query, expected):
    assert found(sysadmin, query) == expected


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_finds_nobody_and_changes_nothing(accounts, sysadmin, slapd_server, payload):
    before = snapshot(slapd_server)
    body = html.unescape(sysadmin.client.get(f"{PEOPLE}?text={quote(payload)}").get_data(as_text=True))
    assert ROW.findall(body) == [] and "Nobody matches." in body
    assert snapshot(slapd_server) == before


def test_a_refused_filter_says_why_lists_nobody_and_does_not_echo_a_flood(accounts, sysadmin):
    flood = "x" * (MAX_SEARCH + 1)
    body = html.unescape(sysadmin.client.get(
        f"{PEOPLE}?text={flood}&group=nowhere&status=unverified").get_data(as_text=True))
    assert ROW.findall(body) == [] and flood not in body
    for why in (f"search for at most {MAX_SEARCH} characters", "choose a working group from the list",
                "choose a status from the list"):
        assert why in body


def test_pages_of_fifty_whose_links_keep_the_search(directory, sysadmin):
    for number in range(120):
        add_account(directory, f"vol{number:03d}", f"Volunteer {number}",
                    groups=["kitchen"] if number % 2 else [])
    body = sysadmin.client.get(f"{PEOPLE}?text=volunteer&group=kitchen").get_data(as_text=True)
    assert ROW.findall(body) == [f"vol{n:03d}" for n in range(1, 101, 2)]
    assert "1–50 of 60 accounts" in body
    following = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', body).group(1))
    assert "text=volunteer" in following and "group=kitchen" in following and "page=2" in following
    assert ROW.findall(sysadmin.client.get(following).get_data(as_text=True)) == [
        f"vol{n:03d}" for n in range(101, 120, 2)]


def folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def holds_every_word(person, text: str) -> bool:
    fields = [folded(value) for value in (person.uid, person.display_name, person.mail, *person.skills)]
    return all(any(word in value for value in fields) for word in folded(text).split())


def test_no_text_finds_someone_who_does_not_hold_it_nor_fails(app, accounts):
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                     st.lists(st.sampled_from([*HOSTILE, "alice", "cook", "example", "*"]), max_size=4)
                     .map(" ".join)))
    def check(text):
        with app.app_context():
            try:
                page = find_people(get_portal(), PeopleQuery(text=text), actor="sam")
            except InvalidInput:
                assert len(text) > MAX_SEARCH
                return
        assert all(holds_every_word(person, text) for person in page.items), text
        assert {person.uid for person in page.items} <= accounts
        if any(special in text for special in "*()\\\x00"):
            assert page.items == []

    check()


@pytest.mark.parametrize("hostile", ["*", "day)(uid=*", "\\2a"])
def test_the_directory_search_escapes_every_value(accounts, directory, hostile):
    """The workflow lets only listed values through; the directory escapes them all the same."""
    people = directory.people
    assert people.accounts_where(statuses=[Status.ACTIVE], availability=hostile) == []
    assert people.accounts_where(statuses=[Status.ACTIVE], member_of=hostile) == []
    assert [p.uid for p in people.accounts_where(statuses=[Status.ACTIVE], availability="day")] == ["alice"]
