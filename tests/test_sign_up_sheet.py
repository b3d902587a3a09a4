"""Bulk import of a sign-up sheet: every bad row named with its line and nothing sent, a
valid sheet inviting each person once however often it is imported, values that stay
data. Real slapd, store and SMTP sink; the command line and the sysadmins' page."""

from __future__ import annotations

import csv
import html
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.cli import cli
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store.schema import invitations
from provisioner.workflow.invitation_acceptance import Acceptance, accept_invitation
from provisioner.workflow.sign_up_sheet import (
    MAX_SHEET_BYTES,
    MAX_SHEET_ROWS,
    SheetInvalid,
    read_sheet,
)

from portal_actions import VOLUNTEER_PASSWORD, Visitor, given_totp

PAGE = "/invitations/import"
SOON = (date.today() + timedelta(days=10)).isoformat()
# As Excel saves "CSV UTF-8": a byte order mark, CRLF, quotes around cells with commas.
GOOD = ("\ufeffname,email,groups,end_date\r\n"
        '"Doe, Jane",jane@example.org,kitchen;tech,' + SOON + "\r\n"
        "Ali Ng,ali@example.org,media,\r\n"
        '"O\'Brien (kitchen) & co","o\'{{7*7}}@example.org","kitchen  media",\r\n').encode()
BAD = (b"name,email,groups,end_date\n"
       b"Jane,jane@example.org,kitchen,\n"          # line 2: fine
       b"Ali,not-an-address,kitchen,\n"             # line 3
       b"Bo,bo@example.org,nowhere,\n"              # line 4
       b"Cy,cy@example.org,kitchen,2001-01-01\n"    # line 5
       b"Di,di@example.org,,\n"                     # line 6
       b"Jane again,JANE@example.org,tech,\n"       # line 7
       b"Ed,ed@example.org,kitchen,31/12/2026\n"    # line 8
       b"<script>,ev@example.org,kitchen,\n")  # line 9


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, list(args))


def sheet(tmp_path, data: bytes, name: str = "sheet.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def stored(app) -> list[tuple]:
    with app.app_context(), get_store().begin() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(invitations.c.mail, invitations.c.display_name, invitations.c.groups,
                      invitations.c.end_date).order_by(invitations.c.id))]


def test_a_sheet_with_bad_rows_sends_nothing_and_names_each_row(run, app, tmp_path, inbox):
    result = run("import", sheet(tmp_path, BAD))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for number, reason in [(3, "email 'not-an-address'"), (4, "no such working group: 'nowhere'"),
                           (5, "end_date 2001-01-01 is in the past"), (6, "no working group"),
                           (7, "the same email as line 2"), (8, "end_date '31/12/2026' is not a date"),
                           (9, "name '<script>'")]:
        assert any(line.startswith(f"line {number}: ") and reason in line for line in lines), (number, lines)
    assert not any(line.startswith("line 2:") for line in lines)
    assert "7 problem(s)" in result.output and "nothing was sent" in result.output
    assert inbox.messages() == [] and stored(app) == []


def test_a_valid_sheet_invites_each_person_once_however_often_it_is_imported(run, app, directory,
                                                                              tmp_path, inbox):
    directory.people.add(NewPerson(uid="ali", display_name="Ali Ng", mail="ali@example.org",
                                   status=Status.ACTIVE), pending=False)
    path = sheet(tmp_path, GOOD)
    dry = run("import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "line 2: jane@example.org: would invite: into Kitchen, Tech, until " + SOON in dry.output
    assert "line 3: ali@example.org: skipped: ali@example.org has an account already (ali)" in dry.output
    assert inbox.messages() == [] and stored(app) == []

    first = run("import", path)
    assert first.exit_code == 0, first.output
    assert "2 invited, 1 skipped" in first.output
    assert stored(app) == [
        ("jane@example.org", "Doe, Jane", "kitchen tech", date.fromisoformat(SOON)),
        ("o'{{7*7}}@example.org", "O'Brien (kitchen) & co", "kitchen media", None)]
    assert len(inbox.messages("jane@example.org")) == 1
    hostile = inbox.only_message("o'{{7*7}}@example.org").get_content()   # sent as typed, not run
    assert "Hello O'Brien (kitchen) & co," in hostile and "49" not in hostile

    second = run("import", path)
    assert second.exit_code == 0, second.output
    assert "3 skipped" in second.output and "has an open invitation already" in second.output
    assert len(inbox.messages()) == 2 and len(stored(app)) == 2

    # The address with filter and template characters makes an account holding it as typed.
    token = inbox.link_in("o'{{7*7}}@example.org").rsplit("/", 1)[1]
    with app.test_request_context():
        made = accept_invitation(get_portal(), token, Acceptance("obrien", "O'Brien (kitchen) & co",
                                                                 VOLUNTEER_PASSWORD))
    assert (made.mail, made.display_name) == ("o'{{7*7}}@example.org", "O'Brien (kitchen) & co")
    assert [person.uid for person in directory.people.with_mail("o'{{7*7}}@example.org")] == ["obrien"]


def test_an_address_that_accepted_is_skipped_when_imported_again(run, app, tmp_path, inbox):
    data = b"name,email,groups\nJane,jane@example.org,kitchen\n"
    assert run("import", sheet(tmp_path, data)).exit_code == 0
    token = inbox.link_in("jane@example.org").rsplit("/", 1)[1]
    with app.test_request_context():
        accept_invitation(get_portal(), token, Acceptance("jane", "Jane", VOLUNTEER_PASSWORD))
    again = run("import", sheet(tmp_path, data))
    assert "has an account already (jane)" in again.output
    assert len(stored(app)) == 1


def test_files_too_large_or_too_long_are_refused_whole(run, app, tmp_path, inbox):
    big = b"name,email,groups\n" + b"x" * MAX_SHEET_BYTES
    assert f"at most {MAX_SHEET_BYTES:,} bytes" in run("import", sheet(tmp_path, big)).output
    rows = "".join(f"P,p{number}@example.org,kitchen\n" for number in range(MAX_SHEET_ROWS + 1))
    long = run("import", sheet(tmp_path, f"name,email,groups\n{rows}".encode()))
    assert f"line {MAX_SHEET_ROWS + 2}: more than {MAX_SHEET_ROWS} people" in long.output
    header = run("import", sheet(tmp_path, b"email,groups\nx@example.org,kitchen\n"))
    assert "line 1: the header row has no column name" in header.output
    latin = run("import", sheet(tmp_path, "name,email,groups\nJosé,j@example.org,kitchen\n"
                                .encode("latin-1")))
    assert "not UTF-8 text" in latin.output
    assert inbox.messages() == [] and stored(app) == []


def test_the_sysadmins_page_imports_with_the_same_checks(app, sysadmin, directory, inbox):
    def upload(data: bytes, dry_run: bool = False):
        token = sysadmin.csrf_token(PAGE)
        form = {"csrf_token": token, "sheet": (io.BytesIO(data), "sheet.csv")}
        if dry_run:
            form["dry_run"] = "y"
        return sysadmin.client.post(PAGE, data=form, content_type="multipart/form-data")

    bad = upload(BAD)
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "Nothing was sent: the file has 7 problems" in page
    assert "line 9: name '<script>'" in html.unescape(page) and "<script>" not in page
    assert inbox.messages() == []
    sysadmin.submit(PAGE, {"language": "es", "next": PAGE}, action="/language")
    spanish = html.unescape(upload(BAD).get_data(as_text=True))
    for said in ("línea 4: no existe este grupo de trabajo: 'nowhere'",
                 "línea 7: el mismo correo que la línea 2", "línea 8: end_date '31/12/2026' no es una fecha"):
        assert said in spanish, said
    sysadmin.submit(PAGE, {"language": "en", "next": PAGE}, action="/language")
    dry = upload(GOOD, dry_run=True)
    assert dry.status_code == 200 and "would invite" in dry.get_data(as_text=True)
    assert inbox.messages() == []
    done = upload(GOOD)
    assert done.get_data(as_text=True).count("<td>invited</td>") == 3
    assert len(stored(app)) == 3


def test_only_sysadmins_import(app, directory, inbox):
    directory.people.add(NewPerson(uid="cora", display_name="Cora", mail="cora@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.set_password("cora", VOLUNTEER_PASSWORD)
    directory.groups.add_owner("wg-kitchen", "cora")
    given_totp(app, "cora")
    cora = Visitor(app.test_client())
    assert cora.log_in("cora", VOLUNTEER_PASSWORD).status_code == 302
    assert cora.client.get(PAGE).status_code == 403
    token = cora.csrf_token("/invitations")
    answer = cora.client.post(PAGE, data={"csrf_token": token, "sheet": (io.BytesIO(GOOD), "s.csv")},
                              content_type="multipart/form-data")
    assert answer.status_code == 403 and inbox.messages() == []


CELLS = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(CELLS, CELLS, CELLS, CELLS), min_size=1, max_size=5))
def test_any_cells_are_read_as_data_or_refused_by_line(app, rows):
    """Whatever a sheet's cells hold (quotes, separators, line breaks, markup), each becomes
    exactly that value or its row is refused with its line; nothing else can happen."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["name", "email", "groups", "end_date"])
    writer.writerows(rows)
    with app.test_request_context():
        portal = get_portal()
        try:
            people = read_sheet(portal, text.getvalue().encode())
        except SheetInvalid as invalid:
            last_line = text.getvalue().count("\n") + 1
            assert all(0 <= problem.line <= last_line for problem in invalid.problems)
            return
    by_mail = {row[1].strip(): row for row in rows}
    for person in people:
        name, mail, groups, end_date = by_mail[person.mail]
        assert person.name == " ".join(name.split())
        assert set(person.groups) == {slug for slug in groups.replace(";", " ").replace(",", " ").split()}
        assert all(slug in portal.catalogue for slug in person.groups)
        assert (person.end_date.isoformat() if person.end_date else "") == end_date.strip()
