"""What volunteers type is data in a provisioning run, never code, and never anyone else's failure.

Every test runs the real worker and playbooks/volunteer_access.yml against the suite's
Mailman, DokuWiki and Redmine. People are written with the directory layer, as approval
leaves them (the HTTP forms have their own tests); what the services then hold is read
back over their own APIs.
"""

from __future__ import annotations

import itertools
import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.directory import InvalidValue, NewPerson, Status
from provisioner.jobs import GRANT

from job_helpers import Clock, job, make_worker, queue, runs
from service_fixtures import LIST_DOMAIN, WIKI_ADMIN_PASSWORD, offer
from service_views import rest

DIRECTORY_TASK = "Check the volunteers in the directory"
REDMINE_NAME_LENGTH = 30


@pytest.fixture
def every_service(app, mailman, wiki, redmine, tmp_path):
    """The app, its worker pointed at an inventory offering Mailman, the wiki and Redmine."""
    return offer(app, tmp_path / "inventory", mailman, wiki, redmine)


class Secrets(dict):
    """Name -> secret; shown by name only, so that a failing example never prints a secret."""

    def __repr__(self) -> str:
        return f"Secrets({', '.join(self)})"


@pytest.fixture
def secrets(mailman, redmine, slapd_server) -> Secrets:
    """Every secret of the inventory and of the directory's service accounts, by name."""
    return Secrets({"mailing_lists_password": mailman.admin_password,
                    "redmine_api_key": redmine.api_key, "wiki_admin_password": WIKI_ADMIN_PASSWORD,
                    **{f"ldap password of {name}": password
                       for name, password in slapd_server.service_passwords.items()}})


def add_volunteer(directory, uid: str, mail: str, display_name: str, groups=("kitchen",)) -> None:
    """An active account in its working groups, as approval leaves it."""
    directory.people.add(NewPerson(uid=uid, display_name=display_name, mail=mail,
                                   status=Status.ACTIVE), pending=False)
    for slug in groups:
        directory.groups.add_member(f"wg-{slug}", uid)


def list_members(mailman, slug: str = "kitchen") -> dict[str, str]:
    """Address -> display name of the list's members, as Mailman's REST API gives them."""
    status, answer = rest(mailman, f"/lists/wg-{slug}.{LIST_DOMAIN}/roster/member")
    assert status == 200
    return {entry["email"]: entry.get("display_name", "") for entry in answer.get("entries", [])}


def redmine_accounts(redmine) -> dict[str, dict]:
    """Login -> the account's fields, every account Redmine holds but the administrator's."""
    accounts, offset = {}, 0
    while True:
        status, data = redmine.request("GET", f"/users.json?status=&limit=100&offset={offset}")
        assert status == 200
        accounts.update({user["login"]: user for user in data["users"] if user["login"] != "admin"})
        offset += 100
        if offset >= data["total_count"]:
            return accounts


def redmine_names(display_name: str, uid: str) -> tuple[str, str]:
    """Redmine's first and last names for a display name: its words, the last one the
    surname, each cut to Redmine's 30 characters (as redmine_members documents)."""
    words = display_name.split()
    if not words:
        return uid[:REDMINE_NAME_LENGTH], "-"
    if len(words) == 1:
        return words[0][:REDMINE_NAME_LENGTH], "-"
    return " ".join(words[:-1])[:REDMINE_NAME_LENGTH], words[-1][:REDMINE_NAME_LENGTH]


def assert_arrived_verbatim(every_service, mailman, redmine, job_id: int,
                            people: dict[str, tuple[str, str]]) -> None:
    """Each uid -> (mail, display name) is in Mailman and Redmine exactly as written, and the
    wiki (which reads LDAP itself and stores nothing of them) lets them edit their namespace."""
    done = job(every_service, job_id)
    assert done.state == "succeeded", done.error
    members, accounts = list_members(mailman), redmine_accounts(redmine)
    for uid, (mail, display_name) in people.items():
        assert members.get(mail) == display_name, (uid, mail, display_name)
        account = accounts[uid]
        assert account["mail"] == mail
        assert (account["firstname"], account["lastname"]) == redmine_names(display_name, uid)
    wiki = {result.uid: result.message for result in done.results if result.service == "wiki"}
    assert wiki == {uid: "can edit wg:kitchen" for uid in people}


def everything_kept(app, mailman, redmine, wiki) -> dict[str, bytes]:
    """Place -> its content, for every place a volunteer's data goes: the services as their
    APIs show them, the wiki's pages, the runner's artifacts, the store with the jobs' results."""
    kept = {"Mailman's list members": json.dumps(list_members(mailman), ensure_ascii=False).encode(),
            "Redmine's accounts": json.dumps(redmine_accounts(redmine), ensure_ascii=False).encode()}
    database = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    files = [*Path(app.config["RUNNER_DIR"]).rglob("*"), database,
             *(path for area in ("pages", "meta", "attic") for path in (wiki.data_dir / area).rglob("*"))]
    kept.update({str(path): path.read_bytes() for path in files if path.is_file()})
    return kept


def places_holding(texts: dict[str, str], kept: dict[str, bytes]) -> dict[str, list[str]]:
    """Name of each text found -> the places holding it."""
    found = {name: [place for place, content in kept.items() if text.encode() in content]
             for name, text in texts.items()}
    return {name: places for name, places in found.items() if places}


EXAMPLES = {
    # uid: (mail, display name), as the issue reported them
    "kay": ("k{{redmine_api_key}}@example.org", "Kay {{ redmine_api_key }}"),
    "mel": ("m{{mailing_lists_password}}@example.org", "Mel {{ mailing_lists_password }}"),
    "eve": ("e{{7*7}}f@example.org", "Eve {{7*7}}"),
    "tess": ("t{%raw%}q@example.org", "Tess {% raw %}{{ x }}"),
    "pip": ("p{#note#}@example.org", "Pip {{ lookup('pipe','id') }}"),
}


def test_template_syntax_in_mail_and_name_arrives_verbatim_and_no_secret_leaks(
        every_service, directory, mailman, wiki, redmine, secrets):
    for uid, (mail, display_name) in EXAMPLES.items():
        add_volunteer(directory, uid, mail, display_name)
    job_id = queue(every_service, GRANT, {uid: ["kitchen"] for uid in EXAMPLES})
    assert make_worker(every_service, directory).run_once() == 1

    assert_arrived_verbatim(every_service, mailman, redmine, job_id, EXAMPLES)
    assert "e49f@example.org" not in list_members(mailman)
    kept = everything_kept(every_service, mailman, redmine, wiki)
    leaks = places_holding({**secrets, "the output of id": f"uid={os.getuid()}("}, kept)
    assert leaks == {}


def run_composition(app) -> list[set[str]]:
    """The uids each playbook run checked in the directory, oldest run first: the batch it saw."""
    seen = []
    for run in sorted(runs(app), key=lambda run: (run / "status").stat().st_mtime_ns):
        for path in (run / "job_events").glob("*.json"):
            event = json.loads(path.read_text())
            data = event.get("event_data", {})
            if event.get("event") == "runner_on_ok" and data.get("task") == DIRECTORY_TASK:
                seen.append(set(data["res"]["volunteers"]))
    return seen


def test_a_volunteer_a_service_refuses_fails_alone_and_is_retried_in_a_run_of_their_own(
        every_service, directory, mailman, redmine):
    for uid in ("ann", "bob", "cat"):
        add_volunteer(directory, uid, f"{uid}@example.org", f"{uid.title()} Volunteer")
    add_volunteer(directory, "pol", "p|l@example.org", "Pol Poisoned")    # Mailman refuses a |
    clock = Clock()
    worker = make_worker(every_service, directory, clock, retry_seconds=60)
    good = queue(every_service, GRANT, {"ann": ["kitchen"], "bob": ["kitchen"]}, now=clock())
    poisoned = queue(every_service, GRANT, {"pol": ["kitchen"]}, now=clock(), max_attempts=3)

    assert worker.run_once() == 2
    assert job(every_service, good).state == "succeeded", job(every_service, good).error
    refused = job(every_service, poisoned)
    assert refused.state == "queued" and refused.runs_alone           # retried, alone
    assert refused.error.startswith(f"pol: could not subscribe to wg-kitchen@{LIST_DOMAIN} (HTTP 400: ")
    outcomes = {result.service: result.status for result in refused.results}
    assert outcomes == {"directory": "ok", "lists": "failed", "wiki": "ok", "redmine": "changed"}
    assert {"ann@example.org", "bob@example.org"} <= set(list_members(mailman))

    later = queue(every_service, GRANT, {"cat": ["kitchen"]}, now=clock())
    clock.advance(seconds=61)
    assert worker.run_once() == 2
    assert job(every_service, later).state == "succeeded"
    assert job(every_service, poisoned).attempts == 2
    assert run_composition(every_service) == [{"ann", "bob", "pol"}, {"cat"}, {"pol"}]


# Values for every field of a volunteer that reaches a playbook. Volunteer (runner.py)
# carries the uid, the mail and the display name; skills and the note never leave the
# directory, and the uid is refused outside [A-Za-z][A-Za-z0-9-]* before it is stored.
TEMPLATE_PIECES = ["{{", "}}", "{%", "%}", "{#", "#}", "{% raw %}", "{% endraw %}", "{%raw%}",
                   "{{ lookup('pipe','id') }}", "{{ redmine_api_key }}", "{{7*7}}",
                   "{{ query('env','HOME') }}", "{% for x in range(9) %}x{% endfor %}"]
DN_SPECIALS = list(',+"\\<>;=*()') + ["\x00", "#", " "]
UNICODE_PIECES = ["\u202eevil", "עברית", "العربية", "e\u0301", "\u0336s", "Zoë", "名前", "\U0001f600"]
# What each service takes in an address's local part: Mailman's validator is the strictest.
# Non-ASCII letters are there for the directory to refuse.
MAIL_LOCAL = string.ascii_lowercase + string.digits + "-!#$%&'*+./=?_`{}~"

display_names = st.one_of(
    st.lists(st.sampled_from(TEMPLATE_PIECES + DN_SPECIALS + UNICODE_PIECES + ["Vera", " "]),
             min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=40),
    st.text(alphabet=st.sampled_from("ab {}%#"), min_size=300, max_size=2000),
)
mail_locals = st.one_of(
    st.lists(st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", "raw", "endraw", "7*7", "x"]),
             min_size=1, max_size=8).map("".join),
    st.text(alphabet=MAIL_LOCAL, min_size=1, max_size=40),
    st.text(alphabet=MAIL_LOCAL + "ëñ名", min_size=1, max_size=12),
)
uids = (f"prop{number}" for number in itertools.count())


# Each example is a batch in one real run (about 3 s unloaded, 8-15 s on 2 shared, busy
# cores): few examples, many values each.
@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(mail_locals, display_names), min_size=4, max_size=8))
def test_any_value_is_refused_by_the_directory_or_arrives_verbatim_in_each_service(
        every_service, directory, mailman, wiki, redmine, secrets, batch):
    written, refused = {}, []
    for local, display_name in batch:
        uid = next(uids)
        mail = f"{uid}.{local}@example.org"              # unique: services refuse a taken address
        try:
            add_volunteer(directory, uid, mail, display_name)
        except InvalidValue as refusal:
            assert str(refusal), "a refusal says why"
            assert directory.people.find(uid) is None
            refused.append(uid)
            continue
        written[uid] = (mail, directory.people.get(uid).display_name)
        assert written[uid][1] == display_name, "the directory keeps what it accepts"
    if not written:
        return
    job_id = queue(every_service, GRANT, {uid: ["kitchen"] for uid in written})
    assert make_worker(every_service, directory).run_once() == 1
    assert_arrived_verbatim(every_service, mailman, redmine, job_id, written)
    assert not set(refused) & set(redmine_accounts(redmine))
    leaks = places_holding(secrets, everything_kept(every_service, mailman, redmine, wiki))
    assert leaks == {}

