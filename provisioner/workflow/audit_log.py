"""The audit log as sysadmins read it: filtered by person, action and days, a page at a
time, or whole as CSV for a spreadsheet.

A cell of the export that a spreadsheet would run as a formula (it starts with =, +, -,
@, a tab or a carriage return: a rejection's reason, say) gets a leading single quote,
which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from ..languages import Text
from ..store import audit
from ..store.audit import AuditEntry, AuditFilter
from .context import Portal
from .errors import InvalidInput
from .fields import read_day
from .paging import Page, page_number
from .permissions import require_sysadmin

AUDIT_PER_PAGE = 100
EXPORT_BATCH = 1000
MAX_PERSON = 64
MAX_ACTION = 40  # the audit_log column's size
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("when (UTC)", "who", "what", "to whom", "details", "from")


@dataclass(frozen=True)
class AuditQuery:
    """What a sysadmin asked for, as typed; empty fields filter nothing."""

    person: str = ""      # a username: what they did or what was done to them
    action: str = ""
    first_day: str = ""   # YYYY-MM-DD, UTC, included
    last_day: str = ""    # YYYY-MM-DD, UTC, included


def audit_page(portal: Portal, query: AuditQuery, *, actor: str, page: int = 1) -> Page[AuditEntry]:
    """One page of the matching entries, newest first."""
    require_sysadmin(portal, actor)
    which = _filter(query)
    with portal.store.begin() as connection:
        total = audit.count(connection, which)
        number = page_number(page, total, AUDIT_PER_PAGE)
        found = audit.matching(connection, which, limit=AUDIT_PER_PAGE,
                               offset=(number - 1) * AUDIT_PER_PAGE)
    return Page(found, number, AUDIT_PER_PAGE, total)


def audit_actions(portal: Portal, *, actor: str) -> list[str]:
    """The actions the log holds, for the filter's choices."""
    require_sysadmin(portal, actor)
    with portal.store.begin() as connection:
        return audit.actions(connection)


def audit_csv(portal: Portal, query: AuditQuery, *, actor: str,
              remote_addr: str | None = None) -> Iterator[str]:
    """The matching entries as CSV lines, newest first, read in batches as they are sent.

    Who may export and whether the filter is valid are checked now, before the first
    line, and the export is audited."""
    require_sysadmin(portal, actor)
    which = _filter(query)
    portal.audit("audit-exported", actor=actor, remote_addr=remote_addr, detail=_described(query))
    return _lines(portal, which)


def _lines(portal: Portal, which: AuditFilter) -> Iterator[str]:
    yield _csv_line(CSV_COLUMNS)
    last: AuditEntry | None = None
    while True:
        with portal.store.begin() as connection:
            batch = audit.matching(connection, which, limit=EXPORT_BATCH, older_than=last)
        for entry in batch:
            yield _csv_line((entry.at.strftime("%Y-%m-%d %H:%M:%S"), entry.actor or "", entry.action,
                             entry.subject or "", entry.detail or "", entry.remote_addr or ""))
        if len(batch) < EXPORT_BATCH:
            return
        last = batch[-1]


def spreadsheet_safe(cell: str) -> str:
    """The cell, quoted with a leading ' when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _csv_line(cells: tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL).writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


def _filter(query: AuditQuery) -> AuditFilter:
    """The store's filter for what was typed; InvalidInput says what is wrong with it."""
    errors: dict[str, str] = {}
    if len(query.person) > MAX_PERSON:
        errors["person"] = Text("a username has at most %(most)d characters", most=MAX_PERSON)
    if len(query.action) > MAX_ACTION:
        errors["action"] = Text("choose an action from the list")
    days = {}
    for name, typed in (("first_day", query.first_day), ("last_day", query.last_day)):
        try:
            days[name] = _day(typed)
        except ValueError:
            errors[name] = Text("a day such as 2026-11-30")
    first, last = days.get("first_day"), days.get("last_day")
    if first and last and first > last:
        errors["last_day"] = Text("the last day comes before the first")
    if errors:
        raise InvalidInput(errors)
    return AuditFilter(
        person=query.person or None, action=query.action or None,
        since=datetime.combine(first, time(), UTC) if first else None,
        before=datetime.combine(last + timedelta(days=1), time(), UTC)
        if last and last < date.max else None)


def _day(typed: str) -> date | None:
    if not typed:
        return None
    if (day := read_day(typed)) is None:
        raise ValueError(typed)
    return day


def _described(query: AuditQuery) -> str:
    parts = [f"{name}={value}" for name, value in (
        ("person", query.person), ("action", query.action), ("from", query.first_day),
        ("to", query.last_day)) if value]
    return "filter: " + (", ".join(parts) or "none")
