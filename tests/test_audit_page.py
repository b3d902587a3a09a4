"""The audit log page filters by person, action and days, pages, and exports CSV that a
spreadsheet shows as text (issue 16)."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from provisioner.resources import get_store
from provisioner.store import audit
from provisioner.store.schema import audit_log
from provisioner.workflow.audit_log import FORMULA_STARTS, spreadsheet_safe

AUDIT = "/admin/audit"
ROW = re.compile(r"<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td><td>([^<]*)</td>\s*"
                 r"<td>([^<]*)</td><td>([^<]*)</td>")
DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def write(app, entries: list[dict]) -> None:
    with app.app_context(), get_store().begin() as connection:
        connection.execute(audit_log.insert(), entries)


def entry(at: datetime, action: str, subject: str | None = None, actor: str | None = "sam",
          detail: str | None = None) -> dict:
    return {"at": at, "action": action, "subject": subject, "actor": actor, "detail": detail,
            "remote_addr": "192.0.2.1"}


@pytest.fixture
def logged(app, sysadmin):
    """Entries about vera and victor over three days (before today's, of sam's login)."""
    write(app, [entry(DAY - timedelta(days=1), "registered", "vera", actor=None),
                entry(DAY, "approved", "vera"),
                entry(DAY, "registered", "victor", actor=None),
                entry(DAY + timedelta(days=1, hours=11, minutes=59), "suspended", "vera",
                      detail="=HYPERLINK(\"http://evil.example\")"),
                entry(DAY + timedelta(days=2), "login", "victor", actor="victor")])
    return app


def shown(sysadmin, query: str) -> list[tuple[str, str, str, str]]:
    response = sysadmin.client.get(f"{AUDIT}?{query}")
    assert response.status_code == 200
    rows = ROW.findall(response.get_data(as_text=True))
    return [tuple(html.unescape(cell) for cell in row) for row in rows]


@pytest.mark.parametrize("query, expected", [
    ("person=vera", ["suspended", "approved", "registered"]),
    ("person=victor", ["login", "registered"]),
    ("action=registered", ["registered", "registered"]),
    ("action=registered&person=victor", ["registered"]),
    ("first_day=2026-03-10&last_day=2026-03-11", ["suspended", "registered", "approved"]),
    ("last_day=2026-03-09", ["registered"]),
    ("first_day=2026-03-12&last_day=2026-03-12", ["login"]),
    ("person=vera&first_day=2026-03-11", ["suspended"]),
])
def test_filters_by_person_action_and_days(logged, sysadmin, query, expected):
    assert [action for _, _, action, _ in shown(sysadmin, query)] == expected


@pytest.mark.parametrize("query, why", [
    ("first_day=10/03/2026", "a day such as 2026-11-30"),
    ("last_day=2026-02-30", "a day such as 2026-11-30"),
    ("first_day=2026-03-12&last_day=2026-03-10", "the last day comes before the first"),
    ("person=" + "x" * 65, "a username has at most 64 characters"),
])
def test_a_bad_filter_says_why_and_lists_nothing(logged, sysadmin, query, why):
    response = sysadmin.client.get(f"{AUDIT}?{query}")
    body = html.unescape(response.get_data(as_text=True))
    assert why in body and ROW.findall(body) == [] and "x" * 65 not in body
    assert sysadmin.client.get(f"{AUDIT}.csv?{query}").status_code == 400


def test_pages_of_a_hundred_whose_links_keep_the_filters(app, sysadmin):
    write(app, [entry(DAY + timedelta(minutes=n), "login", "vera", actor="vera") for n in range(230)])
    body = sysadmin.client.get(f"{AUDIT}?person=vera&action=login").get_data(as_text=True)
    assert len(ROW.findall(body)) == 100 and "1–100 of 230 entries" in body
    last = html.unescape(re.search(r'<a href="([^"]+)">Last</a>', body).group(1))
    assert "person=vera" in last and "action=login" in last and "page=3" in last
    rows = ROW.findall(sysadmin.client.get(last).get_data(as_text=True))
    assert [when for when, *_ in rows] == [
        (DAY + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S") for n in range(29, -1, -1)]


def exported(sysadmin, query: str) -> list[list[str]]:
    response = sysadmin.client.get(f"{AUDIT}.csv?{query}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_export_holds_what_the_page_shows_and_no_formula(logged, sysadmin):
    query = "person=vera&first_day=2026-03-09&last_day=2026-03-11"
    header, *rows = exported(sysadmin, query)
    assert header == ["when (UTC)", "who", "what", "to whom", "details", "from"]
    on_page = [tuple("" if cell == "—" else cell for cell in row) for row in shown(sysadmin, query)]
    assert [(when, who, what, whom) for when, who, what, whom, *_ in rows] == on_page
    assert rows[0][4] == "'=HYPERLINK(\"http://evil.example\")"
    with logged.app_context(), get_store().begin() as connection:
        (export, *_) = audit.entries(connection, person="sam")
    assert (export.action, export.detail) == (
        "audit-exported", "filter: person=vera, from=2026-03-09, to=2026-03-11")


def test_a_long_export_is_read_in_batches_each_entry_once(app, sysadmin):
    write(app, [entry(DAY + timedelta(seconds=n // 3), "login", "vera", actor="vera") for n in range(2500)])
    rows = exported(sysadmin, "person=vera&action=login")[1:]
    assert len(rows) == 2500
    with app.app_context(), get_store().begin() as connection:
        ids = connection.execute(sa.select(audit_log.c.at).where(audit_log.c.action == "login",
                                                                 audit_log.c.subject == "vera")
                                 .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())).scalars()
        assert [row[0] for row in rows] == [at.strftime("%Y-%m-%d %H:%M:%S") for at in ids]


@given(st.text())
def test_a_cell_reads_back_as_written_or_as_text_when_it_could_be_a_formula(cell):
    safe = spreadsheet_safe(cell)
    assert not safe.startswith(FORMULA_STARTS)
    assert safe == ("'" + cell if cell.startswith(FORMULA_STARTS) else cell)
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL).writerow([safe, "next"])
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [[safe, "next"]]
